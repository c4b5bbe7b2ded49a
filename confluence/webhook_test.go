package confluence_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dingfluence/dingfluence/confluence"
	"github.com/dingfluence/dingfluence/confluence/confluencetest"
)

// Real-shaped payloads (confluence-api.md §1.3).
const (
	idOnlyPageUpdated = `{"timestamp":1768246501113,"event":"page_updated","userKey":"ff8081819ba46873019ba46aefbb0000","page":{"id":1015809},"updateTrigger":"edit_page"}`
	idOnlyPageCreated = `{"timestamp":1768241233603,"event":"page_created","userKey":"ff8081819ba46873019ba46aefbb0000","page":{"id":1015810}}`
	idOnlyBlogCreated = `{"timestamp":1768245776689,"event":"blog_created","userKey":"ff8081819ba46873019ba46aefbb0000","blog":{"id":1015813}}`
	legacyPageUpdated = `{ "timestamp": 1700000000123, "event": "page_updated", "userKey": "8a7f8083aa",
  "page": { "id": 98765, "title": "Release plan", "contentType": "page",
            "creatorKey": "8a7f8083cc", "lastModifierKey": "8a7f8083aa",
            "creationDate": 1690000000000, "modificationDate": 1700000000100,
            "version": 7, "self": "https://wiki.example.com/display/ENG/Release+plan",
            "spaceKey": "ENG" },
  "updateTrigger": "edit_page" }`
)

