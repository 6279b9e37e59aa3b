package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
)

// Errors callers branch on.
var (
	// ErrNotFound: the key has no value in the namespace.
	ErrNotFound = errors.New("state: not found")
	// ErrCorrupt: a stored value failed authentication (tampered, moved to
	// another key, or truncated).
	ErrCorrupt = errors.New("state: value failed authentication")
	// ErrWrongKey: the database was created with a different at-rest key.
	ErrWrongKey = errors.New("state: database was created with a different key")
	// ErrClosed: the database (or the adapter over a Store) is closed.
	ErrClosed = errors.New("state: database closed")
)

// KeySize is the size of the at-rest key in Options.Key.
const KeySize = 32

const (
	defaultCacheSize = 128 << 20
	// Large memtables absorb bursts of small random writes (trie nodes keyed
	// by hash) without flushing tiny L0 files; four may queue before writes
	// stall, which leaves room for a flush to finish under sustained load.
	memTableSize     = 64 << 20
	memTableStopping = 4

	namespacePrefix = "n/"
	keyCheckKey     = "m/keycheck"
	keyCheckInfo    = "coco/state/keycheck/v1"
	keyCheckText    = "coco state at-rest key check v1"
)

// Options configure Open.
type Options struct {
	// Key is the 32-byte at-rest key derived from the sealed node secret.
	// Required. The caller may wipe it after Open returns.
	Key []byte
	// CacheSize is Pebble's block cache size in bytes (default 128 MiB).
	CacheSize int64
	// Logger receives Pebble's messages (default slog.Default()).
	Logger *slog.Logger
}

// DB is the node's Pebble database. It is safe for concurrent use. Close it
// only after every user (stores, batches, iterators) has stopped.
type DB struct {
	pdb    *pebble.DB
	key    []byte
	log    *slog.Logger
	closed atomic.Bool

	turn      atomic.Pointer[flushTurn]
	closing   chan struct{} // closed by Close: stops takeTurns
	turnsDone chan struct{} // closed when takeTurns has returned

	mu         sync.Mutex
	namespaces map[string]*Store
}

