package notify_test

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"gorm.io/gorm"

	"github.com/dingfluence/dingfluence/confluence"
	"github.com/dingfluence/dingfluence/confluence/confluencetest"
	"github.com/dingfluence/dingfluence/dingtalk"
	"github.com/dingfluence/dingfluence/dingtalk/dingtalktest"
	"github.com/dingfluence/dingfluence/locale"
	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/models/modelstest"
	"github.com/dingfluence/dingfluence/notify"
	"github.com/dingfluence/dingfluence/secretbox"
	"github.com/dingfluence/dingfluence/settings"
)

// benchPipeline is the whole notify pipeline on one database, with Confluence and
// DingTalk doubles over real HTTP and every part on one clock: the real one, when the
// figure is a time, or a fake one, when it is a count and waiting would only make the
// bench slow (the coalescing window).
type benchPipeline struct {
	b        *testing.B
	ctx      context.Context
	db       *gorm.DB
	store    *models.Store
	clock    clockwork.Clock
	cf       *confluencetest.Server
	dt       *dingtalktest.Server
	enricher *notify.Enricher
	fanout   *notify.FanOut
	dispatch *notify.Dispatcher
	page     string
	editor   confluencetest.User
}

func newBenchPipeline(b *testing.B, db *gorm.DB, clock clockwork.Clock, watchers int, coalesceMinutes int) *benchPipeline {
	b.Helper()
	ctx := context.Background()
	box, err := secretbox.New(make([]byte, secretbox.KeySize))
	if err != nil {
		b.Fatal(err)
	}
	store := models.NewStore(db, box)
	quiet := slog.New(slog.DiscardHandler)

	// DingTalk enforces its documented 20 calls a second per API on the same clock.
	dt := dingtalktest.Start(b, dingtalktest.Options{QPS: 20, Clock: clock})
	e := dt.Endpoints()
	set := models.DefaultSettings()
	set.AgentID, set.AppKey, set.AppSecret, set.Enabled = dt.AgentID(), dt.AppKey(), dt.AppSecret(), true
	set.TokenURL, set.SendMessageURL = e.Token, e.SendMessage
	set.CoalesceMinutes = coalesceMinutes
	if err := store.SaveSettings(ctx, set, "bench"); err != nil {
		b.Fatal(err)
	}
	// The production client on the bench's clock. On a fake clock it has no request
	// timeout: a timeout is a timer on that clock, and the bench moves the clock only
	// while the dispatcher waits for DingTalk's limits, never while a request is under way.
	dingtalkSettings := settings.New(store, func(c *dingtalk.Config) {
		c.Clock, c.Logger = clock, quiet
		if _, fake := clock.(*clockwork.FakeClock); fake {
			c.Timeout = -1
		}
	}, quiet)

	cf := confluencetest.Start(b, confluencetest.Options{})
	cf.AddUser(confluencetest.User{Username: serviceAccount, Admin: true})
	client, err := confluence.New(confluence.Config{
		BaseURL: cf.URL(), Credential: confluence.BearerToken(cf.IssuePAT(serviceAccount)), Clock: clock,
	})
	if err != nil {
		b.Fatal(err)
	}
	cf.AddSpace("ENG", "Engineering")
	editor := cf.AddUser(confluencetest.User{Username: "editor", DisplayName: "The Editor"})
	names := make([]string, watchers)
	rows := make([]models.User, watchers)
	for i := range names {
		names[i] = fmt.Sprintf("watcher%05d", i)
		u := cf.AddUser(confluencetest.User{Username: names[i]})
		key := u.Key
		rows[i] = models.User{Username: names[i], DisplayName: names[i], Enabled: true, NotifyEnabled: true,
			DingTalkUserID:     fmt.Sprintf("dt%05d", i),
			ConfluenceIdentity: models.ConfluenceIdentity{UserKey: &key, Active: true, MatchStatus: models.MatchMatched}}
	}
	cf.AddToGroup(confluencetest.DefaultUserGroup, append(names, "editor")...)
	if err := db.CreateInBatches(rows, 1000).Error; err != nil {
		b.Fatal(err)
	}
	page := cf.AddPage("ENG", "Release plan")
	cf.WatchSpace("ENG", names...)

	bundle, err := locale.NewBundle()
	if err != nil {
		b.Fatal(err)
	}
	source := clientSource{client}
	opts := notify.Options{Instance: "bench", Clock: clock, Logger: quiet, Batch: 100}
	return &benchPipeline{
		b: b, ctx: ctx, db: db, store: store, clock: clock, cf: cf, dt: dt,
		enricher: notify.NewEnricher(store, dingtalkSettings, source, opts),
		fanout:   notify.NewFanOut(store, dingtalkSettings, source, bundle, opts),
		dispatch: notify.NewDispatcher(store, dingtalkSettings, notify.DispatcherOptions{Clock: clock, Logger: quiet, Instance: "bench"}),
		page:     page, editor: editor,
	}
}

