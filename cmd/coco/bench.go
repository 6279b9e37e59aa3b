package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/cocoledger/coco/adapters/ethereum/devkeys"
	"github.com/cocoledger/coco/testnet/loadgen"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/spf13/cobra"
)

func benchCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "bench", Short: "Load generators that measure a running network"}
	cmd.AddCommand(benchEthCmd())
	return cmd
}

func benchEthCmd() *cobra.Command {
	var (
		cfg       loadgen.Config
		rpcURLs   string
		funderKey string
		jsonOut   bool
		cpuProf   string
	)
	cmd := &cobra.Command{
		Use:   "eth",
		Short: "Send signed transfers over JSON-RPC and report committed tx/s and latency",
		Long: `Funds fresh sender accounts from a dev account, pre-signs transfers, sends them
over JSON-RPC (HTTP batches or WebSocket) at a fixed rate (--rate) or fixed
concurrency (--concurrency), detects commits through a newHeads subscription
and reports committed transactions per second and submit-to-commit latency
p50/p95/p99. If the nodes serve process_cpu_seconds_total on /metrics beside
their RPC port (Coco nodes do), it also reports their CPU time per committed
transaction, and its own CPU use.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.HTTPURLs = strings.Split(rpcURLs, ",")
			if cfg.WSURL == "" {
				cfg.WSURL = "ws" + strings.TrimPrefix(cfg.HTTPURLs[0], "http")
			}
			if funderKey == "" {
				keys, err := devkeys.Derive(devkeys.DevMnemonic, 1)
				if err != nil {
					return err
				}
				cfg.Funder = keys[0]
			} else {
				k, err := crypto.HexToECDSA(strings.TrimPrefix(funderKey, "0x"))
				if err != nil {
					return fmt.Errorf("--funder-key: %w", err)
				}
				cfg.Funder = k
			}
			if cpuProf != "" {
				stopProf, err := startCPUProfile(cpuProf)
				if err != nil {
					return err
				}
				defer stopProf()
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			rep, err := loadgen.Run(ctx, cfg)
			if err != nil {
				return err
			}
			if jsonOut {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			fmt.Fprint(cmd.OutOrStdout(), rep.String())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&rpcURLs, "rpc", "http://127.0.0.1:8545", "comma-separated JSON-RPC HTTP URLs (load is spread across them)")
	f.StringVar(&cfg.WSURL, "ws", "", "WebSocket URL for commit detection (default: the first --rpc URL as ws://)")
	f.StringVar(&cfg.Transport, "transport", loadgen.TransportHTTP, "how to send: http (batched) or ws")
	f.Float64Var(&cfg.Rate, "rate", 0, "open-loop target tx/s (0: closed loop with --concurrency)")
	f.IntVar(&cfg.Concurrency, "concurrency", loadgen.DefaultConcurrency, "closed-loop in-flight transactions")
	f.DurationVar(&cfg.Duration, "duration", 20*time.Second, "measured window")
	f.DurationVar(&cfg.Warmup, "warmup", 3*time.Second, "unmeasured warm-up before the window")
	f.DurationVar(&cfg.Interval, "interval", 0, "also report the window in slices of this length (e.g. 1s), to see when a stall happened")
	f.IntVar(&cfg.Accounts, "accounts", loadgen.DefaultAccounts, "sender accounts")
	f.IntVar(&cfg.Recipients, "recipients", 0, "distinct recipient addresses (0: every transfer to a new address, creating an account)")
	f.IntVar(&cfg.SendBatch, "send-batch", loadgen.DefaultSendBatch, "transactions per JSON-RPC batch request")
	f.IntVar(&cfg.Txs, "txs", 0, "transfers to pre-sign (0: enough for the run)")
	f.StringVar(&funderKey, "funder-key", "", "hex private key paying the senders (default: dev account 0)")
	f.BoolVar(&jsonOut, "json", false, "print the report as JSON")
	f.StringVar(&cpuProf, "cpuprofile", "", "write the load generator's own CPU profile to this file (is the generator the bottleneck?)")
	return cmd
}

// startCPUProfile profiles this process into path until the returned
// function is called.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
