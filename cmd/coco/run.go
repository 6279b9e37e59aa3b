package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/cocoledger/coco/adapters/ethereum"
	"github.com/cocoledger/coco/bridge"
	"github.com/cocoledger/coco/core/consensus"
	"github.com/cocoledger/coco/core/govapi"
	"github.com/cocoledger/coco/core/node"
	"github.com/cocoledger/coco/enclave/virtual"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	gethlog "github.com/ethereum/go-ethereum/log"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// faultInjection, set only in binaries built with the `byzantine` tag,
// returns a transport decorator that makes the node misbehave.
var faultInjection func(log *slog.Logger) (func(consensus.Transport, ed25519.PrivateKey, uint64, []uint64) (consensus.Transport, error), error)

// runOptions distinguish `coco dev` from `coco node start`.
type runOptions struct {
	dev  bool // one-node network of its own; dev accounts sign over RPC
	join bool // a node not in genesis: ask the network to take it in first
	// recoverFrom is a lost node's data directory to restore the network
	// from (coco node recover).
	recoverFrom string
	pprof       bool
}

// runNode runs one node until ctx ends: bus, node, Ethereum adapter, the
// HTTP endpoints, then a clean stop.
func runNode(ctx context.Context, cfg Config, opts runOptions, out io.Writer) error {
	log := cfg.logger()
	if os.Getenv("GOGC") == "" {
		// A node allocates heavily per transaction (RLP, EVM, trie) and
		// memory is cheaper than the collector's CPU; GOGC overrides.
		debug.SetGCPercent(200)
	}
	enc, err := virtual.Open(cfg.Node.DataDir, log)
	if err != nil {
		return err
	}
	log = log.With("enclave", virtual.Warning)
	// go-ethereum's own messages (pathdb writing its buffer, journals) go to
	// the node log.
	gethlog.SetDefault(gethlog.NewLogger(log.With("component", "geth").Handler()))

	var g *node.Genesis
	if opts.dev {
		ethGenesis, err := ethereum.GenesisApp(cfg.Eth)
		if err != nil {
			return err
		}
		g, err = node.DevGenesis(cfg.Node.DataDir, enc, map[string]json.RawMessage{"eth": ethGenesis})
		if err != nil {
			return err
		}
	} else {
		if cfg.Node.Genesis == "" {
			return fmt.Errorf("node.genesis: no genesis file configured (--genesis)")
		}
		if g, err = node.LoadGenesis(cfg.Node.Genesis); err != nil {
			return err
		}
	}

	if opts.recoverFrom != "" && !node.Recovered(cfg.Node.DataDir) {
		if err := recoverNetwork(ctx, cfg, opts, enc, g, log, out); err != nil {
			return err
		}
	}
	id, err := node.LoadIdentity(cfg.Node.DataDir, enc)
	if errors.Is(err, node.ErrNoIdentity) && opts.join {
		id, err = node.InitIdentity(cfg.Node.DataDir, enc)
	}
	if err != nil {
		return err
	}
	if cfg.Bus.Name == "" {
		cfg.Bus.Name = fmt.Sprintf("coco-%s-%.8s", g.Network, id.NodeID())
	}
	bus, err := bridge.Start(cfg.Bus, log)
	if err != nil {
		return err
	}
	defer bus.Close()
	if opts.join {
		if err := node.Join(ctx, cfg.Node.DataDir, enc, g, bus.Conn(), log); err != nil {
			return fmt.Errorf("join network %q: %w", g.Network, err)
		}
	}
	n, err := node.Open(cfg.Node, enc, g, log)
	if err != nil {
		return err
	}
	log = log.With("node", n.Status().ID)
	// Before the applications read their state: a node far behind may
	// replace it by a peer's snapshot.
	if err := n.CatchUpFromSnapshot(bus.Conn()); err != nil {
		n.Stop()
		return err
	}
	eth, err := ethereum.New(n, cfg.Eth, opts.dev, clientVersion(), log)
	if err != nil {
		n.Stop()
		return err
	}
	if faultInjection != nil {
		if n.WrapTransport, err = faultInjection(log); err != nil {
			n.Stop()
			return err
		}
	}
	if err := n.Start(bus.Conn()); err != nil {
		n.Stop()
		return err
	}
	extra := map[string]http.Handler{
		"/status":  statusHandler(n, eth, bus),
		"/metrics": promhttp.Handler(),
		"/gov/":    govapi.New(n, g.Network),
	}
	if opts.pprof {
		extra["/debug/pprof/"] = http.HandlerFunc(pprof.Index)
		extra["/debug/pprof/profile"] = http.HandlerFunc(pprof.Profile)
		extra["/debug/pprof/trace"] = http.HandlerFunc(pprof.Trace)
	}
	if err := eth.Listen(cfg.Eth.RPCAddr, extra); err != nil {
		eth.Close()
		n.Stop()
		return err
	}
	if cfg.Metrics.Addr != "" {
		mux := http.NewServeMux()
		for p, h := range extra {
			mux.Handle(p, h)
		}
		go func() { _ = http.ListenAndServe(cfg.Metrics.Addr, mux) }()
	}
	printBanner(out, cfg, n, eth, bus.ClientURL(), opts.dev)

	<-ctx.Done()
	log.Info("shutting down")
	eth.Close()
	n.Stop()
	log.Info("stopped cleanly", "height", n.Head().Header.Number)
	return nil
}

