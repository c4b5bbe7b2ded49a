package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"time"
	"unicode/utf8"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dingfluence/dingfluence/confluence"
	"github.com/dingfluence/dingfluence/models"
)

// MaxWebhookBody is the largest webhook body the inbox reads: 1 MiB. Confluence's
// ID-only payloads are a few hundred bytes, legacy ones a few kilobytes.
const MaxWebhookBody = 1 << 20

// EventSink stores an accepted event, filling its ID, and returns only once it is
// committed: models.EventWriter, which shares one commit among concurrent webhooks
// (models.Store would do too, one commit each).
type EventSink interface {
	InsertEvent(ctx context.Context, e *models.Event) error
}

// InboxStore is what else the inbox needs from the database (models.Store implements it).
type InboxStore interface {
	CountWebhookRefusal(ctx context.Context, reason models.WebhookRefusal, now time.Time) error
	CountWebhookArrival(ctx context.Context, kind models.WebhookArrival, now time.Time) error
	LoadWebhookHealth(ctx context.Context, since time.Time) (models.WebhookHealth, error)
}

// WebhookSecrets gives the current webhook secret (settings.Confluence implements it):
// WebhookSecret may answer from a short-lived cache, FreshWebhookSecret reads the
// database.
type WebhookSecrets interface {
	WebhookSecret(ctx context.Context) (models.WebhookSecret, error)
	FreshWebhookSecret(ctx context.Context) (models.WebhookSecret, error)
}

// WebhookRequest is one POST to the webhook endpoint, as the inbox needs it.
type WebhookRequest struct {
	ContentType string // the Content-Type header
	Signature   string // X-Hub-Signature
	EventKey    string // X-Event-Key
	RequestID   string // X-Request-Id
	// Body is read by Receive, at most MaxWebhookBody bytes of it.
	Body io.Reader
}

// Outcome is what became of a webhook request that was not refused.
type Outcome string

// Outcomes of Receive; with the refusal reasons they are the label values of the
// webhook metric.
const (
	OutcomeAccepted Outcome = "accepted" // a content event, stored
	OutcomeTest     Outcome = "test"     // Confluence's Test connection
	OutcomeIgnored  Outcome = "ignored"  // an event dingfluence does not notify on
)

// Receipt is a webhook request that was not refused.
type Receipt struct {
	Outcome Outcome
	// EventID is the stored event's id (OutcomeAccepted only).
	EventID uint64
	// Event is the event name the request carried.
	Event confluence.EventName
}

// RefusedError is a webhook request the inbox refused; Reason says why (a fixed set,
// which the HTTP layer maps to a status and a message).
type RefusedError struct {
	Reason models.WebhookRefusal
	// Problem names what is wrong with a malformed body or a missing content id.
	Problem confluence.ParseProblem
	Err     error
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("webhook refused (%s): %v", e.Reason, e.Err)
}

func (e *RefusedError) Unwrap() error { return e.Err }

// Inbox receives Confluence webhooks: it verifies them and stores each content event
// as one pending events row, nothing more. Everything that needs Confluence or DingTalk
// happens later, in the workers, so the request is answered in one database write.
type Inbox struct {
	store   InboxStore
	events  EventSink
	secrets WebhookSecrets
	clock   clockwork.Clock
	logger  *slog.Logger
	metric  *prometheus.CounterVec
	// accepted wakes the enricher after an event is stored; nil when none runs here.
	accepted Nudge
}

// InboxOptions are the inbox's optional parts.
type InboxOptions struct {
	Clock  clockwork.Clock // nil: the real clock
	Logger *slog.Logger    // nil: discard
	// Metrics receives dingfluence_webhook_requests_total; nil registers nothing.
	Metrics prometheus.Registerer
	// Accepted, when set, is poked after each stored event, so this process's enricher
	// starts on it at once instead of at its next poll.
	Accepted Nudge
}

