package handlers

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/dingfluence/dingfluence/confluence"
	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/notify"
)

// WebhookPath is where Confluence posts its webhooks; the Confluence screen shows it
// under DINGFLUENCE_BASE_URL.
const WebhookPath = "/webhooks/confluence"

// Inbox receives the Confluence webhook (notify.Inbox).
type Inbox interface {
	Receive(ctx context.Context, req notify.WebhookRequest) (notify.Receipt, error)
	Health(ctx context.Context) (models.WebhookHealth, error)
}

// webhookAnswer is the JSON body of every answer of the webhook endpoint: Confluence
// only looks at the status, but an administrator testing with curl, or reading
// Confluence's webhook history, reads the message.
type webhookAnswer struct {
	Status  string `json:"status"`
	EventID uint64 `json:"eventId,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message"`
}

// confluenceWebhook is POST /webhooks/confluence: a machine endpoint, so it has no
// session and no CSRF check; the signature is its authentication.
func (h *Handlers) confluenceWebhook(c echo.Context) error {
	r := c.Request()
	receipt, err := h.Inbox.Receive(r.Context(), notify.WebhookRequest{
		ContentType: r.Header.Get(echo.HeaderContentType),
		Signature:   r.Header.Get(confluence.HeaderSignature),
		EventKey:    r.Header.Get(confluence.HeaderEventKey),
		RequestID:   r.Header.Get(confluence.HeaderRequestID),
		Body:        r.Body,
	})
	status, answer := webhookResult(receipt, err)
	if status == http.StatusInternalServerError {
		return err
	}
	// Messages follow the sender's Accept-Language, like every other error text;
	// Confluence sends none, which is English.
	loc := h.Locales.Localizer(h.Locales.Match("", r.Header.Get("Accept-Language")))
	answer.Message = loc.T(answer.Message)
	return c.JSON(status, answer)
}

// webhookResult is the one place that maps the inbox's outcomes and refusals to an HTTP
// status and a message id. No secret set is 403, not 503: it is a refusal that lasts
// until an administrator acts, not an outage, and 503 stays reserved for the database
// failing (which monitoring should page about). Confluence treats both alike: any
// non-2xx is a failed delivery, never retried.
func webhookResult(r notify.Receipt, err error) (int, webhookAnswer) {
	if err == nil {
		switch r.Outcome {
		case notify.OutcomeTest:
			return http.StatusOK, webhookAnswer{Status: "ok", Message: "webhook.answer.test"}
		case notify.OutcomeIgnored:
			return http.StatusAccepted, webhookAnswer{Status: "ignored", Message: "webhook.answer.ignored"}
		}
		return http.StatusAccepted, webhookAnswer{Status: "accepted", EventID: r.EventID, Message: "webhook.answer.accepted"}
	}
	var refused *notify.RefusedError
	if !errors.As(err, &refused) {
		return http.StatusInternalServerError, webhookAnswer{Status: "error", Message: "error.internal"}
	}
	a := webhookAnswer{Status: "refused", Reason: string(refused.Reason), Message: "webhook.refused." + string(refused.Reason)}
	switch refused.Reason {
	case models.RefusalNoSecret:
		return http.StatusForbidden, a
	case models.RefusalNoSignature, models.RefusalBadSignature:
		return http.StatusUnauthorized, a
	case models.RefusalTooLarge:
		return http.StatusRequestEntityTooLarge, a
	case models.RefusalNotJSON:
		return http.StatusUnsupportedMediaType, a
	case models.RefusalMalformed, models.RefusalNoContentID:
		// The message names the problem ParseWebhook found.
		if refused.Problem != "" {
			a.Message = "webhook.problem." + string(refused.Problem)
		}
		return http.StatusBadRequest, a
	}
	return http.StatusServiceUnavailable, a
}
