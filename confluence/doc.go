// Package confluence is a small client for the Confluence Data Center REST API (7.17 and
// later), written on net/http because none of the public Go clients covers Data Center
// users, groups and watchers properly (see confluence-api.md §6).
//
// # Design
//
// Identity. A Client carries one Credential. The service account uses a personal access
// token (Bearer); a person's own check uses Basic with their username and password or
// PAT, and an OAuth 2.0 access token from Confluence's provider is just another Bearer
// token. WithCredential returns a copy of the client that shares its HTTP client, clock,
// logger and metrics, so a sign-in check never touches the service credential.
//
// Users. userKey is the stable id (webhooks carry only it); usernames can be renamed.
// Every user lookup asks for expand=status,details.personal; the e-mail comes from the
// top-level "email" field (some recent builds), else details.personal.email, else — when
// Confluence hides or drops it — GET /rest/mobile/1.0/profile/{username}, the one place
// some instances expose it (confluence-api.md §4.2). Status "deactivated" makes Active
// false; an instance that does not report a status is taken as active.
//
// Paging. Data Center answers with two envelopes: {results,start,limit,size,_links.next}
// and the cursor form of the 9.0 docs ({pageRequest,nextCursor,results,start,limit,next}).
// The client never follows the next link (the documented one points at a ".../paginate"
// path); it only treats its presence as "more", and asks for start+len(results) itself,
// so a server that caps limit below what was asked still pages correctly. Lists are
// streamed page by page (an iterator or a per-page callback), so a 10,000-member group
// never sits in memory at once.
//
// Failures. A non-2xx answer is an *Error carrying the HTTP status and Confluence's own
// message, read from its JSON error body ({statusCode,message}), an HTML page's title, or
// a plain-text body such as "XSRF check failed". Only reads (GET) are retried: on 429 and
// 503 and on transport errors, with backoff/v5's jittered exponential intervals, waiting
// Retry-After when given (unless it is longer than MaxRetryAfter), on the injected clock,
// at most MaxRetries times. Writes added later must not be retried blindly.
//
// Secrets. No credential ever reaches a log line or an error string: credentials are
// only put in the Authorization header, a BaseURL with user info is refused, transport
// errors drop the request URL, Credential formats itself without its secret, and any
// echo of the secret in an answer body is scrubbed before it becomes an error message.
//
// Metrics. Calls are counted by API name and status class (2xx, 4xx, 5xx, error), never
// by anything derived from the request, so label cardinality is fixed.
//
// Webhooks. ParseWebhook reads the body Confluence POSTs in either shape: the ID-only
// payload of Data Center 9+ ({timestamp,event,userKey,page|blog:{id}}) and the full
// legacy payload of 7.x/8.x (title, spaceKey, version, self), for page_created,
// page_updated, blog_created and blog_updated; other events parse as WebhookIgnored and
// the "Test connection" request (X-Event-Key diagnostics:ping, or {"test":true}) as
// WebhookTest. Ids are Java longs, read without float rounding and accepted only as
// positive decimal integers, so they are safe in a REST path. A refused body is a
// *ParseError naming its ParseProblem. VerifySignature checks X-Hub-Signature
// (sha256=<hex HMAC-SHA256(secret, raw body)>) in constant time and says why it refuses
// (ErrNoSecret, ErrSignatureMissing, ErrSignatureMalformed, ErrSignatureMismatch).
// UpdateTrigger.IsHousekeeping names the saves nobody should hear about.
//
// Content. Content asks /rest/api/content/{id}?status=any&expand=space,version,history,
// ancestors, so a trashed page reads as trashed and a draft as draft; purged content,
// and content the credential may not view (restrictions bind administrators too), is a
// 404. Content carries the web URL (_links.base + webui), the "View changes" DiffURL
// (diffpagesbyversion.action, versions n-1 and n) and the ancestor ids, root first.
// SearchContent pages through CQL results; ChangedSinceCQL is the reconciliation query
// (minute precision, in the calling user's time zone, so callers dedupe on id+version).
//
// Watchers. Watchers lists the page's and the space's watchers through the 9.0+
// resources, every page of them, and falls back to /json/listwatchers.action when the
// page resource answers 404 before any result (Confluence before 9.0). Both need an
// administrator's PAT; OAuth tokens are refused. Watchers.UserKeys de-duplicates.
//
// Permissions. ViewRestrictions reads the read restriction of the content and of every
// ancestor (restriction/byOperation/read, users and groups paged together) and keeps
// those that restrict; ViewRestrictions.Permits applies Confluence's rule that every
// level must let the user in, by userKey or group. SpaceViewPermission reads "View
// space" from /rest/api/space/{key}/permissions (9.1+; 404 before). Any error is
// returned as is: a caller that cannot decide must not send (fail closed).
//
// Growth. Each area lives in its own file on top of get and eachPage: users.go,
// groups.go, content.go, watchers.go, restrictions.go and webhook.go; webhook
// registration would follow the same pattern. confluencetest serves the same shapes
// over real HTTP.
package confluence
