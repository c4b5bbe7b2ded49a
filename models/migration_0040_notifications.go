package models

import (
	"time"

	"gorm.io/gorm"
)

// --- 202612020040_notifications ---

// m0040Event is the inbox: one accepted Confluence webhook (or one change found by a
// reconciliation pass), stored before the webhook is answered. Workers claim rows with a
// lease (claimed_by, lease_until) and move them through their states; see EventStatus.
//
// dedupe_key ("<content id>:<version>", set once enriched) is unique, so the same version
// of a page never notifies twice. waiting_key (the content id, set only while the event
// waits in its coalescing window) is unique too: at most one event per page waits, and
// a later publish inside the window takes its place.
type m0040Event struct {
	ID            uint64    `gorm:"column:id;primaryKey;autoIncrement"`
	Source        string    `gorm:"column:source;size:16;not null;default:''"`
	EventName     string    `gorm:"column:event_name;size:64;not null;default:''"`
	PayloadKind   string    `gorm:"column:payload_kind;size:16;not null;default:''"`
	RequestID     string    `gorm:"column:request_id;size:128;not null;default:''"`
	ContentID     string    `gorm:"column:content_id;size:32;not null;default:'';index:idx_events_content"`
	ContentType   string    `gorm:"column:content_type;size:16;not null;default:''"`
	ActorKey      string    `gorm:"column:actor_key;size:128;not null;default:''"`
	UpdateTrigger string    `gorm:"column:update_trigger;size:32;not null;default:''"`
	OccurredAt    time.Time `gorm:"column:occurred_at;not null"`
	ReceivedAt    time.Time `gorm:"column:received_at;not null;index:idx_events_received"`
	Payload       string    `gorm:"column:payload;type:mediumtext;not null"`

	Status      string     `gorm:"column:status;size:16;not null;default:'pending';index:idx_events_work,priority:1"`
	DueAt       time.Time  `gorm:"column:due_at;not null;index:idx_events_work,priority:2"`
	ClaimedBy   string     `gorm:"column:claimed_by;size:64;not null;default:''"`
	LeaseUntil  *time.Time `gorm:"column:lease_until"`
	Attempts    int        `gorm:"column:attempts;not null;default:0"`
	SkipReason  string     `gorm:"column:skip_reason;size:32;not null;default:''"`
	LastError   string     `gorm:"column:last_error;size:2000;not null;default:''"`
	ProcessedAt *time.Time `gorm:"column:processed_at"`

	DedupeKey     *string `gorm:"column:dedupe_key;size:64;uniqueIndex:idx_events_dedupe"`
	WaitingKey    *string `gorm:"column:waiting_key;size:32;uniqueIndex:idx_events_waiting"`
	CoalescedInto *uint64 `gorm:"column:coalesced_into;index:idx_events_coalesced_into"`
	EditCount     int     `gorm:"column:edit_count;not null;default:1"`

	Title          string `gorm:"column:title;size:500;not null;default:''"`
	SpaceKey       string `gorm:"column:space_key;size:255;not null;default:''"`
	SpaceName      string `gorm:"column:space_name;size:500;not null;default:''"`
	Version        int    `gorm:"column:version;not null;default:0"`
	VersionMessage string `gorm:"column:version_message;size:2000;not null;default:''"`
	MinorEdit      bool   `gorm:"column:minor_edit;not null;default:false"`
	WebURL         string `gorm:"column:web_url;size:1000;not null;default:''"`
	DiffURL        string `gorm:"column:diff_url;size:1000;not null;default:''"`
	ActorName      string `gorm:"column:actor_name;size:255;not null;default:''"`

	Watchers          int `gorm:"column:watchers;not null;default:0"`
	Recipients        int `gorm:"column:recipients;not null;default:0"`
	DroppedNoView     int `gorm:"column:dropped_no_view;not null;default:0"`
	DroppedUndecided  int `gorm:"column:dropped_undecided;not null;default:0"`
	DroppedUnmatched  int `gorm:"column:dropped_unmatched;not null;default:0"`
	DroppedDisabled   int `gorm:"column:dropped_disabled;not null;default:0"`
	DroppedOwnEdit    int `gorm:"column:dropped_own_edit;not null;default:0"`
	DroppedUnknown    int `gorm:"column:dropped_unknown;not null;default:0"`
	ConfluenceCalls   int `gorm:"column:confluence_calls;not null;default:0"`
	DeliveriesWritten int `gorm:"column:deliveries_written;not null;default:0"`

	CreatedAt time.Time `gorm:"column:created_at"`
	UpdatedAt time.Time `gorm:"column:updated_at"`
}

func (m0040Event) TableName() string { return "events" }

