package models

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// ErrEventWriterClosed is returned by EventWriter.InsertEvent once the writer is closed.
var ErrEventWriterClosed = errors.New("event writer is closed")

// Defaults of EventWriterOptions.
const (
	defaultEventBatch   = 100
	defaultEventTimeout = 30 * time.Second
)

// EventWriter stores accepted webhook events with group commit: concurrent InsertEvent
// callers hand their row to one writer goroutine, which takes whatever has queued while
// the previous batch was being committed (at most MaxBatch rows, and never waits for
// more), writes them with one multi-row INSERT (one statement, so one transaction and
// one commit, one fsync), and then answers each caller with its own result and ID.
// Each caller still returns only after its own row is committed, but N webhooks share
// one commit instead of paying one each, which is what bounded the ingest rate. On
// SQLite, whose one writer at a time made concurrent inserts queue for its lock anyway,
// the single goroutine is that queue.
type EventWriter struct {
	store    *Store
	maxBatch int
	timeout  time.Duration
	logger   *slog.Logger

	// idsChecked is set, by the writer goroutine, once the database is known to give
	// multi-row inserts their own IDs (see Store.MultiRowInsertIDs).
	idsChecked bool

	mu     sync.Mutex
	queue  []*eventRequest
	closed bool
	wake   chan struct{} // capacity 1: "something queued or the writer closed"
	done   chan struct{} // closed when the writer goroutine has ended

	// Test hooks (see export_test.go): queued is called after a request is queued
	// with the queue's length, beforeWrite with each batch taken, before it is written.
	queued      func(n int)
	beforeWrite func(batch []*Event)
}

// EventWriterOptions are the writer's optional parts.
type EventWriterOptions struct {
	// MaxBatch is the most rows one commit carries; 0: 100.
	MaxBatch int
	// Timeout bounds one batch's write (and the one-by-one retry after a failed batch),
	// so a hung database fails its callers instead of holding them; 0: 30 s.
	Timeout time.Duration
	Logger  *slog.Logger // nil: discard
}

// eventRequest is one caller's row waiting for its batch. taken and withdrawn are
// guarded by the writer's mu: a caller whose context ends while its row is still queued
// withdraws it; once taken, the caller waits for the commit's outcome, which is its
// answer (the row may be stored).
type eventRequest struct {
	ctx       context.Context
	event     *Event
	taken     bool
	withdrawn bool
	result    chan error // capacity 1, written once by the writer
}

// NewEventWriter starts the writer goroutine on store; Close stops it.
func NewEventWriter(store *Store, opts EventWriterOptions) *EventWriter {
	w := newEventWriter(store, opts)
	w.start()
	return w
}

func newEventWriter(store *Store, opts EventWriterOptions) *EventWriter {
	w := &EventWriter{store: store, maxBatch: opts.MaxBatch, timeout: opts.Timeout, logger: opts.Logger,
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	if w.maxBatch <= 0 {
		w.maxBatch = defaultEventBatch
	}
	if w.timeout <= 0 {
		w.timeout = defaultEventTimeout
	}
	if w.logger == nil {
		w.logger = slog.New(slog.DiscardHandler)
	}
	return w
}

func (w *EventWriter) start() { go w.run() }

// InsertEvent stores e, filling its ID, and returns once it is committed (nil) or
// known not to be (an error). A caller whose ctx ends before its row is taken into a
// batch gets ctx's error and its row is not written; after that it waits for the commit.
func (w *EventWriter) InsertEvent(ctx context.Context, e *Event) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("insert event: %w", err)
	}
	req := &eventRequest{ctx: ctx, event: e, result: make(chan error, 1)}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return fmt.Errorf("insert event: %w", ErrEventWriterClosed)
	}
	w.queue = append(w.queue, req)
	n, hook := len(w.queue), w.queued
	w.mu.Unlock()
	w.signal()
	if hook != nil {
		hook(n)
	}
	select {
	case err := <-req.result:
		return err
	case <-ctx.Done():
	}
	w.mu.Lock()
	if !req.taken {
		req.withdrawn = true
		w.mu.Unlock()
		return fmt.Errorf("insert event: %w", ctx.Err())
	}
	w.mu.Unlock()
	return <-req.result
}

func (w *EventWriter) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Close stops taking rows, writes those already queued, and waits for the writer to
// end; InsertEvent then returns ErrEventWriterClosed. Close it before the database.
func (w *EventWriter) Close() {
	w.shut()
	<-w.done
}

func (w *EventWriter) shut() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.signal()
}

func (w *EventWriter) run() {
	defer close(w.done)
	for range w.wake {
		for {
			batch, closed := w.take()
			if len(batch) > 0 {
				w.write(batch)
				continue
			}
			if closed {
				return
			}
			break
		}
	}
}

// take removes up to maxBatch live requests from the queue, marking them taken, and
// reports whether the writer is closed.
func (w *EventWriter) take() ([]*eventRequest, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var batch []*eventRequest
	i := 0
	for ; i < len(w.queue) && len(batch) < w.maxBatch; i++ {
		r := w.queue[i]
		if r.withdrawn || r.ctx.Err() != nil {
			// Its caller has gone or is going (InsertEvent answers it ctx's error):
			// nobody would read the outcome, and Confluence got no 202 for it.
			r.withdrawn = true
			continue
		}
		r.taken = true
		batch = append(batch, r)
	}
	w.queue = append(w.queue[:0:0], w.queue[i:]...)
	return batch, w.closed
}

// write commits one batch and answers its callers. The batch is one statement, so it
// is stored whole or not at all. When it fails, the rows are tried again one by one
// within the same deadline: one row the database refuses (a constraint, a value out of
// range) must not cost the other webhooks their events, since Confluence never sends a
// failed one again; when the database itself is down, each of those fails too, and
// every caller gets its error (503) with nothing stored.
func (w *EventWriter) write(batch []*eventRequest) {
	events := make([]*Event, len(batch))
	for i, r := range batch {
		events[i] = r.event
	}
	if w.beforeWrite != nil {
		w.beforeWrite(events)
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.timeout)
	defer cancel()
	if len(batch) > 1 && !w.idsChecked {
		if !w.checkMultiRowIDs(ctx) {
			for _, r := range batch {
				r.result <- w.store.InsertEvent(ctx, r.event)
			}
			return
		}
	}
	err := w.store.InsertEvents(ctx, events)
	if err == nil || len(batch) == 1 {
		for _, r := range batch {
			r.result <- err
		}
		return
	}
	w.logger.Warn("event batch failed; storing its rows one by one", slog.Int("rows", len(batch)), slog.Any("error", err))
	for _, r := range batch {
		r.event.ID = 0
		r.result <- w.store.InsertEvent(ctx, r.event)
	}
}

// checkMultiRowIDs asks the database once whether multi-row inserts get their rows' own
// IDs. When they do not, every row is written by itself from then on; when it cannot be
// asked, this batch is (and the question is asked again with the next).
func (w *EventWriter) checkMultiRowIDs(ctx context.Context) bool {
	ok, err := w.store.MultiRowInsertIDs(ctx)
	if err != nil {
		w.logger.Warn("event writer: check auto-increment step", slog.Any("error", err))
		return false
	}
	w.idsChecked = true
	if !ok {
		w.logger.Warn("the database steps auto-increment values by more than 1: webhook events are committed one by one")
		w.mu.Lock()
		w.maxBatch = 1
		w.mu.Unlock()
	}
	return ok
}