// publish edits the page and stores the webhook event Confluence would post for it.
func (p *benchPipeline) publish() {
	p.b.Helper()
	p.cf.EditPage(p.page, p.editor.Username, "", false)
	now := p.clock.Now()
	e := &models.Event{Source: models.EventSourceWebhook, EventName: "page_updated", PayloadKind: "id_only",
		ContentID: p.page, ContentType: "page", ActorKey: p.editor.Key, UpdateTrigger: "edit_page",
		OccurredAt: now, ReceivedAt: now, Payload: fmt.Sprintf(`{"page":{"id":%s}}`, p.page)}
	if err := p.store.InsertEvent(p.ctx, e); err != nil {
		p.b.Fatal(err)
	}
	if _, err := p.enricher.RunOnce(p.ctx); err != nil {
		p.b.Fatal(err)
	}
}

// fanOutAndSend runs the fan-out, then the dispatcher until every delivery is sent,
// moving the fake clock whenever the dispatcher waits on it (for DingTalk's limits).
func (p *benchPipeline) fanOutAndSend() {
	p.b.Helper()
	if n, err := p.fanout.RunOnce(p.ctx); err != nil || n != 1 {
		p.b.Fatalf("fan-out did %d events, %v; want 1", n, err)
	}
	var done atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		defer done.Store(true)
		for {
			n, err := p.dispatch.RunOnce(p.ctx)
			if err != nil {
				p.b.Error(err)
				return
			}
			if n > 0 {
				continue
			}
			var open int64
			if err := p.db.Model(&models.Delivery{}).Where("status IN ?", []models.DeliveryStatus{
				models.DeliveryPending, models.DeliveryFailed, models.DeliverySending}).Count(&open).Error; err != nil {
				p.b.Error(err)
				return
			}
			if open == 0 {
				return
			}
			p.clock.Sleep(time.Second) // a failed send is due again later
		}
	})
	// On a fake clock the dispatcher either works (off the clock) or waits on a timer;
	// step the clock in 10 ms whenever it waits, so a paced send is at most 10 ms late.
	fake, isFake := p.clock.(*clockwork.FakeClock)
	for isFake && !done.Load() {
		ctx, cancel := context.WithTimeout(p.ctx, 50*time.Millisecond)
		err := fake.BlockUntilContext(ctx, 1)
		cancel()
		if err == nil && !done.Load() {
			fake.Advance(10 * time.Millisecond)
		}
	}
	wg.Wait()
}

// lastSendAfter is how long after from DingTalk took the last send.
func (p *benchPipeline) lastSendAfter(from time.Time) time.Duration {
	var last time.Time
	for _, m := range p.dt.Sent() {
		if m.At.After(last) {
			last = m.At
		}
	}
	return last.Sub(from)
}

// firstSendAfter is how long after from DingTalk took the first send.
func (p *benchPipeline) firstSendAfter(from time.Time) time.Duration {
	first := time.Time{}
	for _, m := range p.dt.Sent() {
		if first.IsZero() || m.At.Before(first) {
			first = m.At
		}
	}
	return first.Sub(from)
}

