package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/jonboulle/clockwork"
	"golang.org/x/time/rate"

	"github.com/dingfluence/dingfluence/dingtalk"
	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/settings"
)

// Defaults for zero DispatcherOptions fields.
const (
	// DefaultRecipientsPerMinute is DingTalk's cap on work-notification recipients per
	// app per minute. Above it DingTalk still answers success but silently drops the
	// message (flow-control code 143103), so the dispatcher must never go over it.
	DefaultRecipientsPerMinute  = 5000
	DefaultDispatchLease        = 5 * time.Minute
	DefaultDispatchPoll         = 2 * time.Second
	DefaultDispatchBatch        = 10
	DefaultDispatchMaxAttempts  = 8
	DefaultDispatchRetryInitial = 10 * time.Second
	DefaultDispatchRetryMax     = 10 * time.Minute
)

// DispatchStore is what the dispatcher reads and writes (*models.Store).
type DispatchStore interface {
	ClaimDueDeliveries(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]models.Delivery, error)
	MarkDeliverySending(ctx context.Context, id uint64, owner string, now, leaseUntil time.Time) (bool, error)
	RecordDeliveryOutcome(ctx context.Context, id uint64, owner string, now time.Time, o models.DeliveryOutcome) (bool, error)
	ReleaseDelivery(ctx context.Context, id uint64, owner string, now time.Time) error
	RecoverInterruptedDeliveries(ctx context.Context, now time.Time) (requeued, dead int64, err error)
}

// DingTalkSettings is the DingTalk configuration the dispatcher sends with
// (*settings.Service): the global Enable? switch and the shared, rate-limited client.
type DingTalkSettings interface {
	Load(ctx context.Context) (models.Settings, error)
	Client(ctx context.Context) (*dingtalk.Client, error)
}

// DispatcherOptions tune a Dispatcher; the zero value is ready for production.
type DispatcherOptions struct {
	Clock  clockwork.Clock // nil → the real clock; drives pacing, leases, backoff and the poll
	Logger *slog.Logger    // nil → slog.Default()
	// Instance names this dispatcher in claimed_by; instances sharing a database must
	// differ (the app passes the id its event workers use).
	Instance string
	// Lease is how long a claimed or sending delivery stays this instance's; a sending
	// row whose lease ran out is taken for interrupted. It must outlast one send with
	// the client's own retries.
	Lease time.Duration
	// Poll is the pause between looking for due deliveries when none were left.
	Poll time.Duration
	// Batch is how many deliveries one claim takes.
	Batch int
	// MaxAttempts is how many sends a delivery gets before it ends dead.
	MaxAttempts int
	// RecipientsPerMinute paces sends by their recipients (burst: a minute's worth).
	RecipientsPerMinute int
	// RetryInitial and RetryMax shape the jittered exponential wait before a failed
	// delivery is due again.
	RetryInitial, RetryMax time.Duration
}

// Dispatcher sends due deliveries (the outbox) through DingTalk and records each send
// before and after it: a delivery is marked sending, with its attempt counted, in a
// committed transaction before the HTTP call, and its outcome after. So a delivery
// recorded sent is never sent again, and one cut off mid-send by a crash is sent at
// most once more (see models.RecoverInterruptedDeliveries).
//
// Several instances share the work: each claims rows under a lease. Each paces its own
// sends; DingTalk's per-minute cap is per app, so replicas sending at full speed at once
// would together exceed it.
type Dispatcher struct {
	store    DispatchStore
	settings DingTalkSettings
	clock    clockwork.Clock
	log      *slog.Logger
	opts     DispatcherOptions
	// recipients paces sends by recipients, on the dispatcher's clock.
	recipients *rate.Limiter
}

// NewDispatcher returns a Dispatcher.
func NewDispatcher(store DispatchStore, set DingTalkSettings, opts DispatcherOptions) *Dispatcher {
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Instance == "" {
		opts.Instance = "dingfluence" // the app passes its process's instance id
	}
	if opts.Lease <= 0 {
		opts.Lease = DefaultDispatchLease
	}
	if opts.Poll <= 0 {
		opts.Poll = DefaultDispatchPoll
	}
	if opts.Batch <= 0 {
		opts.Batch = DefaultDispatchBatch
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultDispatchMaxAttempts
	}
	if opts.RecipientsPerMinute <= 0 {
		opts.RecipientsPerMinute = DefaultRecipientsPerMinute
	}
	if opts.RetryInitial <= 0 {
		opts.RetryInitial = DefaultDispatchRetryInitial
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = DefaultDispatchRetryMax
	}
	perMinute := opts.RecipientsPerMinute
	return &Dispatcher{
		store: store, settings: set, clock: opts.Clock, opts: opts,
		log:        opts.Logger.With(slog.String("component", "dispatcher"), slog.String("instance", opts.Instance)),
		recipients: rate.NewLimiter(rate.Limit(float64(perMinute)/60), perMinute),
	}
}

