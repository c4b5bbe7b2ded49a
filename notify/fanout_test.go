package notify_test

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/dingfluence/dingfluence/confluence/confluencetest"
	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/notify"
)

// TestFanOutDropReasons: every watcher of the page and of its space is decided once,
// cheapest reason first, and recorded with the counts.
func TestFanOutDropReasons(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		f.addPeople(
			person{name: "editor"},
			person{name: "vain", ownChanges: true},
			person{name: "reader"},
			person{name: "spacefan"},
			person{name: "stranger", notInApp: true},
			person{name: "quiet", disabled: true},
			person{name: "gone", inactive: true},
			person{name: "lost", unmatched: true},
			person{name: "outsider", noGroup: true},
		)
		id := f.page("Roadmap")
		f.cf.WatchPage(id, "reader", "stranger", "quiet", "gone", "lost", "outsider", "vain")
		f.cf.WatchSpace(f.space, "spacefan", "reader")

		e := f.notifyOnce(id, "editor")
		want := map[string]models.RecipientOutcome{
			"editor": models.RecipientOwnEdit, "reader": models.RecipientSent, "spacefan": models.RecipientSent,
			"stranger": models.RecipientUnknown, "quiet": models.RecipientDisabled, "gone": models.RecipientDisabled,
			"lost": models.RecipientUnmatched, "outsider": models.RecipientNoView, "vain": models.RecipientSent,
		}
		if got := f.outcomes(e.ID); !mapsEqual(got, want) {
			t.Errorf("outcomes = %v; want %v", got, want)
		}
		wantCounts := models.EventCounts{Watchers: 9, Recipients: 3, DroppedNoView: 1, DroppedUnmatched: 1,
			DroppedDisabled: 2, DroppedOwnEdit: 1, DroppedUnknown: 1, DeliveriesWritten: 1}
		got := e.EventCounts
		got.ConfluenceCalls = 0
		if got != wantCounts {
			t.Errorf("counts = %+v; want %+v", got, wantCounts)
		}
		if e.ConfluenceCalls < 4 {
			t.Errorf("confluence_calls = %d; want the content, watcher, restriction and permission calls counted", e.ConfluenceCalls)
		}
		if got := sentTo(f.deliveries(e.ID)); !slices.Equal(got, dt("reader", "spacefan", "vain")) {
			t.Errorf("sent to %v", got)
		}
		if e.Status != models.EventNotified || e.ProcessedAt == nil || e.WaitingKey != nil {
			t.Errorf("event %s processed %v waiting %v; want notified, processed, no longer waiting", e.Status, e.ProcessedAt, e.WaitingKey)
		}

		// An editor who asked to be told of their own changes is; the earlier editor,
		// no longer the actor, is a watcher like any other.
		e = f.notifyOnce(id, "vain")
		if got := f.outcomes(e.ID); got["vain"] != models.RecipientSent || got["editor"] != models.RecipientSent || e.DroppedOwnEdit != 0 {
			t.Errorf("second edit by vain: outcomes %v, own edits dropped %d; want vain and editor sent", got, e.DroppedOwnEdit)
		}
	})
}

