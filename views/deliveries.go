package views

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/dingfluence/dingfluence/locale"
	"github.com/dingfluence/dingfluence/models"
)

// DeliveriesPath is the Deliveries screen.
const DeliveriesPath = "/admin/dingtalk/deliveries"

// DeliveriesPollSeconds is how often the screen refreshes itself while work is in flight.
const DeliveriesPollSeconds = 3

// DeliveriesView is one page of the Deliveries screen.
type DeliveriesView struct {
	Status     models.EventStatus // the filter; "" shows every status
	Query      string             // search by page title
	Page       int                // 1-based
	PageSize   int
	TotalPages int
	Result     models.DeliveryEventPage
}

// pageURL is the address of page n with the same filter and search.
func (v DeliveriesView) pageURL(n int) string {
	q := url.Values{}
	if v.Status != "" {
		q.Set("status", string(v.Status))
	}
	if v.Query != "" {
		q.Set("q", v.Query)
	}
	if n > 1 {
		q.Set("page", strconv.Itoa(n))
	}
	if len(q) == 0 {
		return DeliveriesPath
	}
	return DeliveriesPath + "?" + q.Encode()
}

// DeliveryEventView is one event's page: its deliveries and dropped watchers.
type DeliveryEventView struct {
	Detail models.DeliveryEventDetail
}

// eventURL is the page of event id.
func eventURL(id uint64) string {
	return DeliveriesPath + "/" + strconv.FormatUint(id, 10)
}

func retryURL(eventID uint64) string { return eventURL(eventID) + "/retry" }

func idString(id uint64) string { return strconv.FormatUint(id, 10) }

// when formats a stored time for the screen.
func when(t time.Time) string { return t.Local().Format(time.DateTime) }

// eventTypeLabel names what happened: page or blog post, created or updated.
func eventTypeLabel(ctx context.Context, e models.Event) string {
	switch e.EventName {
	case "page_created", "page_updated", "blog_created", "blog_updated":
		return locale.T(ctx, "deliveries.type."+e.EventName)
	}
	return e.EventName
}

// eventActor is who published: the display name once enriched, else the user key.
func eventActor(e models.Event) string {
	if e.ActorName != "" {
		return e.ActorName
	}
	return e.ActorKey
}

// eventTitle is the page title, or its content id before enrichment read the title.
func eventTitle(ctx context.Context, e models.Event) string {
	if e.Title != "" {
		return e.Title
	}
	return locale.T(ctx, "deliveries.untitled", map[string]any{"ID": e.ContentID})
}

func eventLozengeClass(s models.EventStatus) string {
	switch s {
	case models.EventNotified:
		return "aui-lozenge-success"
	case models.EventFailed:
		return "aui-lozenge-error"
	case models.EventPending, models.EventWaiting:
		return "aui-lozenge-inprogress"
	}
	return ""
}

func deliveryLozengeClass(s models.DeliveryStatus) string {
	switch s {
	case models.DeliverySent:
		return "aui-lozenge-success"
	case models.DeliveryDead:
		return "aui-lozenge-error"
	case models.DeliveryUnknown:
		return "aui-lozenge-moved"
	case models.DeliveryPending, models.DeliverySending, models.DeliveryFailed:
		return "aui-lozenge-inprogress"
	}
	return ""
}

// eventStatusDetail says more about an event's status: which event took a coalesced
// one's place, until when one waits, why one was skipped, what made one fail.
func eventStatusDetail(ctx context.Context, e models.Event) string {
	switch e.Status {
	case models.EventCoalesced:
		if e.CoalescedInto != nil {
			return locale.T(ctx, "deliveries.coalescedInto", map[string]any{"ID": *e.CoalescedInto})
		}
	case models.EventWaiting:
		return locale.T(ctx, "deliveries.waitingUntil", map[string]any{"Time": when(e.DueAt)})
	case models.EventSkipped:
		switch e.SkipReason {
		case models.SkipHousekeeping, models.SkipMinorEdit, models.SkipDeleted, models.SkipDraft,
			models.SkipDisabled, models.SkipDuplicate, models.SkipNoRecipients:
			return locale.T(ctx, "deliveries.skip."+string(e.SkipReason))
		}
		return string(e.SkipReason)
	case models.EventFailed:
		return locale.T(ctx, "deliveries.failedWith", map[string]any{"Error": e.LastError})
	}
	return ""
}

