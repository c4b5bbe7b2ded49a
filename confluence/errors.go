package confluence

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"mime"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// Error is a non-2xx answer from Confluence.
type Error struct {
	API     string // short API name, e.g. "user.by_username"
	Status  int    // HTTP status
	Message string // Confluence's own message, or the status text when it sent none
	Method  string
	Path    string // API path below the base URL, without the query
	// RetryAfter is the wait Confluence asked for on 429/503 (Retry-After); 0 if none.
	RetryAfter time.Duration
}

// Error formats the API, request line, status and Confluence's message.
func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return fmt.Sprintf("confluence %s: %s %s: HTTP %d: %s", e.API, e.Method, e.Path, e.Status, msg)
}

// StatusCode returns the HTTP status carried by err, or 0 if err is not an *Error.
func StatusCode(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// IsUnauthorized reports whether Confluence refused the credential (401), including a
// request it treated as anonymous where a user was needed.
func IsUnauthorized(err error) bool { return StatusCode(err) == http.StatusUnauthorized }

// IsForbidden reports whether the credential lacks the permission (403).
func IsForbidden(err error) bool { return StatusCode(err) == http.StatusForbidden }

// IsNotFound reports whether the user, group or resource does not exist (404).
func IsNotFound(err error) bool { return StatusCode(err) == http.StatusNotFound }

// IsUnreachable reports whether err is a failure below HTTP (connect, TLS, timeout, a
// dropped connection): Confluence did not answer at all.
func IsUnreachable(err error) bool {
	var te *transportError
	return errors.As(err, &te)
}

// ErrNoUserKey is returned by CurrentUser for a known user Confluence sent without a
// userKey: the app keys every user on it, so such an answer cannot be used.
var ErrNoUserKey = errors.New("confluence: the current user has no user key")

// maxMessageRunes bounds a message taken from an answer body.
const maxMessageRunes = 300

var htmlTitle = regexp.MustCompile(`(?is)<title[^>]*>(.*?)</title>`)
var htmlTag = regexp.MustCompile(`(?s)<[^>]*>`)

// errorMessage extracts Confluence's message from an error answer: the JSON error body
// ({"statusCode","message","reason"}, or OAuth's {"error","error_description"}), an
// HTML page's title, or a plain-text body such as "XSRF check failed". body is already
// scrubbed of the credential.
func errorMessage(h http.Header, body string) string {
	body = strings.TrimSpace(body)
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	var msg string
	switch {
	case body == "":
	case strings.HasPrefix(body, "{"):
		msg = jsonMessage(body)
	case mt == "text/html" || strings.HasPrefix(body, "<"):
		if m := htmlTitle.FindStringSubmatch(body); m != nil {
			msg = m[1]
		} else {
			msg = htmlTag.ReplaceAllString(body, " ")
		}
		msg = html.UnescapeString(msg)
	default:
		msg = body
	}
	msg = oneLine(msg)
	// Seraph says why it refused a login in a header, e.g. CAPTCHA_CHALLENGE after
	// repeated failures; that is worth showing to whoever signs in.
	if reason, _, _ := strings.Cut(h.Get("X-Authentication-Denied-Reason"), ";"); strings.TrimSpace(reason) != "" {
		msg = strings.TrimSpace(msg + " (" + strings.TrimSpace(reason) + ")")
	}
	return msg
}

func jsonMessage(body string) string {
	var j struct {
		Message          string   `json:"message"`
		Reason           string   `json:"reason"`
		ErrorMessages    []string `json:"errorMessages"`
		Error            string   `json:"error"`
		ErrorDescription string   `json:"error_description"`
	}
	if err := json.Unmarshal([]byte(body), &j); err != nil {
		return body
	}
	switch {
	case j.Message != "":
		return j.Message
	case len(j.ErrorMessages) > 0:
		return strings.Join(j.ErrorMessages, "; ")
	case j.ErrorDescription != "":
		return j.Error + ": " + j.ErrorDescription
	case j.Error != "":
		return j.Error
	}
	return j.Reason
}

// oneLine collapses whitespace and truncates, so a whole error page never lands in a log.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > maxMessageRunes {
		s = string(r[:maxMessageRunes]) + "…"
	}
	return s
}