// TestFanOutViewRights: who may not view the page is never notified, whether a
// restriction on the page, on an ancestor, by group, or the space permission keeps
// them out; when Confluence cannot tell, nobody it concerns is notified.
func TestFanOutViewRights(t *testing.T) {
	cases := []struct {
		name    string
		options []fixtureOption
		// setup restricts the page (a child of parent) and returns the expected outcomes
		// of in and out (both watch the page).
		setup   func(f *fixture, parent, page string)
		in, out models.RecipientOutcome
		detail  string // part of out's detail
	}{
		{name: "restricted page", setup: func(f *fixture, _, page string) {
			f.cf.Restrict(page, []string{serviceAccount, "in"}, nil)
		}, in: models.RecipientSent, out: models.RecipientNoView, detail: string(models.DetailRestrictedPage)},
		{name: "restricted ancestor", setup: func(f *fixture, parent, _ string) {
			f.cf.Restrict(parent, []string{serviceAccount, "in"}, nil)
		}, in: models.RecipientSent, out: models.RecipientNoView, detail: string(models.DetailRestrictedAnc)},
		{name: "group restriction", setup: func(f *fixture, _, page string) {
			f.cf.AddToGroup("architects", "in", serviceAccount)
			f.cf.Restrict(page, nil, []string{"architects"})
		}, in: models.RecipientSent, out: models.RecipientNoView, detail: string(models.DetailRestrictedPage)},
		{name: "space permission", setup: func(f *fixture, _, _ string) {
			f.cf.SetSpaceViewers(f.space, []string{"in"}, []string{"engineers"}, false)
		}, in: models.RecipientSent, out: models.RecipientNoView, detail: string(models.DetailNoSpaceView)},
		{name: "space permission by group", setup: func(f *fixture, _, _ string) {
			f.cf.AddToGroup("engineers", "in")
			f.cf.SetSpaceViewers(f.space, nil, []string{"engineers"}, false)
		}, in: models.RecipientSent, out: models.RecipientNoView, detail: string(models.DetailNoSpaceView)},
		{name: "no space permission resource", options: []fixtureOption{noSpacePerms}, setup: func(f *fixture, _, page string) {
			f.cf.SetSpaceViewers(f.space, []string{"in"}, nil, false) // not readable: restrictions decide
			f.cf.Restrict(page, []string{serviceAccount, "in"}, nil)
		}, in: models.RecipientSent, out: models.RecipientNoView, detail: string(models.DetailRestrictedPage)},
		{name: "restrictions unreadable", setup: func(f *fixture, _, page string) {
			f.cf.InjectFault(confluencetest.Fault{Path: "/rest/api/content/" + page + "/restriction", Status: http.StatusInternalServerError}, 1)
		}, in: models.RecipientUndecided, out: models.RecipientUndecided, detail: string(models.DetailRestrictionsErr)},
		{name: "space permission unreadable", setup: func(f *fixture, _, _ string) {
			f.cf.InjectFault(confluencetest.Fault{Path: "/rest/api/space/ENG/permissions", Status: http.StatusBadGateway}, 1)
		}, in: models.RecipientUndecided, out: models.RecipientUndecided, detail: string(models.DetailSpacePermErr)},
		{name: "groups unreadable", setup: func(f *fixture, _, page string) {
			f.cf.AddToGroup("architects", "in", serviceAccount)
			f.cf.Restrict(page, nil, []string{"architects"})
			f.cf.InjectFault(confluencetest.Fault{Path: "/rest/api/user/memberof", Status: http.StatusInternalServerError}, 100)
		}, in: models.RecipientUndecided, out: models.RecipientUndecided, detail: string(models.DetailGroupsErr)},
		{name: "legacy watchers", options: []fixtureOption{legacyWatchers}, setup: func(f *fixture, _, page string) {
			f.cf.Restrict(page, []string{serviceAccount, "in"}, nil)
		}, in: models.RecipientSent, out: models.RecipientNoView, detail: string(models.DetailRestrictedPage)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			eachDB(t, func(t *testing.T, f *fixture) {
				f.addPeople(person{name: "editor"}, person{name: "in"}, person{name: "out"})
				parent := f.page("Parent")
				page := f.page("Secret plans", parent)
				f.cf.WatchPage(page, "in", "out")
				tc.setup(f, parent, page)
				e := f.notifyOnce(page, "editor")
				rs, err := f.store.EventRecipients(f.ctx, e.ID)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range rs {
					want := map[string]models.RecipientOutcome{"in": tc.in, "out": tc.out, "editor": models.RecipientOwnEdit}[r.Username]
					if r.Outcome != want {
						t.Errorf("%s: %s (%s); want %s", r.Username, r.Outcome, r.Detail, want)
					}
					if code, _ := models.ParseRecipientDetail(r.Detail); r.Username == "out" && string(code) != tc.detail {
						t.Errorf("out's detail %q; want code %q", r.Detail, tc.detail)
					}
				}
				var wantSent []string
				if tc.in == models.RecipientSent {
					wantSent = dt("in")
				}
				if got := sentTo(f.deliveries(e.ID)); !slices.Equal(got, wantSent) {
					t.Errorf("sent to %v; want %v", got, wantSent)
				}
				if tc.in == models.RecipientUndecided && (e.Status != models.EventSkipped || e.SkipReason != models.SkipNoRecipients || e.DroppedUndecided != 2) {
					t.Errorf("event %s/%s undecided %d; want skipped no_recipients with both undecided", e.Status, e.SkipReason, e.DroppedUndecided)
				}
				if tc.name == "legacy watchers" && len(f.cf.RequestsTo("/json/listwatchers.action")) == 0 {
					t.Error("listwatchers.action was not asked")
				}
			}, tc.options...)
		})
	}
}