// NewInbox builds the inbox; accepted events go to events.
func NewInbox(store InboxStore, events EventSink, secrets WebhookSecrets, opts InboxOptions) *Inbox {
	in := &Inbox{store: store, events: events, secrets: secrets, clock: opts.Clock, logger: opts.Logger, accepted: opts.Accepted}
	if in.clock == nil {
		in.clock = clockwork.NewRealClock()
	}
	if in.logger == nil {
		in.logger = slog.New(slog.DiscardHandler)
	}
	in.metric = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dingfluence_webhook_requests_total",
		Help: "Confluence webhook requests by outcome: accepted, test, ignored, or the reason it was refused.",
	}, []string{"outcome"})
	// Every label value exists from the start, so a rate() over a refusal that has
	// not happened yet reads 0 rather than nothing.
	for _, o := range []Outcome{OutcomeAccepted, OutcomeTest, OutcomeIgnored} {
		in.metric.WithLabelValues(string(o))
	}
	for _, r := range models.WebhookRefusals() {
		in.metric.WithLabelValues(string(r))
	}
	if opts.Metrics != nil {
		opts.Metrics.MustRegister(in.metric)
	}
	return in
}

// Receive handles one webhook request: it returns the receipt of an accepted, test or
// ignored request, or a *RefusedError. An accepted event is committed before Receive
// returns, so answering 202 after it never loses one.
func (in *Inbox) Receive(ctx context.Context, req WebhookRequest) (Receipt, error) {
	now := in.clock.Now().UTC()
	r, err := in.receive(ctx, req, now)
	var refused *RefusedError
	if errors.As(err, &refused) {
		in.metric.WithLabelValues(string(refused.Reason)).Inc()
		// Counting is for the screen; a failure to count must not change the answer.
		if cerr := in.store.CountWebhookRefusal(ctx, refused.Reason, now); cerr != nil {
			in.logger.WarnContext(ctx, "count webhook refusal", slog.String("reason", string(refused.Reason)), slog.Any("error", cerr))
		}
		level := slog.LevelInfo
		if refused.Reason == models.RefusalUnavailable {
			level = slog.LevelError
		}
		in.logger.Log(ctx, level, "confluence webhook refused", slog.String("reason", string(refused.Reason)),
			slog.String("request_id", req.RequestID), slog.Any("error", refused.Err))
		return Receipt{}, err
	}
	if err != nil {
		return Receipt{}, err
	}
	in.metric.WithLabelValues(string(r.Outcome)).Inc()
	return r, nil
}

func refuse(reason models.WebhookRefusal, err error) error {
	return &RefusedError{Reason: reason, Err: err}
}

func (in *Inbox) receive(ctx context.Context, req WebhookRequest, now time.Time) (Receipt, error) {
	// While no secret is set nothing can be authenticated: refuse everything, before
	// even reading the body, and say where the secret is made.
	secret, err := in.secrets.WebhookSecret(ctx)
	switch {
	case errors.Is(err, models.ErrSecretUnreadable):
		return Receipt{}, refuse(models.RefusalNoSecret, err)
	case err != nil:
		return Receipt{}, refuse(models.RefusalUnavailable, err)
	case secret.Secret == "":
		return Receipt{}, refuse(models.RefusalNoSecret, confluence.ErrNoSecret)
	}
	if !isJSON(req.ContentType) {
		return Receipt{}, refuse(models.RefusalNotJSON, fmt.Errorf("content type %q is not application/json", req.ContentType))
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, MaxWebhookBody+1))
	if err != nil {
		return Receipt{}, refuse(models.RefusalMalformed, fmt.Errorf("read body: %w", err))
	}
	if len(body) > MaxWebhookBody {
		return Receipt{}, refuse(models.RefusalTooLarge, fmt.Errorf("body over %d bytes", MaxWebhookBody))
	}
	err = confluence.VerifySignature(secret.Secret, body, req.Signature)
	if errors.Is(err, confluence.ErrSignatureMismatch) {
		// The secret may just have been regenerated on another instance: check the
		// stored one before refusing.
		fresh, ferr := in.secrets.FreshWebhookSecret(ctx)
		if ferr == nil && fresh.Secret != "" && fresh.Secret != secret.Secret {
			err = confluence.VerifySignature(fresh.Secret, body, req.Signature)
		}
	}
	if err != nil {
		if errors.Is(err, confluence.ErrSignatureMissing) {
			return Receipt{}, refuse(models.RefusalNoSignature, err)
		}
		return Receipt{}, refuse(models.RefusalBadSignature, err)
	}
	if !utf8.Valid(body) {
		// JSON is UTF-8 (RFC 8259), and the raw payload is stored as text.
		return Receipt{}, &RefusedError{Reason: models.RefusalMalformed, Problem: confluence.ProblemMalformedJSON,
			Err: errors.New("the body is not valid UTF-8")}
	}
	w, err := confluence.ParseWebhook(req.EventKey, body)
	if err != nil {
		var pe *confluence.ParseError
		if !errors.As(err, &pe) {
			return Receipt{}, refuse(models.RefusalMalformed, err)
		}
		reason := models.RefusalMalformed
		if pe.Problem == confluence.ProblemNoContentID || pe.Problem == confluence.ProblemInvalidContentID {
			reason = models.RefusalNoContentID
		}
		return Receipt{}, &RefusedError{Reason: reason, Problem: pe.Problem, Err: err}
	}
	switch w.Kind {
	case confluence.WebhookTest:
		in.countArrival(ctx, models.ArrivalTest, now)
		return Receipt{Outcome: OutcomeTest, Event: w.Event}, nil
	case confluence.WebhookIgnored:
		in.countArrival(ctx, models.ArrivalIgnored, now)
		return Receipt{Outcome: OutcomeIgnored, Event: w.Event}, nil
	}
	e := eventOf(w, req, body, now)
	if err := in.events.InsertEvent(ctx, &e); err != nil {
		return Receipt{}, refuse(models.RefusalUnavailable, err)
	}
	if in.accepted != nil {
		in.accepted.Poke()
	}
	return Receipt{Outcome: OutcomeAccepted, EventID: e.ID, Event: w.Event}, nil
}

