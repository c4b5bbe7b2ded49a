package dingtalk_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dingfluence/dingfluence/dingtalk"
	"github.com/dingfluence/dingfluence/dingtalk/dingtalktest"
)

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	_, c, _ := setup(t, dingtalktest.Options{}, dingtalk.Config{Metrics: dingtalk.NewMetrics(reg)})
	if _, err := c.GetUser(t.Context(), "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetUser(t.Context(), "nobody"); !dingtalk.IsNotFound(err) {
		t.Fatalf("unknown user: %v", err)
	}

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			key := f.GetName()
			for _, l := range m.GetLabel() {
				key += " " + l.GetName() + "=" + l.GetValue()
			}
			switch {
			case m.GetCounter() != nil:
				got[key] = m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				got[key] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	want := map[string]float64{
		"dingtalk_api_calls_total api=gettoken code=0":     1,
		"dingtalk_api_calls_total api=user.get code=0":     1,
		"dingtalk_api_calls_total api=user.get code=60121": 1,
		"dingtalk_api_call_duration_seconds api=gettoken":  1,
		"dingtalk_api_call_duration_seconds api=user.get":  2,
		"dingtalk_token_fetches_total":                     1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}
