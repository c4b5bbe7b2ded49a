package models

import (
	"context"
	"fmt"
	"strings"
	"time"

	gormmysql "gorm.io/driver/mysql"
	"gorm.io/gorm"
)

// EventStatus is where an accepted Confluence event stands. Its life:
//
//	pending ──enrich──▶ waiting (in its coalescing window, due_at = when it closes)
//	   │                   │  a later publish of the same page inside the window:
//	   │                   ├──▶ coalesced (coalesced_into = the event that took its place)
//	   │                   └──fan-out at due_at──▶ notified (deliveries written in the same transaction)
//	   ├──▶ skipped (skip_reason says why: housekeeping, minor edit, deleted, draft, …)
//	   └──▶ failed (Confluence could not be asked even after retries; last_error says why)
type EventStatus string

// Event statuses.
const (
	EventPending   EventStatus = "pending"
	EventWaiting   EventStatus = "waiting"
	EventCoalesced EventStatus = "coalesced"
	EventNotified  EventStatus = "notified"
	EventSkipped   EventStatus = "skipped"
	EventFailed    EventStatus = "failed"
)

// EventStatuses lists every status, in the order the Deliveries filter offers them.
func EventStatuses() []EventStatus {
	return []EventStatus{EventPending, EventWaiting, EventCoalesced, EventNotified, EventSkipped, EventFailed}
}

// EventSource says how an event reached us.
type EventSource string

// Event sources.
const (
	// EventSourceWebhook is a webhook Confluence posted to /webhooks/confluence.
	EventSourceWebhook EventSource = "webhook"
	// EventSourceReconcile is a change a reconciliation search found that no webhook
	// brought (Confluence Data Center never retries a failed webhook).
	EventSourceReconcile EventSource = "reconcile"
)

// SkipReason says why an event notified nobody.
type SkipReason string

// Skip reasons.
const (
	SkipHousekeeping SkipReason = "housekeeping" // updateTrigger link_refactoring, view_page, …
	SkipMinorEdit    SkipReason = "minor_edit"   // version.minorEdit: "Notify watchers" unticked
	SkipDeleted      SkipReason = "deleted"      // the content is gone (404) or trashed
	SkipDraft        SkipReason = "draft"        // the content is a draft, not published
	SkipDisabled     SkipReason = "disabled"     // global Enable? = No when it was processed
	SkipDuplicate    SkipReason = "duplicate"    // this version of the page was already notified
	SkipNoRecipients SkipReason = "no_recipients"
)

// Event is one row of the inbox; see m0040Event for what the columns hold.
type Event struct {
	ID            uint64      `gorm:"column:id;primaryKey"`
	Source        EventSource `gorm:"column:source"`
	EventName     string      `gorm:"column:event_name"`
	PayloadKind   string      `gorm:"column:payload_kind"`
	RequestID     string      `gorm:"column:request_id"`
	ContentID     string      `gorm:"column:content_id"`
	ContentType   string      `gorm:"column:content_type"`
	ActorKey      string      `gorm:"column:actor_key"`
	UpdateTrigger string      `gorm:"column:update_trigger"`
	OccurredAt    time.Time   `gorm:"column:occurred_at"`
	ReceivedAt    time.Time   `gorm:"column:received_at"`
	Payload       string      `gorm:"column:payload"`

	Status      EventStatus `gorm:"column:status"`
	DueAt       time.Time   `gorm:"column:due_at"`
	ClaimedBy   string      `gorm:"column:claimed_by"`
	LeaseUntil  *time.Time  `gorm:"column:lease_until"`
	Attempts    int         `gorm:"column:attempts"`
	SkipReason  SkipReason  `gorm:"column:skip_reason"`
	LastError   string      `gorm:"column:last_error"`
	ProcessedAt *time.Time  `gorm:"column:processed_at"`

	DedupeKey     *string `gorm:"column:dedupe_key"`
	WaitingKey    *string `gorm:"column:waiting_key"`
	CoalescedInto *uint64 `gorm:"column:coalesced_into"`
	// EditCount is how many publishes this notification covers (1 + those coalesced into it).
	EditCount int `gorm:"column:edit_count"`

	Title          string `gorm:"column:title"`
	SpaceKey       string `gorm:"column:space_key"`
	SpaceName      string `gorm:"column:space_name"`
	Version        int    `gorm:"column:version"`
	VersionMessage string `gorm:"column:version_message"`
	MinorEdit      bool   `gorm:"column:minor_edit"`
	WebURL         string `gorm:"column:web_url"`
	DiffURL        string `gorm:"column:diff_url"`
	ActorName      string `gorm:"column:actor_name"`

	EventCounts `gorm:"embedded"`

	CreatedAt time.Time `gorm:"column:created_at"`
	UpdatedAt time.Time `gorm:"column:updated_at"`
}

