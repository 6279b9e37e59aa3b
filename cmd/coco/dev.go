package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

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
WebSocket. Ten accounts from the Hardhat/Anvil mnemonic are funded at genesis
and sign eth_sendTransaction, eth_sign, personal_sign and eth_signTypedData_v4.
Stop it with Ctrl-C; starting it again continues the same chain.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfigOver(devConfig(), configFile, cmd.Flags(), commonFlagKeys)
			if err != nil {
				return err
			}
			if reset {
				if err := os.RemoveAll(cfg.Node.DataDir); err != nil {
					return fmt.Errorf("reset %s: %w", cfg.Node.DataDir, err)
				}
				cfg.logger().Info("reset data directory", "dir", cfg.Node.DataDir)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runNode(ctx, cfg, runOptions{dev: true, pprof: pprofOn}, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "", "configuration file (yaml, toml or json)")
	f.BoolVar(&reset, "reset", false, "wipe the data directory and start a new chain")
	f.BoolVar(&pprofOn, "pprof", false, "serve Go profiles under /debug/pprof/ on the RPC port")
	addCommonFlags(cmd)
	return cmd
}

// commonFlagKeys maps the flags every node command has to config keys.
var commonFlagKeys = map[string]string{
	"data-dir":     "node.data_dir",
	"rpc-addr":     "eth.rpc_addr",
	"chain-id":     "eth.chain_id",
	"bus-listen":   "bus.listen",
	"log-level":    "log.level",
	"log-format":   "log.format",
	"metrics-addr": "metrics.addr",
}

func addCommonFlags(cmd *cobra.Command) {
	d := defaultConfig()
	f := cmd.Flags()
	f.String("data-dir", d.Node.DataDir, "data directory")
	f.String("rpc-addr", d.Eth.RPCAddr, "Ethereum JSON-RPC address (HTTP and WebSocket)")
	f.Uint64("chain-id", d.Eth.ChainID, "Ethereum chain id of a new dev chain (fixed at genesis)")
	f.String("bus-listen", d.Bus.Listen, "embedded NATS server address (port 0 picks a free one)")
	f.String("log-level", d.Log.Level, "log level: debug, info, warn, error")
	f.String("log-format", d.Log.Format, "log format: text or json")
	f.String("metrics-addr", d.Metrics.Addr, "extra address for /metrics and /status (they are also on the RPC port)")
}
