package notify_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"gorm.io/gorm"

	"github.com/dingfluence/dingfluence/dingtalk"
	"github.com/dingfluence/dingfluence/dingtalk/dingtalktest"
	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/models/modelstest"
	"github.com/dingfluence/dingfluence/notify"
	"github.com/dingfluence/dingfluence/secretbox"
	"github.com/dingfluence/dingfluence/settings"
)

// waitTimeout bounds every wait on the code under test; it only elapses when a test fails.
const waitTimeout = 30 * time.Second

// retryInitial is the first backoff of the dispatchers in these tests (±50 %).
const retryInitial = 10 * time.Second

// rig is one database, one simulated DingTalk and the settings pointing at it, all on
// one fake clock.
type rig struct {
	t     *testing.T
	db    *gorm.DB
	store *models.Store
	srv   *dingtalktest.Server
	clock *clockwork.FakeClock
	set   *settings.Service
	event models.Event
}

// newRig saves enabled DingTalk settings for a dingtalktest server. Its client does not
// rate-limit, time out or retry unless client says otherwise, so that each dispatcher
// attempt is one call and nothing waits on the clock except what a test is about.
func newRig(t *testing.T, db *gorm.DB, opts dingtalktest.Options, client func(*dingtalk.Config)) *rig {
	t.Helper()
	clock := clockwork.NewFakeClockAt(time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC))
	opts.Clock = clock
	srv := dingtalktest.Start(t, opts)
	box, err := secretbox.New(bytes.Repeat([]byte{7}, secretbox.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	store := models.NewStore(db, box)
	e := srv.Endpoints()
	set := models.DefaultSettings()
	set.AgentID, set.AppKey, set.AppSecret, set.Enabled = srv.AgentID(), srv.AppKey(), srv.AppSecret(), true
	set.TokenURL, set.SendMessageURL = e.Token, e.SendMessage
	if err := store.SaveSettings(t.Context(), set, "test"); err != nil {
		t.Fatal(err)
	}
	service := settings.New(store, func(c *dingtalk.Config) {
		c.Clock, c.QPS, c.Timeout, c.MaxRetries = clock, -1, -1, -1
		c.Logger = slog.New(slog.DiscardHandler)
		if client != nil {
			client(c)
		}
	}, slog.New(slog.DiscardHandler))
	ev := models.Event{Source: models.EventSourceWebhook, EventName: "page_updated", ContentID: "1015809", ContentType: "page",
		OccurredAt: clock.Now(), ReceivedAt: clock.Now(), Payload: "{}", Status: models.EventNotified, Title: "Release plan"}
	if err := store.InsertEvent(t.Context(), &ev); err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, db: db, store: store, srv: srv, clock: clock, set: service, event: ev}
}

func (r *rig) dispatcher(opts notify.DispatcherOptions) *notify.Dispatcher {
	opts.Clock = r.clock
	if opts.Logger == nil {
		opts.Logger = modelstest.Logger(r.t)
	}
	if opts.RetryInitial == 0 {
		opts.RetryInitial = retryInitial
	}
	return notify.NewDispatcher(r.store, r.set, opts)
}

// message is the stored msg JSON of delivery i: HTML characters and Chinese included,
// so a re-encoding would show.
func message(i int) string {
	return fmt.Sprintf(`{"msgtype":"action_card","action_card":{"title":"页面已更新: Release <plan> & notes #%d","markdown":"v%d","single_title":"查看页面","single_url":"https://wiki.example/x?a=1&b=2"}}`, i, i)
}

// addDeliveries writes n due deliveries of `recipients` userids each (u<i>-<j>).
func (r *rig) addDeliveries(n, recipients int) []*models.Delivery {
	r.t.Helper()
	ds := make([]*models.Delivery, n)
	for i := range ds {
		ids := make([]string, recipients)
		for j := range ids {
			ids[j] = fmt.Sprintf("u%d-%d", i, j)
		}
		ds[i] = &models.Delivery{EventID: r.event.ID, Seq: i, Locale: "en", UserIDs: strings.Join(ids, ","),
			Message: message(i), NextAttempt: r.clock.Now()}
	}
	modelstest.AddDeliveries(r.t, r.db, ds...)
	return ds
}

