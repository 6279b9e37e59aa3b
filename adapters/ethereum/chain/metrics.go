package chain

import "github.com/prometheus/client_golang/prometheus"

var (
	txsIncluded = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "coco", Subsystem: "eth", Name: "txs_included_total", Help: "Transactions included in Ethereum blocks.",
	})
	txsExcluded = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "coco", Subsystem: "eth", Name: "txs_excluded_total", Help: "Ordered transactions left out of Ethereum blocks (wrong nonce, funds, gas).",
	})
	txsAccepted = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "coco", Subsystem: "eth", Name: "ingress_accepted_total", Help: "Transactions accepted by SendTransaction.",
	})
	txsRejected = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "coco", Subsystem: "eth", Name: "ingress_rejected_total", Help: "Transactions refused by SendTransaction.",
	})
	flushSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "coco", Subsystem: "eth", Name: "state_flush_seconds", Help: "Time to write the head state to disk.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	})
	dirtyBytes = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "coco", Subsystem: "eth", Name: "state_dirty_bytes", Help: "Trie nodes kept in memory, not yet flushed.",
	})
)

func init() {
	prometheus.MustRegister(txsIncluded, txsExcluded, txsAccepted, txsRejected, flushSeconds, dirtyBytes)
}
