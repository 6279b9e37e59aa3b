package bridge

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Config selects an embedded NATS server or an external cluster.
type Config struct {
	// URL of an external NATS cluster, or several of its servers separated
	// by commas (the connection moves to another when one fails); empty
	// runs an embedded server.
	URL string `mapstructure:"url"`
	// Listen is the embedded server's client address (host:port; port 0 picks one).
	Listen string `mapstructure:"listen"`
	// ClusterListen is the embedded server's route address; empty disables clustering.
	ClusterListen string `mapstructure:"cluster_listen"`
	// Routes are the other embedded servers' route URLs (nats-route://host:port).
	Routes []string `mapstructure:"routes"`
	// MaxPayload must exceed the largest sealed batch or proposal: the
	// embedded server's limit, or the least an external one must allow.
	MaxPayload int32  `mapstructure:"max_payload"`
	Name       string `mapstructure:"-"`
}

// DefaultConfig is an embedded, unclustered server on loopback.
func DefaultConfig() Config {
	return Config{Listen: "127.0.0.1:4222", MaxPayload: 8 << 20}
}

// Validate checks the configuration once at start-up.
func (c Config) Validate() error {
	if c.URL != "" {
		for _, s := range strings.Split(c.URL, ",") {
			u, err := url.Parse(strings.TrimSpace(s))
			if err != nil || u.Host == "" || (u.Scheme != "nats" && u.Scheme != "tls") {
				return fmt.Errorf("bus url %q: want nats://host:port (several separated by commas)", s)
			}
		}
	} else if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("bus listen %q: %w", c.Listen, err)
	}
	if c.MaxPayload < 1<<20 {
		return fmt.Errorf("bus max_payload %d: must be at least 1 MiB", c.MaxPayload)
	}
	return nil
}

// Bus is a connection to the NATS bus, and the embedded server if any.
type Bus struct {
	conn   *nats.Conn
	server *server.Server
	log    *slog.Logger
}

var (
	// ErrNotReady means the embedded server did not come up.
	ErrNotReady = errors.New("bus: embedded NATS server not ready")
	// ErrPayloadLimit means an external server refuses messages as large
	// as the node sends.
	ErrPayloadLimit = errors.New("bus: external NATS payload limit too small")
)

// Start starts the embedded server (unless cfg.URL is set) and connects.
func Start(cfg Config, log *slog.Logger) (*Bus, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b := &Bus{log: log}
	url := cfg.URL
	if url == "" {
		srv, err := startServer(cfg)
		if err != nil {
			return nil, err
		}
		b.server = srv
		url = srv.ClientURL()
		log.Info("embedded NATS server started", "url", url, "cluster", cfg.ClusterListen, "routes", cfg.Routes)
	}
	conn, err := nats.Connect(url,
		nats.Name(cfg.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(100*time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("bus disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("bus reconnected", "url", c.ConnectedUrl()) }),
	)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("bus: connect %s: %w", url, err)
	}
	b.conn = conn
	if b.server == nil {
		// A proposal or batch larger than the server allows would be
		// refused at publish time, long after start-up.
		if limit := conn.MaxPayload(); limit < int64(cfg.MaxPayload) {
			b.Close()
			return nil, fmt.Errorf("%w: the NATS server at %s allows messages of %d bytes, this node sends up to %d (bus.max_payload): raise max_payload in the server's configuration, or lower bus.max_payload with node.consensus.block_max_bytes",
				ErrPayloadLimit, conn.ConnectedUrl(), limit, cfg.MaxPayload)
		}
		log.Info("connected to an external NATS cluster", "url", conn.ConnectedUrl(), "servers", conn.Servers(), "max_payload", conn.MaxPayload())
	}
	return b, nil
}

func startServer(cfg Config) (*server.Server, error) {
	host, port, _ := net.SplitHostPort(cfg.Listen)
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil, fmt.Errorf("bus listen port %q: %w", port, err)
	}
	if p == 0 {
		p = server.RANDOM_PORT // NATS reads 0 as "the default port 4222"
	}
	opts := &server.Options{
		ServerName: cfg.Name,
		Host:       host,
		Port:       p,
		MaxPayload: cfg.MaxPayload,
		NoLog:      true,
		NoSigs:     true,
	}
	if cfg.ClusterListen != "" {
		ch, cp, err := net.SplitHostPort(cfg.ClusterListen)
		if err != nil {
			return nil, fmt.Errorf("bus cluster_listen: %w", err)
		}
		opts.Cluster.Name = "coco"
		opts.Cluster.Host = ch
		if opts.Cluster.Port, err = strconv.Atoi(cp); err != nil {
			return nil, fmt.Errorf("bus cluster_listen port: %w", err)
		}
		for _, r := range cfg.Routes {
			u, err := url.Parse(r)
			if err != nil {
				return nil, fmt.Errorf("bus route %q: %w", r, err)
			}
			opts.Routes = append(opts.Routes, u)
		}
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("bus: %w", err)
	}
	// The server's log is off, so a port another process holds would only
	// show as a server never ready; try the ports first to say so.
	for _, a := range []string{cfg.Listen, cfg.ClusterListen} {
		if a == "" {
			continue
		}
		l, err := net.Listen("tcp", a)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrNotReady, err)
		}
		_ = l.Close()
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("%w on %s", ErrNotReady, cfg.Listen)
	}
	return srv, nil
}

// Conn is the NATS connection.
func (b *Bus) Conn() *nats.Conn { return b.conn }

// ClientURL is the URL other processes use to reach this bus.
func (b *Bus) ClientURL() string {
	if b.server != nil {
		return b.server.ClientURL()
	}
	return b.conn.ConnectedUrl()
}

// Peers is the number of other NATS servers this embedded server is routed
// to (a server may hold several connections to one peer); -1 when the bus is
// external.
func (b *Bus) Peers() int {
	if b.server == nil {
		return -1
	}
	rz, err := b.server.Routez(nil)
	if err != nil {
		return 0
	}
	peers := map[string]bool{}
	for _, r := range rz.Routes {
		peers[r.RemoteID] = true
	}
	return len(peers)
}

// Close drains the connection and stops the embedded server.
func (b *Bus) Close() {
	if b.conn != nil {
		_ = b.conn.Drain()
		b.conn.Close()
	}
	if b.server != nil {
		b.server.Shutdown()
		b.server.WaitForShutdown()
	}
}
