package confluencetest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/dingfluence/dingfluence/confluence"
)

// Webhook describes a webhook request for WebhookPayload and WebhookRequest.
type Webhook struct {
	Event     confluence.EventName
	ContentID string
	// Payload picks the shape: ID-only (the default, as Data Center 9+ sends) or legacy.
	Payload confluence.PayloadKind
	// UpdateTrigger is sent on *_updated events; "" → edit_page.
	UpdateTrigger confluence.UpdateTrigger
	// UserKey is the actor; "" → the editor of the latest version.
	UserKey string
}

// legacyContent is the full content object of WebhookJsonEventFactory with the
// id-only flag off, field names exact (§1.3).
type legacyContent struct {
	ID               int64  `json:"id"`
	Title            string `json:"title"`
	ContentType      string `json:"contentType"`
	CreatorKey       string `json:"creatorKey,omitempty"`
	LastModifierKey  string `json:"lastModifierKey,omitempty"`
	CreationDate     int64  `json:"creationDate"`
	ModificationDate int64  `json:"modificationDate"`
	Version          int    `json:"version"`
	Self             string `json:"self"`
	SpaceKey         string `json:"spaceKey"`
}

// entityKey is the body key of an event's entity: page_* → page, blog_* → blog, and so on.
func entityKey(e confluence.EventName) string {
	name, _, _ := strings.Cut(string(e), "_")
	switch name {
	case "page", "blog", "comment", "space", "label", "group":
		return name
	}
	return "content"
}

// WebhookPayload builds the body Confluence would POST for w, from the server's model
// (the content must exist). Keys follow Confluence's order: timestamp, event, userKey,
// the entity, updateTrigger.
func (s *Server) WebhookPayload(w Webhook) []byte {
	st := &s.st
	st.mu.Lock()
	defer st.mu.Unlock()
	c := st.mustContent(w.ContentID)
	v := c.latest()
	actor := w.UserKey
	if actor == "" {
		actor = v.by
	}
	id, err := strconv.ParseInt(c.id, 10, 64)
	if err != nil {
		panic(err)
	}
	var entity any = map[string]int64{"id": id}
	if w.Payload == confluence.PayloadLegacy {
		entity = legacyContent{
			ID: id, Title: c.title, ContentType: string(c.typ),
			CreatorKey: c.versions[0].by, LastModifierKey: v.by,
			CreationDate: c.created.UnixMilli(), ModificationDate: v.when.UnixMilli(),
			Version: v.number, Self: s.URL() + webUI(c), SpaceKey: c.space.key,
		}
	}
	var b bytes.Buffer
	field := func(k string, v any) {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		kj, _ := json.Marshal(k)
		vj, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		b.Write(kj)
		b.WriteByte(':')
		b.Write(vj)
	}
	field("timestamp", s.clock.Now().UnixMilli())
	field("event", string(w.Event))
	field("userKey", actor)
	field(entityKey(w.Event), entity)
	if w.Event.IsUpdate() {
		t := w.UpdateTrigger
		if t == "" {
			t = confluence.TriggerEditPage
		}
		field("updateTrigger", string(t))
	}
	return []byte("{" + b.String() + "}")
}

// Sign returns the X-Hub-Signature Confluence sends for body under secret:
// "sha256=" and the lowercase hex HMAC-SHA256. It is computed here independently of the
// confluence package, so a mistake there cannot hide in both.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// WebhookRequest builds the POST Confluence would send to target for w, with the
// headers Confluence adds (X-Event-Key, X-Request-Id) and, when secret is not "", the
// signature. The request id counts up per server.
func (s *Server) WebhookRequest(target, secret string, w Webhook) *http.Request {
	return s.webhookRequest(target, secret, string(w.Event), s.WebhookPayload(w))
}

// TestConnectionRequest builds the request of the "Test connection" button as the
// shared atlassian-webhooks library sends it (X-Event-Key diagnostics:ping, a small
// {"test":true} body); Confluence's exact body is not documented (§1.4).
func (s *Server) TestConnectionRequest(target, secret string) *http.Request {
	return s.webhookRequest(target, secret, string(confluence.EventDiagnosticsPing), []byte(`{"test":true}`))
}

func (s *Server) webhookRequest(target, secret, event string, body []byte) *http.Request {
	req, err := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		panic(err)
	}
	s.st.mu.Lock()
	s.st.webhookSeq++
	seq := s.st.webhookSeq
	s.st.mu.Unlock()
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Atlassian HttpClient 4.0.0 / Confluence-9.2.1 (9201) / Default")
	req.Header.Set(confluence.HeaderEventKey, event)
	req.Header.Set(confluence.HeaderRequestID, fmt.Sprintf("c0ffee00-0000-4000-8000-%012x", seq))
	if secret != "" {
		req.Header.Set(confluence.HeaderSignature, Sign(secret, body))
	}
	return req
}