func (r *rig) delivery(id uint64) models.Delivery {
	r.t.Helper()
	d, err := r.store.DeliveryByID(context.Background(), id)
	if err != nil {
		r.t.Fatal(err)
	}
	return d
}

func runOnce(t *testing.T, d *notify.Dispatcher) int {
	t.Helper()
	n, err := d.RunOnce(t.Context())
	if err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	return n
}

// sentTo counts, per userid, how many accepted sends named it.
func dingtalkSends(srv *dingtalktest.Server) map[string]int {
	got := map[string]int{}
	for _, m := range srv.Sent() {
		for _, id := range m.UserIDs {
			got[id]++
		}
	}
	return got
}

func TestDispatchSendsTheStoredMessageOnce(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		r := newRig(t, db, dingtalktest.Options{}, nil)
		ds := r.addDeliveries(3, 2)
		d := r.dispatcher(notify.DispatcherOptions{})
		if n := runOnce(t, d); n != 3 {
			t.Fatalf("RunOnce = %d, want 3", n)
		}
		sent := r.srv.Sent()
		if len(sent) != 3 {
			t.Fatalf("DingTalk took %d sends, want 3", len(sent))
		}
		for i, m := range sent {
			if string(m.Msg) != ds[i].Message || strings.Join(m.UserIDs, ",") != ds[i].UserIDs {
				t.Errorf("send %d = %s to %v; want the stored %s to %s", i, m.Msg, m.UserIDs, ds[i].Message, ds[i].UserIDs)
			}
			got := r.delivery(ds[i].ID)
			if got.Status != models.DeliverySent || got.TaskID != m.TaskID || got.Attempts != 1 || got.SentAt == nil ||
				!got.SentAt.Equal(r.clock.Now()) || got.ClaimedBy != "" || got.LeaseUntil != nil {
				t.Errorf("delivery %d after its send = %+v; want sent with task %d, one attempt, lease released", i, got, m.TaskID)
			}
		}
		r.clock.Advance(time.Hour)
		if n := runOnce(t, r.dispatcher(notify.DispatcherOptions{})); n != 0 || len(r.srv.Sent()) != 3 {
			t.Fatalf("a later round (a new dispatcher) did %d and DingTalk has %d sends; a sent delivery is never sent again", n, len(r.srv.Sent()))
		}
	})
}

