package notify_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/notify"
)

// TestCoalescing: publishes of one page inside the window become one notification of
// the latest version with the number of edits, sent when the window (counted from the
// first publish) closes; a publish after it is a notification of its own; with the
// window at 0 every publish is its own.
func TestCoalescing(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		f.addPeople(person{name: "editor"}, person{name: "reader"})
		id := f.page("Design doc")
		f.cf.WatchPage(id, "reader")

		// Three publishes at 0, 4 and 9 minutes.
		var evs []uint64
		for i, at := range []time.Duration{0, 4 * time.Minute, 9 * time.Minute} {
			f.clock.Advance(at - f.clock.Since(t0))
			evs = append(evs, f.publish(id, "editor"))
			f.enrich()
			if n := f.fanOut(); n != 0 {
				t.Fatalf("publish %d: fan-out before the window closed", i+1)
			}
		}
		last := f.event(evs[2])
		if last.Status != models.EventWaiting || last.EditCount != 3 || !last.DueAt.Equal(t0.Add(10*time.Minute)) {
			t.Fatalf("latest event %s, %d edits, due %v; want waiting, 3 edits, due 10 min after the first publish", last.Status, last.EditCount, last.DueAt)
		}
		for i, into := range []uint64{evs[1], evs[2]} {
			e := f.event(evs[i])
			if e.Status != models.EventCoalesced || e.CoalescedInto == nil || *e.CoalescedInto != into || e.WaitingKey != nil {
				t.Errorf("event %d: %s into %v; want coalesced into %d", i+1, e.Status, e.CoalescedInto, into)
			}
		}
		f.clock.Advance(time.Minute) // 10 minutes: the window closes
		if n := f.fanOut(); n != 1 {
			t.Fatalf("fan-out at the window's end claimed %d; want 1", n)
		}
		last = f.event(evs[2])
		ds := f.deliveries(evs[2])
		if last.Status != models.EventNotified || last.Version != 4 || last.EditCount != 3 || len(ds) != 1 {
			t.Fatalf("notification: %s v%d, %d edits, %d deliveries; want notified v4 (3 edits), one delivery", last.Status, last.Version, last.EditCount, len(ds))
		}
		if want := "selectedPageVersions=1&selectedPageVersions=4"; !strings.Contains(last.DiffURL, want) {
			t.Errorf("diff %q; want it to span the three edits (%s)", last.DiffURL, want)
		}
		for _, ev := range evs[:2] {
			if ds := f.deliveries(ev); len(ds) != 0 {
				t.Errorf("coalesced event %d has %d deliveries", ev, len(ds))
			}
		}

		// A publish after the window: a new notification.
		f.clock.Advance(time.Minute)
		later := f.publish(id, "editor")
		f.enrich()
		f.clock.Advance(10 * time.Minute)
		f.fanOut()
		if e := f.event(later); e.Status != models.EventNotified || e.EditCount != 1 || e.Version != 5 || len(f.deliveries(later)) != 1 {
			t.Errorf("publish after the window: %s, %d edits, v%d; want its own notification of v5", e.Status, e.EditCount, e.Version)
		}

		// Window 0: each publish its own notification. A publish while another of the
		// page waits is deferred behind it rather than merged.
		f.settings.update(func(s *models.Settings) { s.CoalesceMinutes = 0 })
		first := f.publish(id, "editor")
		f.enrich()
		second := f.publish(id, "editor")
		f.enrich()
		if e := f.event(second); e.Status != models.EventPending || e.Attempts != 0 || !e.DueAt.After(f.clock.Now()) {
			t.Errorf("window 0, second while the first waits: %s, attempts %d, due %v; want deferred", e.Status, e.Attempts, e.DueAt)
		}
		f.fanOut()
		f.clock.Advance(notify.DefaultDeferFor)
		f.enrich()
		f.fanOut()
		// The first fan-out read the page after both publishes and named the latest
		// version; the second event is then a duplicate of it, not a second message.
		if e := f.event(first); e.Status != models.EventNotified || e.EditCount != 1 || e.Version != 7 {
			t.Errorf("window 0, first: %s, %d edits, v%d; want notified alone, naming v7", e.Status, e.EditCount, e.Version)
		}
		if e := f.event(second); e.Status != models.EventSkipped || e.SkipReason != models.SkipDuplicate {
			t.Errorf("window 0, second: %s/%s; want skipped duplicate of the version already notified", e.Status, e.SkipReason)
		}
		third := f.publish(id, "editor")
		f.enrich()
		f.fanOut()
		if e := f.event(third); e.Status != models.EventNotified || e.EditCount != 1 || e.Version != 8 {
			t.Errorf("window 0, third: %s, %d edits, v%d; want its own notification", e.Status, e.EditCount, e.Version)
		}
	})
}

// TestInstancesShareWork: two enrichers and two fan-outs on one database, running at
// once, process every event exactly once.
func TestInstancesShareWork(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		f.addPeople(person{name: "editor"}, person{name: "reader"})
		f.settings.update(func(s *models.Settings) { s.CoalesceMinutes = 0 })
		const pages = 12
		var evs []uint64
		for i := range pages {
			id := f.page(fmt.Sprintf("Page %d", i))
			f.cf.WatchPage(id, "reader")
			evs = append(evs, f.publish(id, "editor"))
		}
		type worker interface {
			RunOnce(ctx context.Context) (int, error)
		}
		var enrichers, fanouts []worker
		for _, inst := range []string{"a", "b"} {
			o := f.opts
			o.Instance, o.Batch = inst, 3
			enrichers = append(enrichers, notify.NewEnricher(f.store, f.settings, f.source, o))
			fanouts = append(fanouts, notify.NewFanOut(f.store, f.settings, f.source, f.bundle, o))
		}
		drain := func(ws []worker) int {
			var mu sync.Mutex
			total := 0
			var wg sync.WaitGroup
			for _, w := range ws {
				wg.Go(func() {
					for {
						n, err := w.RunOnce(f.ctx)
						if err != nil {
							t.Errorf("RunOnce: %v", err)
							return
						}
						if n == 0 {
							return
						}
						mu.Lock()
						total += n
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			return total
		}
		if n := drain(enrichers); n != pages {
			t.Errorf("enrichers claimed %d events in all; want each of %d once", n, pages)
		}
		if n := drain(fanouts); n != pages {
			t.Errorf("fan-outs claimed %d events in all; want each of %d once", n, pages)
		}
		by := map[string]int{}
		for _, ev := range evs {
			e := f.event(ev)
			by[e.ClaimedBy]++
			if ds := f.deliveries(ev); e.Status != models.EventNotified || len(ds) != 1 {
				t.Errorf("event %d: %s with %d deliveries; want notified once", ev, e.Status, len(ds))
			}
		}
		t.Logf("fan-outs by instance: %v", by)
	})
}
