package notify

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/dingfluence/dingfluence/confluence"
	"github.com/dingfluence/dingfluence/models"
)

// Enricher takes pending events, asks Confluence what they are about and puts them in
// their coalescing window (waiting), or skips them with the reason. Housekeeping saves
// and a disabled app skip without a Confluence call.
type Enricher struct {
	store      EventStore
	settings   SettingsSource
	confluence ConfluenceSource
	opts       Options
}

// NewEnricher returns an Enricher; see Options for the defaults.
func NewEnricher(store EventStore, settings SettingsSource, source ConfluenceSource, opts Options) *Enricher {
	return &Enricher{store: store, settings: settings, confluence: source, opts: opts.withDefaults()}
}

// Run enriches due events until ctx ends; for jobs.Workers.
func (e *Enricher) Run(ctx context.Context) error { return runLoop(ctx, e.opts, e.RunOnce) }

// RunOnce claims the pending events due now (one batch) and enriches each; it returns
// how many it claimed.
func (e *Enricher) RunOnce(ctx context.Context) (int, error) {
	set, err := loadSettings(ctx, e.settings)
	if err != nil {
		return 0, err
	}
	events, err := e.store.ClaimEvents(ctx, models.EventPending, e.opts.Instance, e.opts.Clock.Now(), e.opts.Lease, e.opts.Batch)
	if err != nil {
		return 0, err
	}
	for _, ev := range events {
		if err := finish(ctx, e.opts, ev, e.enrich(ctx, set, ev)); err != nil {
			return len(events), fmt.Errorf("enrich event %d: %w", ev.ID, err)
		}
	}
	return len(events), nil
}

func (e *Enricher) skip(ctx context.Context, ev models.Event, reason models.SkipReason, d *models.EventDetails, detail string) error {
	return e.store.SkipEvent(ctx, ev.ID, e.opts.Instance, models.EventPending, reason, d, detail, e.opts.Clock.Now())
}

func (e *Enricher) enrich(ctx context.Context, set models.Settings, ev models.Event) error {
	if !set.Enabled {
		return e.skip(ctx, ev, models.SkipDisabled, nil, "notifications are off (Enable? = No on the DingTalk Settings screen)")
	}
	if trigger := confluence.UpdateTrigger(ev.UpdateTrigger); trigger.IsHousekeeping() {
		return e.skip(ctx, ev, models.SkipHousekeeping, nil, "updateTrigger "+string(trigger))
	}
	client, err := e.confluence.ServiceClient(ctx)
	if err != nil {
		return giveBack(ctx, e.store, e.opts, ev, models.EventPending, "Confluence service client", err)
	}
	ct, err := client.Content(ctx, ev.ContentID)
	if confluence.IsNotFound(err) {
		return e.skip(ctx, ev, models.SkipDeleted, nil, "Confluence answers 404: the content was purged, or the service account may not view it")
	}
	if err != nil {
		return giveBack(ctx, e.store, e.opts, ev, models.EventPending, "read content", err)
	}
	d := details(ct, e.actorName(ctx, ct, ev), ct.Version.Number-1)
	switch ct.Status {
	case confluence.ContentCurrent:
	case confluence.ContentDraft:
		return e.skip(ctx, ev, models.SkipDraft, &d, "the content is a draft")
	default:
		return e.skip(ctx, ev, models.SkipDeleted, &d, "the content is "+string(ct.Status))
	}
	if ct.Version.MinorEdit {
		return e.skip(ctx, ev, models.SkipMinorEdit, &d, "minor edit (Notify watchers unticked)")
	}
	window := time.Duration(max(set.CoalesceMinutes, 0)) * time.Minute
	_, err = e.store.EnrichEvent(ctx, models.Enrichment{
		ID: ev.ID, Instance: e.opts.Instance, ContentID: ev.ContentID, Details: d,
		DedupeKey: DedupeKey(ev.ContentID, ct.Version.Number), Window: window,
		Now: e.opts.Clock.Now(), DeferFor: e.opts.DeferFor,
	})
	if errors.Is(err, models.ErrDuplicate) {
		// Another instance put an event of this page in its window at the same moment
		// (waiting_key is unique): look again shortly and coalesce with it.
		return e.store.DeferEvent(ctx, ev.ID, e.opts.Instance, models.EventPending, e.opts.Clock.Now())
	}
	return err
}

// actorName is the editor's display name: from the version Confluence reports, else from
// the users table by the event's actor key, else the key itself.
func (e *Enricher) actorName(ctx context.Context, ct confluence.Content, ev models.Event) string {
	if ct.Version.By.DisplayName != "" {
		return ct.Version.By.DisplayName
	}
	key := ct.Version.By.Key
	if key == "" {
		key = ev.ActorKey
	}
	if key != "" {
		if users, err := e.store.UsersByUserKeys(ctx, []string{key}); err == nil {
			if u, ok := users[key]; ok && u.DisplayName != "" {
				return u.DisplayName
			}
		}
	}
	if ct.Version.By.Username != "" {
		return ct.Version.By.Username
	}
	return ev.ActorKey
}

// DedupeKey is the events.dedupe_key of a version of content id.
func DedupeKey(contentID string, version int) string {
	return contentID + ":" + strconv.Itoa(version)
}

// details are the event columns for ct; the diff spans from version from to the
// latest (one edit: the previous version; coalesced edits: the version before the
// first of them).
func details(ct confluence.Content, actor string, from int) models.EventDetails {
	return models.EventDetails{
		Title: ct.Title, SpaceKey: ct.Space.Key, SpaceName: ct.Space.Name,
		Version: ct.Version.Number, VersionMessage: ct.Version.Message, MinorEdit: ct.Version.MinorEdit,
		WebURL: ct.WebURL, DiffURL: diffURL(ct, from), ActorName: actor,
	}
}