// Each way a send can end, on both databases: what is recorded, and whether a later
// round sends it again.
func TestDispatchOutcomes(t *testing.T) {
	type want struct {
		status   models.DeliveryStatus
		errcode  string
		errText  string // part of last_error
		attempts int
		sent     int // sends DingTalk took in all
	}
	closedPort := func(t *testing.T) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return "http://" + addr + "/topapi/message/corpconversation/asyncsend_v2"
	}
	tests := []struct {
		name    string
		opts    dingtalktest.Options
		client  func(t *testing.T, c *dingtalk.Config)
		prepare func(r *rig, d *models.Delivery)
		options notify.DispatcherOptions
		// first is what the first round records; later what later rounds (clock moved
		// past every backoff) end with.
		first, later want
	}{
		{
			name:    "DingTalk busy (-1), then sent",
			prepare: func(r *rig, _ *models.Delivery) { r.srv.InjectError("asyncsend_v2", -1, 1) },
			first:   want{models.DeliveryFailed, "-1", "系统繁忙", 1, 0},
			later:   want{models.DeliverySent, "", "", 2, 1},
		},
		{
			name:    "throttled (90018), then sent",
			prepare: func(r *rig, _ *models.Delivery) { r.srv.InjectError("asyncsend_v2", 90018, 2) },
			first:   want{models.DeliveryFailed, "90018", "", 1, 0},
			later:   want{models.DeliverySent, "", "", 3, 1},
		},
		{
			name:    "global limit (90002), then sent",
			prepare: func(r *rig, _ *models.Delivery) { r.srv.InjectError("asyncsend_v2", 90002, 1) },
			first:   want{models.DeliveryFailed, "90002", "", 1, 0},
			later:   want{models.DeliverySent, "", "", 2, 1},
		},
		{
			name: "connection refused: nothing sent, tried again later",
			client: func(t *testing.T, c *dingtalk.Config) {
				c.Endpoints.SendMessage = closedPort(t)
			},
			first: want{models.DeliveryFailed, "", "asyncsend_v2", 1, 0},
			later: want{models.DeliveryDead, "", "asyncsend_v2", notify.DefaultDispatchMaxAttempts, 0},
		},
		{
			name:    "token expired: refreshed by the client and sent at once",
			prepare: func(r *rig, _ *models.Delivery) { r.srv.ExpireTokens() },
			first:   want{models.DeliverySent, "", "", 1, 1},
			later:   want{models.DeliverySent, "", "", 1, 1},
		},
		{
			name:    "bad parameter (40035): dead",
			prepare: func(r *rig, _ *models.Delivery) { r.srv.InjectError("asyncsend_v2", 40035, 1) },
			first:   want{models.DeliveryDead, "40035", "不合法的参数", 1, 0},
			later:   want{models.DeliveryDead, "40035", "不合法的参数", 1, 0},
		},
		{
			name:   "bad agent id (40056): dead",
			client: func(_ *testing.T, c *dingtalk.Config) { c.AgentID = 42 },
			first:  want{models.DeliveryDead, "40056", "不合法的agentid", 1, 0},
			later:  want{models.DeliveryDead, "40056", "不合法的agentid", 1, 0},
		},
		{
			name: "unknown message type (40008): dead",
			prepare: func(r *rig, d *models.Delivery) {
				r.db.Model(d).Update("message", `{"msgtype":"feedCard","feedCard":{}}`)
			},
			first: want{models.DeliveryDead, "40008", "不合法的消息类型", 1, 0},
			later: want{models.DeliveryDead, "40008", "不合法的消息类型", 1, 0},
		},
		{
			name:    "malformed stored message: dead without a call",
			prepare: func(r *rig, d *models.Delivery) { r.db.Model(d).Update("message", `{"msgtype":`) },
			first:   want{models.DeliveryDead, "", "not a JSON object", 1, 0},
			later:   want{models.DeliveryDead, "", "not a JSON object", 1, 0},
		},
		{
			name:    "busy every time: dead after the last attempt",
			prepare: func(r *rig, _ *models.Delivery) { r.srv.InjectError("asyncsend_v2", -1, 100) },
			options: notify.DispatcherOptions{MaxAttempts: 3},
			first:   want{models.DeliveryFailed, "-1", "系统繁忙", 1, 0},
			later:   want{models.DeliveryDead, "-1", "系统繁忙", 3, 0},
		},
		{
			name: "taken, then the connection dropped: unknown, never sent again",
			prepare: func(r *rig, _ *models.Delivery) {
				r.srv.InjectFault("asyncsend_v2", dingtalktest.FaultAcceptThenDrop, 1)
			},
			first: want{models.DeliveryUnknown, "", "outcome unknown", 1, 1},
			later: want{models.DeliveryUnknown, "", "outcome unknown", 1, 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
				r := newRig(t, db, tc.opts, func(c *dingtalk.Config) {
					if tc.client != nil {
						tc.client(t, c)
					}
				})
				del := r.addDeliveries(1, 3)[0]
				if tc.prepare != nil {
					tc.prepare(r, del)
				}
				check := func(when string, w want) models.Delivery {
					t.Helper()
					got := r.delivery(del.ID)
					if got.Status != w.status || got.ErrCode != w.errcode || !strings.Contains(got.LastError, w.errText) ||
						got.Attempts != w.attempts || len(r.srv.Sent()) != w.sent {
						t.Fatalf("%s: delivery = %s errcode %q last_error %q attempts %d, DingTalk took %d sends; want %s %q %q %d, %d sends",
							when, got.Status, got.ErrCode, got.LastError, got.Attempts, len(r.srv.Sent()),
							w.status, w.errcode, w.errText, w.attempts, w.sent)
					}
					return got
				}
				d := r.dispatcher(tc.options)
				start := r.clock.Now()
				runOnce(t, d)
				got := check("first round", tc.first)
				if got.Status == models.DeliveryFailed {
					// backoff/v5's first interval: retryInitial ± 50 %.
					if wait := got.NextAttempt.Sub(start); wait < retryInitial/2 || wait > retryInitial*3/2 {
						t.Errorf("next attempt %v after the failure; want %v ± 50%%", wait, retryInitial)
					}
					// Not due yet: a round now sends nothing.
					if n := runOnce(t, d); n != 0 {
						t.Errorf("a round before the backoff ended did %d", n)
					}
				}
				for range 10 {
					r.clock.Advance(notify.DefaultDispatchRetryMax)
					runOnce(t, d)
				}
				check("later rounds", tc.later)
			})
		})
	}
}