// rateLimitFloor is the least time n recipients can take to send under DingTalk's
// limits: ⌈n/100⌉ calls at 20 a second, and 5,000 recipients a minute (the first
// minute's 5,000 at once).
func rateLimitFloor(n int) time.Duration {
	calls := math.Ceil(float64(n) / dingtalk.MaxRecipients)
	byQPS := time.Duration((calls - 1) / 20 * float64(time.Second))
	byRecipients := time.Duration(0)
	if over := n - notify.DefaultRecipientsPerMinute; over > 0 {
		// The last delivery goes once the minute's budget has refilled for it.
		byRecipients = time.Duration(float64(over) / notify.DefaultRecipientsPerMinute * float64(time.Minute))
	}
	return max(byQPS, byRecipients)
}

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISSED"
}

// One update of a page 10,000 people watch: 100 send calls (the ⌈n/100⌉ floor), one
// token, the Confluence calls it took, and the time from the stored webhook to the last
// send against the floor DingTalk's limits set. It runs on the real clock, so it takes
// the floor's minute: the fan-out's own work shows in the ratio as it would in production.
func BenchmarkFanOut10kWatchers(b *testing.B) {
	const watchers = 10_000
	for _, d := range modelstest.BenchDialects(b) {
		b.Run(d.Name, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				p := newBenchPipeline(b, d.Open(b), clockwork.NewRealClock(), watchers, 0)
				p.cf.ResetRequests()
				b.StartTimer()
				began := time.Now()
				p.publish()
				enrichCalls := len(p.cf.Requests())
				fannedOut := time.Now()
				p.fanOutAndSend()
				b.StopTimer()

				sends, tokens := p.dt.Calls("asyncsend_v2"), p.dt.TokenIssued()
				cfCalls := len(p.cf.Requests())
				toLast := p.lastSendAfter(began)
				firstSend := p.firstSendAfter(fannedOut)
				floor := rateLimitFloor(watchers)
				ratio := toLast.Seconds() / floor.Seconds()
				recipients := 0
				for _, m := range p.dt.Sent() {
					recipients += len(m.UserIDs)
				}
				fmt.Printf("fan-out, %d watchers, %-6s DingTalk send calls: %d (target 100) %s\n", watchers, d.Name, sends, verdict(sends == 100))
				fmt.Printf("fan-out, %d watchers, %-6s recipients sent: %d (target %d) %s\n", watchers, d.Name, recipients, watchers, verdict(recipients == watchers))
				fmt.Printf("fan-out, %d watchers, %-6s token fetches: %d (target 1) %s\n", watchers, d.Name, tokens, verdict(tokens == 1))
				fmt.Printf("fan-out, %d watchers, %-6s Confluence calls: %d (enrich %d, watchers and permissions %d)\n",
					watchers, d.Name, cfCalls, enrichCalls, cfCalls-enrichCalls)
				fmt.Printf("fan-out, %d watchers, %-6s time to last send %.1f s (first send %.1f s after enrichment) / rate-limit floor %.1f s = %.3f (target ≤ 1.15) %s\n",
					watchers, d.Name, toLast.Seconds(), firstSend.Seconds(), floor.Seconds(), ratio, verdict(ratio <= 1.15))
				b.ReportMetric(float64(sends), "sends")
				b.ReportMetric(ratio, "last-send/floor")
			}
		})
	}
}

// Ten publishes of one page inside the coalescing window: one notification of the
// latest version, one send call per 100 recipients.
func BenchmarkCoalesceTenPublishes(b *testing.B) {
	const watchers = 1_000
	for _, d := range modelstest.BenchDialects(b) {
		b.Run(d.Name, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				p := newBenchPipeline(b, d.Open(b), clockwork.NewFakeClockAt(t0), watchers, 10)
				b.StartTimer()
				for range 10 {
					p.publish()
					p.clock.(*clockwork.FakeClock).Advance(30 * time.Second) // all ten inside the 10-minute window
				}
				p.clock.(*clockwork.FakeClock).Advance(10 * time.Minute)
				p.fanOutAndSend()
				b.StopTimer()
				sends := p.dt.Calls("asyncsend_v2")
				perHundred := float64(sends) / (watchers / 100)
				fmt.Printf("coalescing, 10 publishes to %d watchers, %-6s send calls per 100 recipients: %.2f (target 1) %s\n",
					watchers, d.Name, perHundred, verdict(sends == watchers/100))
				b.ReportMetric(perHundred, "sends/100-recipients")
			}
		})
	}
}