// Run dispatches until ctx ends, looking for due deliveries every Poll. A failed round
// (database or settings unavailable) is logged and tried again at the next poll.
func (d *Dispatcher) Run(ctx context.Context) error {
	// The same failure every poll (the database down, the secret unreadable) is logged
	// once, not every two seconds, and again when it changes.
	var last string
	for {
		_, err := d.RunOnce(ctx)
		switch {
		case err == nil:
			if last != "" {
				d.log.InfoContext(ctx, "dispatching again after failed rounds")
			}
			last = ""
		case ctx.Err() == nil && err.Error() != last:
			d.log.WarnContext(ctx, "dispatch round failed; trying again at every poll", slog.Any("error", err))
			last = err.Error()
		}
		t := d.clock.NewTimer(d.opts.Poll)
		select {
		case <-t.Chan():
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

// RunOnce puts back deliveries interrupted mid-send, then sends every delivery due now,
// batch by batch, and returns how many it sent or tried to (each with its outcome
// recorded). While global Enable? is No (or DingTalk is not configured) nothing is sent
// and nothing fails: deliveries wait until it is Yes again.
func (d *Dispatcher) RunOnce(ctx context.Context) (int, error) {
	requeued, dead, err := d.store.RecoverInterruptedDeliveries(ctx, d.clock.Now())
	if err != nil {
		return 0, err
	}
	if requeued > 0 || dead > 0 {
		d.log.WarnContext(ctx, "deliveries interrupted mid-send: sending each once more, ending those interrupted twice",
			slog.Int64("requeued", requeued), slog.Int64("dead", dead))
	}
	done := 0
	for ctx.Err() == nil {
		client, held, err := d.client(ctx)
		if err != nil || held {
			return done, err
		}
		batch, err := d.store.ClaimDueDeliveries(ctx, d.opts.Instance, d.clock.Now(), d.opts.Lease, d.opts.Batch)
		if err != nil || len(batch) == 0 {
			return done, err
		}
		for i, del := range batch {
			sent, err := d.dispatch(ctx, client, del)
			if err != nil {
				d.release(batch[i:])
				return done, err
			}
			if sent {
				done++
			}
		}
	}
	return done, nil
}

// client returns the DingTalk client, or held = true while sending is switched off.
func (d *Dispatcher) client(ctx context.Context) (*dingtalk.Client, bool, error) {
	set, err := d.settings.Load(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("dispatch: load settings: %w", err)
	}
	if !set.Enabled {
		return nil, true, nil
	}
	client, err := d.settings.Client(ctx)
	if errors.Is(err, settings.ErrNotConfigured) {
		// Nothing can be sent before the appKey and appSecret are saved; the
		// deliveries wait for them as they wait for Enable?.
		return nil, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("dispatch: DingTalk client: %w", err)
	}
	return client, false, nil
}

// release hands back claimed deliveries not started, so another round (or instance)
// takes them at once rather than after the lease.
func (d *Dispatcher) release(rest []models.Delivery) {
	ctx := context.Background()
	for _, del := range rest {
		if err := d.store.ReleaseDelivery(ctx, del.ID, d.opts.Instance, d.clock.Now()); err != nil {
			d.log.Warn("release delivery; it is due again when its lease ends", slog.Uint64("delivery", del.ID), slog.Any("error", err))
		}
	}
}

// dispatch sends one claimed delivery and reports whether it made the send. It returns
// an error only when the round must stop (ctx ended while pacing, the database failed
// before the send); the delivery's own failures are recorded on it.
func (d *Dispatcher) dispatch(ctx context.Context, client *dingtalk.Client, del models.Delivery) (bool, error) {
	ids := del.UserIDList()
	if err := d.pace(ctx, len(ids)); err != nil {
		return false, err
	}
	now := d.clock.Now()
	ok, err := d.store.MarkDeliverySending(ctx, del.ID, d.opts.Instance, now, now.Add(d.opts.Lease))
	if err != nil {
		return false, err
	}
	if !ok {
		d.log.InfoContext(ctx, "delivery no longer ours; not sending it", slog.Uint64("delivery", del.ID))
		return false, nil
	}
	// From here on the send and its record run to the end even when the dispatcher is
	// stopping: a send cut off now would be one interrupted mid-send. The client's
	// timeout and retry limit bound it.
	ctx = context.WithoutCancel(ctx)
	attempt := del.Attempts + 1
	taskID, sendErr := client.SendEncodedWorkNotification(ctx, ids, json.RawMessage(del.Message))
	outcome := d.outcome(attempt, taskID, sendErr)
	log := d.log.With(slog.Uint64("delivery", del.ID), slog.Uint64("event", del.EventID), slog.Int("attempt", attempt),
		slog.String("status", string(outcome.Status)))
	if sendErr != nil {
		log = log.With(slog.Any("error", sendErr))
	}
	ok, err = d.store.RecordDeliveryOutcome(ctx, del.ID, d.opts.Instance, d.clock.Now(), outcome)
	switch {
	case err != nil:
		// The row stays sending; once its lease runs out it counts as interrupted.
		log.ErrorContext(ctx, "send done but its outcome could not be recorded", slog.Any("record_error", err))
	case !ok:
		log.WarnContext(ctx, "send done after the delivery's lease ran out; its outcome was not recorded")
	case outcome.Status == models.DeliverySent:
		log.InfoContext(ctx, "delivery sent", slog.Int64("task_id", taskID), slog.Int("recipients", len(ids)))
	default:
		log.WarnContext(ctx, "delivery not sent")
	}
	return true, nil
}

// pace waits until n more recipients fit in DingTalk's per-minute cap, on the
// dispatcher's clock (rate.Limiter.Wait would sleep on the real one).
func (d *Dispatcher) pace(ctx context.Context, n int) error {
	n = min(max(n, 1), d.recipients.Burst())
	now := d.clock.Now()
	r := d.recipients.ReserveN(now, n)
	if !r.OK() {
		return fmt.Errorf("dispatch: pacing refused %d recipients", n)
	}
	wait := r.DelayFrom(now)
	if wait <= 0 {
		return nil
	}
	t := d.clock.NewTimer(wait)
	select {
	case <-t.Chan():
		return nil
	case <-ctx.Done():
		t.Stop()
		r.CancelAt(d.clock.Now())
		return ctx.Err()
	}
}

// outcome classifies a send's result:
//   - success: sent, with DingTalk's task_id;
//   - the request may have reached DingTalk: unknown, never repeated by itself;
//   - throttling, DingTalk busy, a token still refused after the client's refresh, a
//     transport failure that provably sent nothing: failed, due again after a jittered
//     exponential backoff, or dead once MaxAttempts sends are used up;
//   - anything else (bad agent id, malformed message, bad parameter …): dead.
func (d *Dispatcher) outcome(attempt int, taskID int64, err error) models.DeliveryOutcome {
	if err == nil {
		return models.DeliveryOutcome{Status: models.DeliverySent, TaskID: taskID}
	}
	o := models.DeliveryOutcome{Error: err.Error()}
	var de *dingtalk.Error
	if errors.As(err, &de) {
		// DingTalk's own words, which the Deliveries screen shows as such.
		o.ErrCode, o.Error = strconv.Itoa(de.Code), de.Errmsg
		if de.SubMsg != "" && de.SubMsg != de.Errmsg {
			o.Error = de.SubMsg
		}
	}
	switch {
	case errors.Is(err, dingtalk.ErrOutcomeUnknown):
		o.Status = models.DeliveryUnknown
	case !retryLater(err):
		o.Status = models.DeliveryDead
	case attempt >= d.opts.MaxAttempts:
		o.Status = models.DeliveryDead
	default:
		o.Status = models.DeliveryFailed
		o.NextAttempt = d.clock.Now().Add(d.retryDelay(attempt))
	}
	return o
}

// retryLater reports the failures another send later may cure.
func retryLater(err error) bool {
	if dingtalk.IsTransient(err) || errors.Is(err, dingtalk.ErrIPBanned) {
		return true
	}
	switch dingtalk.Code(err) {
	case 40014, 42001, 40001:
		// The client already replaced the token once; a token refused again is most
		// likely DingTalk's side catching up, not a reason to drop the notification.
		return true
	}
	return false
}

// retryDelay is the wait before attempt+1: backoff/v5's jittered exponential interval
// (RetryInitial doubling up to RetryMax, ±50 %).
func (d *Dispatcher) retryDelay(attempt int) time.Duration {
	return nthBackoff(d.opts.RetryInitial, d.opts.RetryMax, attempt)
}