// deliveryStatuses lists delivery states in the order a summary names them.
func deliveryStatuses() []models.DeliveryStatus {
	return []models.DeliveryStatus{models.DeliverySent, models.DeliverySending, models.DeliveryPending,
		models.DeliveryFailed, models.DeliveryUnknown, models.DeliveryDead}
}

// deliverySummary is "2 sent · 1 dead" for an event's deliveries.
func deliverySummary(ctx context.Context, s models.DeliverySummary) string {
	var parts []string
	for _, st := range deliveryStatuses() {
		if n := s[st]; n > 0 {
			parts = append(parts, locale.T(ctx, "deliveries.summary", map[string]any{
				"Count": n, "Status": locale.T(ctx, "deliveries.dstatus."+string(st))}))
		}
	}
	return strings.Join(parts, " · ")
}

// droppedCount is one non-zero drop reason of an event's figures.
type droppedCount struct {
	Outcome models.RecipientOutcome
	Count   int
}

// droppedCounts lists the reasons watchers were dropped for, with how many each.
func droppedCounts(c models.EventCounts) []droppedCount {
	all := []droppedCount{
		{models.RecipientNoView, c.DroppedNoView},
		{models.RecipientUndecided, c.DroppedUndecided},
		{models.RecipientUnmatched, c.DroppedUnmatched},
		{models.RecipientDisabled, c.DroppedDisabled},
		{models.RecipientOwnEdit, c.DroppedOwnEdit},
		{models.RecipientUnknown, c.DroppedUnknown},
	}
	var out []droppedCount
	for _, d := range all {
		if d.Count > 0 {
			out = append(out, d)
		}
	}
	return out
}

// outcomeLabel names why a watcher was dropped.
func outcomeLabel(ctx context.Context, o models.RecipientOutcome) string {
	switch o {
	case models.RecipientSent, models.RecipientNoView, models.RecipientUndecided, models.RecipientUnmatched,
		models.RecipientDisabled, models.RecipientOwnEdit, models.RecipientUnknown:
		return locale.T(ctx, "deliveries.outcome."+string(o))
	}
	return string(o)
}

// deliveryError says what went wrong with a delivery: DingTalk's errcode and errmsg,
// labelled as DingTalk's, or our own words for the failures that were not an answer.
func deliveryError(ctx context.Context, d models.Delivery) string {
	switch {
	case d.LastError == "" && d.ErrCode == "":
		return ""
	case d.ErrCode != "":
		return locale.T(ctx, "deliveries.error.dingtalk", map[string]any{"Errcode": d.ErrCode, "Message": d.LastError})
	case d.LastError == models.InterruptedOnce:
		return locale.T(ctx, "deliveries.error.interruptedOnce")
	case d.LastError == models.InterruptedTwice:
		return locale.T(ctx, "deliveries.error.interruptedTwice")
	}
	return locale.T(ctx, "deliveries.error.other", map[string]any{"Message": d.LastError})
}

// retryable says whether Retry is offered for d.
func retryable(d models.Delivery) bool {
	return d.Status == models.DeliveryDead || d.Status == models.DeliveryUnknown
}

// recipientDetail says in the reader's language why a watcher was dropped, from the
// stored detail code; a detail from before the codes is shown as it was stored.
func recipientDetail(ctx context.Context, detail string) string {
	code, arg := models.ParseRecipientDetail(detail)
	switch code {
	case models.DetailNotInApp, models.DetailOwnEdit, models.DetailInactive, models.DetailNotifyOff,
		models.DetailUnmatched, models.DetailRestrictionsErr, models.DetailSpacePermErr, models.DetailGroupsErr,
		models.DetailNoSpaceView, models.DetailRestrictedPage, models.DetailRestrictedAnc, models.DetailSameDingTalk:
		if code == models.DetailUnmatched {
			arg = matchStatusLabel(ctx, models.MatchStatus(arg))
		}
		return locale.T(ctx, "deliveries.detail."+string(code), map[string]any{"Arg": arg})
	}
	return detail
}

// matchStatusLabel names a match outcome as the Members screens do.
func matchStatusLabel(ctx context.Context, s models.MatchStatus) string {
	switch s {
	case models.MatchUnmatched, models.MatchAmbiguous, models.MatchError:
		return locale.T(ctx, "match.status."+string(s))
	}
	return locale.T(ctx, "match.status.pending")
}
