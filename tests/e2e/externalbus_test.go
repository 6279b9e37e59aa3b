package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/cocoledger/coco/bridge/bustest"
	"github.com/nats-io/nats-server/v2/server"
)

// Four nodes without embedded NATS servers, all pointed at an external
// three-server cluster: transactions sent to any node commit on all, and
// when the server most nodes are connected to goes, they move to the
// others and commits continue. No acknowledged receipt is lost.
func TestNetworkOverExternalNATSCluster(t *testing.T) {
	// An operator's cluster, run here inside the test process, outside
	// every node.
	a := bustest.Server(t, 8<<20)
	b := bustest.Server(t, 8<<20, a)
	c := bustest.Server(t, 8<<20, a, b)
	servers := []*server.Server{a, b, c}
	waitUntil(t, 10*time.Second, "the NATS cluster routed", func() bool {
		return a.NumRoutes() > 0 && b.NumRoutes() > 0 && c.NumRoutes() > 0
	})
	urls := make([]string, len(servers))
	for i, s := range servers {
		urls[i] = s.ClientURL()
	}
	nw := layOutNetwork(t, 4, 4, "tee", strings.Join(urls, ","))
	l := nw.startLoad(devKeys[2:6], nw.nodes)
	waitUntil(t, 30*time.Second, "load running", func() bool { return nw.ackCount() >= 100 })

	busiest := a
	for _, s := range servers {
		if s.NumClients() > busiest.NumClients() {
			busiest = s
		}
	}
	t.Logf("stopping the NATS server with %d of the nodes' connections, at %d receipts", busiest.NumClients(), nw.ackCount())
	busiest.Shutdown()
	before := nw.ackCount()
	waitUntil(t, 30*time.Second, "receipts after a NATS server went", func() bool { return nw.ackCount() >= before+200 })
	if errs := l.stop(); len(errs) > 0 {
		t.Logf("clients met %d errors (first: %s)", len(errs), errs[0])
	}
	nw.assertSameChain(30 * time.Second)
	for _, nd := range nw.live() {
		nd.assertReceipts(nw.acked)
	}
	nw.stopAll()
}