// Open opens or creates the database in dir. It fails with ErrWrongKey if the
// database was created with another key.
func Open(dir string, opts Options) (*DB, error) {
	if len(opts.Key) != KeySize {
		return nil, fmt.Errorf("state: at-rest key is %d bytes, want %d", len(opts.Key), KeySize)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("component", "pebble", "dir", dir)
	cacheSize := opts.CacheSize
	if cacheSize <= 0 {
		cacheSize = defaultCacheSize
	}
	pdb, err := pebble.Open(dir, pebbleOptions(cacheSize, logger))
	if err != nil {
		return nil, fmt.Errorf("state: open %s: %w", dir, err)
	}
	db := &DB{
		pdb:        pdb,
		key:        bytes.Clone(opts.Key),
		log:        logger,
		namespaces: make(map[string]*Store),
		closing:    make(chan struct{}),
		turnsDone:  make(chan struct{}),
	}
	if err := db.checkKey(); err != nil {
		_ = pdb.Close()
		return nil, err
	}
	go db.takeTurns()
	return db, nil
}

func pebbleOptions(cacheSize int64, logger *slog.Logger) *pebble.Options {
	o := &pebble.Options{
		CacheSize:                   cacheSize,
		MemTableSize:                memTableSize,
		MemTableStopWritesThreshold: memTableStopping,
		// Writes are mostly NoSync; syncing the WAL in the background every
		// MiB keeps an explicit Sync (and the ledger's fsync) short.
		WALBytesPerSync:            1 << 20,
		CompactionConcurrencyRange: func() (int, int) { return 1, runtime.NumCPU() },
		FormatMajorVersion:         pebble.FormatNewest,
		Logger:                     slogLogger{logger},
		EventListener: &pebble.EventListener{
			BackgroundError: func(err error) { logger.Error("pebble background error", "err", err) },
			DataCorruption: func(info pebble.DataCorruptionInfo) {
				logger.Error("pebble data corruption", "info", info.String())
			},
			WriteStallBegin: func(info pebble.WriteStallBeginInfo) {
				logger.Warn("pebble write stall", "reason", info.Reason)
			},
			WriteStallEnd: func() { logger.Info("pebble write stall ended") },
			// Flushes and compactions take CPU and disk from consensus and
			// execution; these lines tie a slow block to one.
			FlushEnd: func(info pebble.FlushInfo) {
				logger.Debug("pebble flush", "memtables", info.Input, "bytes", info.InputBytes,
					"took", info.TotalDuration, "err", info.Err)
			},
			CompactionEnd: func(info pebble.CompactionInfo) {
				logger.Debug("pebble compaction", "reason", info.Reason, "to_level", info.Output.Level,
					"tables", len(info.Output.Tables), "took", info.TotalDuration, "err", info.Err)
			},
		},
	}
	// Most reads are point lookups of keys that may be absent (trie nodes,
	// Has checks): bloom filters on every level spare those a disk read.
	for i := range o.Levels {
		o.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	return o
}

// checkKey proves on open that the key is the one the database was created
// with, so a node restarted with another secret fails at once instead of
// reporting every value as corrupt.
func (db *DB) checkKey() error {
	aead, err := deriveAEAD(db.key, keyCheckInfo)
	if err != nil {
		return err
	}
	k := []byte(keyCheckKey)
	stored, closer, err := db.pdb.Get(k)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		v := seal(aead, nil, k, []byte(keyCheckText))
		if err := db.pdb.Set(k, v, pebble.Sync); err != nil {
			return fmt.Errorf("state: write key check: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("state: read key check: %w", err)
	}
	defer closer.Close()
	plain, err := open(aead, nil, k, stored)
	if err != nil || string(plain) != keyCheckText {
		return ErrWrongKey
	}
	return nil
}

// Close closes Pebble. Every Store of the database becomes unusable.
func (db *DB) Close() error {
	if db.closed.Swap(true) {
		return ErrClosed
	}
	clear(db.key)
	close(db.closing)
	<-db.turnsDone
	if err := db.pdb.Close(); err != nil {
		return fmt.Errorf("state: close: %w", err)
	}
	return nil
}

// Pebble returns the underlying database for users of plaintext public data
// under their own prefix (see the package documentation). They must not
// touch the "n/" and "m/" prefixes, and must not close it.
func (db *DB) Pebble() *pebble.DB { return db.pdb }

// Sync makes every write so far durable.
func (db *DB) Sync() error {
	if db.closed.Load() {
		return ErrClosed
	}
	b := db.pdb.NewBatch()
	defer b.Close()
	// An empty log record written with Sync flushes the WAL up to it.
	if err := b.LogData(nil, nil); err != nil {
		return fmt.Errorf("state: sync: %w", err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("state: sync: %w", err)
	}
	return nil
}

// Metrics returns Pebble's metrics (for status pages and diagnostics).
func (db *DB) Metrics() (*pebble.Metrics, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	return db.pdb.Metrics(), nil
}

// CheckNamespace reports whether name can be used with Namespace: non-empty,
// at most 255 bytes, without '/'.
func CheckNamespace(name string) error {
	if name == "" || len(name) > 255 || strings.IndexByte(name, '/') >= 0 {
		return fmt.Errorf("state: invalid namespace name %q: want 1-255 bytes without '/'", name)
	}
	return nil
}

// Namespace returns the store of the named namespace; the same name always
// gives the same *Store. It panics if CheckNamespace(name) fails: names are
// chosen by code or validated by governance before they get here.
func (db *DB) Namespace(name string) *Store {
	if err := CheckNamespace(name); err != nil {
		panic(err)
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if s, ok := db.namespaces[name]; ok {
		return s
	}
	aead, err := deriveAEAD(db.key, "coco/state/namespace/v1/"+name)
	if err != nil {
		// Only possible with a key of the wrong size, which Open rejects.
		panic(err)
	}
	prefix := []byte(namespacePrefix + name + "/")
	s := &Store{db: db, name: name, prefix: prefix, end: upperBound(prefix), aead: aead}
	db.namespaces[name] = s
	return s
}

func (db *DB) compact(start, end []byte) error {
	if db.closed.Load() {
		return ErrClosed
	}
	if bytes.Compare(start, end) >= 0 {
		return nil
	}
	if err := db.pdb.Compact(context.Background(), start, end, true); err != nil {
		return fmt.Errorf("state: compact: %w", err)
	}
	return nil
}

// upperBound returns the smallest key greater than every key with the prefix,
// or nil if there is none (a prefix of only 0xff bytes).
func upperBound(prefix []byte) []byte {
	for i := len(prefix) - 1; i >= 0; i-- {
		if prefix[i] != 0xff {
			end := bytes.Clone(prefix[:i+1])
			end[i]++
			return end
		}
	}
	return nil
}

// slogLogger routes Pebble's own log lines into slog: its routine chatter at
// debug, its errors as errors.
type slogLogger struct{ l *slog.Logger }

func (s slogLogger) Infof(format string, args ...any) {
	if s.l.Enabled(context.Background(), slog.LevelDebug) {
		s.l.Debug(strings.TrimSpace(fmt.Sprintf(format, args...)))
	}
}

func (s slogLogger) Errorf(format string, args ...any) {
	s.l.Error(strings.TrimSpace(fmt.Sprintf(format, args...)))
}

// Fatalf must not return (Pebble's contract); a panic lets the node's
// recovery, not os.Exit, decide what happens.
func (s slogLogger) Fatalf(format string, args ...any) {
	msg := strings.TrimSpace(fmt.Sprintf(format, args...))
	s.l.Error("pebble fatal error", "msg", msg)
	panic("pebble: " + msg)
}