func TestParseWebhook(t *testing.T) {
	tests := []struct {
		name     string
		eventKey string
		body     string
		want     confluence.Webhook
	}{
		{"DC 9 ID-only page_updated", "page_updated", idOnlyPageUpdated, confluence.Webhook{
			Kind: confluence.WebhookContent, Event: confluence.EventPageUpdated, Timestamp: time.UnixMilli(1768246501113).UTC(),
			UserKey: "ff8081819ba46873019ba46aefbb0000", ContentID: "1015809", ContentType: confluence.ContentPage,
			UpdateTrigger: confluence.TriggerEditPage, Payload: confluence.PayloadIDOnly,
		}},
		{"DC 9 ID-only page_created has no trigger", "page_created", idOnlyPageCreated, confluence.Webhook{
			Kind: confluence.WebhookContent, Event: confluence.EventPageCreated, Timestamp: time.UnixMilli(1768241233603).UTC(),
			UserKey: "ff8081819ba46873019ba46aefbb0000", ContentID: "1015810", ContentType: confluence.ContentPage,
			Payload: confluence.PayloadIDOnly,
		}},
		{"DC 9 ID-only blog_created", "", idOnlyBlogCreated, confluence.Webhook{
			Kind: confluence.WebhookContent, Event: confluence.EventBlogCreated, Timestamp: time.UnixMilli(1768245776689).UTC(),
			UserKey: "ff8081819ba46873019ba46aefbb0000", ContentID: "1015813", ContentType: confluence.ContentBlogPost,
			Payload: confluence.PayloadIDOnly,
		}},
		{"blog_updated, system actor, upper-case trigger", "", `{"event":"blog_updated","userKey":"","blog":{"id":7},"updateTrigger":"LINK_REFACTORING"}`, confluence.Webhook{
			Kind: confluence.WebhookContent, Event: confluence.EventBlogUpdated, ContentID: "7", ContentType: confluence.ContentBlogPost,
			UpdateTrigger: confluence.TriggerLinkRefactoring, Payload: confluence.PayloadIDOnly,
		}},
		{"legacy full payload", "page_updated", legacyPageUpdated, confluence.Webhook{
			Kind: confluence.WebhookContent, Event: confluence.EventPageUpdated, Timestamp: time.UnixMilli(1700000000123).UTC(),
			UserKey: "8a7f8083aa", ContentID: "98765", ContentType: confluence.ContentPage,
			UpdateTrigger: confluence.TriggerEditPage, Payload: confluence.PayloadLegacy,
			Legacy: &confluence.LegacyContent{
				Title: "Release plan", SpaceKey: "ENG", Version: 7, Self: "https://wiki.example.com/display/ENG/Release+plan",
				CreatorKey: "8a7f8083cc", LastModifierKey: "8a7f8083aa",
				CreationDate: time.UnixMilli(1690000000000).UTC(), ModificationDate: time.UnixMilli(1700000000100).UTC(),
			},
		}},
		{"id as a string", "", `{"event":"page_created","page":{"id":"42"}}`, confluence.Webhook{
			Kind: confluence.WebhookContent, Event: confluence.EventPageCreated, ContentID: "42", ContentType: confluence.ContentPage, Payload: confluence.PayloadIDOnly,
		}},
		{"idAsString beyond 2^53", "", `{"event":"page_created","page":{"idAsString":"9007199254740993"}}`, confluence.Webhook{
			Kind: confluence.WebhookContent, Event: confluence.EventPageCreated, ContentID: "9007199254740993", ContentType: confluence.ContentPage, Payload: confluence.PayloadIDOnly,
		}},
		{"large id kept exact as a number", "", `{"event":"page_created","page":{"id":9007199254740993}}`, confluence.Webhook{
			Kind: confluence.WebhookContent, Event: confluence.EventPageCreated, ContentID: "9007199254740993", ContentType: confluence.ContentPage, Payload: confluence.PayloadIDOnly,
		}},
		{"event only in X-Event-Key", "page_created", `{"page":{"id":5}}`, confluence.Webhook{
			Kind: confluence.WebhookContent, Event: confluence.EventPageCreated, ContentID: "5", ContentType: confluence.ContentPage, Payload: confluence.PayloadIDOnly,
		}},
		{"comment_created is ignored", "comment_created", `{"timestamp":1,"event":"comment_created","userKey":"k","comment":{"id":9}}`, confluence.Webhook{
			Kind: confluence.WebhookIgnored, Event: "comment_created", Timestamp: time.UnixMilli(1).UTC(), UserKey: "k",
		}},
		{"page_trashed is ignored", "", `{"event":"page_trashed","page":{"id":9}}`, confluence.Webhook{Kind: confluence.WebhookIgnored, Event: "page_trashed"}},
		{"ignored events need no content", "", `{"event":"space_created","space":{"id":1}}`, confluence.Webhook{Kind: confluence.WebhookIgnored, Event: "space_created"}},
		{"connection test by header", "diagnostics:ping", `{"test":true}`, confluence.Webhook{Kind: confluence.WebhookTest, Event: confluence.EventDiagnosticsPing}},
		{"connection test with an empty body", "diagnostics:ping", "", confluence.Webhook{Kind: confluence.WebhookTest, Event: confluence.EventDiagnosticsPing}},
		{"connection test by body only", "", `{"test":true}`, confluence.Webhook{Kind: confluence.WebhookTest, Event: confluence.EventDiagnosticsPing}},
		{"unknown fields are optional", "", `{"event":"page_created","page":{"id":3,"extra":[1,2]},"new":{}}`, confluence.Webhook{
			Kind: confluence.WebhookContent, Event: confluence.EventPageCreated, ContentID: "3", ContentType: confluence.ContentPage, Payload: confluence.PayloadIDOnly,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := confluence.ParseWebhook(tt.eventKey, []byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if got.Legacy != nil && tt.want.Legacy != nil {
				if *got.Legacy != *tt.want.Legacy {
					t.Errorf("legacy\n got %+v\nwant %+v", *got.Legacy, *tt.want.Legacy)
				}
				got.Legacy, tt.want.Legacy = nil, nil
			}
			if got.Legacy != tt.want.Legacy || got != tt.want {
				t.Errorf("\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseWebhookRefuses(t *testing.T) {
	tests := []struct {
		name     string
		eventKey string
		body     string
		want     confluence.ParseProblem
		inMsg    string
	}{
		{"empty body", "page_updated", "  \n", confluence.ProblemEmptyBody, "empty"},
		{"truncated JSON", "", `{"event":"page_updated","page":{"id":1`, confluence.ProblemMalformedJSON, "not a JSON object"},
		{"not JSON", "", `event=page_updated`, confluence.ProblemMalformedJSON, "not a JSON object"},
		{"a JSON array", "", `[{"event":"page_updated"}]`, confluence.ProblemMalformedJSON, "not a JSON object"},
		{"JSON null", "", `null`, confluence.ProblemMalformedJSON, "not a JSON object"},
		{"no event anywhere", "", `{"page":{"id":1}}`, confluence.ProblemNoEvent, "event"},
		{"no page object", "", `{"event":"page_updated","blog":{"id":1}}`, confluence.ProblemNoContent, `"page"`},
		{"page is null", "", `{"event":"page_created","page":null}`, confluence.ProblemNoContent, "content object"},
		{"no content id", "", `{"event":"page_updated","page":{"title":"x"}}`, confluence.ProblemNoContentID, "no id"},
		{"null id", "", `{"event":"blog_created","blog":{"id":null}}`, confluence.ProblemNoContentID, "no id"},
		{"id zero", "", `{"event":"page_created","page":{"id":0}}`, confluence.ProblemInvalidContentID, "positive integer"},
		{"negative id", "", `{"event":"page_created","page":{"id":-4}}`, confluence.ProblemInvalidContentID, "positive integer"},
		{"fractional id", "", `{"event":"page_created","page":{"id":1.5}}`, confluence.ProblemInvalidContentID, "positive integer"},
		{"exponent id", "", `{"event":"page_created","page":{"id":1e5}}`, confluence.ProblemInvalidContentID, "positive integer"},
		{"path in a string id", "", `{"event":"page_created","page":{"id":"1/../../admin"}}`, confluence.ProblemInvalidContentID, "positive integer"},
		{"id beyond a long", "", `{"event":"page_created","page":{"id":99999999999999999999}}`, confluence.ProblemInvalidContentID, "positive integer"},
		{"id is an object", "", `{"event":"page_created","page":{"id":{"v":1}}}`, confluence.ProblemInvalidContentID, "positive integer"},
		{"page is a string", "", `{"event":"page_created","page":"1"}`, confluence.ProblemInvalidField, "wrong type"},
		{"event is a number", "", `{"event":5,"page":{"id":1}}`, confluence.ProblemInvalidField, "wrong type"},
		{"timestamp is text", "", `{"timestamp":"yesterday","event":"page_created","page":{"id":1}}`, confluence.ProblemInvalidField, "timestamp"},
		{"version is text", "", `{"event":"page_updated","page":{"id":1,"version":"7"}}`, confluence.ProblemInvalidField, "wrong type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := confluence.ParseWebhook(tt.eventKey, []byte(tt.body))
			var pe *confluence.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			if pe.Problem != tt.want {
				t.Errorf("problem %q, want %q (%v)", pe.Problem, tt.want, err)
			}
			if !strings.Contains(err.Error(), tt.inMsg) {
				t.Errorf("message %q does not name the problem (%q)", err, tt.inMsg)
			}
		})
	}
}

func TestParseErrorDoesNotEchoLargeBodies(t *testing.T) {
	body := `{"event":"page_created","page":{"id":"` + strings.Repeat("x", 10000) + `"}}`
	_, err := confluence.ParseWebhook("", []byte(body))
	if err == nil || len(err.Error()) > 300 {
		t.Fatalf("error of %d bytes: %.80v", len(err.Error()), err)
	}
}

func TestUpdateTriggerHousekeeping(t *testing.T) {
	tests := []struct {
		trigger confluence.UpdateTrigger
		skip    bool
	}{
		{confluence.TriggerEditPage, false},
		{confluence.TriggerRevert, false},
		{confluence.TriggerPageRename, false},
		{confluence.TriggerUnknown, false},
		{"", false},
		{"some_future_trigger", false},
		{confluence.TriggerLinkRefactoring, true},
		{confluence.TriggerViewPage, true},
		{confluence.TriggerDiscardChanges, true},
		{confluence.TriggerSpaceCreate, true},
		{confluence.TriggerPersonalTasklist, true},
	}
	for _, tt := range tests {
		if got := tt.trigger.IsHousekeeping(); got != tt.skip {
			t.Errorf("%q.IsHousekeeping() = %v, want %v", tt.trigger, got, tt.skip)
		}
	}
}

func TestVerifySignature(t *testing.T) {
	const secret = "s3cr3t-0f-at-least-32-characters!!"
	body := []byte(idOnlyPageUpdated)
	good := confluencetest.Sign(secret, body)
	tests := []struct {
		name   string
		secret string
		body   []byte
		header string
		want   error
	}{
		{"good", secret, body, good, nil},
		{"good, upper-case hex and prefix", secret, body, "SHA256=" + strings.ToUpper(good[len("sha256="):]), nil},
		{"good, surrounding spaces", secret, body, " " + good + " ", nil},
		{"no secret set", "", body, good, confluence.ErrNoSecret},
		{"absent", secret, body, "", confluence.ErrSignatureMissing},
		{"other algorithm", secret, body, "sha1=" + good[len("sha256="):len("sha256=")+40], confluence.ErrSignatureMalformed},
		{"bare hex", secret, body, good[len("sha256="):], confluence.ErrSignatureMalformed},
		{"not hex", secret, body, "sha256=" + strings.Repeat("zz", 32), confluence.ErrSignatureMalformed},
		{"too short", secret, body, good[:len(good)-2], confluence.ErrSignatureMalformed},
		{"wrong secret", "another-secret", body, good, confluence.ErrSignatureMismatch},
		{"body changed", secret, append([]byte(nil), strings.Replace(string(body), "1015809", "1015808", 1)...), good, confluence.ErrSignatureMismatch},
		{"body re-encoded", secret, []byte(strings.ReplaceAll(string(body), ",", ", ")), good, confluence.ErrSignatureMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := confluence.VerifySignature(tt.secret, tt.body, tt.header); !errors.Is(err, tt.want) {
				t.Errorf("VerifySignature = %v, want %v", err, tt.want)
			}
		})
	}
	if got := confluence.Signature(secret, body); got != good {
		t.Errorf("Signature = %s, confluencetest.Sign = %s", got, good)
	}
}

// TestDoubleWebhooksParse checks that what confluencetest sends is what the parser
// accepts, for both payload shapes and every notifying event.
func TestDoubleWebhooksParse(t *testing.T) {
	f := setup(t, confluencetest.Options{}, confluence.Config{})
	f.srv.AddSpace("ENG", "Engineering")
	page := f.srv.AddContent(confluencetest.NewContent{Space: "ENG", Title: "Release plan", Author: "alice"})
	f.srv.EditPage(page, "bob", "typos", false)
	blog := f.srv.AddContent(confluencetest.NewContent{Type: confluence.ContentBlogPost, Space: "ENG", Title: "Sprint 42", Author: "alice"})

	for _, kind := range []confluence.PayloadKind{confluence.PayloadIDOnly, confluence.PayloadLegacy} {
		for _, tc := range []struct {
			event confluence.EventName
			id    string
			typ   confluence.ContentType
			actor string
		}{
			{confluence.EventPageCreated, page, confluence.ContentPage, f.bob.Key},
			{confluence.EventPageUpdated, page, confluence.ContentPage, f.bob.Key},
			{confluence.EventBlogCreated, blog, confluence.ContentBlogPost, f.alice.Key},
			{confluence.EventBlogUpdated, blog, confluence.ContentBlogPost, f.alice.Key},
		} {
			t.Run(string(kind)+"/"+string(tc.event), func(t *testing.T) {
				const secret = "webhook-secret"
				req := f.srv.WebhookRequest("http://dingfluence.example/webhooks/confluence", secret,
					confluencetest.Webhook{Event: tc.event, ContentID: tc.id, Payload: kind})
				body := readBody(t, req)
				if err := confluence.VerifySignature(secret, body, req.Header.Get(confluence.HeaderSignature)); err != nil {
					t.Fatal(err)
				}
				w, err := confluence.ParseWebhook(req.Header.Get(confluence.HeaderEventKey), body)
				if err != nil {
					t.Fatal(err)
				}
				if w.Kind != confluence.WebhookContent || w.Event != tc.event || w.ContentID != tc.id ||
					w.ContentType != tc.typ || w.Payload != kind || w.UserKey != tc.actor {
					t.Errorf("parsed %+v", w)
				}
				if tc.event.IsUpdate() != (w.UpdateTrigger == confluence.TriggerEditPage) {
					t.Errorf("trigger %q on %s", w.UpdateTrigger, tc.event)
				}
				if (kind == confluence.PayloadLegacy) != (w.Legacy != nil) {
					t.Fatalf("legacy part %+v for %s", w.Legacy, kind)
				}
				if w.Legacy != nil && (w.Legacy.SpaceKey != "ENG" || w.Legacy.Version == 0 || w.Legacy.Title == "" || !strings.HasPrefix(w.Legacy.Self, f.srv.URL())) {
					t.Errorf("legacy part %+v", *w.Legacy)
				}
			})
		}
	}

	req := f.srv.TestConnectionRequest("http://dingfluence.example/webhooks/confluence", "")
	if req.Header.Get(confluence.HeaderSignature) != "" {
		t.Error("unsigned test request carries a signature")
	}
	if w, err := confluence.ParseWebhook(req.Header.Get(confluence.HeaderEventKey), readBody(t, req)); err != nil || w.Kind != confluence.WebhookTest {
		t.Errorf("test connection parsed as %+v, %v", w, err)
	}
}

// FuzzParseWebhook: whatever arrives, the parser never panics, refuses only with a
// *ParseError, and a content event always has an id safe to put in a REST path.
func FuzzParseWebhook(f *testing.F) {
	for _, s := range []struct{ key, body string }{
		{"page_updated", idOnlyPageUpdated},
		{"page_created", idOnlyPageCreated},
		{"blog_created", idOnlyBlogCreated},
		{"page_updated", legacyPageUpdated},
	} {
		f.Add(s.key, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, eventKey string, body []byte) {
		w, err := confluence.ParseWebhook(eventKey, body)
		if err != nil {
			var pe *confluence.ParseError
			if !errors.As(err, &pe) || pe.Problem == "" {
				t.Fatalf("refused with %T %v, not a *ParseError", err, err)
			}
			return
		}
		switch w.Kind {
		case confluence.WebhookContent:
			if !confluence.ValidContentID(w.ContentID) {
				t.Fatalf("content id %q accepted", w.ContentID)
			}
			if w.ContentType != confluence.ContentPage && w.ContentType != confluence.ContentBlogPost {
				t.Fatalf("content type %q", w.ContentType)
			}
			if (w.Payload == confluence.PayloadLegacy) != (w.Legacy != nil) {
				t.Fatalf("payload %q with legacy %v", w.Payload, w.Legacy)
			}
		case confluence.WebhookIgnored:
			if w.ContentID != "" {
				t.Fatalf("ignored event with content id %q", w.ContentID)
			}
		case confluence.WebhookTest:
		default:
			t.Fatalf("kind %q", w.Kind)
		}
		again, err := confluence.ParseWebhook(eventKey, body)
		if err != nil || again.ContentID != w.ContentID || again.Kind != w.Kind {
			t.Fatalf("second parse differs: %+v, %v", again, err)
		}
	})
}

func readBody(t *testing.T, req *http.Request) []byte {
	t.Helper()
	b, err := io.ReadAll(req.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
