package jobs

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

// worker test timing: the first restart comes 0.5–1.5 s after a failure, the second
// 1–3 s (jitter ±50%, doubling).
const testBackoff = time.Second

func startWorkers(t *testing.T, clock clockwork.Clock, rec *recorder) *Workers {
	t.Helper()
	w := NewWorkers(WorkerOptions{Logger: rec.logger(), Clock: clock, InitialBackoff: testBackoff, MaxBackoff: time.Minute})
	t.Cleanup(w.Shutdown)
	return w
}

// noStart fails if the worker has started again.
func noStart(t *testing.T, starts <-chan int, when string) {
	t.Helper()
	select {
	case n := <-starts:
		t.Fatalf("%s: run %d started, want none yet", when, n)
	default:
	}
}

// A worker runs; after an error it is started again once its backoff has passed on the
// clock, a longer one after each failure in a row; Shutdown stops it and waits for it.
func TestWorkerIsRestartedAfterErrorsAndStopsOnShutdown(t *testing.T) {
	clock := clockwork.NewFakeClockAt(startTime())
	rec := newRecorder(msgWorkerFailed, msgWorkerStopped)
	w := startWorkers(t, clock, rec)
	starts := make(chan int, 10)
	var runs atomic.Int32
	var returned atomic.Bool
	w.Go("dispatcher", func(ctx context.Context) error {
		n := int(runs.Add(1))
		starts <- n
		if n <= 2 {
			return errors.New("database gone")
		}
		<-ctx.Done()
		returned.Store(true)
		return ctx.Err()
	})
	noStart(t, starts, "before Start")
	w.Start()
	if n := <-starts; n != 1 {
		t.Fatalf("first run is %d", n)
	}

	rec.expect(t, msgWorkerFailed)
	advance(t, clock, 1, testBackoff/2-time.Millisecond)
	noStart(t, starts, "just before the shortest first backoff")
	advance(t, clock, 1, testBackoff+time.Millisecond) // 1.5 s in all: the longest
	if n := <-starts; n != 2 {
		t.Fatalf("run %d, want the second", n)
	}

	rec.expect(t, msgWorkerFailed)
	advance(t, clock, 1, testBackoff-time.Millisecond) // the second backoff is at least 1 s
	noStart(t, starts, "just before the shortest second backoff")
	advance(t, clock, 1, 2*testBackoff+time.Millisecond)
	if n := <-starts; n != 3 {
		t.Fatalf("run %d, want the third", n)
	}

	w.Shutdown()
	if !returned.Load() {
		t.Error("Shutdown returned before the worker did")
	}
	rec.expect(t, msgWorkerStopped)
}

// A panicking worker is restarted like a failing one; a worker that returns nil is done.
func TestWorkerPanicIsRestartedAndNilEndsIt(t *testing.T) {
	clock := clockwork.NewFakeClockAt(startTime())
	rec := newRecorder(msgWorkerFailed, msgWorkerFinished)
	w := startWorkers(t, clock, rec)
	w.Start()
	var runs atomic.Int32
	w.Go("late", func(context.Context) error { // added after Start: runs at once
		if runs.Add(1) == 1 {
			panic("bad row")
		}
		return nil
	})
	rec.expect(t, msgWorkerFailed)
	advance(t, clock, 1, 3*testBackoff/2)
	rec.expect(t, msgWorkerFinished)
	if n := runs.Load(); n != 2 {
		t.Errorf("%d runs, want 2", n)
	}
}

// A worker waiting out its backoff stops at Shutdown without running again, and no
// worker added after Shutdown runs.
func TestShutdownDuringBackoff(t *testing.T) {
	clock := clockwork.NewFakeClockAt(startTime())
	rec := newRecorder(msgWorkerFailed, msgWorkerStopped)
	w := startWorkers(t, clock, rec)
	var runs atomic.Int32
	w.Go("flaky", func(context.Context) error {
		runs.Add(1)
		return errors.New("no")
	})
	w.Start()
	rec.expect(t, msgWorkerFailed)
	w.Shutdown()
	rec.expect(t, msgWorkerStopped)
	w.Go("too late", func(context.Context) error {
		runs.Add(1)
		return nil
	})
	if n := runs.Load(); n != 1 {
		t.Errorf("%d runs, want 1", n)
	}
}