// TableName implements gorm's tabler.
func (Event) TableName() string { return "events" }

// EventCounts are the figures of one fan-out: watchers found, recipients sent to, and
// the watchers dropped, by reason.
type EventCounts struct {
	Watchers          int `gorm:"column:watchers"`
	Recipients        int `gorm:"column:recipients"`
	DroppedNoView     int `gorm:"column:dropped_no_view"`
	DroppedUndecided  int `gorm:"column:dropped_undecided"`
	DroppedUnmatched  int `gorm:"column:dropped_unmatched"`
	DroppedDisabled   int `gorm:"column:dropped_disabled"`
	DroppedOwnEdit    int `gorm:"column:dropped_own_edit"`
	DroppedUnknown    int `gorm:"column:dropped_unknown"`
	ConfluenceCalls   int `gorm:"column:confluence_calls"`
	DeliveriesWritten int `gorm:"column:deliveries_written"`
}

// RecipientOutcome is what became of one watcher of a notified event.
type RecipientOutcome string

// Recipient outcomes.
const (
	RecipientSent      RecipientOutcome = "sent"      // in a delivery (DeliveryID)
	RecipientNoView    RecipientOutcome = "no_view"   // may not view the page
	RecipientUndecided RecipientOutcome = "undecided" // view right could not be decided: fail closed
	RecipientUnmatched RecipientOutcome = "unmatched" // no DingTalk match
	RecipientDisabled  RecipientOutcome = "disabled"  // Enable? = No on their DingTalk tab
	RecipientOwnEdit   RecipientOutcome = "own_edit"  // the editor, who did not opt in
	RecipientUnknown   RecipientOutcome = "unknown"   // not a Confluence user dingfluence knows
)

// EventRecipient is one watcher's outcome for one event.
type EventRecipient struct {
	ID             uint64           `gorm:"column:id;primaryKey"`
	EventID        uint64           `gorm:"column:event_id"`
	UserKey        string           `gorm:"column:user_key"`
	Username       string           `gorm:"column:username"`
	DisplayName    string           `gorm:"column:display_name"`
	Outcome        RecipientOutcome `gorm:"column:outcome"`
	Detail         string           `gorm:"column:detail"`
	DingTalkUserID string           `gorm:"column:dingtalk_user_id"`
	DeliveryID     *uint64          `gorm:"column:delivery_id"`
}

// TableName implements gorm's tabler.
func (EventRecipient) TableName() string { return "event_recipients" }

// InsertEvent stores a newly accepted event, filling its ID. The webhook stores its
// events through an EventWriter, which shares one commit among concurrent webhooks;
// this is one event in its own commit.
func (s *Store) InsertEvent(ctx context.Context, e *Event) error {
	return dbError("insert event", s.insertEvents(ctx, e))
}

// InsertEvents stores newly accepted events with one multi-row INSERT, filling each
// one's ID: all of them are committed together or none is.
func (s *Store) InsertEvents(ctx context.Context, events []*Event) error {
	if len(events) == 0 {
		return nil
	}
	return dbError(fmt.Sprintf("insert %d events", len(events)), s.insertEvents(ctx, events...))
}

func (s *Store) insertEvents(ctx context.Context, events ...*Event) error {
	for _, e := range events {
		if e.Status == "" {
			e.Status = EventPending
		}
		if e.EditCount == 0 {
			e.EditCount = 1
		}
		if e.DueAt.IsZero() {
			e.DueAt = e.ReceivedAt
		}
	}
	// One INSERT statement is atomic and commits by itself: GORM's default
	// BEGIN/COMMIT around it would only add two round trips. GORM fills the IDs of a
	// multi-row insert from SQLite's RETURNING and from MySQL's first insert id, which
	// InnoDB allocates consecutively for an INSERT of a known number of rows
	// (auto_increment_increment 1, the default; see TestInsertEventsIDs).
	//
	// A one-row insert, what a quiet server mostly writes, is the same statement every
	// time, so it is prepared once per connection; multi-row ones differ by their row
	// count, and preparing each would keep up to a hundred statements on every pooled
	// connection.
	db := s.db.WithContext(ctx).Session(&gorm.Session{SkipDefaultTransaction: true, PrepareStmt: len(events) == 1})
	if allIngestOnly(events) {
		// The pipeline's columns would all be written with the values their defaults
		// give anyway; leaving them out halves the statement SQLite parses and binds.
		db = db.Omit(pipelineColumns()...)
	}
	if len(events) == 1 {
		return db.Create(events[0]).Error
	}
	return db.Create(events).Error
}

