package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/cocoledger/coco/adapters/ethereum"
	"github.com/cocoledger/coco/core/gov"
	"github.com/cocoledger/coco/core/node"
	"github.com/cocoledger/coco/enclave/virtual"
	"github.com/cocoledger/coco/testnet/localnet"
	"github.com/spf13/cobra"
)

func nodeCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "node", Short: "Create and run a node of a multi-node network"}
	cmd.AddCommand(nodeInitCmd(), nodeStartCmd(), nodeJoinCmd(), nodeRecoverCmd())
	return cmd
}

func nodeInitCmd() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a node identity inside its enclave and write its attestation evidence",
		Long: `Creates the node's keys inside the (virtual) enclave, seals them into the data
directory, and writes DATA_DIR/node.json: the node id, its public keys and the
attestation evidence binding them to the code. Give node.json to whoever runs
` + "`coco network genesis`" + `.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			enc, err := virtual.Open(dataDir, cfgLogger())
			if err != nil {
				return err
			}
			id, err := node.InitIdentity(dataDir, enc)
			if err != nil {
				return err
			}
			info, err := id.Info(enc)
			if err != nil {
				return err
			}
			path := filepath.Join(dataDir, "node.json")
			if err := localnet.WriteInfo(path, info); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "node id %s\nevidence written to %s\n", info.NodeID, path)
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", ".coco/node", "data directory of the new node")
	return cmd
}

func nodeStartCmd() *cobra.Command { return runCmd(false) }

func nodeJoinCmd() *cobra.Command { return runCmd(true) }

func nodeRecoverCmd() *cobra.Command {
	cmd := runCmd(false)
	cmd.Use = "recover --from LOST-NODE-DIR --genesis genesis.json --data-dir NEW-DIR"
	cmd.Short = "Restore a network whose nodes are all lost, from one node's ledger files and the members' recovery shares"
	cmd.Long = `Creates a new node (new enclave, new keys) in --data-dir, copies the ledger of
the stopped node in --from and replays its governance, which checks every
block's consensus signatures. It then waits for the members' recovery shares
(coco gov recovery-share) on its RPC address. Once every ledger secret
generation has its threshold, it rebuilds the secrets, replays the whole
ledger checking every block's state roots, and serves the restored state.
It does not order new transactions: it is not in the consensus set.`
	cmd.Flags().String("from", "", "data directory of a stopped node of the lost network")
	_ = cmd.MarkFlagRequired("from")
	return cmd
}

// runCmd is `coco node start`, or with join `coco node join`.
func runCmd(join bool) *cobra.Command {
	var (
		configFile string
		pprofOn    bool
	)
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Run a node of the network described by its genesis file",
		RunE: func(cmd *cobra.Command, _ []string) error {
			keys := map[string]string{"genesis": "node.genesis", "bus": "bus.url"}
			for k, v := range commonFlagKeys {
				keys[k] = v
			}
			cfg, err := loadConfig(configFile, cmd.Flags(), keys)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			from, _ := cmd.Flags().GetString("from")
			return runNode(ctx, cfg, runOptions{pprof: pprofOn, join: join, recoverFrom: from}, cmd.OutOrStdout())
		},
	}
	if join {
		cmd.Use = "join --genesis genesis.json [--bus nats://host:port | --config node.yaml]"
		cmd.Short = "Run a new node: it presents its attestation, waits for the members to trust it, catches up and joins consensus"
		cmd.Long = `Creates the node's identity if needed (as coco node init), connects to the
network's bus, and asks to join with its attestation evidence. The network
records it as pending; it prints the command members run to trust it
(coco gov propose trust-node NODE-ID). Once trusted it receives the ledger
secret encrypted to its enclave key, catches up from its peers and takes part
in consensus. Later starts (coco node start or join) just run it.`
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "", "configuration file (yaml, toml or json)")
	f.String("genesis", "", "genesis file of the network")
	f.String("bus", "", "URL of the network's NATS bus (instead of an embedded server)")
	f.BoolVar(&pprofOn, "pprof", false, "serve Go profiles under /debug/pprof/ on the RPC port")
	addCommonFlags(cmd)
	return cmd
}

func networkCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "network", Short: "Network-wide ceremonies"}
	cmd.AddCommand(networkGenesisCmd())
	return cmd
}

func networkGenesisCmd() *cobra.Command {
	var (
		infos            []string
		members          []string
		constitutionFile string
		out              string
		name             string
		trust            string
		anyCode          bool
		eth              = ethereum.DefaultConfig()
	)
	cmd := &cobra.Command{
		Use:   "genesis --node a/node.json --node b/node.json ... --out genesis.json",
		Short: "Build a network's genesis file from its nodes' evidence",
		Long: `Verifies each node's attestation evidence, creates the network's ledger secret,
