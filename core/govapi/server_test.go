package govapi

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/cocoledger/coco/core/gov"
	"github.com/cocoledger/coco/core/state"
	"github.com/cocoledger/coco/core/types"
)

// fakeNode orders every submitted request alone in the next block.
type fakeNode struct {
	mu sync.Mutex
	g  *gov.Gov
}

func (f *fakeNode) Gov() *gov.Gov { return f.g }

func (f *fakeNode) Submit(tx types.Tx) error {
	go func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		_, _ = f.g.Execute(f.g.Height()+1, []types.Tx{tx}, false)
	}()
	return nil
}

func newServer(t *testing.T, members ...*gov.MemberKey) (*Client, *fakeNode) {
	t.Helper()
	db, err := state.Open(t.TempDir(), state.Options{Key: bytes.Repeat([]byte{1}, state.KeySize), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	gen := &gov.Genesis{Params: gov.DefaultParams("tee", 1)}
	for _, m := range members {
		gen.Members = append(gen.Members, string(m.PEM()))
	}
	g, err := gov.Open(db.Namespace(types.GovNamespace), "net", gen, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	n := &fakeNode{g: g}
	mux := http.NewServeMux()
	mux.Handle("/gov/", New(n, "net"))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &Client{URL: srv.URL}, n
}

func TestServerAppliesRefusesAndReportsReplays(t *testing.T) {
	alice, _ := gov.NewMemberKey("alice")
	bob, _ := gov.NewMemberKey("bob")
	c, _ := newServer(t, alice, bob)
	ctx := context.Background()

	add := gov.Action{Name: gov.ActionSetParams, Args: []byte(`{"min_nodes":1}`)}
	s, res, pending, err := c.Sign(ctx, alice, &gov.Request{Kind: gov.KindPropose, Actions: []gov.Action{add}})
	if err != nil || pending || !res.Applied || res.State != gov.StateOpen {
		t.Fatalf("propose: %+v %v %v", res, pending, err)
	}
	// The same signed request again: 409 with the original result.
	_, _, err = c.Submit(ctx, s)
	var se *StatusError
	if !errors.As(err, &se) || se.Status != http.StatusConflict || se.Result == nil || !se.Result.Applied {
		t.Fatalf("replay: %v", err)
	}
	// A stranger: 400 at the door, nothing ordered.
	eve, _ := gov.NewMemberKey("eve")
	_, _, _, err = c.Sign(ctx, eve, &gov.Request{Kind: gov.KindVote, Proposal: res.Proposal, Ballot: gov.Accept})
	if !errors.As(err, &se) || se.Status != http.StatusBadRequest {
		t.Fatalf("stranger: %v", err)
	}
	// Two ballots decide it; the proposal reads back accepted.
	for _, m := range []*gov.MemberKey{alice, bob} {
		if _, r, _, err := c.Sign(ctx, m, &gov.Request{Kind: gov.KindVote, Proposal: res.Proposal, Ballot: gov.Accept}); err != nil || !r.Applied {
			t.Fatalf("vote: %+v %v", r, err)
		}
	}
	var p gov.Proposal
	if err := c.Get(ctx, "/proposals/"+res.Proposal, &p); err != nil || p.State != gov.StateAccepted || len(p.Ballots) != 2 {
		t.Fatalf("proposal %+v %v", p, err)
	}
	if err := c.Get(ctx, "/proposals/nope", &p); !errors.As(err, &se) || se.Status != http.StatusNotFound {
		t.Fatalf("unknown proposal: %v", err)
	}
	var ms []gov.Member
	if err := c.Get(ctx, "/members", &ms); err != nil || len(ms) != 2 {
		t.Fatalf("members %v %v", ms, err)
	}
}
