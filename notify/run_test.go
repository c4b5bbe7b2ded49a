package notify_test

import (
	"context"
	"testing"
	"time"

	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/notify"
)

// TestRunPollsAndWakes: Run looks for work on every poll of the injected clock, wakes
// early when nudged, and returns nil when its context ends.
func TestRunPollsAndWakes(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		f.addPeople(person{name: "editor"})
		id := f.page("Polled")
		nudge := notify.NewNudge()
		o := f.opts
		o.Nudge = nudge
		enricher := notify.NewEnricher(f.store, f.settings, f.source, o)
		ctx, cancel := context.WithCancel(f.ctx)
		done := make(chan error, 1)
		go func() { done <- enricher.Run(ctx) }()

		waitStatus := func(ev uint64, want models.EventStatus) {
			t.Helper()
			for {
				if err := f.clock.BlockUntilContext(ctx, 1); err != nil { // Run sleeps on its poll timer
					t.Fatal(err)
				}
				if f.event(ev).Status == want {
					return
				}
				f.clock.Advance(notify.DefaultPoll)
			}
		}
		ev := f.publish(id, "editor")
		waitStatus(ev, models.EventWaiting) // found by a poll

		ev2 := f.publish(id, "editor")
		nudge.Poke()
		// Woken by the nudge, without the clock moving: the second publish takes the
		// first one's place in the window.
		deadline := time.Now().Add(30 * time.Second)
		for f.event(ev2).Status != models.EventWaiting {
			if time.Now().After(deadline) {
				t.Fatal("the nudge did not wake Run")
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run = %v after cancel; want nil", err)
		}
	})
}
