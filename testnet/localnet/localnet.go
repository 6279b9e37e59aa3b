package localnet

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cocoledger/coco/core/gov"
	"github.com/cocoledger/coco/core/node"
	"github.com/cocoledger/coco/enclave/virtual"
)

// Options describe the network to lay out. Node i (from 0) listens on
// RPCPort+i, BusPort+i and ClusterPort+i.
type Options struct {
	Dir         string
	Nodes       int
	Network     string
	TrustModel  string
	Host        string
	RPCPort     int
	BusPort     int
	ClusterPort int
	// BusURL, when set, points every node at an external NATS cluster
	// (one URL or several, comma-separated) instead of embedded servers;
	// BusPort and ClusterPort are then unused.
	BusURL string
	// PinMeasurement restricts the network to the code that created it;
	// off, any build may run a node (development).
	PinMeasurement bool
	// Apps are the applications' genesis sections.
	Apps map[string]json.RawMessage
	// Members is how many founding members to create (keys under
	// Dir/members).
	Members int
}

// DefaultOptions is four nodes on 127.0.0.1: RPC 8545.., NATS 4222..,
// routes 6222...
func DefaultOptions() Options {
	return Options{
		Dir: ".coco/testnet", Nodes: 4, Members: 3, Network: "testnet", TrustModel: node.TrustBFT,
		Host: "127.0.0.1", RPCPort: 8545, BusPort: 4222, ClusterPort: 6222,
	}
}

// ErrExists means the directory already holds a network.
var ErrExists = errors.New("testnet directory already holds a network")

// NodeDir is node i's data directory.
func NodeDir(dir string, i int) string { return filepath.Join(dir, fmt.Sprintf("node%d", i)) }

// MemberFiles are member i's public and private files.
func MemberFiles(dir string, i int) (public, private string) {
	base := filepath.Join(dir, "members", fmt.Sprintf("member%d", i))
	return base + ".pem", base + ".key"
}

// ConfigPath is node i's configuration file.
func ConfigPath(dir string, i int) string { return filepath.Join(NodeDir(dir, i), "config.yaml") }

// Init creates the identities, the genesis document and the configuration
// files, and returns the genesis.
func Init(o Options) (*node.Genesis, error) {
	if o.Nodes < 1 {
		return nil, fmt.Errorf("testnet: %d nodes", o.Nodes)
	}
	gpath := filepath.Join(o.Dir, "genesis.json")
	if _, err := os.Stat(gpath); err == nil {
		return nil, fmt.Errorf("%w: %s", ErrExists, gpath)
	}
	var (
		infos        []*node.Info
		measurements [][]byte
		verifier     *virtual.Enclave
	)
	for i := range o.Nodes {
		info, enc, err := initNode(NodeDir(o.Dir, i))
		if err != nil {
			return nil, err
		}
		infos = append(infos, info)
		verifier = enc
		if o.PinMeasurement && i == 0 {
			measurements = append(measurements, info.Evidence.Measurement)
		}
	}
	if o.Members < 1 {
		return nil, fmt.Errorf("testnet: %d members: a network needs at least one", o.Members)
	}
	var governance gov.Genesis
	if err := os.MkdirAll(filepath.Join(o.Dir, "members"), 0o700); err != nil {
		return nil, err
	}
	for i := range o.Members {
		k, err := gov.NewMemberKey(fmt.Sprintf("member%d", i))
		if err != nil {
			return nil, err
		}
		priv, err := k.PrivatePEM()
		if err != nil {
			return nil, err
		}
		pub, privPath := MemberFiles(o.Dir, i)
		if err := os.WriteFile(privPath, priv, 0o600); err != nil {
			return nil, err
		}
		if err := os.WriteFile(pub, k.PEM(), 0o644); err != nil {
			return nil, err
		}
		governance.Members = append(governance.Members, string(k.PEM()))
	}
	g, err := node.NewGenesis(o.Network, infos, verifier, measurements, o.TrustModel, governance, o.Apps)
	if err != nil {
		return nil, err
	}
	if err := node.SaveGenesis(gpath, g); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	for i := range o.Nodes {
		if err := os.WriteFile(ConfigPath(o.Dir, i), []byte(config(o, abs, i)), 0o600); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// AddNode creates node i's identity and configuration for a network made
// by Init with the same options: its bus routes to every node before it.
// The node then runs `coco node join --config ConfigPath(dir, i)`.
func AddNode(o Options, i int) (*node.Info, error) {
	if i < o.Nodes {
		return nil, fmt.Errorf("testnet: node %d is in genesis (%d nodes); add nodes from %d on", i, o.Nodes, o.Nodes)
	}
	if _, err := os.Stat(ConfigPath(o.Dir, i)); err == nil {
		return nil, fmt.Errorf("%w: %s", ErrExists, ConfigPath(o.Dir, i))
	}
	info, _, err := initNode(NodeDir(o.Dir, i))
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	o.Nodes = i + 1
	return info, os.WriteFile(ConfigPath(o.Dir, i), []byte(config(o, abs, i)), 0o600)
}

// initNode creates a node identity in dir and writes its node.json.
func initNode(dir string) (*node.Info, *virtual.Enclave, error) {
	enc, err := virtual.Open(dir, nil)
	if err != nil {
		return nil, nil, err
	}
	id, err := node.InitIdentity(dir, enc)
	if err != nil {
		return nil, nil, err
	}
	info, err := id.Info(enc)
	if err != nil {
		return nil, nil, err
	}
	return info, enc, WriteInfo(filepath.Join(dir, "node.json"), info)
}

func config(o Options, abs string, i int) string {
	bus := fmt.Sprintf("  url: %q\n", o.BusURL)
	if o.BusURL == "" {
		bus = embeddedBus(o, i)
	}
	return fmt.Sprintf(`# Node %[1]d of the %[2]q testnet (written by coco testnet init).
node:
  data_dir: %[3]s
  genesis: %[4]s
bus:
%[5]seth:
  rpc_addr: %[6]s:%[7]d
log:
  level: info
`, i, o.Network, filepath.Join(abs, fmt.Sprintf("node%d", i)), filepath.Join(abs, "genesis.json"),
		bus, o.Host, o.RPCPort+i)
}

// embeddedBus is node i's own NATS server, routed to every other node's.
func embeddedBus(o Options, i int) string {
	var routes []string
	for j := range o.Nodes {
		if j != i {
			routes = append(routes, fmt.Sprintf("    - nats-route://%s:%d", o.Host, o.ClusterPort+j))
		}
	}
	routeList := "[]"
	if len(routes) > 0 {
		routeList = "\n" + strings.Join(routes, "\n")
	}
	return fmt.Sprintf("  listen: %[1]s:%[2]d\n  cluster_listen: %[1]s:%[3]d\n  routes: %[4]s\n",
		o.Host, o.BusPort+i, o.ClusterPort+i, routeList)
}

// WriteInfo writes a node's public info (the input to genesis).
func WriteInfo(path string, info *node.Info) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadInfo reads what WriteInfo wrote.
func ReadInfo(path string) (*node.Info, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var info node.Info
	if err := json.Unmarshal(b, &info); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &info, nil
}
