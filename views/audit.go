package views

import (
	"context"
	"regexp"
	"strings"

	"github.com/dingfluence/dingfluence/locale"
	"github.com/dingfluence/dingfluence/models"
)

// An audit entry's details are stored as the English sentence the service
// wrote at the time (models.AuditEntry), so old entries keep reading the same.
// auditDetails shows the ones the services write in the reader's language;
// anything else (an entry from an older release) is shown as recorded, and
// labelled so.
func auditDetails(ctx context.Context, e models.AuditEntry) string {
	text, host := e.Details, ""
	if m := auditHost.FindStringSubmatch(text); m != nil && e.Action != models.ActionSyncStart && e.Action != models.ActionDirectorySyncStart {
		text, host = m[1], m[2]
	}
	for _, p := range auditPatterns {
		m := p.re.FindStringSubmatch(text)
		if m == nil {
			continue
		}
		out := locale.T(ctx, p.id, p.data(ctx, m))
		if host != "" {
			out = locale.T(ctx, "audit.detail.withHost", map[string]any{"Text": out, "Host": host})
		}
		return out
	}
	return locale.T(ctx, "audit.detail.asRecorded", map[string]any{"Text": e.Details})
}

// auditHost is the " (host)" a Test connection entry ends with.
var auditHost = regexp.MustCompile(`^(.*) \(([^()\s]+)\)$`)

// auditPattern is one sentence a service writes, with the message id that
// says it and the values it carries.
type auditPattern struct {
	re   *regexp.Regexp
	id   string
	data func(ctx context.Context, m []string) map[string]any
}

func noData(context.Context, []string) map[string]any { return nil }

// auditPatterns are the sentences of auth, settings, models, orgsync and
// directory, in the order they are tried.
var auditPatterns = []auditPattern{
	{regexp.MustCompile(`^method: ([\w-]+)$`), "audit.detail.method", func(ctx context.Context, m []string) map[string]any {
		return map[string]any{"Method": auditMethod(ctx, m[1])}
	}},
	{regexp.MustCompile(`^method: ([\w-]+); reason: (.+)$`), "audit.detail.methodReason", func(ctx context.Context, m []string) map[string]any {
		reason := m[2]
		if reason == "invalid credentials" {
			reason = locale.T(ctx, "audit.reason.invalidCredentials")
		}
		return map[string]any{"Method": auditMethod(ctx, m[1]), "Reason": reason}
	}},
	{regexp.MustCompile(`^changed: (.+)$`), "audit.detail.changed", func(_ context.Context, m []string) map[string]any {
		return map[string]any{"Fields": m[1]}
	}},
	{regexp.MustCompile(`^no changes$`), "audit.detail.noChanges", noData},
	{regexp.MustCompile(`^(\w+) of department (\d+) \(run (\d+)\)$`), "audit.detail.syncStart", func(ctx context.Context, m []string) map[string]any {
		return map[string]any{"Kind": syncKindLabel(ctx, models.SyncKind(m[1])), "Department": m[2], "Run": m[3]}
	}},
	{regexp.MustCompile(`^group (.+) \(run (\d+)\)$`), "audit.detail.directorySync", func(_ context.Context, m []string) map[string]any {
		return map[string]any{"Group": m[1], "Run": m[2]}
	}},
	{regexp.MustCompile(`^webhook secret generated$`), "audit.detail.webhookSecretGenerated", noData},
	{regexp.MustCompile(`^webhook secret replaced$`), "audit.detail.webhookSecretReplaced", noData},
	{regexp.MustCompile(`^succeeded$`), "audit.detail.succeeded", noData},
	{regexp.MustCompile(`^succeeded: administrator, can list group members$`), "audit.detail.confluenceSucceeded", noData},
	{regexp.MustCompile(`^not run: ([\w.]+)$`), "audit.detail.notRun", func(ctx context.Context, m []string) map[string]any {
		return map[string]any{"Problem": strings.TrimRight(locale.T(ctx, m[1]), "。.")}
	}},
	{regexp.MustCompile(`^failed: DingTalk unreachable$`), "audit.detail.dingtalkUnreachable", noData},
	{regexp.MustCompile(`^failed: errcode (-?\d+)$`), "audit.detail.errcode", func(_ context.Context, m []string) map[string]any {
		return map[string]any{"Errcode": m[1]}
	}},
	{regexp.MustCompile(`^failed: Confluence unreachable$`), "audit.detail.confluenceUnreachable", noData},
	{regexp.MustCompile(`^delivery (\d+) of event (\d+) \(was (\w+) after (\d+) attempts\)$`), "audit.detail.deliveryRetry", func(ctx context.Context, m []string) map[string]any {
		return map[string]any{"Delivery": m[1], "Event": m[2], "Status": locale.T(ctx, "deliveries.dstatus."+m[3]), "Attempts": m[4]}
	}},
	{regexp.MustCompile(`^failed: HTTP (\d+)$`), "audit.detail.http", func(_ context.Context, m []string) map[string]any {
		return map[string]any{"Status": m[1]}
	}},
}

// auditMethod names a sign-in method.
func auditMethod(ctx context.Context, method string) string {
	switch method {
	case "password", "confluence-oauth", "confluence-password":
		return locale.T(ctx, "audit.method."+method)
	}
	return method
}
