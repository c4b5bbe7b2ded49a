package notify_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"gorm.io/gorm"

	"github.com/dingfluence/dingfluence/confluence"
	"github.com/dingfluence/dingfluence/confluence/confluencetest"
	"github.com/dingfluence/dingfluence/locale"
	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/models/modelstest"
	"github.com/dingfluence/dingfluence/notify"
	"github.com/dingfluence/dingfluence/secretbox"
)

// t0 is when every test starts, on the fake clock.
var t0 = time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)

// serviceAccount is the Confluence administrator whose token the pipeline calls with.
const serviceAccount = "svc"

// settingsStub is the DingTalk settings the workers read; tests flip them.
type settingsStub struct {
	mu  sync.Mutex
	set models.Settings
}

func (s *settingsStub) Load(context.Context) (models.Settings, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.set, nil
}

func (s *settingsStub) update(fn func(*models.Settings)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(&s.set)
}

// clientSource hands out a client for the double as the service account, without the
// client's own retries, so every injected fault reaches the pipeline.
type clientSource struct{ client *confluence.Client }

func (c clientSource) ServiceClient(context.Context) (*confluence.Client, error) {
	return c.client, nil
}

type fixture struct {
	t        *testing.T
	ctx      context.Context
	db       *gorm.DB
	store    *models.Store
	cf       *confluencetest.Server
	clock    *clockwork.FakeClock
	settings *settingsStub
	source   clientSource
	bundle   *locale.Bundle
	opts     notify.Options
	enricher *notify.Enricher
	fanout   *notify.FanOut
	space    string
}

type fixtureOption func(*confluencetest.Options, *notify.Options)

func legacyWatchers(o *confluencetest.Options, _ *notify.Options) { o.LegacyWatchers = true }
func noSpacePerms(o *confluencetest.Options, _ *notify.Options)   { o.NoSpacePermissions = true }

