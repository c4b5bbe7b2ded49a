package confluence

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Status classes used as the "status" label; a fixed set, so cardinality stays bounded.
const (
	class2xx   = "2xx"
	class3xx   = "3xx"
	class4xx   = "4xx"
	class5xx   = "5xx"
	classError = "error" // no HTTP answer: connect, timeout, dropped connection
)

func statusClass(code int) string {
	switch {
	case code >= 500:
		return class5xx
	case code >= 400:
		return class4xx
	case code >= 300:
		return class3xx
	}
	return class2xx
}

// Metrics are the Prometheus collectors a Client reports to. A nil *Metrics records nothing.
// Labels are the API name and the status class only — never anything taken from a request.
type Metrics struct {
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	retries  *prometheus.CounterVec
}

// NewMetrics creates the collectors and registers them with reg (skipped when reg is nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "confluence_api_calls_total",
			Help: "HTTP requests to Confluence by API and status class (2xx, 4xx, 5xx, error).",
		}, []string{"api", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "confluence_api_call_duration_seconds",
			Help:    "Duration of one HTTP request to Confluence.",
			Buckets: prometheus.DefBuckets,
		}, []string{"api"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "confluence_api_retries_total",
			Help: "Confluence requests repeated after a transient failure, by API.",
		}, []string{"api"}),
	}
	if reg != nil {
		reg.MustRegister(m.calls, m.duration, m.retries)
	}
	return m
}

func (m *Metrics) observeCall(api, class string, d time.Duration) {
	if m == nil {
		return
	}
	m.calls.WithLabelValues(api, class).Inc()
	m.duration.WithLabelValues(api).Observe(d.Seconds())
}

func (m *Metrics) retried(api string) {
	if m == nil {
		return
	}
	m.retries.WithLabelValues(api).Inc()
}