// pipelineColumns are the events columns the workers fill in later, each defaulting to
// its Go zero value (migration 0040).
func pipelineColumns() []string {
	return []string{"claimed_by", "lease_until", "attempts", "skip_reason", "last_error", "processed_at",
		"dedupe_key", "waiting_key", "coalesced_into", "space_name", "version_message", "minor_edit", "web_url",
		"diff_url", "actor_name", "watchers", "recipients", "dropped_no_view", "dropped_undecided", "dropped_unmatched",
		"dropped_disabled", "dropped_own_edit", "dropped_unknown", "confluence_calls", "deliveries_written"}
}

// allIngestOnly reports whether every event leaves all pipelineColumns at their zero value.
func allIngestOnly(events []*Event) bool {
	for _, e := range events {
		c := *e
		// Blank what an arriving event carries: what is left must be all zero.
		c.ID, c.Source, c.EventName, c.PayloadKind, c.RequestID, c.ContentID = 0, "", "", "", "", ""
		c.ContentType, c.ActorKey, c.UpdateTrigger, c.Payload, c.Status = "", "", "", "", ""
		c.OccurredAt, c.ReceivedAt, c.DueAt, c.CreatedAt, c.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}
		c.EditCount, c.Title, c.SpaceKey, c.Version = 0, "", "", 0
		if c != (Event{}) {
			return false
		}
	}
	return true
}

// EventByID returns one event, or ErrNotFound.
func (s *Store) EventByID(ctx context.Context, id uint64) (Event, error) {
	var e Event
	err := s.db.WithContext(ctx).Where("id = ?", id).Take(&e).Error
	return e, dbError("find event", err)
}

// DetailCode says more precisely why a watcher was dropped; event_recipients.detail
// stores it (with its argument, see RecipientDetail) rather than a sentence, so each
// reader of the Deliveries screen reads it in their own language.
type DetailCode string

// Detail codes.
const (
	DetailNotInApp        DetailCode = "not_in_app"        // not in the synced user group
	DetailOwnEdit         DetailCode = "own_edit"          // made the change, did not opt in
	DetailInactive        DetailCode = "inactive"          // deactivated or left the user group
	DetailNotifyOff       DetailCode = "notify_off"        // Enable? = No on their DingTalk tab
	DetailUnmatched       DetailCode = "unmatched"         // arg: the match status
	DetailRestrictionsErr DetailCode = "restrictions_err"  // arg: Confluence's error
	DetailSpacePermErr    DetailCode = "space_perm_err"    // arg: Confluence's error
	DetailGroupsErr       DetailCode = "groups_err"        // arg: Confluence's error
	DetailNoSpaceView     DetailCode = "no_space_view"     // arg: the space key
	DetailRestrictedPage  DetailCode = "restricted_page"   // view restricted on the page
	DetailRestrictedAnc   DetailCode = "restricted_parent" // arg: the ancestor's content id
	DetailSameDingTalk    DetailCode = "same_dingtalk"     // arg: the username already sent to
)

// detailSeparator joins a detail code and its argument; codes never contain it.
const detailSeparator = "|"

// RecipientDetail is the stored form of a detail: its code, and its argument if any.
func RecipientDetail(code DetailCode, arg string) string {
	if arg == "" {
		return string(code)
	}
	return string(code) + detailSeparator + arg
}

// ParseRecipientDetail splits a stored detail into its code and argument.
func ParseRecipientDetail(detail string) (DetailCode, string) {
	code, arg, _ := strings.Cut(detail, detailSeparator)
	return DetailCode(code), arg
}

// MultiRowInsertIDs reports whether the IDs GORM fills in after a multi-row insert are
// the rows' own. SQLite and MariaDB 10.5+ return them (RETURNING); on MySQL GORM counts
// on from the first insert id, which is right only while the server steps
// auto-increment values by 1 (a Galera or group-replication cluster steps by its size).
func (s *Store) MultiRowInsertIDs(ctx context.Context) (bool, error) {
	d, ok := s.db.Dialector.(*gormmysql.Dialector)
	if !ok {
		return true, nil
	}
	if !d.DisableWithReturning && mariaDBWithReturning(d.ServerVersion) {
		return true, nil
	}
	var step int
	if err := s.db.WithContext(ctx).Raw("SELECT @@auto_increment_increment").Scan(&step).Error; err != nil {
		return false, fmt.Errorf("read auto_increment_increment: %w", err)
	}
	return step == 1, nil
}

// mariaDBWithReturning reports whether a server version ("10.11.14-MariaDB-…") is
// MariaDB 10.5 or later, where GORM's MySQL driver inserts with RETURNING.
func mariaDBWithReturning(version string) bool {
	if !strings.Contains(version, "MariaDB") {
		return false
	}
	var major, minor int
	if _, err := fmt.Sscanf(version, "%d.%d", &major, &minor); err != nil {
		return false
	}
	return major > 10 || major == 10 && minor >= 5
}
