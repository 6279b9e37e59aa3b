// Package batch owns the node's mempool and its confidential batcher: it
// queues checked transactions, cuts them into batches, and seals each batch
// with the ledger secret before it leaves the enclave for ordering.
//
// It must not interpret transactions (adapters did their checks before
// Submit) and must not order anything: ordering is consensus's job.
package batch
