package notify_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dingfluence/dingfluence/confluence"
	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/notify"
)

// inboxStore stores nothing; insertErr makes InsertEvent fail as a database would.
type inboxStore struct{ insertErr error }

func (s inboxStore) InsertEvent(_ context.Context, e *models.Event) error {
	if s.insertErr != nil {
		return s.insertErr
	}
	e.ID = 1
	return nil
}
func (inboxStore) CountWebhookRefusal(context.Context, models.WebhookRefusal, time.Time) error {
	return nil
}
func (inboxStore) CountWebhookArrival(context.Context, models.WebhookArrival, time.Time) error {
	return nil
}
func (inboxStore) LoadWebhookHealth(context.Context, time.Time) (models.WebhookHealth, error) {
	return models.WebhookHealth{}, nil
}

type fixedSecret string

func (s fixedSecret) WebhookSecret(context.Context) (models.WebhookSecret, error) {
	at := t0
	return models.WebhookSecret{Secret: string(s), SetAt: &at}, nil
}
func (s fixedSecret) FreshWebhookSecret(ctx context.Context) (models.WebhookSecret, error) {
	return s.WebhookSecret(ctx)
}

// The inbox wakes this process's enricher after each stored event, and only then: not
// for a connection test, an ignored event, or an event the database did not take.
func TestInboxNudgesTheEnricherAfterAStoredEvent(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef"
	pageUpdated := `{"timestamp":1768246501113,"event":"page_updated","userKey":"ff80","page":{"id":1015809},"updateTrigger":"edit_page"}`
	tests := []struct {
		name      string
		eventKey  string
		body      string
		insertErr error
		wantNudge bool
	}{
		{"stored event", "page_updated", pageUpdated, nil, true},
		{"database down", "page_updated", pageUpdated, errors.New("connection refused"), false},
		{"connection test", string(confluence.EventDiagnosticsPing), `{"test":true}`, nil, false},
		{"ignored event", "label_added", `{"timestamp":1768246501113,"event":"label_added","userKey":"ff80","label":{"name":"x"}}`, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nudge := notify.NewNudge()
			in := notify.NewInbox(inboxStore{tt.insertErr}, inboxStore{tt.insertErr}, fixedSecret(secret), notify.InboxOptions{Accepted: nudge})
			_, _ = in.Receive(context.Background(), notify.WebhookRequest{
				ContentType: "application/json", EventKey: tt.eventKey,
				Signature: confluence.Signature(secret, []byte(tt.body)), Body: strings.NewReader(tt.body),
			})
			select {
			case <-nudge:
				if !tt.wantNudge {
					t.Error("the enricher was woken for a request that stored nothing")
				}
			default:
				if tt.wantNudge {
					t.Error("the enricher was not woken after the event was stored")
				}
			}
		})
	}
}
