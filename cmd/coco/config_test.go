package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigLayers(t *testing.T) {
	cmd := devCmd()
	flags := cmd.Flags()
	keys := map[string]string{"chain-id": "eth.chain_id", "data-dir": "node.data_dir"}

	cfg, err := loadConfig("", flags, keys)
	if err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if cfg.Eth.ChainID != 49344 || cfg.Eth.RPCAddr != "127.0.0.1:8545" || cfg.Node.DataDir != ".coco/dev" || cfg.Eth.DevAccounts != 10 {
		t.Fatalf("defaults: %+v", cfg)
	}

	file := filepath.Join(t.TempDir(), "coco.yaml")
	os.WriteFile(file, []byte("eth:\n  chain_id: 7\n  rpc_addr: 127.0.0.1:9000\nnode:\n  batch:\n    linger: 7ms\n"), 0o600)
	cfg, err = loadConfig(file, flags, keys)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Eth.ChainID != 7 || cfg.Eth.RPCAddr != "127.0.0.1:9000" || cfg.Node.Batch.Linger != 7*time.Millisecond {
		t.Fatalf("file not applied: %+v", cfg.Eth)
	}
	if cfg.Node.Batch.MaxTxs != 2000 {
		t.Fatalf("file erased a default: max_txs %d", cfg.Node.Batch.MaxTxs)
	}

	t.Setenv("COCO_ETH_CHAIN_ID", "8")
	t.Setenv("COCO_NODE_DATA_DIR", "/tmp/from-env")
	cfg, _ = loadConfig(file, flags, keys)
	if cfg.Eth.ChainID != 8 || cfg.Node.DataDir != "/tmp/from-env" {
		t.Fatalf("env does not override file: chain %d dir %s", cfg.Eth.ChainID, cfg.Node.DataDir)
	}

	if err := flags.Set("chain-id", "9"); err != nil {
		t.Fatal(err)
	}
	cfg, _ = loadConfig(file, flags, keys)
	if cfg.Eth.ChainID != 9 {
		t.Fatalf("flag does not override env: %d", cfg.Eth.ChainID)
	}
}

func TestConfigRejectsBadValues(t *testing.T) {
	cases := map[string]string{
		"COCO_ETH_RPC_ADDR":                     "eth rpc_addr",
		"COCO_ETH_CHAIN_ID":                     "chain id",
		"COCO_NODE_BATCH_MAX_TXS":               "max_txs",
		"COCO_NODE_CONSENSUS_REQUEST_POOL_SIZE": "request_pool_size",
		"COCO_LOG_LEVEL":                        "log level",
		"COCO_ETH_WRITE_BUFFER_MB":              "write_buffer_mb",
	}
	values := map[string]string{
		"COCO_ETH_RPC_ADDR": "nowhere", "COCO_ETH_CHAIN_ID": "0", "COCO_NODE_BATCH_MAX_TXS": "0",
		"COCO_NODE_CONSENSUS_REQUEST_POOL_SIZE": "1", "COCO_LOG_LEVEL": "loud",
		"COCO_ETH_WRITE_BUFFER_MB": "0",
	}
	for env, want := range cases {
		t.Run(env, func(t *testing.T) {
			t.Setenv(env, values[env])
			_, err := loadConfig("", devCmd().Flags(), nil)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("%s=%s: error %v, want mention of %q", env, values[env], err, want)
			}
		})
	}
	if _, err := loadConfig("/no/such/file.yaml", devCmd().Flags(), nil); err == nil {
		t.Fatal("missing config file accepted")
	}
}

// A dev node makes blocks as fast as it can; a network node spaces them.
func TestDevBlockInterval(t *testing.T) {
	dev, err := loadConfigOver(devConfig(), "", devCmd().Flags(), nil)
	if err != nil {
		t.Fatal(err)
	}
	node, err := loadConfig("", devCmd().Flags(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if dev.Node.Consensus.BlockInterval != 5*time.Millisecond || node.Node.Consensus.BlockInterval != 100*time.Millisecond {
		t.Fatalf("block interval: dev %v, node %v", dev.Node.Consensus.BlockInterval, node.Node.Consensus.BlockInterval)
	}
	t.Setenv("COCO_NODE_CONSENSUS_BLOCK_INTERVAL", "20ms")
	if dev, _ = loadConfigOver(devConfig(), "", devCmd().Flags(), nil); dev.Node.Consensus.BlockInterval != 20*time.Millisecond {
		t.Fatalf("environment does not override the dev default: %v", dev.Node.Consensus.BlockInterval)
	}
}
