package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jonboulle/clockwork"
)

// Defaults for zero WorkerOptions fields.
const (
	DefaultWorkerInitialBackoff = time.Second
	DefaultWorkerMaxBackoff     = time.Minute
)

// Log messages of a worker's life (tests wait for some of them).
const (
	msgWorkerFailed   = "worker failed; restarting it after a backoff"
	msgWorkerFinished = "worker finished"
	msgWorkerStopped  = "worker stopped"
)

// WorkerOptions tune Workers; the zero value is ready for production.
type WorkerOptions struct {
	// Logger receives worker failures; nil discards.
	Logger *slog.Logger
	// Clock drives the backoff between restarts; nil means the real clock.
	Clock clockwork.Clock
	// InitialBackoff is the wait before restarting a worker that failed, before ±50%
	// jitter; it doubles with each failure in a row, up to MaxBackoff. 0 means 1 s.
	InitialBackoff time.Duration
	// MaxBackoff caps the wait; a worker that ran at least this long before failing
	// starts again from InitialBackoff. 0 means 1 min.
	MaxBackoff time.Duration
}

// Workers runs continuous background workers (such as the notification dispatcher)
// beside the Scheduler, for as long as the process lives. Unlike jobs they take no
// lease: every replica runs every worker, and the workers share the work by claiming
// database rows themselves, so any number of instances may run at once.
//
// A worker that returns an error (or panics) is logged and started again after a
// jittered exponential backoff; one that returns nil is done. Shutdown cancels the
// workers' context and waits for them to return.
type Workers struct {
	opts WorkerOptions
	log  *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex // guards the fields below and the Add side of wg
	started bool
	stopped bool
	pending []worker
}

type worker struct {
	name string
	fn   func(ctx context.Context) error
}

// NewWorkers returns Workers that run nothing until Start.
func NewWorkers(opts WorkerOptions) *Workers {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.InitialBackoff <= 0 {
		opts.InitialBackoff = DefaultWorkerInitialBackoff
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultWorkerMaxBackoff
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Workers{
		opts:   opts,
		log:    opts.Logger.With(slog.String("component", "workers")),
		ctx:    ctx,
		cancel: cancel,
	}
}

// Go adds a worker named name running fn. Added before Start, it starts with Start;
// after Start, at once; after Shutdown, never.
func (w *Workers) Go(name string, fn func(ctx context.Context) error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.stopped:
		w.log.Warn("worker added after shutdown; not started", slog.String("worker", name))
	case w.started:
		w.launch(worker{name, fn})
	default:
		w.pending = append(w.pending, worker{name, fn})
	}
}

// Start starts the workers added so far.
func (w *Workers) Start() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started || w.stopped {
		return
	}
	w.started = true
	for _, wk := range w.pending {
		w.launch(wk)
	}
	w.pending = nil
}

// Shutdown cancels the workers' context and waits until every worker has returned.
func (w *Workers) Shutdown() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
	w.cancel()
	w.wg.Wait()
}

// launch starts wk's goroutine; the caller holds w.mu.
func (w *Workers) launch(wk worker) {
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		w.supervise(wk)
	}()
}

// supervise runs wk until it returns nil or Shutdown, restarting it after each failure.
func (w *Workers) supervise(wk worker) {
	log := w.log.With(slog.String("worker", wk.name))
	b := &backoff.ExponentialBackOff{
		InitialInterval:     w.opts.InitialBackoff,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         w.opts.MaxBackoff,
	}
	b.Reset()
	for {
		began := w.opts.Clock.Now()
		err := runRecovered(w.ctx, wk.fn)
		switch {
		case w.ctx.Err() != nil:
			log.Info(msgWorkerStopped, slog.Any("error", err))
			return
		case err == nil:
			log.Info(msgWorkerFinished)
			return
		}
		if w.opts.Clock.Since(began) >= w.opts.MaxBackoff {
			b.Reset() // it had been working: this is a new failure, not the next in a row
		}
		wait := b.NextBackOff()
		log.LogAttrs(w.ctx, slog.LevelError, msgWorkerFailed, slog.Duration("wait", wait), slog.Any("error", err))
		t := w.opts.Clock.NewTimer(wait)
		select {
		case <-t.Chan():
		case <-w.ctx.Done():
			t.Stop()
			log.Info(msgWorkerStopped)
			return
		}
	}
}

// runRecovered runs fn, turning a panic into an error so that one bad row cannot take
// the process down.
func runRecovered(ctx context.Context, fn func(ctx context.Context) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("panic: %v", v)
		}
	}()
	return fn(ctx)
}
