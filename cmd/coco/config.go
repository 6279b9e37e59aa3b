package main

import (
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/cocoledger/coco/adapters/ethereum"
	"github.com/cocoledger/coco/bridge"
	"github.com/cocoledger/coco/core/node"
	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// Config is the whole configuration of a coco process: defaults, then a
// config file, then COCO_* environment variables, then flags.
type Config struct {
	Node    node.Config     `mapstructure:"node"`
	Bus     bridge.Config   `mapstructure:"bus"`
	Eth     ethereum.Config `mapstructure:"eth"`
	Log     LogConfig       `mapstructure:"log"`
	Metrics MetricsConfig   `mapstructure:"metrics"`
}

// LogConfig selects log level and format.
type LogConfig struct {
	Level  string `mapstructure:"level"`  // debug, info, warn, error
	Format string `mapstructure:"format"` // text or json
}

// MetricsConfig exposes Prometheus metrics and status on their own address
// in addition to the JSON-RPC port; empty disables the extra listener.
type MetricsConfig struct {
	Addr string `mapstructure:"addr"`
}

func defaultConfig() Config {
	return Config{
		Node: node.DefaultConfig(),
		Bus:  bridge.DefaultConfig(),
		Eth:  ethereum.DefaultConfig(),
		Log:  LogConfig{Level: "info", Format: "text"},
	}
}

// Validate checks everything once at start-up.
func (c Config) Validate() error {
	if err := c.Node.Validate(); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	if err := c.Bus.Validate(); err != nil {
		return err
	}
	if err := c.Eth.Validate(); err != nil {
		return err
	}
	// A whole proposal travels as one bus message, and a batch as one request.
	if uint64(c.Bus.MaxPayload) < c.Node.Consensus.BlockMaxBytes+1<<20 {
		return fmt.Errorf("bus max_payload %d must exceed node.consensus.block_max_bytes %d by 1 MiB", c.Bus.MaxPayload, c.Node.Consensus.BlockMaxBytes)
	}
	if uint64(c.Node.Batch.MaxBytes)+64<<10 > c.Node.Consensus.RequestMaxBytes {
		return fmt.Errorf("node.batch.max_bytes %d must stay 64 KiB below node.consensus.request_max_bytes %d", c.Node.Batch.MaxBytes, c.Node.Consensus.RequestMaxBytes)
	}
	if _, err := parseLevel(c.Log.Level); err != nil {
		return err
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		return fmt.Errorf("log format %q: want text or json", c.Log.Format)
	}
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("log level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

func (c Config) logger() *slog.Logger {
	level, _ := parseLevel(c.Log.Level)
	opts := &slog.HandlerOptions{Level: level}
	if c.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// devConfig is the default configuration of `coco dev`: one node, whose
// blocks cost a quarter of a four-node network's, and users who wait on
// every transaction, so blocks follow each other as fast as they can.
func devConfig() Config {
	c := defaultConfig()
	c.Node.Consensus.BlockInterval = 5 * time.Millisecond
	return c
}

// loadConfig layers defaults, file, environment and flags. flagKeys maps
// flag names to configuration keys.
func loadConfig(file string, flags *pflag.FlagSet, flagKeys map[string]string) (Config, error) {
	return loadConfigOver(defaultConfig(), file, flags, flagKeys)
}

// loadConfigOver is loadConfig with other defaults.
func loadConfigOver(defaultCfg Config, file string, flags *pflag.FlagSet, flagKeys map[string]string) (Config, error) {
	v := viper.New()
	defaults := map[string]any{}
	if err := mapstructure.Decode(defaultCfg, &defaults); err != nil {
		return Config{}, err
	}
	for k, val := range flatten("", defaults) {
		v.SetDefault(k, val)
	}
	v.SetEnvPrefix("COCO")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	if file != "" {
		v.SetConfigFile(file)
		if err := v.ReadInConfig(); err != nil {
			return Config{}, fmt.Errorf("config file %s: %w", file, err)
		}
	}
	for name, key := range flagKeys {
		if f := flags.Lookup(name); f != nil {
			if err := v.BindPFlag(key, f); err != nil {
				return Config{}, err
			}
		}
	}
	var cfg Config
	err := v.Unmarshal(&cfg, viper.DecodeHook(mapstructure.ComposeDecodeHookFunc(
		mapstructure.StringToTimeDurationHookFunc(),
		mapstructure.StringToSliceHookFunc(","),
	)))
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return cfg, cfg.Validate()
}

// flatten turns nested maps into dotted keys so every default is known to
// viper (AutomaticEnv only sees keys it knows).
func flatten(prefix string, m map[string]any) map[string]any {
	out := map[string]any{}
	for k, val := range m {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		if sub, ok := val.(map[string]any); ok {
			for kk, vv := range flatten(key, sub) {
				out[kk] = vv
			}
			continue
		}
		if rv := reflect.ValueOf(val); rv.Kind() == reflect.Struct {
			sub := map[string]any{}
			if err := mapstructure.Decode(val, &sub); err == nil {
				for kk, vv := range flatten(key, sub) {
					out[kk] = vv
				}
				continue
			}
		}
		out[key] = val
	}
	return out
}
