package dingtalk

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Prometheus collectors a Client reports to. A nil *Metrics records nothing.
type Metrics struct {
	calls        *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	tokenFetches prometheus.Counter
}

// NewMetrics creates the collectors and registers them with reg (skipped when reg is nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dingtalk_api_calls_total",
			Help: "HTTP requests to DingTalk by API and normalised result code.",
		}, []string{"api", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dingtalk_api_call_duration_seconds",
			Help:    "Duration of one HTTP request to DingTalk.",
			Buckets: prometheus.DefBuckets,
		}, []string{"api"}),
		tokenFetches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dingtalk_token_fetches_total",
			Help: "Access tokens fetched from DingTalk (cache misses).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.calls, m.duration, m.tokenFetches)
	}
	return m
}

func (m *Metrics) observeCall(api, code string, d time.Duration) {
	if m == nil {
		return
	}
	m.calls.WithLabelValues(api, code).Inc()
	m.duration.WithLabelValues(api).Observe(d.Seconds())
}

func (m *Metrics) tokenFetched() {
	if m == nil {
		return
	}
	m.tokenFetches.Inc()
}
