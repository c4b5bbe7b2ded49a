package notify_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dingfluence/dingfluence/confluence"
	"github.com/dingfluence/dingfluence/confluence/confluencetest"
	"github.com/dingfluence/dingfluence/models"
)

// TestEnrichSkips covers every reason enrichment ends an event as skipped, and that the
// reasons known from the event alone cost no Confluence call.
func TestEnrichSkips(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		keys := f.addPeople(person{name: "alice"})
		cases := []struct {
			name    string
			prepare func(id string) uint64
			want    models.SkipReason
			noCalls bool
		}{
			{"disabled", func(id string) uint64 {
				f.settings.update(func(s *models.Settings) { s.Enabled = false })
				return f.publish(id, "alice")
			}, models.SkipDisabled, true},
			{"purged", func(id string) uint64 {
				ev := f.publish(id, "alice")
				f.cf.Purge(id)
				return ev
			}, models.SkipDeleted, false},
			{"trashed", func(id string) uint64 {
				ev := f.publish(id, "alice")
				f.cf.Trash(id)
				return ev
			}, models.SkipDeleted, false},
			{"draft", func(id string) uint64 {
				ev := f.publish(id, "alice")
				f.cf.SetStatus(id, confluence.ContentDraft)
				return ev
			}, models.SkipDraft, false},
			{"minor edit", func(id string) uint64 {
				f.cf.EditPage(id, "alice", "typo", true)
				return f.eventFor(id, "page_updated", keys["alice"], "edit_page")
			}, models.SkipMinorEdit, false},
			{"duplicate", func(id string) uint64 {
				f.publish(id, "alice")
				f.enrich() // the first event for this version waits in its window
				return f.eventFor(id, "page_updated", keys["alice"], "edit_page")
			}, models.SkipDuplicate, false},
		}
		for _, trigger := range []string{"link_refactoring", "view_page", "discard_changes", "space_create", "personal_tasklist"} {
			cases = append(cases, struct {
				name    string
				prepare func(id string) uint64
				want    models.SkipReason
				noCalls bool
			}{"housekeeping " + trigger, func(id string) uint64 {
				f.cf.EditPage(id, "alice", "", false)
				return f.eventFor(id, "page_updated", keys["alice"], trigger)
			}, models.SkipHousekeeping, true})
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				f.t = t
				f.settings.update(func(s *models.Settings) { s.Enabled = true })
				id := f.page("Page " + tc.name)
				ev := tc.prepare(id)
				f.cf.ResetRequests()
				f.enrich()
				e := f.event(ev)
				if e.Status != models.EventSkipped || e.SkipReason != tc.want {
					t.Fatalf("event = %s/%s (%s); want skipped/%s", e.Status, e.SkipReason, e.LastError, tc.want)
				}
				if e.ProcessedAt == nil || e.LeaseUntil != nil {
					t.Errorf("processed_at %v, lease %v; want processed, lease released", e.ProcessedAt, e.LeaseUntil)
				}
				if calls := len(f.cf.Requests()); tc.noCalls && calls != 0 {
					t.Errorf("%d Confluence calls; want none", calls)
				}
			})
		}
	})
}

// TestEnrichStoresDetails checks what a waiting event knows: the latest version's title,
// space, version, change comment, links and editor.
func TestEnrichStoresDetails(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		keys := f.addPeople(person{name: "alice"})
		id := f.page("Architecture Overview")
		f.cf.EditPage(id, "alice", "new diagram", false)
		ev := f.eventFor(id, "page_updated", keys["alice"], "")
		f.enrich()
		e := f.event(ev)
		want := models.Event{Status: models.EventWaiting, Title: "Architecture Overview", SpaceKey: "ENG", SpaceName: "Engineering",
			Version: 2, VersionMessage: "new diagram", ActorName: "Name alice", EditCount: 1}
		if e.Status != want.Status || e.Title != want.Title || e.SpaceKey != want.SpaceKey || e.SpaceName != want.SpaceName ||
			e.Version != want.Version || e.VersionMessage != want.VersionMessage || e.ActorName != want.ActorName || e.EditCount != 1 {
			t.Fatalf("event = %+v; want %+v", e, want)
		}
		if e.DedupeKey == nil || *e.DedupeKey != id+":2" || e.WaitingKey == nil || *e.WaitingKey != id {
			t.Errorf("dedupe %v waiting %v; want %s:2 and %s", e.DedupeKey, e.WaitingKey, id, id)
		}
		if !strings.HasPrefix(e.WebURL, f.cf.URL()+"/spaces/ENG/pages/"+id) ||
			!strings.Contains(e.DiffURL, "diffpagesbyversion.action?pageId="+id+"&selectedPageVersions=1&selectedPageVersions=2") {
			t.Errorf("links %q %q", e.WebURL, e.DiffURL)
		}
		if !e.DueAt.Equal(t0.Add(10 * time.Minute)) {
			t.Errorf("due %v; want the window's end %v", e.DueAt, t0.Add(10*time.Minute))
		}
	})
}

// TestEnrichRetriesThenFails: Confluence failures that may pass keep the event pending
// with a growing, jittered wait and the error recorded, until the attempts run out; a
// refused service token fails it at once.
func TestEnrichRetriesThenFails(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		f.addPeople(person{name: "alice"})
		cases := []struct {
			name     string
			fault    confluencetest.Fault
			attempts int // attempts before it ends failed
		}{
			{"unavailable", confluencetest.Fault{Path: "/rest/api/content", Status: http.StatusServiceUnavailable}, 3},
			{"throttled", confluencetest.Fault{Path: "/rest/api/content", Status: http.StatusTooManyRequests}, 3},
			{"dropped", confluencetest.Fault{Path: "/rest/api/content", Drop: true}, 3},
			{"token refused", confluencetest.Fault{Path: "/rest/api/content", Status: http.StatusUnauthorized}, 1},
			{"forbidden", confluencetest.Fault{Path: "/rest/api/content", Status: http.StatusForbidden}, 1},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				f.t = t
				id := f.page("Page " + tc.name)
				ev := f.publish(id, "alice")
				f.cf.InjectFault(tc.fault, tc.attempts)
				var lastDue time.Time
				for attempt := 1; attempt <= tc.attempts; attempt++ {
					if n := f.enrich(); n != 1 {
						t.Fatalf("attempt %d claimed %d events; want 1", attempt, n)
					}
					e := f.event(ev)
					if attempt == tc.attempts {
						if e.Status != models.EventFailed || e.LastError == "" || e.Attempts != attempt {
							t.Fatalf("after %d attempts: %s, attempts %d, %q; want failed with the reason", attempt, e.Status, e.Attempts, e.LastError)
						}
						break
					}
					wait := e.DueAt.Sub(f.clock.Now())
					// Attempt n waits 30 s × 2^(n-1) ± 50 %.
					base := 30 * time.Second << (attempt - 1)
					if e.Status != models.EventPending || e.Attempts != attempt || e.LastError == "" || wait < base/2 || wait > base*3/2 {
						t.Fatalf("after attempt %d: %s attempts %d wait %v err %q; want pending, counted, waiting about %v",
							attempt, e.Status, e.Attempts, wait, e.LastError, base)
					}
					if !e.DueAt.After(lastDue) {
						t.Errorf("due %v not after %v", e.DueAt, lastDue)
					}
					lastDue = e.DueAt
					if n := f.enrich(); n != 0 {
						t.Fatalf("claimed %d events before the backoff ran out", n)
					}
					f.clock.Advance(wait)
				}
			})
		}
	})
}
