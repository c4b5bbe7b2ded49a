package confluence

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Webhook headers Confluence Data Center sends (confluence-api.md §1.4).
const (
	HeaderSignature = "X-Hub-Signature"
	HeaderEventKey  = "X-Event-Key"
	HeaderRequestID = "X-Request-Id"
)

// EventName is a webhook event as Confluence names it ("event" in the body, X-Event-Key).
type EventName string

// The events dingfluence notifies about; every other event is parsed as ignored.
const (
	EventPageCreated EventName = "page_created"
	EventPageUpdated EventName = "page_updated"
	EventBlogCreated EventName = "blog_created"
	EventBlogUpdated EventName = "blog_updated"
	// EventDiagnosticsPing is the X-Event-Key of the connection test in the
	// atlassian-webhooks library Confluence shares with Bitbucket (§1.4, [L]).
	EventDiagnosticsPing EventName = "diagnostics:ping"
)

// contentEntity returns the body key of a notifying event's entity and its content
// type; ok is false for every other event.
func contentEntity(e EventName) (entity string, typ ContentType, ok bool) {
	switch e {
	case EventPageCreated, EventPageUpdated:
		return "page", ContentPage, true
	case EventBlogCreated, EventBlogUpdated:
		return "blog", ContentBlogPost, true
	}
	return "", "", false
}

// IsUpdate reports whether the event is an edit of existing content.
func (e EventName) IsUpdate() bool { return e == EventPageUpdated || e == EventBlogUpdated }

// WebhookKind says what a parsed webhook request is.
type WebhookKind string

// The kinds ParseWebhook tells apart.
const (
	// WebhookContent is one of the four content events, with a content id.
	WebhookContent WebhookKind = "content"
	// WebhookIgnored is any other well-formed event (comments, spaces, users, ...).
	WebhookIgnored WebhookKind = "ignored"
	// WebhookTest is Confluence's "Test connection" request: answer 2xx, process nothing.
	WebhookTest WebhookKind = "test"
)

// PayloadKind says which of the two payload shapes a content event came in.
type PayloadKind string

// The two shapes of §1.3.
const (
	// PayloadIDOnly is the default of Data Center 9+: only ids, enrich over REST.
	PayloadIDOnly PayloadKind = "id_only"
	// PayloadLegacy is the full payload of 7.x/8.x (or 9+ with
	// -Dconfluence.webhooks.id.only.disabled=true): title, space key, version, self.
	PayloadLegacy PayloadKind = "legacy"
)

// UpdateTrigger is why Confluence saved a new version (PageUpdateTrigger, sent lower-case).
type UpdateTrigger string

// The values of PageUpdateTrigger (§1.6).
const (
	TriggerEditPage         UpdateTrigger = "edit_page"
	TriggerRevert           UpdateTrigger = "revert"
	TriggerLinkRefactoring  UpdateTrigger = "link_refactoring"
	TriggerPageRename       UpdateTrigger = "page_rename"
	TriggerPersonalTasklist UpdateTrigger = "personal_tasklist"
	TriggerViewPage         UpdateTrigger = "view_page"
	TriggerDiscardChanges   UpdateTrigger = "discard_changes"
	TriggerSpaceCreate      UpdateTrigger = "space_create"
	TriggerUnknown          UpdateTrigger = "unknown"
)

// IsHousekeeping reports whether the trigger is a save nobody should be told about: links
// fixed after another page's rename, a task ticked while viewing, a discarded draft, the
// home page of a new space. Absent, unknown and new values notify (§1.6, §8.4).
func (t UpdateTrigger) IsHousekeeping() bool {
	switch t {
	case TriggerLinkRefactoring, TriggerViewPage, TriggerDiscardChanges, TriggerSpaceCreate, TriggerPersonalTasklist:
		return true
	}
	return false
}

// Webhook is one parsed webhook request.
type Webhook struct {
	Kind  WebhookKind
	Event EventName
	// Timestamp is when Confluence saw the event (epoch ms in the body); zero if absent.
	Timestamp time.Time
	// UserKey is the acting user; "" for anonymous or system actions.
	UserKey string
	// The rest is set for WebhookContent only.
	ContentID     string      // decimal, as the REST API spells it
	ContentType   ContentType // page or blogpost, from the event name
	UpdateTrigger UpdateTrigger
	Payload       PayloadKind
	// Legacy holds what the full payload said; nil for ID-only payloads. The REST
	// answer is authoritative: this only helps when Confluence cannot be reached.
	Legacy *LegacyContent
}

// LegacyContent is the content object of the full (pre-9) payload.
type LegacyContent struct {
	Title            string
	SpaceKey         string
	Version          int
	Self             string // web URL of the content
	CreatorKey       string
	LastModifierKey  string
	CreationDate     time.Time
	ModificationDate time.Time
}

// ParseProblem names what is wrong with a webhook body.
type ParseProblem string

