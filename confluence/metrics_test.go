package confluence_test

import (
	"testing"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dingfluence/dingfluence/confluence"
	"github.com/dingfluence/dingfluence/confluence/confluencetest"
)

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	clock := clockwork.NewFakeClock()
	f := setup(t, confluencetest.Options{}, confluence.Config{Metrics: confluence.NewMetrics(reg), Clock: clock})
	f.srv.SetEmail("alice", "alice@example.com", true)
	if _, err := f.c.UserByUsername(t.Context(), "alice"); err != nil { // user + mobile profile
		t.Fatal(err)
	}
	if _, err := f.c.UserByUsername(t.Context(), "nobody"); !confluence.IsNotFound(err) {
		t.Fatal(err)
	}
	f.srv.FailNext(503, 1)
	err := retrying(t, clock, func() error { _, err := f.c.UserByKey(t.Context(), f.alice.Key); return err })
	if err != nil {
		t.Fatal(err)
	}
	f.srv.InjectFault(confluencetest.Fault{Drop: true}, 1)
	if err := retrying(t, clock, func() error { _, err := f.c.CurrentUser(t.Context()); return err }); err != nil {
		t.Fatal(err)
	}

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, fam := range families {
		for _, m := range fam.GetMetric() {
			key := fam.GetName()
			for _, l := range m.GetLabel() {
				if l.GetName() != "api" && l.GetName() != "status" {
					t.Errorf("%s has label %s: only api and status are allowed", fam.GetName(), l.GetName())
				}
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
		"confluence_api_calls_total api=user.by_username status=2xx": 1,
		"confluence_api_calls_total api=user.by_username status=4xx": 1,
		"confluence_api_calls_total api=mobile.profile status=2xx":   3, // alice's hidden e-mail twice, svc's missing one
		"confluence_api_calls_total api=user.by_key status=5xx":      1,
		"confluence_api_calls_total api=user.by_key status=2xx":      1,
		"confluence_api_calls_total api=user.current status=error":   1,
		"confluence_api_calls_total api=user.current status=2xx":     1,
		"confluence_api_call_duration_seconds api=user.by_username":  2,
		"confluence_api_retries_total api=user.by_key":               1,
		"confluence_api_retries_total api=user.current":              1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}

// The content-side calls are labelled by fixed API names, never by ids or space keys.
func TestContentMetricsLabels(t *testing.T) {
	reg := prometheus.NewRegistry()
	tr := setupTree(t, confluencetest.Options{LegacyWatchers: true}, confluence.Config{Metrics: confluence.NewMetrics(reg)})
	ct, err := tr.c.Content(t.Context(), tr.install)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.c.Watchers(t.Context(), tr.install, "ENG"); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.c.ViewRestrictions(t.Context(), ct); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.c.SpaceViewPermission(t.Context(), "ENG"); err != nil {
		t.Fatal(err)
	}
	if err := tr.c.SearchContentPages(t.Context(), `type = page`, func([]confluence.Content) error { return nil }); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, fam := range families {
		if fam.GetName() != "confluence_api_calls_total" {
			continue
		}
		for _, m := range fam.GetMetric() {
			var api, status string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "api":
					api = l.GetValue()
				case "status":
					status = l.GetValue()
				}
			}
			got[api+" "+status] = m.GetCounter().GetValue()
		}
	}
	want := map[string]float64{
		"content.by_id 2xx":            1,
		"content.watchers 4xx":         1, // the 404 of an old Confluence
		"json.listwatchers 2xx":        1,
		"content.restriction.read 2xx": 3, // the page and its two ancestors
		"space.permissions 2xx":        1,
		"content.search 2xx":           1,
	}
	if len(got) != len(want) {
		t.Errorf("labels %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}
