package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/cocoledger/coco/adapters/ethereum"
	"github.com/cocoledger/coco/bridge"
	"github.com/cocoledger/coco/core/node"
	"github.com/cocoledger/coco/enclave/virtual"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
)

func devCmd() *cobra.Command {
	var (
		configFile string
		reset      bool
		pprofOn    bool
	)
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a single development node with everything embedded",
		Long: `Runs one node with an embedded NATS server, the virtual enclave (no hardware
protection), its data under --data-dir, and Ethereum JSON-RPC over HTTP and
WebSocket. Ten accounts from the Hardhat/Anvil mnemonic are funded at genesis.
Stop it with Ctrl-C; starting it again continues the same chain.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(configFile, cmd.Flags(), map[string]string{
				"data-dir":     "node.data_dir",
				"rpc-addr":     "eth.rpc_addr",
				"chain-id":     "eth.chain_id",
				"bus-listen":   "bus.listen",
				"log-level":    "log.level",
				"log-format":   "log.format",
				"metrics-addr": "metrics.addr",
			})
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runDev(ctx, cfg, reset, pprofOn, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "", "configuration file (yaml, toml or json)")
	f.BoolVar(&reset, "reset", false, "wipe the data directory and start a new chain")
	f.BoolVar(&pprofOn, "pprof", false, "serve Go profiles under /debug/pprof/ on the RPC port")
	d := defaultConfig()
	f.String("data-dir", d.Node.DataDir, "data directory")
	f.String("rpc-addr", d.Eth.RPCAddr, "Ethereum JSON-RPC address (HTTP and WebSocket)")
	f.Uint64("chain-id", d.Eth.ChainID, "Ethereum chain id (fixed at genesis)")
	f.String("bus-listen", d.Bus.Listen, "embedded NATS server address (port 0 picks a free one)")
	f.String("log-level", d.Log.Level, "log level: debug, info, warn, error")
	f.String("log-format", d.Log.Format, "log format: text or json")
	f.String("metrics-addr", d.Metrics.Addr, "extra address for /metrics and /status (they are also on the RPC port)")
	return cmd
}

func runDev(ctx context.Context, cfg Config, reset, pprofOn bool, out io.Writer) error {
	log := cfg.logger()
	if reset {
		if err := os.RemoveAll(cfg.Node.DataDir); err != nil {
			return fmt.Errorf("reset %s: %w", cfg.Node.DataDir, err)
		}
		log.Info("reset data directory", "dir", cfg.Node.DataDir)
	}
	enc, err := virtual.Open(cfg.Node.DataDir, log)
	if err != nil {
		return err
	}
	log = log.With("enclave", virtual.Warning)
	cfg.Bus.Name = "coco-dev"
	bus, err := bridge.Start(cfg.Bus, log)
	if err != nil {
		return err
	}
	defer bus.Close()

	ethGenesis, err := ethereum.GenesisApp(cfg.Eth)
	if err != nil {
		return err
	}
	g, err := node.DevGenesis(cfg.Node.DataDir, enc, map[string]json.RawMessage{"eth": ethGenesis})
	if err != nil {
		return err
	}
	n, err := node.Open(cfg.Node, enc, g, log)
	if err != nil {
		return err
	}
	eth, err := ethereum.New(n, cfg.Eth, true, clientVersion(), log)
	if err != nil {
		n.Stop()
		return err
	}
	if err := n.Start(bus.Conn()); err != nil {
		n.Stop()
		return err
	}
	status := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		st := struct {
			node.Status
			Warning string `json:"warning,omitempty"`
			ChainID uint64 `json:"chain_id"`
		}{Status: n.Status(), ChainID: eth.Chain.ChainConfig().ChainID.Uint64()}
		if !st.Hardware {
			st.Warning = virtual.Warning
		}
		_ = json.NewEncoder(w).Encode(st)
	})
	extra := map[string]http.Handler{"/status": status, "/metrics": promhttp.Handler()}
	if pprofOn {
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
	printBanner(out, cfg, n, eth, bus.ClientURL())

	<-ctx.Done()
	log.Info("shutting down")
	eth.Close()
	n.Stop()
	log.Info("stopped cleanly", "height", n.Head().Header.Number)
	return nil
}

func printBanner(out io.Writer, cfg Config, n *node.Node, eth *ethereum.Service, busURL string) {
	var b strings.Builder
	line := strings.Repeat("=", 78)
	fmt.Fprintln(&b, line)
	fmt.Fprintf(&b, " Coco dev node %s\n", clientVersion())
	fmt.Fprintf(&b, " !! %s: keys are files, attestation is simulated. Development only.\n", strings.ToUpper(virtual.Warning))
	fmt.Fprintln(&b, line)
	fmt.Fprintf(&b, " JSON-RPC HTTP   http://%s\n", eth.Addr())
	fmt.Fprintf(&b, " JSON-RPC WS     ws://%s\n", eth.Addr())
	fmt.Fprintf(&b, " Status/metrics  http://%s/status  http://%s/metrics\n", eth.Addr(), eth.Addr())
	fmt.Fprintf(&b, " NATS bus        %s\n", busURL)
	id := eth.Chain.ChainConfig().ChainID.Uint64()
	fmt.Fprintf(&b, " Chain id        %d (%#x)\n", id, id)
	fmt.Fprintf(&b, " Data dir        %s (height %d)\n", cfg.Node.DataDir, n.Head().Header.Number)
	fmt.Fprintf(&b, " Node id         %s\n", n.Identity().NodeID())
	fmt.Fprintln(&b, line)
	fmt.Fprintf(&b, " Dev accounts (mnemonic %q), %d ETH each at genesis:\n", cfg.Eth.DevMnemonic, cfg.Eth.DevBalanceETH)
	for i, k := range eth.DevKeys {
		fmt.Fprintf(&b, " (%d) %s  key %s\n", i, crypto.PubkeyToAddress(k.PublicKey), hexutil.Encode(crypto.FromECDSA(k)))
	}
	fmt.Fprintln(&b, line)
	fmt.Fprint(out, b.String())
}