// m0040EventRecipient is the outcome for one watcher of one notified event: sent in
// which delivery, or dropped and why. It is what the Deliveries screen explains.
type m0040EventRecipient struct {
	ID             uint64  `gorm:"column:id;primaryKey;autoIncrement"`
	EventID        uint64  `gorm:"column:event_id;not null;index:idx_event_recipients_event,priority:1"`
	UserKey        string  `gorm:"column:user_key;size:128;not null;default:''"`
	Username       string  `gorm:"column:username;size:255;not null;default:''"`
	DisplayName    string  `gorm:"column:display_name;size:255;not null;default:''"`
	Outcome        string  `gorm:"column:outcome;size:16;not null;default:'';index:idx_event_recipients_event,priority:2"`
	Detail         string  `gorm:"column:detail;size:500;not null;default:''"`
	DingTalkUserID string  `gorm:"column:dingtalk_user_id;size:64;not null;default:''"`
	DeliveryID     *uint64 `gorm:"column:delivery_id"`
}

func (m0040EventRecipient) TableName() string { return "event_recipients" }

// m0040Delivery is the outbox: one DingTalk work notification to at most 100 userids,
// with the message exactly as it will be sent. See DeliveryStatus for its life.
type m0040Delivery struct {
	ID          uint64     `gorm:"column:id;primaryKey;autoIncrement"`
	EventID     uint64     `gorm:"column:event_id;not null;index:idx_deliveries_event"`
	Seq         int        `gorm:"column:seq;not null;default:0"`
	Locale      string     `gorm:"column:locale;size:16;not null;default:''"`
	UserIDs     string     `gorm:"column:user_ids;type:text;not null"`
	Recipients  int        `gorm:"column:recipients;not null;default:0"`
	Message     string     `gorm:"column:message;type:text;not null"`
	Status      string     `gorm:"column:status;size:16;not null;default:'pending';index:idx_deliveries_work,priority:1"`
	NextAttempt time.Time  `gorm:"column:next_attempt_at;not null;index:idx_deliveries_work,priority:2"`
	Attempts    int        `gorm:"column:attempts;not null;default:0"`
	Interrupted int        `gorm:"column:interrupted;not null;default:0"`
	ClaimedBy   string     `gorm:"column:claimed_by;size:64;not null;default:''"`
	LeaseUntil  *time.Time `gorm:"column:lease_until"`
	TaskID      int64      `gorm:"column:task_id;not null;default:0"`
	ErrCode     string     `gorm:"column:errcode;size:32;not null;default:''"`
	LastError   string     `gorm:"column:last_error;size:2000;not null;default:''"`
	SentAt      *time.Time `gorm:"column:sent_at"`
	CreatedAt   time.Time  `gorm:"column:created_at"`
	UpdatedAt   time.Time  `gorm:"column:updated_at"`
}

func (m0040Delivery) TableName() string { return "deliveries" }

// m0040WebhookRefusal counts refused webhook requests per hour and reason, so a flood
// of bad requests grows a counter, not the table.
type m0040WebhookRefusal struct {
	HourStart time.Time `gorm:"column:hour_start;primaryKey"`
	Reason    string    `gorm:"column:reason;size:32;primaryKey"`
	Count     int64     `gorm:"column:count;not null;default:0"`
	LastAt    time.Time `gorm:"column:last_at;not null"`
}

func (m0040WebhookRefusal) TableName() string { return "webhook_refusals" }

// m0040ConfluenceSettings adds the webhook secret (sealed), when it was generated, and
// when a webhook last arrived that stored no event (a connection test, an event we do
// not notify on).
type m0040ConfluenceSettings struct {
	ID                  uint       `gorm:"column:id;primaryKey"`
	WebhookSecretSealed string     `gorm:"column:webhook_secret_sealed;size:1000;not null;default:''"`
	WebhookSecretSetAt  *time.Time `gorm:"column:webhook_secret_set_at"`
}

func (m0040ConfluenceSettings) TableName() string { return "confluence_settings" }

// m0040Settings adds the coalescing window: publishes of one page within it become one
// notification. Ten minutes, as Confluence's own e-mail batching; 0 turns it off.
type m0040Settings struct {
	ID             uint `gorm:"column:id;primaryKey"`
	CoalesceMinute int  `gorm:"column:coalesce_minutes;not null;default:10"`
}

func (m0040Settings) TableName() string { return "settings" }

func migrate0040Notifications(db *gorm.DB) error {
	if err := createTables(db, &m0040Event{}, &m0040EventRecipient{}, &m0040Delivery{}, &m0040WebhookRefusal{}); err != nil {
		return err
	}
	if err := addColumns(db, &m0040ConfluenceSettings{}, "WebhookSecretSealed", "WebhookSecretSetAt"); err != nil {
		return err
	}
	return addColumns(db, &m0040Settings{}, "CoalesceMinute")
}