// TestFanOutBatching: deliveries carry at most 100 userids, every recipient exactly
// once, at 1, 100, 101 and 10,000 recipients.
func TestFanOutBatching(t *testing.T) {
	for _, n := range []int{1, 100, 101, 10_000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			run := eachDB
			if n > 1000 {
				// 10,000 users through pure-Go SQLite under the race detector take
				// minutes of set-up alone; the figure that matters is MariaDB's.
				run = onMySQL
			}
			run(t, func(t *testing.T, f *fixture) {
				people := make([]person, n)
				for i := range people {
					people[i] = person{name: fmt.Sprintf("u%05d", i)}
				}
				began := time.Now()
				keys := f.addPeople(append(people, person{name: "editor"})...)
				t.Logf("set-up of %d people: %v", n, time.Since(began))
				id := f.page("Popular")
				watch := make([]string, 0, n)
				for _, p := range people {
					watch = append(watch, keys[p.name])
				}
				f.cf.WatchPageKeys(id, watch...)
				began = time.Now()
				e := f.notifyOnce(id, "editor")
				t.Logf("publish to fan-out: %v", time.Since(began))
				ds := f.deliveries(e.ID)
				if want := (n + 99) / 100; len(ds) != want || e.DeliveriesWritten != want {
					t.Fatalf("%d deliveries (counted %d); want %d", len(ds), e.DeliveriesWritten, want)
				}
				for i, d := range ds {
					want := min(100, n-i*100)
					if d.Seq != i || d.Recipients != want || len(d.UserIDList()) != want || d.Status != models.DeliveryPending || !d.NextAttempt.Equal(t0) {
						t.Errorf("delivery %d: seq %d, %d recipients (%d ids), %s at %v; want seq %d, %d, pending now",
							i, d.Seq, d.Recipients, len(d.UserIDList()), d.Status, d.NextAttempt, i, want)
					}
				}
				got := sentTo(ds)
				want := make([]string, n)
				for i, p := range people {
					want[i] = "dt-" + p.name
				}
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("userids differ from the watchers' (got %d, want %d)", len(got), len(want))
				}
				if e.Recipients != n || e.Watchers != n+1 {
					t.Errorf("recipients %d watchers %d; want %d and %d", e.Recipients, e.Watchers, n, n+1)
				}
				t.Logf("%d recipients: %d Confluence calls", n, e.ConfluenceCalls)
			})
		})
	}
}

// TestFanOutLanguages: one message per recipient language, composed by ComposeMessage,
// and deliveries of the same userid never twice (two Confluence accounts, one DingTalk user).
func TestFanOutLanguages(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		f.addPeople(person{name: "editor"}, person{name: "ann", locale: "en"}, person{name: "bo", locale: "zh-Hans"},
			person{name: "cy"}, person{name: "di", locale: "zh-Hans"}, person{name: "di2", dingtalk: "dt-di"})
		id := f.page("Release notes")
		f.cf.WatchPage(id, "ann", "bo", "cy", "di", "di2")
		e := f.notifyOnce(id, "editor")
		ds := f.deliveries(e.ID)
		byLocale := map[string][]string{}
		for _, d := range ds {
			byLocale[d.Locale] = append(byLocale[d.Locale], d.UserIDList()...)
			notice := notify.Notice{Title: "Release notes", SpaceKey: "ENG", SpaceName: "Engineering", Version: 2,
				ActorName: "Name editor", Edits: 1, WebURL: e.WebURL, DiffURL: e.DiffURL}
			msg, err := notify.ComposeMessage(f.bundle.Localizer(d.Locale), notice)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := msg.Encode()
			if d.Message != string(raw) {
				t.Errorf("%s message = %s; want %s", d.Locale, d.Message, raw)
			}
		}
		for _, ids := range byLocale {
			slices.Sort(ids)
		}
		want := map[string][]string{"en": dt("ann", "cy"), "zh-Hans": dt("bo", "di")}
		if len(byLocale) != 2 || !slices.Equal(byLocale["en"], want["en"]) || !slices.Equal(byLocale["zh-Hans"], want["zh-Hans"]) {
			t.Errorf("by locale %v; want %v", byLocale, want)
		}
		if e.Recipients != 4 || e.Watchers != 6 {
			t.Errorf("recipients %d watchers %d; want 4 distinct userids of 6 watchers", e.Recipients, e.Watchers)
		}
	})
}