// countArrival records a successful request that stored no event, so the screen can say
// a webhook arrived; best effort, like the refusal counts.
func (in *Inbox) countArrival(ctx context.Context, kind models.WebhookArrival, now time.Time) {
	if err := in.store.CountWebhookArrival(ctx, kind, now); err != nil {
		in.logger.WarnContext(ctx, "count webhook arrival", slog.String("kind", string(kind)), slog.Any("error", err))
	}
}

// isJSON reports whether a Content-Type is application/json, with or without parameters.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}

// Column sizes of the events row (migration 0040), so an oversized header or field is
// cut rather than failing the insert on MySQL's strict mode.
const (
	eventNameMax     = 64
	requestIDMax     = 128
	actorKeyMax      = 128
	updateTriggerMax = 32
	titleMax         = 500
	spaceKeyMax      = 255
)

// eventOf is the pending events row of a parsed content webhook.
func eventOf(w confluence.Webhook, req WebhookRequest, body []byte, now time.Time) models.Event {
	occurred := w.Timestamp
	if occurred.IsZero() {
		occurred = now
	}
	e := models.Event{
		Source:        models.EventSourceWebhook,
		EventName:     models.TruncateRunes(string(w.Event), eventNameMax),
		PayloadKind:   string(w.Payload),
		RequestID:     models.TruncateRunes(req.RequestID, requestIDMax),
		ContentID:     w.ContentID,
		ContentType:   string(w.ContentType),
		ActorKey:      models.TruncateRunes(w.UserKey, actorKeyMax),
		UpdateTrigger: models.TruncateRunes(string(w.UpdateTrigger), updateTriggerMax),
		OccurredAt:    occurred.UTC().Truncate(time.Millisecond),
		ReceivedAt:    now.Truncate(time.Millisecond),
		Payload:       string(body),
		Status:        models.EventPending,
	}
	// The legacy payload's title, space and version are hints for the workers and the
	// Deliveries screen; the REST answer at enrichment is authoritative.
	if l := w.Legacy; l != nil {
		e.Title = models.TruncateRunes(l.Title, titleMax)
		e.SpaceKey = models.TruncateRunes(l.SpaceKey, spaceKeyMax)
		e.Version = l.Version
	}
	return e
}

// Health is what the Confluence screen says about the webhook: the last arrival ever and
// the refusals of the last 24 hours.
func (in *Inbox) Health(ctx context.Context) (models.WebhookHealth, error) {
	h, err := in.store.LoadWebhookHealth(ctx, in.clock.Now().Add(-24*time.Hour))
	if err != nil {
		return h, fmt.Errorf("webhook health: %w", err)
	}
	return h, nil
}