// A send DingTalk took but never answered (the client's timeout ran out) ends unknown
// and is not sent again by itself.
func TestDispatchTimeoutIsUnknown(t *testing.T) {
	r := newRig(t, modelstest.SQLite(t), dingtalktest.Options{}, func(c *dingtalk.Config) { c.Timeout = 15 * time.Second })
	del := r.addDeliveries(1, 1)[0]
	r.srv.InjectFault("asyncsend_v2", dingtalktest.FaultAcceptThenStall, 1)
	d := r.dispatcher(notify.DispatcherOptions{})
	done := make(chan error, 1)
	go func() { _, err := d.RunOnce(context.Background()); done <- err }()
	select {
	case <-r.srv.Stalled():
	case <-time.After(waitTimeout):
		t.Fatal("the send never reached DingTalk")
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	// The attempt's timeout timer, then past it.
	if err := r.clock.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(16 * time.Second)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("RunOnce did not return after the timeout")
	}
	if got := r.delivery(del.ID); got.Status != models.DeliveryUnknown || got.Attempts != 1 {
		t.Fatalf("delivery = %s after %d attempts; want unknown after 1", got.Status, got.Attempts)
	}
	r.clock.Advance(24 * time.Hour)
	runOnce(t, d)
	if n := len(r.srv.Sent()); n != 1 {
		t.Fatalf("DingTalk has %d sends; want the one it took, not repeated", n)
	}
}

// Under DingTalk's 20 calls/s (the server answers 90018 above it), every delivery is
// sent exactly once in the end, the throttled ones after a backoff.
func TestDispatchUnderRateLimits(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		r := newRig(t, db, dingtalktest.Options{QPS: 20}, nil)
		ds := r.addDeliveries(50, 2)
		d := r.dispatcher(notify.DispatcherOptions{MaxAttempts: 20})
		runOnce(t, d)
		throttled := 0
		for _, del := range ds {
			if got := r.delivery(del.ID); got.Status == models.DeliveryFailed && got.ErrCode == "90018" {
				throttled++
			}
		}
		if len(r.srv.Sent()) != 20 || throttled != 30 {
			t.Fatalf("first round: %d sent, %d throttled; want 20 and 30 (the server's 20 calls/s)", len(r.srv.Sent()), throttled)
		}
		for range 20 {
			r.clock.Advance(notify.DefaultDispatchRetryMax)
			runOnce(t, d)
		}
		got := dingtalkSends(r.srv)
		if len(got) != 100 || len(r.srv.Sent()) != 50 {
			t.Fatalf("DingTalk took %d sends to %d userids; want 50 sends to 100", len(r.srv.Sent()), len(got))
		}
		for id, n := range got {
			if n != 1 {
				t.Errorf("%s got %d notifications", id, n)
			}
		}
		for _, del := range ds {
			if got := r.delivery(del.ID); got.Status != models.DeliverySent || got.ErrCode != "" {
				t.Errorf("delivery %d = %s (errcode %q); want sent", del.ID, got.Status, got.ErrCode)
			}
		}
	})
}

// drive runs fn and, whenever it waits on the clock, moves the clock on by step, until
// fn has returned. fn must wait on nothing else on the clock.
func drive(t *testing.T, clock *clockwork.FakeClock, step time.Duration, fn func()) {
	t.Helper()
	var finished atomic.Bool
	release := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		fn()
		park := clock.NewTimer(24 * time.Hour) // a waiter to count when fn is done
		finished.Store(true)
		<-release
		park.Stop()
	})
	defer wg.Wait()
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 3*waitTimeout)
	defer cancel()
	for {
		if err := clock.BlockUntilContext(ctx, 1); err != nil {
			t.Fatal("RunOnce stuck off the clock")
		}
		if finished.Load() {
			return
		}
		clock.Advance(step)
	}
}