// TestFanOutSkips: a page deleted meanwhile, and Enable? turned off meanwhile, end the
// waiting event as skipped without deliveries.
func TestFanOutSkips(t *testing.T) {
	cases := []struct {
		name   string
		change func(f *fixture, id string)
		want   models.SkipReason
	}{
		{"purged", func(f *fixture, id string) { f.cf.Purge(id) }, models.SkipDeleted},
		{"trashed", func(f *fixture, id string) { f.cf.Trash(id) }, models.SkipDeleted},
		{"disabled", func(f *fixture, _ string) { f.settings.update(func(s *models.Settings) { s.Enabled = false }) }, models.SkipDisabled},
		{"nobody left", func(f *fixture, id string) { f.cf.UnwatchPage(id, "reader") }, models.SkipNoRecipients},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			eachDB(t, func(t *testing.T, f *fixture) {
				f.addPeople(person{name: "editor"}, person{name: "reader"})
				id := f.page("Doomed")
				f.cf.WatchPage(id, "reader")
				ev := f.publish(id, "editor")
				f.enrich()
				tc.change(f, id)
				f.clock.Advance(10 * time.Minute) // the window closes
				f.fanOut()
				e := f.event(ev)
				if e.Status != models.EventSkipped || e.SkipReason != tc.want || e.WaitingKey != nil {
					t.Fatalf("event %s/%s (%s); want skipped/%s", e.Status, e.SkipReason, e.LastError, tc.want)
				}
				if ds := f.deliveries(ev); len(ds) != 0 {
					t.Errorf("%d deliveries written", len(ds))
				}
			})
		})
	}
}

// TestFanOutRetriesThenFails: a watcher listing that fails in a way that may pass leaves
// the event waiting with nothing written, retried after a backoff, failed at the end.
func TestFanOutRetriesThenFails(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		f.addPeople(person{name: "editor"}, person{name: "reader"})
		id := f.page("Flaky")
		f.cf.WatchPage(id, "reader")
		f.settings.update(func(s *models.Settings) { s.CoalesceMinutes = 0 })
		ev := f.publish(id, "editor")
		f.enrich()
		f.cf.InjectFault(confluencetest.Fault{Path: "/rest/api/content/" + id + "/watchers", Status: http.StatusServiceUnavailable}, 3)
		for attempt := 1; attempt <= 3; attempt++ {
			if n := f.fanOut(); n != 1 {
				t.Fatalf("attempt %d claimed %d", attempt, n)
			}
			e := f.event(ev)
			if len(f.deliveries(ev)) != 0 {
				t.Fatalf("attempt %d wrote deliveries", attempt)
			}
			if attempt == 3 {
				if e.Status != models.EventFailed || !strings.Contains(e.LastError, "watchers") {
					t.Fatalf("after 3 attempts: %s %q; want failed naming the watcher call", e.Status, e.LastError)
				}
				break
			}
			if e.Status != models.EventWaiting || e.Attempts != attempt || !e.DueAt.After(f.clock.Now()) {
				t.Fatalf("after attempt %d: %s attempts %d due %v; want waiting, counted, due later", attempt, e.Status, e.Attempts, e.DueAt)
			}
			f.clock.Advance(e.DueAt.Sub(f.clock.Now()))
		}
	})
}