func statusHandler(n *node.Node, eth *ethereum.Service, bus *bridge.Bus) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		st := struct {
			node.Status
			BusPeers  int    `json:"bus_peers"`
			ChainID   uint64 `json:"chain_id"`
			EthHeight uint64 `json:"eth_block"`
			EthHash   string `json:"eth_block_hash"`
			Warning   string `json:"warning,omitempty"`
		}{Status: n.Status(), BusPeers: bus.Peers(), ChainID: eth.Chain.ChainConfig().ChainID.Uint64()}
		head := eth.Chain.CurrentHeader()
		st.EthHeight, st.EthHash = head.Number.Uint64(), head.Hash().Hex()
		if !st.Hardware {
			st.Warning = virtual.Warning
		}
		_ = json.NewEncoder(w).Encode(st)
	})
}

func printBanner(out io.Writer, cfg Config, n *node.Node, eth *ethereum.Service, busURL string, dev bool) {
	var b strings.Builder
	line := strings.Repeat("=", 78)
	st := n.Status()
	fmt.Fprintln(&b, line)
	if dev {
		fmt.Fprintf(&b, " Coco dev node %s\n", clientVersion())
	} else {
		fmt.Fprintf(&b, " Coco node %d of %d, network %q, %s\n", st.ID, st.Nodes, st.Network, clientVersion())
	}
	fmt.Fprintf(&b, " !! %s: keys are files, attestation is simulated. Development only.\n", strings.ToUpper(virtual.Warning))
	fmt.Fprintln(&b, line)
	fmt.Fprintf(&b, " JSON-RPC HTTP   http://%s\n", eth.Addr())
	fmt.Fprintf(&b, " JSON-RPC WS     ws://%s\n", eth.Addr())
	fmt.Fprintf(&b, " Status/metrics  http://%s/status  http://%s/metrics\n", eth.Addr(), eth.Addr())
	fmt.Fprintf(&b, " NATS bus        %s\n", busURL)
	id := eth.Chain.ChainConfig().ChainID.Uint64()
	fmt.Fprintf(&b, " Chain id        %d (%#x)\n", id, id)
	fmt.Fprintf(&b, " Data dir        %s (height %d)\n", cfg.Node.DataDir, st.Height)
	fmt.Fprintf(&b, " Node id         %s\n", st.NodeID)
	fmt.Fprintf(&b, " Trust model     %s\n", st.TrustModel)
	fmt.Fprintln(&b, line)
	if dev {
		fmt.Fprintf(&b, " Dev member      %s (coco gov --as %s ...)\n", filepath.Join(cfg.Node.DataDir, "member.pem"), filepath.Join(cfg.Node.DataDir, "member"))
		fmt.Fprintf(&b, " Dev accounts (mnemonic %q), %d ETH each at genesis:\n", cfg.Eth.DevMnemonic, cfg.Eth.DevBalanceETH)
		for i, k := range eth.DevKeys {
			fmt.Fprintf(&b, " (%d) %s  key %s\n", i, crypto.PubkeyToAddress(k.PublicKey), hexutil.Encode(crypto.FromECDSA(k)))
		}
		fmt.Fprintln(&b, line)
	}
	fmt.Fprint(out, b.String())
}

// recoverNetwork restores the network's ledger secrets from the members'
// shares: it serves /gov/recovery on the RPC address until every ledger
// secret generation is rebuilt.
func recoverNetwork(ctx context.Context, cfg Config, opts runOptions, enc *virtual.Enclave, g *node.Genesis, log *slog.Logger, out io.Writer) error {
	rec, err := node.StartRecovery(cfg.Node.DataDir, opts.recoverFrom, enc, g, log)
	if err != nil {
		return err
	}
	defer rec.Close()
	mux := http.NewServeMux()
	mux.Handle("/gov/recovery", govapi.RecoveryHandler(rec))
	ln, err := net.Listen("tcp", cfg.Eth.RPCAddr)
	if err != nil {
		return fmt.Errorf("recovery endpoint %s: %w", cfg.Eth.RPCAddr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	info, err := rec.Info()
	if err != nil {
		return err
	}
	url := "http://" + ln.Addr().String()
	line := strings.Repeat("=", 78)
	fmt.Fprintf(out, "%s\n RECOVERING network %q from %s (height %d)\n Recovery endpoint  %s/gov/recovery\n Node id            %s\n", line, g.Network, opts.recoverFrom, info.Height, url, info.Node.NodeID)
	for _, need := range info.Generations {
		fmt.Fprintf(out, " Ledger secret generation %d: %d share(s) needed\n", need.Generation, need.Threshold)
	}
	fmt.Fprintf(out, " Members run: coco gov recovery-share --node %s --as NAME\n%s\n", url, line)
	log.Info("waiting for the members' recovery shares", "endpoint", url+"/gov/recovery")
	select {
	case <-rec.Done():
	case <-ctx.Done():
		return ctx.Err()
	}
	// Let the last member's request get its answer before the port is
	// reused by the node's own endpoints.
	time.Sleep(200 * time.Millisecond)
	return nil
}