func newFixture(t *testing.T, db *gorm.DB, options ...fixtureOption) *fixture {
	t.Helper()
	box, err := secretbox.New(bytes.Repeat([]byte{7}, secretbox.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	cfOpts := confluencetest.Options{}
	clock := clockwork.NewFakeClockAt(t0)
	opts := notify.Options{Instance: "test-1", Clock: clock, Logger: modelstest.Logger(t), MaxAttempts: 3}
	for _, o := range options {
		o(&cfOpts, &opts)
	}
	cf := confluencetest.Start(t, cfOpts)
	cf.AddUser(confluencetest.User{Username: serviceAccount, Admin: true})
	client, err := confluence.New(confluence.Config{
		BaseURL: cf.URL(), Credential: confluence.BearerToken(cf.IssuePAT(serviceAccount)), Clock: clock, MaxRetries: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := locale.NewBundle()
	if err != nil {
		t.Fatal(err)
	}
	set := models.DefaultSettings()
	set.Enabled = true
	f := &fixture{
		t: t, ctx: context.Background(), db: db, store: models.NewStore(db, box), cf: cf, clock: clock,
		settings: &settingsStub{set: set}, source: clientSource{client}, bundle: bundle, opts: opts, space: "ENG",
	}
	f.enricher = notify.NewEnricher(f.store, f.settings, f.source, opts)
	f.fanout = notify.NewFanOut(f.store, f.settings, f.source, bundle, opts)
	cf.AddSpace(f.space, "Engineering")
	return f
}

// person describes a user known to both Confluence and dingfluence.
type person struct {
	name       string
	locale     string
	ownChanges bool
	disabled   bool // Enable? = No on the DingTalk tab
	inactive   bool
	unmatched  bool
	dingtalk   string // DingTalk userid; "dt-<name>" when empty
	notInApp   bool   // a Confluence user dingfluence does not know
	noGroup    bool   // not in confluence-users (no View space through it)
}

// addPeople creates the people in Confluence (in confluence-users unless noGroup) and,
// unless notInApp, as dingfluence users; it returns their userKeys by name.
func (f *fixture) addPeople(people ...person) map[string]string {
	f.t.Helper()
	keys := map[string]string{}
	var rows []models.User
	var off []bool // parallel to rows: Enable? = No or inactive
	var members []string
	for _, p := range people {
		u := f.cf.AddUser(confluencetest.User{Username: p.name, DisplayName: "Name " + p.name})
		keys[p.name] = u.Key
		if !p.noGroup {
			members = append(members, p.name)
		}
		if p.notInApp {
			continue
		}
		key := u.Key
		row := models.User{
			Username: p.name, DisplayName: "Name " + p.name, Enabled: true, NotifyEnabled: !p.disabled,
			NotifyOwnChanges: p.ownChanges, Locale: p.locale, DingTalkUserID: p.dingtalk,
			ConfluenceIdentity: models.ConfluenceIdentity{UserKey: &key, Active: !p.inactive, MatchStatus: models.MatchMatched},
		}
		if row.DingTalkUserID == "" {
			row.DingTalkUserID = "dt-" + p.name
		}
		if p.unmatched {
			row.DingTalkUserID, row.MatchStatus = "", models.MatchUnmatched
		}
		rows = append(rows, row)
		off = append(off, p.disabled || p.inactive)
	}
	if len(members) > 0 {
		f.cf.AddToGroup(confluencetest.DefaultUserGroup, members...)
	}
	if len(rows) > 0 {
		// NotifyEnabled false and Active false are zero values GORM would replace with
		// the column defaults (true) on insert: set them afterwards.
		if err := f.db.CreateInBatches(rows, 500).Error; err != nil {
			f.t.Fatalf("create users: %v", err)
		}
		for i, r := range rows {
			if off[i] {
				p := people[slices.IndexFunc(people, func(p person) bool { return p.name == r.Username })]
				if err := f.db.Model(&models.User{}).Where("id = ?", r.ID).
					Updates(map[string]any{"notify_enabled": !p.disabled, "active": !p.inactive}).Error; err != nil {
					f.t.Fatal(err)
				}
			}
		}
	}
	return keys
}

// page adds a page in the fixture's space (below parent if given).
func (f *fixture) page(title string, parent ...string) string {
	return f.cf.AddPage(f.space, title, parent...)
}

// eventFor stores the webhook event Confluence would send for the latest version of id.
func (f *fixture) eventFor(id, name, actorKey, trigger string) uint64 {
	f.t.Helper()
	now := f.clock.Now()
	e := &models.Event{
		Source: models.EventSourceWebhook, EventName: name, PayloadKind: "id_only", ContentID: id,
		ContentType: "page", ActorKey: actorKey, UpdateTrigger: trigger, OccurredAt: now, ReceivedAt: now,
		Payload: fmt.Sprintf(`{"page":{"id":%s}}`, id),
	}
	if err := f.store.InsertEvent(f.ctx, e); err != nil {
		f.t.Fatalf("insert event: %v", err)
	}
	return e.ID
}

// publish publishes a new version of id by editor and stores its page_updated event.
func (f *fixture) publish(id, editor string) uint64 {
	f.t.Helper()
	f.cf.EditPage(id, editor, "", false)
	u, _ := f.cf.User(editor)
	return f.eventFor(id, "page_updated", u.Key, "edit_page")
}

func (f *fixture) enrich() int {
	f.t.Helper()
	n, err := f.enricher.RunOnce(f.ctx)
	if err != nil {
		f.t.Fatalf("enricher: %v", err)
	}
	return n
}

func (f *fixture) fanOut() int {
	f.t.Helper()
	n, err := f.fanout.RunOnce(f.ctx)
	if err != nil {
		f.t.Fatalf("fan-out: %v", err)
	}
	return n
}

func (f *fixture) event(id uint64) models.Event {
	f.t.Helper()
	e, err := f.store.EventByID(f.ctx, id)
	if err != nil {
		f.t.Fatalf("event %d: %v", id, err)
	}
	return e
}

func (f *fixture) deliveries(id uint64) []models.Delivery {
	f.t.Helper()
	ds, err := f.store.DeliveriesOfEvent(f.ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return ds
}

// outcomes maps each watcher's username to its outcome.
func (f *fixture) outcomes(id uint64) map[string]models.RecipientOutcome {
	f.t.Helper()
	rs, err := f.store.EventRecipients(f.ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]models.RecipientOutcome{}
	for _, r := range rs {
		out[r.Username] = r.Outcome
	}
	return out
}

// sentTo lists the userids of all deliveries of an event, sorted.
func sentTo(ds []models.Delivery) []string {
	var ids []string
	for _, d := range ds {
		ids = append(ids, d.UserIDList()...)
	}
	slices.Sort(ids)
	return ids
}

func dt(names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "dt-" + n
	}
	slices.Sort(out)
	return out
}

// notified runs one publish of a fresh page through the whole pipeline with coalescing
// off and returns the event, which must have been fanned out.
func (f *fixture) notifyOnce(id, editor string) models.Event {
	f.t.Helper()
	f.settings.update(func(s *models.Settings) { s.CoalesceMinutes = 0 })
	ev := f.publish(id, editor)
	f.enrich()
	f.fanOut()
	e := f.event(ev)
	if e.Status != models.EventNotified && e.Status != models.EventSkipped {
		f.t.Fatalf("event %d after fan-out: status %s (%s); want notified or skipped", ev, e.Status, e.LastError)
	}
	return e
}

func eachDB(t *testing.T, fn func(t *testing.T, f *fixture), options ...fixtureOption) {
	modelstest.EachDB(t, func(t *testing.T, db *gorm.DB) { fn(t, newFixture(t, db, options...)) })
}

// onMySQL is eachDB on MariaDB alone, for scale tests.
func onMySQL(t *testing.T, fn func(t *testing.T, f *fixture), options ...fixtureOption) {
	t.Run(models.DialectMySQL, func(t *testing.T) { fn(t, newFixture(t, modelstest.MySQL(t), options...)) })
}
