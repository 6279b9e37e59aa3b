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
	memoryBytes = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "coco", Subsystem: "eth", Name: "state_memory_bytes", Help: "State changes of recent blocks kept in memory, not yet on disk.",
	})
)

func init() {
	prometheus.MustRegister(txsIncluded, txsExcluded, txsAccepted, txsRejected, memoryBytes)
}