encrypts it to every node's key (HPKE), and writes the genesis file that every
node starts from. The allowed code measurement is the nodes' own unless
--allow-any-code (development only).`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(infos) == 0 {
				return fmt.Errorf("no --node given")
			}
			var list []*node.Info
			var measurements [][]byte
			for _, p := range infos {
				info, err := localnet.ReadInfo(p)
				if err != nil {
					return err
				}
				list = append(list, info)
				if !anyCode && info.Evidence != nil && len(measurements) == 0 {
					measurements = append(measurements, info.Evidence.Measurement)
				}
			}
			if len(members) == 0 {
				return fmt.Errorf("no --member given: a network needs at least one member to govern it (coco keys new member --out NAME)")
			}
			var governance gov.Genesis
			for _, p := range members {
				pem, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				governance.Members = append(governance.Members, string(pem))
			}
			if constitutionFile != "" {
				src, err := readConstitution(constitutionFile)
				if err != nil {
					return err
				}
				governance.Constitution = src
			}
			ethGenesis, err := ethereum.GenesisApp(eth)
			if err != nil {
				return err
			}
			verifier, err := virtual.New(make([]byte, 32))
			if err != nil {
				return err
			}
			g, err := node.NewGenesis(name, list, verifier, measurements, trust, governance, map[string]json.RawMessage{"eth": ethGenesis})
			if err != nil {
				return err
			}
			if err := node.SaveGenesis(out, g); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "genesis of network %q with %d nodes written to %s (hash %s)\n", name, len(list), out, g.Hash())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&infos, "node", nil, "a node's node.json (repeat; order gives consensus ids 1..n)")
	f.StringArrayVar(&members, "member", nil, "a founding member's public file, name.pem (repeat)")
	f.StringVar(&constitutionFile, "constitution", "", "constitution JSON {validate, resolve, recovery_threshold} (default: majority, unanimity to change it)")
	f.StringVar(&out, "out", "genesis.json", "where to write the genesis file")
	f.StringVar(&name, "network", "coco", "network name")
	f.StringVar(&trust, "trust-model", node.TrustBFT, "bft (replicas re-verify signatures) or tee (trust attested ingress)")
	f.BoolVar(&anyCode, "allow-any-code", false, "allow any code measurement (development only)")
	f.Uint64Var(&eth.ChainID, "chain-id", eth.ChainID, "Ethereum chain id")
	f.IntVar(&eth.DevAccounts, "dev-accounts", eth.DevAccounts, "accounts of the dev mnemonic funded at genesis")
	return cmd
}

func testnetCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "testnet", Short: "Local multi-node networks on one machine"}
	o := localnet.DefaultOptions()
	eth := ethereum.DefaultConfig()
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Create N node identities, a genesis file and per-node configs under --dir",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ethGenesis, err := ethereum.GenesisApp(eth)
			if err != nil {
				return err
			}
			o.Apps = map[string]json.RawMessage{"eth": ethGenesis}
			g, err := localnet.Init(o)
			if err != nil {
				return err
			}
			for i := range o.Nodes {
				fmt.Fprintf(cmd.OutOrStdout(), "node %d: coco node start --config %s   (rpc http://%s:%d)\n", i, localnet.ConfigPath(o.Dir, i), o.Host, o.RPCPort+i)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "network %q, %d nodes, trust model %s, genesis %s\n", g.Network, len(g.Nodes), g.TrustModel, g.Hash())
			return nil
		},
	}
	f := initCmd.Flags()
	f.StringVar(&o.Dir, "dir", o.Dir, "directory for the nodes' data and configs")
	f.IntVar(&o.Nodes, "nodes", o.Nodes, "number of nodes")
	f.StringVar(&o.Network, "network", o.Network, "network name")
	f.StringVar(&o.TrustModel, "trust-model", o.TrustModel, "bft or tee")
	f.IntVar(&o.RPCPort, "rpc-port", o.RPCPort, "JSON-RPC port of node 0 (node i: +i)")
	f.IntVar(&o.BusPort, "bus-port", o.BusPort, "NATS client port of node 0 (node i: +i)")
	f.IntVar(&o.ClusterPort, "cluster-port", o.ClusterPort, "NATS route port of node 0 (node i: +i)")
	f.StringVar(&o.BusURL, "bus-url", "", "an external NATS cluster for every node (nats://host:port, several comma-separated) instead of embedded servers")
	f.BoolVar(&o.PinMeasurement, "pin-measurement", false, "allow only this build's code measurement")
	f.IntVar(&o.Members, "members", o.Members, "founding members to create (keys under DIR/members)")
	f.Uint64Var(&eth.ChainID, "chain-id", eth.ChainID, "Ethereum chain id")
	var index int
	addCmd := &cobra.Command{
		Use:   "add-node --index I",
		Short: "Create node I's identity and config for a testnet made by init (same port flags); run it with coco node join",
		RunE: func(cmd *cobra.Command, _ []string) error {
			info, err := localnet.AddNode(o, index)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "node %d (id %s): coco node join --config %s   (rpc http://%s:%d)\n", index, info.NodeID, localnet.ConfigPath(o.Dir, index), o.Host, o.RPCPort+index)
			fmt.Fprintf(cmd.OutOrStdout(), "members then run: coco gov propose --as MEMBER trust-node %s\n", info.NodeID)
			return nil
		},
	}
	af := addCmd.Flags()
	af.StringVar(&o.Dir, "dir", o.Dir, "the testnet's directory")
	af.IntVar(&o.Nodes, "nodes", o.Nodes, "number of nodes the testnet was created with")
	af.IntVar(&index, "index", o.Nodes, "index of the new node (ports: base + index)")
	af.IntVar(&o.RPCPort, "rpc-port", o.RPCPort, "JSON-RPC port of node 0")
	af.IntVar(&o.BusPort, "bus-port", o.BusPort, "NATS client port of node 0")
	af.IntVar(&o.ClusterPort, "cluster-port", o.ClusterPort, "NATS route port of node 0")
	af.StringVar(&o.BusURL, "bus-url", "", "the external NATS cluster the testnet uses, if init was given one")
	cmd.AddCommand(initCmd, addCmd)
	return cmd
}

func cfgLogger() *slog.Logger { return defaultConfig().logger() }