// 101 deliveries of 100 recipients: the first 5,000 recipients go at once, the rest at
// DingTalk's 5,000 a minute, one delivery every 1.2 s, the last 61.2 s after the first.
func TestDispatchPacesRecipientsPerMinute(t *testing.T) {
	r := newRig(t, modelstest.SQLite(t), dingtalktest.Options{}, nil)
	r.addDeliveries(101, 100)
	d := r.dispatcher(notify.DispatcherOptions{})
	start := r.clock.Now()
	const step = 5 * time.Millisecond
	var n int
	drive(t, r.clock, step, func() {
		var err error
		if n, err = d.RunOnce(context.Background()); err != nil {
			t.Error(err)
		}
	})
	sent := r.srv.Sent()
	if n != 101 || len(sent) != 101 {
		t.Fatalf("RunOnce = %d and DingTalk took %d sends; want 101", n, len(sent))
	}
	for i, m := range sent {
		at := m.At.Sub(start)
		want := time.Duration(0)
		if i >= 50 {
			want = time.Duration(i-49) * 1200 * time.Millisecond
		}
		// Each paced send may land up to one clock step late, and the lateness adds up.
		if at < want || at > want+time.Duration(max(i-49, 1))*step {
			t.Fatalf("send %d went %v after the first; want %v", i, at, want)
		}
	}
}

// A restart mid-dispatch: the old instance claimed three deliveries, recorded one sent,
// was cut off while sending another and had not started the third. After its lease, a
// new instance sends nothing recorded sent, the cut-off one once more and the third.
// Cut off a second time, a delivery ends dead instead.
func TestDispatchRestartMidSend(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		r := newRig(t, db, dingtalktest.Options{}, nil)
		ds := r.addDeliveries(4, 1)
		sent, cut, unstarted, twice := ds[0], ds[1], ds[2], ds[3]
		ctx := t.Context()
		crash := func(owner string, ids ...uint64) {
			t.Helper()
			now := r.clock.Now()
			claimed, err := r.store.ClaimDueDeliveries(ctx, owner, now, notify.DefaultDispatchLease, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(claimed) == 0 {
				t.Fatalf("%s claimed nothing", owner)
			}
			for _, id := range ids {
				if ok, err := r.store.MarkDeliverySending(ctx, id, owner, now, now.Add(notify.DefaultDispatchLease)); err != nil || !ok {
					t.Fatalf("mark %d sending: %v %v", id, ok, err)
				}
			}
		}
		crash("old", sent.ID, cut.ID, twice.ID)
		if ok, err := r.store.RecordDeliveryOutcome(ctx, sent.ID, "old", r.clock.Now(),
			models.DeliveryOutcome{Status: models.DeliverySent, TaskID: 7}); err != nil || !ok {
			t.Fatalf("record sent: %v %v", ok, err)
		}
		// Before the lease runs out a new instance leaves them all alone.
		if n := runOnce(t, r.dispatcher(notify.DispatcherOptions{Instance: "new"})); n != 0 {
			t.Fatalf("a round inside the old lease did %d", n)
		}
		r.clock.Advance(notify.DefaultDispatchLease + time.Second)
		// The new instance would now send "cut" once more; first "twice" is put back and
		// cut off a second time, by a second instance that claims all that is due.
		if _, _, err := r.store.RecoverInterruptedDeliveries(ctx, r.clock.Now()); err != nil {
			t.Fatal(err)
		}
		crash("second", twice.ID)
		r.clock.Advance(notify.DefaultDispatchLease + time.Second)

		if n := runOnce(t, r.dispatcher(notify.DispatcherOptions{Instance: "new"})); n != 2 {
			t.Fatalf("the new instance did %d; want the cut-off one and the unstarted one", n)
		}
		if got := dingtalkSends(r.srv); len(got) != 2 || got[cut.UserIDs] != 1 || got[unstarted.UserIDs] != 1 {
			t.Fatalf("DingTalk got %v; want one send to %s and one to %s, none to %s or %s",
				got, cut.UserIDs, unstarted.UserIDs, sent.UserIDs, twice.UserIDs)
		}
		for _, c := range []struct {
			d                     *models.Delivery
			status                models.DeliveryStatus
			attempts, interrupted int
			lastError             string
		}{
			{sent, models.DeliverySent, 1, 0, ""},
			{cut, models.DeliverySent, 2, 1, ""},
			{unstarted, models.DeliverySent, 1, 0, ""},
			{twice, models.DeliveryDead, 2, 1, models.InterruptedTwice},
		} {
			got := r.delivery(c.d.ID)
			if got.Status != c.status || got.Attempts != c.attempts || got.Interrupted != c.interrupted || got.LastError != c.lastError {
				t.Errorf("delivery %d = %s, %d attempts, interrupted %d, %q; want %s, %d, %d, %q", c.d.ID,
					got.Status, got.Attempts, got.Interrupted, got.LastError, c.status, c.attempts, c.interrupted, c.lastError)
			}
		}
		if got := r.delivery(sent.ID); got.TaskID != 7 {
			t.Errorf("the sent delivery's task id = %d, want the one recorded before the restart", got.TaskID)
		}
	})
}

