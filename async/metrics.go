package async

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts what the async worker does. A nil *Metrics counts nothing.
type Metrics struct {
	outcomes *prometheus.CounterVec
	latency  prometheus.Histogram
	calls    *prometheus.CounterVec
	retries  *prometheus.CounterVec
}

// NewMetrics registers the worker's metrics with reg, and a queue depth gauge
// read from depth at scrape time.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "assignd_async_jobs_total",
			Help: "Async decisions finished, by outcome (see the outcome table in the README).",
		}, []string{"outcome"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "assignd_async_apply_seconds",
			Help:    "Time from the callback to the async decision's final outcome.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "assignd_taskrouter_requests_total",
			Help: "Reservations REST API calls, by result class.",
		}, []string{"class"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "assignd_async_retries_total",
			Help: "Async decision retries, by reason.",
		}, []string{"reason"}),
	}
	reg.MustRegister(m.outcomes, m.latency, m.calls, m.retries)
	for _, o := range Outcomes {
		m.outcomes.WithLabelValues(o)
	}
	return m
}

func (m *Metrics) outcome(o string, since time.Duration) {
	if m == nil {
		return
	}
	m.outcomes.WithLabelValues(o).Inc()
	m.latency.Observe(since.Seconds())
}

func (m *Metrics) restCall(c Class) {
	if m == nil {
		return
	}
	m.calls.WithLabelValues(c.String()).Inc()
}

func (m *Metrics) retry(reason string) {
	if m == nil {
		return
	}
	m.retries.WithLabelValues(reason).Inc()
}
