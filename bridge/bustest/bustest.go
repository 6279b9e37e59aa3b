package bustest

import (
	"net/url"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Server starts a NATS server on a free loopback port, accepting messages
// up to maxPayload bytes and routed to the given servers (one cluster); the
// test's cleanup shuts it down.
func Server(t testing.TB, maxPayload int32, routes ...*server.Server) *server.Server {
	t.Helper()
	opts := &server.Options{Host: "127.0.0.1", Port: -1, MaxPayload: maxPayload, NoLog: true, NoSigs: true}
	opts.Cluster.Name, opts.Cluster.Host, opts.Cluster.Port = "external", "127.0.0.1", -1
	for _, r := range routes {
		u, err := url.Parse("nats-route://" + r.ClusterAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		opts.Routes = append(opts.Routes, u)
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	t.Cleanup(srv.Shutdown)
	return srv
}
