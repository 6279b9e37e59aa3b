package govapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/cocoledger/coco/core/gov"
	"github.com/cocoledger/coco/core/types"
)

// Info is what a member needs before signing: the network and the height to
// sign against.
type Info struct {
	Network string `json:"network"`
	Height  uint64 `json:"height"`
}

// Error is the body of every error response.
type Error struct {
	Error  string      `json:"error"`
	Result *gov.Result `json:"result,omitempty"`
}

// Node is what the server needs of the node.
type Node interface {
	Gov() *gov.Gov
	Submit(tx types.Tx) error
}

// Server serves /gov/.
type Server struct {
	node    Node
	network string
	// Wait bounds how long a write waits for its request to be ordered
	// and executed before answering 202 Accepted.
	Wait time.Duration

	mu      sync.Mutex
	waiters map[string]chan *gov.Result
}

// New returns the handler; mount it at /gov/.
func New(n Node, network string) *Server {
	s := &Server{node: n, network: network, Wait: 15 * time.Second, waiters: map[string]chan *gov.Result{}}
	n.Gov().OnResult(s.deliver)
	return s
}

func (s *Server) deliver(r *gov.Result) {
	s.mu.Lock()
	ch := s.waiters[r.ID]
	delete(s.waiters, r.ID)
	s.mu.Unlock()
	if ch != nil {
		ch <- r
	}
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g := s.node.Gov()
	path := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/gov"), "/")
	if r.Method == http.MethodPost {
		if path != "/requests" {
			writeError(w, http.StatusNotFound, fmt.Errorf("no endpoint POST /gov%s", path), nil)
			return
		}
		s.submit(w, r)
		return
	}
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, fmt.Errorf("method %s not allowed", r.Method), nil)
		return
	}
	switch {
	case path == "/info" || path == "":
		writeJSON(w, http.StatusOK, Info{Network: s.network, Height: g.Height()})
	case path == "/proposals":
		writeJSON(w, http.StatusOK, g.Proposals())
	case strings.HasPrefix(path, "/proposals/"):
		p, err := g.Proposal(strings.TrimPrefix(path, "/proposals/"))
		if err != nil {
			writeError(w, http.StatusNotFound, err, nil)
			return
		}
		writeJSON(w, http.StatusOK, p)
	case strings.HasPrefix(path, "/results/"):
		res, err := g.Result(strings.TrimPrefix(path, "/results/"))
		if err != nil {
			writeError(w, http.StatusNotFound, err, nil)
			return
		}
		writeJSON(w, http.StatusOK, res)
	case path == "/members":
		writeJSON(w, http.StatusOK, g.Members())
	case path == "/nodes":
		writeJSON(w, http.StatusOK, g.Nodes())
	case path == "/users":
		writeJSON(w, http.StatusOK, g.Users())
	case path == "/measurements":
		writeJSON(w, http.StatusOK, g.Measurements())
	case path == "/constitution":
		writeJSON(w, http.StatusOK, g.Constitution())
	case path == "/params":
		writeJSON(w, http.StatusOK, g.Params())
	default:
		writeError(w, http.StatusNotFound, fmt.Errorf("no endpoint GET /gov%s", path), nil)
	}
}

// submit pre-checks a signed request, orders it and waits for its result.
func (s *Server) submit(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, gov.MaxRequestSize+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, err, nil)
		return
	}
	g := s.node.Gov()
	signed, _, err := g.Check(body)
	switch {
	case errors.Is(err, gov.ErrReplayed):
		res, _ := g.Result(signed.ID())
		writeError(w, http.StatusConflict, err, res)
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, err, nil)
		return
	}
	id := signed.ID()
	ch := make(chan *gov.Result, 1)
	s.mu.Lock()
	s.waiters[id] = ch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.waiters, id)
		s.mu.Unlock()
	}()
	if err := s.node.Submit(types.Tx{Namespace: types.GovNamespace, Payload: body}); err != nil {
		writeError(w, http.StatusServiceUnavailable, err, nil)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.Wait)
	defer cancel()
	select {
	case res := <-ch:
		if !res.Applied {
			writeError(w, http.StatusUnprocessableEntity, errors.New(res.Reason), res)
			return
		}
		writeJSON(w, http.StatusOK, res)
	case <-ctx.Done():
		writeJSON(w, http.StatusAccepted, &gov.Result{ID: id})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, err error, res *gov.Result) {
	writeJSON(w, status, Error{Error: err.Error(), Result: res})
}
