// Package notify turns accepted Confluence page events into DingTalk work notifications:
// the webhook inbox, enrichment over Confluence REST, coalescing, watcher fan-out with a
// permission check, the outbox of deliveries and the dispatcher that sends them.
//
// The flow, each step its own file:
//
//	inbox.go     POST /webhooks/confluence → one events row (nothing else on the request path)
//	enrich.go    pending event → Confluence REST → waiting (in its coalescing window) or skipped
//	fanout.go    due waiting event → watchers → who may view → DingTalk userids → deliveries
//	message.go   the action card each recipient reads, in their language, ≤ 2,048 bytes
//	dispatch.go  due deliveries → asyncsend_v2, recorded before and after every send
package notify
