package consensus

import (
	"errors"
	"fmt"
	"time"

	"github.com/cocoledger/coco/bridge"
	"github.com/nats-io/nats.go"
)

// Transport moves signed envelopes between consensus nodes. It is
// at-most-once: messages may be lost, duplicated, reordered or delayed, and
// consensus must (and does) tolerate all of it. The bus transport uses NATS;
// tests plug in a simulated network.
type Transport interface {
	// Send delivers data to node to's message handler, or drops it.
	Send(to uint64, data []byte)
	// Request asks node to's request handler and waits for its answer.
	Request(to uint64, data []byte, timeout time.Duration) ([]byte, error)
	// Listen installs this node's handlers; stop removes them.
	Listen(self uint64, onMessage func(data []byte), onRequest func(data []byte) []byte) (stop func(), err error)
}

// ErrNoTransport is returned by requests on a node without peers.
var ErrNoTransport = errors.New("consensus: no transport")

// NewBusTransport is the NATS transport: one subject per node for
// consensus messages and one for sync requests.
func NewBusTransport(conn *nats.Conn, network string) Transport {
	return &busTransport{conn: conn, network: network}
}

type busTransport struct {
	conn    *nats.Conn
	network string
}

func (t *busTransport) Send(to uint64, data []byte) {
	// At-most-once: SmartBFT retransmits what matters, sync fills gaps.
	_ = t.conn.Publish(bridge.ConsensusSubject(t.network, to), data)
}

func (t *busTransport) Request(to uint64, data []byte, timeout time.Duration) ([]byte, error) {
	msg, err := t.conn.Request(syncSubject(t.network, to), data, timeout)
	if err != nil {
		return nil, err
	}
	return msg.Data, nil
}

func (t *busTransport) Listen(self uint64, onMessage func([]byte), onRequest func([]byte) []byte) (func(), error) {
	sub, err := t.conn.Subscribe(bridge.ConsensusSubject(t.network, self), func(m *nats.Msg) { onMessage(m.Data) })
	if err != nil {
		return nil, fmt.Errorf("consensus: subscribe: %w", err)
	}
	_ = sub.SetPendingLimits(1<<16, 1<<30)
	syncSub, err := t.conn.Subscribe(syncSubject(t.network, self), func(m *nats.Msg) {
		if reply := onRequest(m.Data); reply != nil {
			_ = m.Respond(reply)
		}
	})
	if err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("consensus: subscribe: %w", err)
	}
	if err := t.conn.Flush(); err != nil {
		return nil, fmt.Errorf("consensus: bus: %w", err)
	}
	return func() { _ = sub.Unsubscribe(); _ = syncSub.Unsubscribe() }, nil
}

func syncSubject(network string, id uint64) string {
	return fmt.Sprintf("coco.%s.sync.%d", network, id)
}
