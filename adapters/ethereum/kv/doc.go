// Package kv lets go-ethereum keep its data in a core/state namespace: New
// wraps a *state.Store as an ethdb.KeyValueStore. rawdb.NewDatabase over it
// gives an ethdb.Database without a freezer (its ancient-store methods report
// "not supported"), which is all the trie, state and code databases need;
// everything they write is encrypted at rest by the store.
//
// It owns no storage of its own and must not close the shared database: the
// node owns it. Closing the adapter only stops the adapter.
package kv
