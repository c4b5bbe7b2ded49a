package dingtalk

import (
	"errors"
	"fmt"
)

// Errors returned before any request is made, or when the circuit is open.
var (
	// ErrNoRecipients is returned by SendWorkNotification when no userid is given.
	ErrNoRecipients = errors.New("dingtalk: no recipients")
	// ErrTooManyRecipients is returned when more than MaxRecipients userids are given.
	ErrTooManyRecipients = errors.New("dingtalk: more than 100 recipients in one send")
	// ErrMessageTooLarge is returned when the encoded msg exceeds MaxMessageBytes.
	ErrMessageTooLarge = errors.New("dingtalk: message larger than 2048 bytes")
	// ErrMalformedMessage is returned when an encoded msg is not a JSON object.
	ErrMalformedMessage = errors.New("dingtalk: message is not a JSON object")
	// ErrIPBanned means DingTalk banned our egress IP; calls fail fast until the ban should be over.
	ErrIPBanned = errors.New("dingtalk: egress IP banned by DingTalk")
	// ErrInvalidPageSize is returned by ListUsers for a size outside 1..100.
	ErrInvalidPageSize = errors.New("dingtalk: page size must be between 1 and 100")
	// ErrOutcomeUnknown matches (errors.Is) every *OutcomeUnknownError.
	ErrOutcomeUnknown = errors.New("dingtalk: outcome of the send is unknown")
)

// OutcomeUnknownError means a work notification may or may not have been taken by
// DingTalk: the request may have reached it, but no answer saying either way came back
// (a timeout or a dropped connection after the request went out, an HTTP error status
// from something in between, an answer that cannot be read). The client never repeats
// such a send, since a repeat could deliver the message twice; what to do is the
// caller's decision, made with what it has recorded.
type OutcomeUnknownError struct {
	API string // short API name, "message.asyncsend_v2"
	Err error  // what went wrong
}

// Error says the outcome is unknown and why.
func (e *OutcomeUnknownError) Error() string {
	return fmt.Sprintf("dingtalk %s: outcome unknown, the send may have been taken: %v", e.API, e.Err)
}

// Unwrap returns the cause.
func (e *OutcomeUnknownError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrOutcomeUnknown) true.
func (e *OutcomeUnknownError) Is(target error) bool { return target == ErrOutcomeUnknown }

// Error is a DingTalk answer with a non-zero errcode.
type Error struct {
	API       string // short API name, e.g. "user.get"
	Code      int    // normalised: sub_code when Errcode is 88, else Errcode
	Errcode   int    // errcode as sent
	SubCode   string // sub_code as sent (only on 88)
	SubMsg    string // sub_msg as sent
	Errmsg    string // errmsg as sent
	RequestID string // request_id, quoted when asking DingTalk support
}

// Error formats the API, the normalised code and errmsg.
func (e *Error) Error() string {
	if e.Errcode != e.Code {
		return fmt.Sprintf("dingtalk %s: code %d (errcode %d): %s", e.API, e.Code, e.Errcode, e.Errmsg)
	}
	return fmt.Sprintf("dingtalk %s: code %d: %s", e.API, e.Code, e.Errmsg)
}

// IsNotFound reports whether err says the user or department does not exist.
// DingTalk uses several codes for this; 60121 is what production answers for users.
func IsNotFound(err error) bool {
	return hasCode(err, 60121, 33012, 40003, 60111, 60003)
}

// IsInvalidCredentials reports whether err says the AppKey/AppSecret pair was refused.
func IsInvalidCredentials(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code {
	case 40096, 40089:
		return true
	case 40001:
		// Elsewhere 40001 means a bad token, which the client refreshes by itself.
		return e.API == apiToken
	}
	return false
}

// Code returns the normalised DingTalk code carried by err, or 0 if err is not an *Error.
func Code(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

func hasCode(err error, codes ...int) bool {
	c := Code(err)
	for _, want := range codes {
		if c == want {
			return true
		}
	}
	return false
}

// isTransientCode reports the codes that go away by themselves: system busy and
// throttling. They also say the call was not taken, which makes them safe to retry for
// the send too. (90020, the monthly quota, does not go away by itself.)
func isTransientCode(code int) bool {
	switch {
	case code == -1, code == 90001, code == 90002, code == 90017, code == 90018:
		return true
	case code >= 90003 && code <= 90014:
		return true
	}
	return false
}

// isTokenCode reports the codes after which the cached token must be dropped.
func isTokenCode(code int) bool {
	return code == 40014 || code == 42001 || code == 40001
}

// IsTransient reports whether err is a failure that may go away by itself if the call
// is made again later: DingTalk busy or throttling, or a network or HTTP failure. The
// client has already retried such a call; a caller with a longer view (a sync that can
// come back to one department at the end) may try again after a pause.
func IsTransient(err error) bool {
	return retryable(err)
}