// While global Enable? is No deliveries wait: not sent, not failed, no attempt counted.
func TestDispatchHeldWhileDisabled(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		r := newRig(t, db, dingtalktest.Options{}, nil)
		del := r.addDeliveries(1, 1)[0]
		setEnabled := func(on bool, appKey string) {
			set, err := r.store.LoadSettings(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			set.Enabled, set.AppKey = on, appKey
			if err := r.store.SaveSettings(t.Context(), set, "test"); err != nil {
				t.Fatal(err)
			}
		}
		d := r.dispatcher(notify.DispatcherOptions{})
		for _, c := range []struct {
			name    string
			enabled bool
			appKey  string
		}{{"Enable? = No", false, r.srv.AppKey()}, {"no appKey saved", true, ""}} {
			setEnabled(c.enabled, c.appKey)
			for range 3 {
				if n := runOnce(t, d); n != 0 {
					t.Fatalf("a round with %s did %d", c.name, n)
				}
				r.clock.Advance(time.Hour)
			}
		}
		if got := r.delivery(del.ID); got.Status != models.DeliveryPending || got.Attempts != 0 || len(r.srv.Sent()) != 0 || r.srv.TotalCalls() != 0 {
			t.Fatalf("held delivery = %s after %d attempts, %d DingTalk calls; want pending, untouched", got.Status, got.Attempts, r.srv.TotalCalls())
		}
		setEnabled(true, r.srv.AppKey())
		if n := runOnce(t, d); n != 1 || r.delivery(del.ID).Status != models.DeliverySent {
			t.Fatalf("after Enable? = Yes the round did %d, delivery %s; want it sent", n, r.delivery(del.ID).Status)
		}
	})
}

// Two instances at once share the work: every delivery is sent, none twice.
func TestTwoDispatchersShareTheWork(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		r := newRig(t, db, dingtalktest.Options{}, nil)
		ds := r.addDeliveries(60, 1)
		var wg sync.WaitGroup
		counts := make([]int, 2)
		for i := range counts {
			d := r.dispatcher(notify.DispatcherOptions{Instance: fmt.Sprintf("instance-%d", i), Batch: 3})
			wg.Go(func() {
				n, err := d.RunOnce(context.Background())
				if err != nil {
					t.Error(err)
				}
				counts[i] = n
			})
		}
		wg.Wait()
		got := dingtalkSends(r.srv)
		if counts[0]+counts[1] != 60 || len(got) != 60 || len(r.srv.Sent()) != 60 {
			t.Fatalf("instances did %v, DingTalk took %d sends to %d userids; want 60 in all, each once", counts, len(r.srv.Sent()), len(got))
		}
		for _, del := range ds {
			if got := r.delivery(del.ID); got.Status != models.DeliverySent || got.Attempts != 1 {
				t.Errorf("delivery %d = %s after %d attempts; want sent after one", del.ID, got.Status, got.Attempts)
			}
		}
	})
}

