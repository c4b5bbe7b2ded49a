package notify

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/dingfluence/dingfluence/confluence"
	"github.com/dingfluence/dingfluence/locale"
	"github.com/dingfluence/dingfluence/models"
)

// MaxUserIDsPerDelivery is asyncsend_v2's limit of userids per call.
const MaxUserIDsPerDelivery = 100

// Locales is what the fan-out needs of the message catalogues (*locale.Bundle).
type Locales interface {
	Match(preferred, acceptLanguage string) string
	Localizer(tag string) *locale.Localizer
}

// FanOut takes waiting events whose window has closed, computes each recipient once
// from the latest version of the content, and writes the deliveries (the outbox) in the
// same transaction that marks the event notified.
type FanOut struct {
	store      EventStore
	settings   SettingsSource
	confluence ConfluenceSource
	locales    Locales
	opts       Options
}

// NewFanOut returns a FanOut; see Options for the defaults.
func NewFanOut(store EventStore, settings SettingsSource, source ConfluenceSource, locales Locales, opts Options) *FanOut {
	return &FanOut{store: store, settings: settings, confluence: source, locales: locales, opts: opts.withDefaults()}
}

// Run fans out due events until ctx ends; for jobs.Workers.
func (f *FanOut) Run(ctx context.Context) error { return runLoop(ctx, f.opts, f.RunOnce) }

// RunOnce claims the waiting events due now (one batch) and fans each out; it returns
// how many it claimed.
func (f *FanOut) RunOnce(ctx context.Context) (int, error) {
	set, err := loadSettings(ctx, f.settings)
	if err != nil {
		return 0, err
	}
	events, err := f.store.ClaimEvents(ctx, models.EventWaiting, f.opts.Instance, f.opts.Clock.Now(), f.opts.Lease, f.opts.Batch)
	if err != nil {
		return 0, err
	}
	for _, ev := range events {
		if err := finish(ctx, f.opts, ev, f.fanOut(ctx, set, ev)); err != nil {
			return len(events), fmt.Errorf("fan out event %d: %w", ev.ID, err)
		}
	}
	return len(events), nil
}

func (f *FanOut) skip(ctx context.Context, ev models.Event, reason models.SkipReason, detail string) error {
	return f.store.SkipEvent(ctx, ev.ID, f.opts.Instance, models.EventWaiting, reason, nil, detail, f.opts.Clock.Now())
}

func (f *FanOut) fanOut(ctx context.Context, set models.Settings, ev models.Event) error {
	if !set.Enabled {
		return f.skip(ctx, ev, models.SkipDisabled, "notifications are off (Enable? = No on the DingTalk Settings screen)")
	}
	client, err := f.confluence.ServiceClient(ctx)
	if err != nil {
		return giveBack(ctx, f.store, f.opts, ev, models.EventWaiting, "Confluence service client", err)
	}
	var calls atomic.Int64
	cctx := confluence.WithCallCounter(ctx, &calls)

	// Recipients are computed once, now, from the latest version: a page restricted or
	// renamed since the publish is notified as it is, not as it was.
	ct, err := client.Content(cctx, ev.ContentID)
	if confluence.IsNotFound(err) {
		return f.skip(ctx, ev, models.SkipDeleted, "Confluence answers 404: the content was purged, or the service account may no longer view it")
	}
	if err != nil {
		return giveBack(ctx, f.store, f.opts, ev, models.EventWaiting, "read content", err)
	}
	if ct.Status != confluence.ContentCurrent {
		return f.skip(ctx, ev, models.SkipDeleted, "the content is "+string(ct.Status))
	}
	watchers, err := client.Watchers(cctx, ct.ID, ct.Space.Key)
	if confluence.IsNotFound(err) {
		return f.skip(ctx, ev, models.SkipDeleted, "Confluence answers 404 for the watchers: the content is gone")
	}
	if err != nil {
		return giveBack(ctx, f.store, f.opts, ev, models.EventWaiting, "list watchers", err)
	}
	actorKey := ct.Version.By.Key
	if actorKey == "" {
		actorKey = ev.ActorKey
	}
	plan, err := planRecipients(cctx, f.store, client, ct, watchers, actorKey)
	if err != nil {
		return err
	}

	actor := ev.ActorName
	if ct.Version.By.DisplayName != "" {
		actor = ct.Version.By.DisplayName
	}
	d := details(ct, actor, ct.Version.Number-max(ev.EditCount, 1))
	n := models.Notification{
		ID: ev.ID, Instance: f.opts.Instance, Status: models.EventNotified, Details: d,
		DedupeKey: DedupeKey(ct.ID, ct.Version.Number), Now: f.opts.Clock.Now(),
	}
	notice := Notice{
		// Created also when coalesced edits reach back to the first version: whoever
		// reads it has not been told of the page yet.
		Created: ev.EventName == string(confluence.EventPageCreated) || ev.EventName == string(confluence.EventBlogCreated) ||
			ct.Version.Number <= max(ev.EditCount, 1),
		Blog:  ct.Type == confluence.ContentBlogPost || ev.ContentType == string(confluence.ContentBlogPost),
		Title: d.Title, SpaceKey: d.SpaceKey, SpaceName: d.SpaceName, Version: d.Version,
		VersionMessage: d.VersionMessage, ActorName: d.ActorName, Edits: max(ev.EditCount, 1),
		WebURL: d.WebURL, DiffURL: d.DiffURL,
	}
	if err := f.assemble(&n, plan, notice); err != nil {
		return f.store.FailEvent(ctx, ev.ID, f.opts.Instance, models.EventWaiting, err.Error(), f.opts.Clock.Now())
	}
	n.Counts.ConfluenceCalls = int(calls.Load())
	if n.Counts.Recipients == 0 {
		n.Status, n.Skip = models.EventSkipped, models.SkipNoRecipients
	}
	return f.store.NotifyEvent(ctx, n)
}