// The problems ParseWebhook reports.
const (
	ProblemEmptyBody        ParseProblem = "empty_body"
	ProblemMalformedJSON    ParseProblem = "malformed_json"
	ProblemNoEvent          ParseProblem = "no_event"
	ProblemNoContent        ParseProblem = "no_content"
	ProblemNoContentID      ParseProblem = "no_content_id"
	ProblemInvalidContentID ParseProblem = "invalid_content_id"
	ProblemInvalidField     ParseProblem = "invalid_field"
)

// ParseError is a webhook body ParseWebhook refuses; its message names the problem so
// the 400 answer tells a Confluence administrator what was wrong.
type ParseError struct {
	Problem ParseProblem
	Detail  string
}

func (e *ParseError) Error() string {
	var what string
	switch e.Problem {
	case ProblemEmptyBody:
		what = "the body is empty"
	case ProblemMalformedJSON:
		what = "the body is not a JSON object"
	case ProblemNoEvent:
		what = `the body has no "event" and no X-Event-Key header was sent`
	case ProblemNoContent:
		what = "the event carries no content object"
	case ProblemNoContentID:
		what = "the content object has no id"
	case ProblemInvalidContentID:
		what = "the content id is not a positive integer"
	case ProblemInvalidField:
		what = "a field has the wrong type"
	default:
		what = string(e.Problem)
	}
	if e.Detail != "" {
		what += ": " + e.Detail
	}
	return "confluence webhook: " + what
}

// maxDetailRunes keeps a ParseError from echoing a large body back.
const maxDetailRunes = 120

func parseErr(p ParseProblem, detail string) *ParseError {
	if r := []rune(detail); len(r) > maxDetailRunes {
		detail = string(r[:maxDetailRunes]) + "…"
	}
	return &ParseError{Problem: p, Detail: detail}
}

// webhookJSON is the common part of every DC payload plus the entity objects we use.
type webhookJSON struct {
	Timestamp     json.RawMessage `json:"timestamp"`
	Event         *string         `json:"event"`
	UserKey       *string         `json:"userKey"`
	UpdateTrigger *string         `json:"updateTrigger"`
	Test          *bool           `json:"test"`
}

// contentJSON is the page/blog object in either shape; all but id are legacy-only.
type contentJSON struct {
	ID               json.RawMessage `json:"id"`
	IDAsString       string          `json:"idAsString"`
	Title            *string         `json:"title"`
	SpaceKey         *string         `json:"spaceKey"`
	Version          *int            `json:"version"`
	Self             *string         `json:"self"`
	CreatorKey       string          `json:"creatorKey"`
	LastModifierKey  string          `json:"lastModifierKey"`
	CreationDate     *int64          `json:"creationDate"`
	ModificationDate *int64          `json:"modificationDate"`
}

// ParseWebhook parses a webhook body already read and verified (see VerifySignature).
// eventKey is the X-Event-Key header, "" when absent; the body's "event" wins over it.
//
// Confluence's "Test connection" request is recognised by the diagnostics:ping event key
// or a {"test":true} body without an event (the exact test request of Confluence is not
// documented, §9); it is WebhookTest, never an error, even with an empty body.
func ParseWebhook(eventKey string, body []byte) (Webhook, error) {
	eventKey = strings.TrimSpace(eventKey)
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		if EventName(eventKey) == EventDiagnosticsPing {
			return Webhook{Kind: WebhookTest, Event: EventDiagnosticsPing}, nil
		}
		return Webhook{}, parseErr(ProblemEmptyBody, "")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &top); err != nil || top == nil {
		detail := "top level is not an object"
		if err != nil {
			detail = err.Error()
		}
		return Webhook{}, parseErr(ProblemMalformedJSON, detail)
	}
	var j webhookJSON
	if err := json.Unmarshal(trimmed, &j); err != nil {
		return Webhook{}, parseErr(ProblemInvalidField, err.Error())
	}

	w := Webhook{Event: EventName(eventKey)}
	if j.Event != nil && *j.Event != "" {
		w.Event = EventName(*j.Event)
	}
	if j.UserKey != nil {
		w.UserKey = *j.UserKey
	}
	ts, err := epochMillis(j.Timestamp)
	if err != nil {
		return Webhook{}, parseErr(ProblemInvalidField, "timestamp: "+err.Error())
	}
	w.Timestamp = ts

	switch {
	case w.Event == EventDiagnosticsPing:
		w.Kind = WebhookTest
		return w, nil
	case w.Event == "" && j.Test != nil && *j.Test:
		w.Kind, w.Event = WebhookTest, EventDiagnosticsPing
		return w, nil
	case w.Event == "":
		return Webhook{}, parseErr(ProblemNoEvent, "")
	}
	entity, typ, notify := contentEntity(w.Event)
	if !notify {
		w.Kind = WebhookIgnored
		return w, nil
	}

	w.Kind, w.ContentType = WebhookContent, typ
	if j.UpdateTrigger != nil {
		w.UpdateTrigger = UpdateTrigger(strings.ToLower(*j.UpdateTrigger))
	}
	raw, ok := top[entity]
	if !ok || isJSONNull(raw) {
		return Webhook{}, parseErr(ProblemNoContent, fmt.Sprintf("%s has no %q object", w.Event, entity))
	}
	var c contentJSON
	if err := json.Unmarshal(raw, &c); err != nil {
		return Webhook{}, parseErr(ProblemInvalidField, entity+": "+err.Error())
	}
	id, err := contentID(c.ID, c.IDAsString)
	if err != nil {
		return Webhook{}, err
	}
	w.ContentID = id
	w.Payload = PayloadIDOnly
	if c.Title != nil || c.SpaceKey != nil || c.Version != nil || c.Self != nil {
		w.Payload = PayloadLegacy
		w.Legacy = &LegacyContent{
			Title:           deref(c.Title),
			SpaceKey:        deref(c.SpaceKey),
			Self:            deref(c.Self),
			CreatorKey:      c.CreatorKey,
			LastModifierKey: c.LastModifierKey,
		}
		if c.Version != nil {
			w.Legacy.Version = *c.Version
		}
		if c.CreationDate != nil {
			w.Legacy.CreationDate = time.UnixMilli(*c.CreationDate).UTC()
		}
		if c.ModificationDate != nil {
			w.Legacy.ModificationDate = time.UnixMilli(*c.ModificationDate).UTC()
		}
	}
	return w, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func isJSONNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// epochMillis reads a Java long of epoch milliseconds; absent or null is the zero time.
