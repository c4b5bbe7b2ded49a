package dingtalk_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/dingfluence/dingfluence/dingtalk"
	"github.com/dingfluence/dingfluence/dingtalk/dingtalktest"
)

const sendPath = "/topapi/message/corpconversation/asyncsend_v2"

// sendBackoff is the first retry wait of the clients in these tests.
const sendBackoff = 20 * time.Millisecond

// inFront starts a server in front of srv that hands each call of a path ending in api
// to answer (for the first `times` calls) and every other call to srv, and a client of
// it on clock.
func inFront(t *testing.T, srv *dingtalktest.Server, clock clockwork.Clock, api string, times int64,
	answer func(w http.ResponseWriter, r *http.Request)) *dingtalk.Client {
	t.Helper()
	var seen atomic.Int64
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, api) && seen.Add(1) <= times {
			answer(w, r)
			return
		}
		srv.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	return dingtalk.New(dingtalk.Config{
		AppKey: srv.AppKey(), AppSecret: srv.AppSecret(), AgentID: srv.AgentID(),
		Endpoints: dingtalk.EndpointsAt(front.URL), Clock: clock, QPS: -1, Timeout: -1,
		BaseBackoff: sendBackoff, Logger: slog.New(slog.DiscardHandler),
	})
}

// takenThen passes the call on to srv, which takes it, and answers status and body
// instead of srv's answer: a proxy failing after DingTalk did the work.
func takenThen(srv *dingtalktest.Server, status int, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		srv.ServeHTTP(httptest.NewRecorder(), r)
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func send(ctx context.Context, c *dingtalk.Client) (int64, error) {
	return c.SendWorkNotification(ctx, []string{"alice"}, dingtalk.TextMessage("page updated"))
}

// A send that may have reached DingTalk is never repeated: it returns an unknown outcome,
// and DingTalk (which did take it) has it exactly once.
func TestSendWithUnknownOutcomeIsNotRepeated(t *testing.T) {
	tests := []struct {
		name   string
		client func(t *testing.T, srv *dingtalktest.Server, clock *clockwork.FakeClock) *dingtalk.Client
	}{
		{"accepted, then the connection dropped", func(t *testing.T, srv *dingtalktest.Server, _ *clockwork.FakeClock) *dingtalk.Client {
			srv.InjectFault("asyncsend_v2", dingtalktest.FaultAcceptThenDrop, 1)
			return nil
		}},
		{"accepted, then HTTP 502 from a proxy", func(t *testing.T, srv *dingtalktest.Server, clock *clockwork.FakeClock) *dingtalk.Client {
			return inFront(t, srv, clock, sendPath, 1, takenThen(srv, http.StatusBadGateway, "bad gateway"))
		}},
		{"accepted, then HTTP 503 from a proxy", func(t *testing.T, srv *dingtalktest.Server, clock *clockwork.FakeClock) *dingtalk.Client {
			return inFront(t, srv, clock, sendPath, 1, takenThen(srv, http.StatusServiceUnavailable, "unavailable"))
		}},
		{"accepted, then a page that is not JSON", func(t *testing.T, srv *dingtalktest.Server, clock *clockwork.FakeClock) *dingtalk.Client {
			return inFront(t, srv, clock, sendPath, 1, takenThen(srv, http.StatusOK, "<html>gateway</html>"))
		}},
		{"accepted, then errcode 0 with a task id that does not decode", func(t *testing.T, srv *dingtalktest.Server, clock *clockwork.FakeClock) *dingtalk.Client {
			return inFront(t, srv, clock, sendPath, 1, func(w http.ResponseWriter, r *http.Request) {
				srv.ServeHTTP(httptest.NewRecorder(), r)
				_, _ = io.WriteString(w, `{"errcode":0,"errmsg":"ok","task_id":"not a number"}`)
			})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c, clock := setup(t, dingtalktest.Options{}, dingtalk.Config{})
			if fronted := tt.client(t, srv, clock); fronted != nil {
				c = fronted
			}
			if _, err := c.Token(t.Context()); err != nil {
				t.Fatal(err)
			}
			srv.ResetCounters()

			_, err := send(t.Context(), c)

			var unknown *dingtalk.OutcomeUnknownError
			if !errors.As(err, &unknown) || !errors.Is(err, dingtalk.ErrOutcomeUnknown) || unknown.API != "message.asyncsend_v2" {
				t.Fatalf("error %v, want an *OutcomeUnknownError of message.asyncsend_v2", err)
			}
			if n := len(srv.Sent()); n != 1 {
				t.Errorf("DingTalk has %d sends, want exactly 1", n)
			}
			if got := srv.Calls("asyncsend_v2"); got != 1 {
				t.Errorf("asyncsend_v2 calls = %d, want 1: no retry", got)
			}
		})
	}
}

// A send taken by DingTalk whose answer does not come before the attempt's timeout (on
// the client's clock) has an unknown outcome too.
func TestStalledSendTimesOutWithUnknownOutcome(t *testing.T) {
	const timeout = 15 * time.Second
	srv, c, clock := setup(t, dingtalktest.Options{}, dingtalk.Config{Timeout: timeout})
	if _, err := c.Token(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv.InjectFault("asyncsend_v2", dingtalktest.FaultAcceptThenStall, 1)
	errc := make(chan error, 1)
	go func() {
		_, err := send(t.Context(), c)
		errc <- err
	}()
	select {
	case <-srv.Stalled():
	case <-time.After(waitTimeout):
		t.Fatal("the send never reached the server")
	}
	clock.Advance(timeout - time.Millisecond)
	select {
	case err := <-errc:
		t.Fatalf("the send ended before its timeout: %v", err)
	default:
	}
	clock.Advance(time.Millisecond) // the only timer is the attempt's
	err := <-errc
	if !errors.Is(err, dingtalk.ErrOutcomeUnknown) || !strings.Contains(err.Error(), "no answer within 15s") {
		t.Fatalf("error %v, want an unknown outcome after no answer within 15s", err)
	}
	if n, calls := len(srv.Sent()), srv.Calls("asyncsend_v2"); n != 1 || calls != 1 {
		t.Errorf("%d sends in %d calls, want 1 in 1", n, calls)
	}
}

// The reads are idempotent: the same fault that leaves a send's outcome unknown is
// simply retried.
func TestReadIsRetriedAfterAcceptThenDrop(t *testing.T) {
	srv, c, clock := setup(t, dingtalktest.Options{}, dingtalk.Config{})
	srv.InjectFault("user/get", dingtalktest.FaultAcceptThenDrop, 2)
	var u dingtalk.User
	var err error
	drive(t, clock, time.Millisecond, func() { u, err = c.GetUser(t.Context(), "alice") })
	if err != nil || u.UserID != "alice" {
		t.Fatalf("GetUser = %+v, %v; want alice", u, err)
	}
	if got := srv.Calls("user/get"); got != 3 {
		t.Errorf("user/get calls = %d, want 3 (two dropped, one answered)", got)
	}
}

// A send is retried when it provably did not reach DingTalk, or DingTalk said it did not
// take it; then it is delivered once.
func TestSendIsRetriedWhenNotTaken(t *testing.T) {
	const base = sendBackoff
	tests := []struct {
		name      string
		prepare   func(t *testing.T, srv *dingtalktest.Server, clock *clockwork.FakeClock) *dingtalk.Client
		wantCalls int // asyncsend_v2 calls that reached the simulator
		wantWait  bool
	}{
		{"90018 per-app QPS", func(t *testing.T, srv *dingtalktest.Server, _ *clockwork.FakeClock) *dingtalk.Client {
			srv.InjectError("asyncsend_v2", 90018, 1)
			return nil
		}, 2, true},
		{"90002 global limit", func(t *testing.T, srv *dingtalktest.Server, _ *clockwork.FakeClock) *dingtalk.Client {
			srv.InjectError("asyncsend_v2", 90002, 1)
			return nil
		}, 2, true},
		{"-1 system busy", func(t *testing.T, srv *dingtalktest.Server, _ *clockwork.FakeClock) *dingtalk.Client {
			srv.InjectError("asyncsend_v2", -1, 2)
			return nil
		}, 3, true},
		{"HTTP 429 before DingTalk", func(t *testing.T, srv *dingtalktest.Server, clock *clockwork.FakeClock) *dingtalk.Client {
			return inFront(t, srv, clock, sendPath, 1, func(w http.ResponseWriter, _ *http.Request) {
				http.Error(w, "slow down", http.StatusTooManyRequests)
			})
		}, 1, true},
		{"token rejected: replaced, then sent once", func(t *testing.T, srv *dingtalktest.Server, _ *clockwork.FakeClock) *dingtalk.Client {
			srv.InjectError("asyncsend_v2", 40014, 1)
			return nil
		}, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c, clock := setup(t, dingtalktest.Options{}, dingtalk.Config{BaseBackoff: base})
			if fronted := tt.prepare(t, srv, clock); fronted != nil {
				c = fronted
			}
			start := clock.Now()
			var taskID int64
			var err error
			var elapsed time.Duration
			drive(t, clock, time.Millisecond, func() {
				taskID, err = send(t.Context(), c)
				elapsed = clock.Since(start)
			})
			if err != nil {
				t.Fatalf("send: %v", err)
			}
			sent := srv.Sent()
			if len(sent) != 1 || sent[0].TaskID != taskID {
				t.Errorf("DingTalk has %+v, want one send with task %d", sent, taskID)
			}
			if got := srv.Calls("asyncsend_v2"); got != tt.wantCalls {
				t.Errorf("asyncsend_v2 calls = %d, want %d", got, tt.wantCalls)
			}
			if tt.wantWait && elapsed < base/2 {
				t.Errorf("retried after %v on the clock, want a backoff of at least %v", elapsed, base/2)
			}
		})
	}
}

// A send whose connection could not be opened never left: it is retried, and delivered once.
func TestSendIsRetriedAfterDialFailure(t *testing.T) {
	srv, _, clock := setup(t, dingtalktest.Options{}, dingtalk.Config{})
	var refuse, dials atomic.Int64
	var d net.Dialer
	transport := &http.Transport{
		DisableKeepAlives: true, // each attempt dials
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			if refuse.Add(-1) >= 0 {
				return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
			}
			return d.DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(transport.CloseIdleConnections)
	c := dingtalk.New(dingtalk.Config{
		AppKey: srv.AppKey(), AppSecret: srv.AppSecret(), AgentID: srv.AgentID(), Endpoints: srv.Endpoints(),
		HTTPClient: &http.Client{Transport: transport}, Clock: clock, QPS: -1, Timeout: -1,
		BaseBackoff: time.Millisecond, Logger: slog.New(slog.DiscardHandler),
	})
	if _, err := c.Token(t.Context()); err != nil {
		t.Fatal(err)
	}
	refuse.Store(2)
	dials.Store(0)
	var err error
	drive(t, clock, time.Millisecond, func() { _, err = send(t.Context(), c) })
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	if n := len(srv.Sent()); n != 1 || dials.Load() != 3 {
		t.Errorf("%d sends after %d dials, want 1 after 3 (two refused)", n, dials.Load())
	}
}

// An answer that says the send was refused for good is returned as it is, not retried
// and not an unknown outcome.
func TestSendRefusedByDingTalkIsNotRetried(t *testing.T) {
	for _, code := range []int{90020, 40035, 60011} {
		srv, c, _ := setup(t, dingtalktest.Options{}, dingtalk.Config{})
		srv.InjectError("asyncsend_v2", code, 5)
		_, err := send(t.Context(), c)
		if dingtalk.Code(err) != code || errors.Is(err, dingtalk.ErrOutcomeUnknown) {
			t.Errorf("code %d: error %v, want that code and a known outcome", code, err)
		}
		if got := srv.Calls("asyncsend_v2"); got != 1 {
			t.Errorf("code %d: asyncsend_v2 calls = %d, want 1", code, got)
		}
	}
}