// TestFanOutNothingHalfWritten: when the transaction fails part-way (here, writing the
// recipients), no delivery survives and the event still waits; the next try succeeds.
func TestFanOutNothingHalfWritten(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		f.addPeople(person{name: "editor"}, person{name: "reader"})
		id := f.page("Fragile")
		f.cf.WatchPage(id, "reader")
		f.settings.update(func(s *models.Settings) { s.CoalesceMinutes = 0 })
		ev := f.publish(id, "editor")
		f.enrich()
		fail := true
		err := f.db.Callback().Create().Before("gorm:create").Register("test:fail_recipients", func(tx *gorm.DB) {
			if fail && tx.Statement.Table == "event_recipients" {
				_ = tx.AddError(errors.New("disk full"))
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.fanout.RunOnce(f.ctx); err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Fatalf("fan-out err = %v; want the failed write", err)
		}
		if e := f.event(ev); e.Status != models.EventWaiting || e.Recipients != 0 {
			t.Fatalf("event after the failed transaction: %s, %d recipients; want still waiting, no counts", e.Status, e.Recipients)
		}
		if ds := f.deliveries(ev); len(ds) != 0 {
			t.Fatalf("%d deliveries survived the rollback", len(ds))
		}
		fail = false
		f.clock.Advance(notify.DefaultLease + time.Second) // the failed claim's lease runs out
		f.fanOut()
		if e := f.event(ev); e.Status != models.EventNotified || len(f.deliveries(ev)) != 1 {
			t.Fatalf("second try: %s with %d deliveries; want notified with one", e.Status, len(f.deliveries(ev)))
		}
	})
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestFanOutGroupListing: with many watchers whose view right hangs on a group, the
// members of the groups concerned are listed once instead of asking per user, and the
// decision is the same: members notified, the others not.
func TestFanOutGroupListing(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		const n = 150
		people := make([]person, n)
		var architects, watchers []string
		for i := range people {
			people[i] = person{name: fmt.Sprintf("w%03d", i)}
			if i%2 == 0 {
				architects = append(architects, people[i].name)
			}
		}
		keys := f.addPeople(append(people, person{name: "editor"})...)
		for _, p := range people {
			watchers = append(watchers, keys[p.name])
		}
		f.cf.AddToGroup("architects", append(architects, serviceAccount)...)
		id := f.page("Blueprint")
		f.cf.Restrict(id, nil, []string{"architects"})
		f.cf.WatchPageKeys(id, watchers...)
		e := f.notifyOnce(id, "editor")
		if got, want := sentTo(f.deliveries(e.ID)), dt(architects...); !slices.Equal(got, want) {
			t.Errorf("sent to %d userids; want the %d architects", len(got), len(want))
		}
		if e.DroppedNoView != n-len(architects) || e.DroppedUndecided != 0 {
			t.Errorf("no view %d, undecided %d; want %d and 0", e.DroppedNoView, e.DroppedUndecided, n-len(architects))
		}
		if memberof := len(f.cf.RequestsTo("/rest/api/user/memberof")); memberof != 0 || e.ConfluenceCalls > 12 {
			t.Errorf("%d memberof calls, %d Confluence calls in all; want the groups listed instead", memberof, e.ConfluenceCalls)
		}
	})
}

// TestFanOutNoticeOfNewBlogPost: the message is composed from a Notice saying what
// happened (created, a blog post) and naming the latest version.
func TestFanOutNoticeOfNewBlogPost(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		keys := f.addPeople(person{name: "editor"}, person{name: "reader"})
		f.settings.update(func(s *models.Settings) { s.CoalesceMinutes = 0 })
		id := f.cf.AddContent(confluencetest.NewContent{Type: "blogpost", Space: f.space, Title: "Hello", Author: "editor"})
		f.cf.WatchPage(id, "reader")
		ev := f.eventFor(id, "blog_created", keys["editor"], "")
		f.enrich()
		f.fanOut()
		e := f.event(ev)
		ds := f.deliveries(ev)
		if e.Status != models.EventNotified || len(ds) != 1 {
			t.Fatalf("event %s with %d deliveries; want notified once", e.Status, len(ds))
		}
		msg, err := notify.ComposeMessage(f.bundle.Localizer("en"), notify.Notice{Created: true, Blog: true, Title: "Hello",
			SpaceKey: "ENG", SpaceName: "Engineering", Version: 1, ActorName: "Name editor", Edits: 1, WebURL: e.WebURL})
		if err != nil {
			t.Fatal(err)
		}
		if raw, _ := msg.Encode(); ds[0].Message != string(raw) || e.DiffURL != "" || !strings.Contains(e.WebURL, "/blog/") {
			t.Errorf("message %s, diff %q, url %q; want the created blog post's card (%s), no diff", ds[0].Message, e.DiffURL, e.WebURL, raw)
		}
	})
}