func epochMillis(raw json.RawMessage) (time.Time, error) {
	if len(raw) == 0 || isJSONNull(raw) {
		return time.Time{}, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return time.Time{}, errors.New("not a number")
	}
	ms, err := n.Int64()
	if err != nil {
		return time.Time{}, errors.New("not an integer")
	}
	return time.UnixMilli(ms).UTC(), nil
}

// contentID reads the id: a JSON number (a Java long) in DC payloads, a string in some
// (Cloud's idAsString, added for ids beyond 2^53). Only positive decimal integers pass,
// so the id is safe to put in a REST path.
func contentID(raw json.RawMessage, asString string) (string, error) {
	var s string
	switch {
	case len(raw) > 0 && !isJSONNull(raw):
		if raw[0] == '"' {
			if err := json.Unmarshal(raw, &s); err != nil {
				return "", parseErr(ProblemInvalidContentID, string(raw))
			}
		} else {
			s = string(raw)
		}
	case asString != "":
		s = asString
	default:
		return "", parseErr(ProblemNoContentID, "")
	}
	if !ValidContentID(s) {
		return "", parseErr(ProblemInvalidContentID, strconv.Quote(s))
	}
	return s, nil
}

// ValidContentID reports whether id looks like a Confluence content id: a positive
// decimal integer that fits a Java long.
func ValidContentID(id string) bool {
	if id == "" || id[0] == '0' || len(id) > 19 {
		return false
	}
	for _, r := range id {
		if r < '0' || r > '9' {
			return false
		}
	}
	_, err := strconv.ParseInt(id, 10, 64)
	return err == nil
}

// Signature errors VerifySignature returns; compare with errors.Is.
var (
	// ErrNoSecret: no secret is configured, so no request can be authenticated.
	ErrNoSecret = errors.New("confluence webhook: no webhook secret is set")
	// ErrSignatureMissing: the request has no X-Hub-Signature header.
	ErrSignatureMissing = errors.New("confluence webhook: X-Hub-Signature header is missing")
	// ErrSignatureMalformed: the header is not "sha256=" and 64 hex digits.
	ErrSignatureMalformed = errors.New(`confluence webhook: X-Hub-Signature is not "sha256=<64 hex digits>"`)
	// ErrSignatureMismatch: the HMAC does not match the body under the secret.
	ErrSignatureMismatch = errors.New("confluence webhook: X-Hub-Signature does not match the body")
)

const signaturePrefix = "sha256="

// VerifySignature checks header (the X-Hub-Signature value) against the HMAC-SHA256 of
// the raw body under secret, in constant time. Confluence keys the MAC with the secret's
// UTF-8 bytes and sends lowercase hex (§1.4); upper case is accepted too.
func VerifySignature(secret string, body []byte, header string) error {
	if secret == "" {
		return ErrNoSecret
	}
	header = strings.TrimSpace(header)
	if header == "" {
		return ErrSignatureMissing
	}
	if len(header) < len(signaturePrefix) || !strings.EqualFold(header[:len(signaturePrefix)], signaturePrefix) {
		return ErrSignatureMalformed
	}
	got, err := hex.DecodeString(header[len(signaturePrefix):])
	if err != nil || len(got) != sha256.Size {
		return ErrSignatureMalformed
	}
	if !hmac.Equal(got, bodyMAC(secret, body)) {
		return ErrSignatureMismatch
	}
	return nil
}

// Signature returns the X-Hub-Signature value Confluence sends for body under secret.
func Signature(secret string, body []byte) string {
	return signaturePrefix + hex.EncodeToString(bodyMAC(secret, body))
}

func bodyMAC(secret string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return m.Sum(nil)
}