// assemble turns the plan into deliveries and recipient rows: the recipients' DingTalk
// userids, each once, grouped by language, one message composed per language, cut
// into deliveries of at most MaxUserIDsPerDelivery userids; and the counts.
func (f *FanOut) assemble(n *models.Notification, plan recipientPlan, notice Notice) error {
	n.Counts.Watchers = len(plan.watchers)
	type target struct {
		userID string
		rows   []int // indexes into n.Recipients sharing this userid
	}
	byLocale := map[string][]*target{}
	byUserID := map[string]*target{}
	n.Recipients = make([]models.PlannedRecipient, len(plan.watchers))
	for i, w := range plan.watchers {
		u, vd := plan.users[i], plan.verdicts[i]
		name := w.DisplayName
		if name == "" {
			name = u.DisplayName
		}
		username := w.Username
		if username == "" {
			username = u.Username
		}
		n.Recipients[i] = models.PlannedRecipient{Delivery: -1, EventRecipient: models.EventRecipient{
			UserKey: w.Key, Username: username, DisplayName: name, Outcome: vd.outcome, Detail: vd.detail,
		}}
		switch vd.outcome {
		case models.RecipientSent:
			n.Recipients[i].DingTalkUserID = u.DingTalkUserID
			if t, dup := byUserID[u.DingTalkUserID]; dup {
				// Two Confluence accounts matched to one DingTalk user: one message.
				t.rows = append(t.rows, i)
				n.Recipients[i].Detail = models.RecipientDetail(models.DetailSameDingTalk, n.Recipients[t.rows[0]].Username)
				continue
			}
			t := &target{userID: u.DingTalkUserID, rows: []int{i}}
			byUserID[u.DingTalkUserID] = t
			tag := f.locales.Match(u.Locale, "")
			byLocale[tag] = append(byLocale[tag], t)
		case models.RecipientNoView:
			n.Counts.DroppedNoView++
		case models.RecipientUndecided:
			n.Counts.DroppedUndecided++
		case models.RecipientUnmatched:
			n.Counts.DroppedUnmatched++
		case models.RecipientDisabled:
			n.Counts.DroppedDisabled++
		case models.RecipientOwnEdit:
			n.Counts.DroppedOwnEdit++
		case models.RecipientUnknown:
			n.Counts.DroppedUnknown++
		}
	}
	n.Counts.Recipients = len(byUserID)

	tags := make([]string, 0, len(byLocale))
	for tag := range byLocale {
		tags = append(tags, tag)
	}
	slices.Sort(tags)
	for _, tag := range tags {
		msg, err := ComposeMessage(f.locales.Localizer(tag), notice)
		if err != nil {
			return fmt.Errorf("compose the %s message: %w", tag, err)
		}
		raw, err := msg.Encode()
		if err != nil {
			return fmt.Errorf("compose the %s message: %w", tag, err)
		}
		targets := byLocale[tag]
		for start := 0; start < len(targets); start += MaxUserIDsPerDelivery {
			chunk := targets[start:min(start+MaxUserIDsPerDelivery, len(targets))]
			ids := make([]string, len(chunk))
			index := len(n.Deliveries)
			for j, t := range chunk {
				ids[j] = t.userID
				for _, row := range t.rows {
					n.Recipients[row].Delivery = index
				}
			}
			n.Deliveries = append(n.Deliveries, models.Delivery{
				Seq: index, Locale: tag, UserIDs: strings.Join(ids, ","), Recipients: len(ids),
				Message: string(raw), Status: models.DeliveryPending, NextAttempt: n.Now,
			})
		}
	}
	return nil
}

// diffURL is Confluence's "View changes" from version from to ct's latest version; ""
// when there is nothing to compare (a first version, or from out of range).
func diffURL(ct confluence.Content, from int) string {
	const action = "/pages/diffpagesbyversion.action"
	base, _, ok := strings.Cut(ct.DiffURL, action)
	n := ct.Version.Number
	switch {
	case !ok || from < 1 || from >= n:
		return ""
	case from == n-1:
		return ct.DiffURL
	}
	q := url.Values{"pageId": {ct.ID}, "selectedPageVersions": {strconv.Itoa(from), strconv.Itoa(n)}}
	return base + action + "?" + q.Encode()
}
