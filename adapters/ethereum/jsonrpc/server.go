package jsonrpc

import (
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rpc"
)

// ErrNoBackend reports a nil Backend given to New.
var ErrNoBackend = errors.New("jsonrpc: nil backend")

// Server is the Ethereum JSON-RPC endpoint over one Backend.
type Server struct {
	b   Backend
	cfg Config
	log *slog.Logger

	rpc     *rpc.Server
	http    http.Handler
	ws      http.Handler
	hub     *hub
	filters *filterStore
	eth     *ethAPI

	closeOnce sync.Once
	quit      chan struct{}
	done      sync.WaitGroup
}

// New builds the server and starts following the backend's blocks and
// pending transactions (for filters and subscriptions).
func New(b Backend, cfg Config, log *slog.Logger) (*Server, error) {
	if b == nil {
		return nil, ErrNoBackend
	}
	if log == nil {
		log = slog.Default()
	}
	cfg = cfg.withDefaults()
	s := &Server{
		b:    b,
		cfg:  cfg,
		log:  log,
		rpc:  rpc.NewServer(),
		quit: make(chan struct{}),
	}
	s.rpc.SetHTTPBodyLimit(cfg.MaxBodyBytes)
	s.rpc.SetWebsocketReadLimit(int64(cfg.MaxBodyBytes))
	s.rpc.SetBatchLimits(cfg.BatchItemLimit, cfg.BatchResponseMaxSize)

	s.filters = newFilterStore(cfg.FilterTimeout)
	s.eth = &ethAPI{b: b, cfg: cfg, log: log, filters: s.filters, m: newMarshaller(b.ChainConfig())}
	s.hub = newHub(b, s.filters, log)
	s.eth.hub = s.hub

	dev, err := newDevAccounts(cfg.DevKeys)
	if err != nil {
		return nil, err
	}
	services := []service{
		{"eth", s.eth},
		{"net", &netAPI{b: b, peerCount: cfg.PeerCount}},
		{"web3", &web3API{version: cfg.ClientVersion}},
	}
	if dev != nil {
		d := &devAPI{eth: s.eth, accounts: dev}
		services = append(services, service{"eth", d}, service{"personal", &personalAPI{dev: d}})
	}
	for _, svc := range services {
		if err := s.rpc.RegisterName(svc.name, svc.rcvr); err != nil {
			return nil, fmt.Errorf("jsonrpc: register %s: %w", svc.name, err)
		}
	}
	s.http = cors(s.rpc, cfg.CORSOrigins)
	s.ws = s.rpc.WebsocketHandler(cfg.CORSOrigins)

	s.hub.start()
	s.done.Add(1)
	go s.expireFilters()
	log.Info("ethereum json-rpc ready", "chainId", b.ChainConfig().ChainID, "devAccounts", len(cfg.DevKeys))
	return s, nil
}

type service struct {
	name string
	rcvr any
}

// Handler serves JSON-RPC over HTTP and, for upgrade requests, WebSocket.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isWebsocket(r) {
			s.ws.ServeHTTP(w, r)
			return
		}
		s.http.ServeHTTP(w, r)
	})
}

// Close stops serving: open WebSocket connections and subscriptions end and
// the backend subscriptions are released. It is safe to call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.quit)
		s.rpc.Stop()
		s.hub.stop()
		s.done.Wait()
	})
}

// expireFilters removes polling filters nobody polled within FilterTimeout.
func (s *Server) expireFilters() {
	defer s.done.Done()
	tick := time.NewTicker(max(s.cfg.FilterTimeout/4, time.Second))
	defer tick.Stop()
	for {
		select {
		case now := <-tick.C:
			if n := s.filters.expire(now); n > 0 {
				s.log.Debug("expired idle filters", "count", n)
			}
		case <-s.quit:
			return
		}
	}
}

func isWebsocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket") &&
		strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade")
}

// cors answers preflight requests and adds the CORS headers browsers need
// (MetaMask and dApps call the node from a page's origin).
func cors(next http.Handler, origins []string) http.Handler {
	all := false
	allowed := make(map[string]bool, len(origins))
	for _, o := range origins {
		if o == "*" {
			all = true
		}
		allowed[strings.ToLower(strings.TrimRight(o, "/"))] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		ok := origin != "" && (all || allowed[strings.ToLower(origin)])
		h := w.Header()
		if origin != "" {
			h.Add("Vary", "Origin")
		}
		if ok {
			if all {
				h.Set("Access-Control-Allow-Origin", "*")
			} else {
				h.Set("Access-Control-Allow-Origin", origin)
			}
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			if ok {
				h.Set("Access-Control-Allow-Methods", "POST, GET, OPTIONS")
				if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
					h.Set("Access-Control-Allow-Headers", req)
				}
				h.Set("Access-Control-Max-Age", "600")
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// devAccounts are the development keys by address, in configuration order.
type devAccounts struct {
	addrs []common.Address
	keys  map[common.Address]*ecdsa.PrivateKey
}

func newDevAccounts(keys []*ecdsa.PrivateKey) (*devAccounts, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	d := &devAccounts{keys: make(map[common.Address]*ecdsa.PrivateKey, len(keys))}
	for i, k := range keys {
		if k == nil {
			return nil, fmt.Errorf("jsonrpc: dev key %d is nil", i)
		}
		a := crypto.PubkeyToAddress(k.PublicKey)
		if _, dup := d.keys[a]; dup {
			continue
		}
		d.addrs = append(d.addrs, a)
		d.keys[a] = k
	}
	return d, nil
}
