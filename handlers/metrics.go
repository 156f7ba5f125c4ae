package handlers

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/assignd/assignd/policy"
)

// Metrics counts what the callback handler does. A nil *Metrics counts nothing.
type Metrics struct {
	callbacks *prometheus.CounterVec
	latency   prometheus.Histogram
	decisions *prometheus.CounterVec
	decide    prometheus.Histogram
	events    *prometheus.CounterVec
	requests  *prometheus.CounterVec // /events requests by result
}

// NewMetrics registers the handler's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		callbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "assignd_callbacks_total",
			Help: "Assignment callbacks by result: " + strings.Join(CountedResults(), ", ") + ".",
		}, []string{"result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "assignd_callback_duration_seconds",
			Help:    "Time from receiving a callback to answering it, decision included.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "assignd_decisions_total",
			Help: "Decisions answered, by rule, instruction and mode (sync or async).",
		}, []string{"rule", "instruction", "mode"}),
		decide: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "assignd_decision_duration_seconds",
			Help:    "Time the policy took to decide (deadline and fallback included).",
			Buckets: []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .005, .025, .1, .5, 1, 3, 5},
		}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "assignd_reservation_events_total",
			Help: "Workspace reservation events received on /events, by event type.",
		}, []string{"event"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "assignd_events_total",
			Help: "Requests to /events by result: " + strings.Join(EventResults(), ", ") + " (refused ones included, whether or not their log line was suppressed).",
		}, []string{"result"}),
	}
	reg.MustRegister(m.callbacks, m.latency, m.decisions, m.decide, m.events, m.requests)
	for _, r := range CountedResults() {
		m.callbacks.WithLabelValues(r) // export zeros so rates work from the start
	}
	for _, r := range EventResults() {
		m.requests.WithLabelValues(r)
	}
	return m
}

func (m *Metrics) callback(result string, d time.Duration) {
	if m == nil {
		return
	}
	m.callbacks.WithLabelValues(result).Inc()
	m.latency.Observe(d.Seconds())
}

func (m *Metrics) decision(d policy.Decision) {
	if m == nil {
		return
	}
	mode := "sync"
	if d.Async {
		mode = "async"
	}
	m.decisions.WithLabelValues(d.Rule, d.InstructionName(), mode).Inc()
}

func (m *Metrics) decided(d time.Duration) {
	if m == nil {
		return
	}
	m.decide.Observe(d.Seconds())
}

func (m *Metrics) eventRequest(result string) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(result).Inc()
}

func (m *Metrics) event(eventType string) {
	if m == nil {
		return
	}
	m.events.WithLabelValues(eventType).Inc()
}