// Run polls on the clock and stops with its context.
func TestDispatcherRunPollsUntilStopped(t *testing.T) {
	r := newRig(t, modelstest.SQLite(t), dingtalktest.Options{}, nil)
	d := r.dispatcher(notify.DispatcherOptions{Poll: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	wait, stop := context.WithTimeout(context.Background(), waitTimeout)
	defer stop()
	if err := r.clock.BlockUntilContext(wait, 1); err != nil {
		t.Fatal(err)
	}
	del := r.addDeliveries(1, 1)[0]
	r.clock.Advance(time.Second)
	// The poll fired, the round ran, and Run waits for the next poll.
	if err := r.clock.BlockUntilContext(wait, 1); err != nil {
		t.Fatal(err)
	}
	if got := r.delivery(del.ID); got.Status != models.DeliverySent {
		t.Fatalf("after one poll the new delivery is %s; want sent", got.Status)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("Run did not stop with its context")
	}
}

// With the client's own limit as in production (18 calls/s, under DingTalk's 20), the
// dispatcher never provokes a 90018: every delivery goes in one attempt, the last one
// 59/18 s after the first.
func TestDispatchStaysUnderTheCallRate(t *testing.T) {
	r := newRig(t, modelstest.SQLite(t), dingtalktest.Options{QPS: 20}, func(c *dingtalk.Config) { c.QPS = 0 })
	ds := r.addDeliveries(60, 1)
	d := r.dispatcher(notify.DispatcherOptions{})
	start := r.clock.Now()
	const step = time.Millisecond
	drive(t, r.clock, step, func() {
		if _, err := d.RunOnce(context.Background()); err != nil {
			t.Error(err)
		}
	})
	if calls := r.srv.Calls("asyncsend_v2"); calls != 60 || len(r.srv.Sent()) != 60 {
		t.Fatalf("%d send calls, %d taken; want 60 and 60 (none throttled)", calls, len(r.srv.Sent()))
	}
	for _, del := range ds {
		if got := r.delivery(del.ID); got.Status != models.DeliverySent || got.Attempts != 1 {
			t.Errorf("delivery %d = %s after %d attempts; want sent at the first", del.ID, got.Status, got.Attempts)
		}
	}
	last := r.srv.Sent()[59].At.Sub(start)
	if least := 59 * time.Second / dingtalk.DefaultQPS; last < least || last > least+60*step {
		t.Errorf("the last send went %v after the first; want %v at %d calls/s", last, least, dingtalk.DefaultQPS)
	}
}

// When DingTalk is busy (-1) for a share of the calls, every delivery still ends sent,
// exactly once, the unlucky ones after a backoff.
func TestDispatchThroughFlakyDingTalk(t *testing.T) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) {
		r := newRig(t, db, dingtalktest.Options{}, nil)
		r.srv.FailTransiently("asyncsend_v2", 0.4, 9)
		ds := r.addDeliveries(30, 1)
		d := r.dispatcher(notify.DispatcherOptions{MaxAttempts: 30})
		runOnce(t, d)
		if n := len(r.srv.Sent()); n == 0 || n == 30 {
			t.Fatalf("first round took %d of 30; want some, not all (a share of the calls fails)", n)
		}
		retried := 0
		for range 30 {
			r.clock.Advance(notify.DefaultDispatchRetryMax)
			runOnce(t, d)
		}
		for _, del := range ds {
			got := r.delivery(del.ID)
			if got.Status != models.DeliverySent {
				t.Errorf("delivery %d = %s (errcode %q)", del.ID, got.Status, got.ErrCode)
			}
			if got.Attempts > 1 {
				retried++
			}
		}
		got := dingtalkSends(r.srv)
		if len(got) != 30 || len(r.srv.Sent()) != 30 || retried == 0 {
			t.Fatalf("DingTalk took %d sends to %d userids, %d deliveries needed more than one attempt; want 30, 30, some", len(r.srv.Sent()), len(got), retried)
		}
	})
}
