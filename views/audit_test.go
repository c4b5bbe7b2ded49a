package views

import (
	"context"
	"testing"

	"github.com/dingfluence/dingfluence/locale"
	"github.com/dingfluence/dingfluence/models"
)

// Each sentence the services write into an audit entry reads the same in
// English as stored, and in 简体中文 in Chinese; one the app no longer writes
// is shown as recorded, and says so.
func TestAuditDetailsInTheReadersLanguage(t *testing.T) {
	bundle, err := locale.NewBundle()
	if err != nil {
		t.Fatal(err)
	}
	en := locale.WithLocalizer(context.Background(), bundle.Localizer("en"))
	zh := locale.WithLocalizer(context.Background(), bundle.Localizer("zh-Hans"))
	zhDead := bundle.Localizer("zh-Hans").T("deliveries.dstatus.dead")
	tests := []struct {
		action  models.AuditAction
		details string
		en, zh  string
	}{
		{models.ActionSignIn, "method: password", "method: password", "方式：密码"},
		{models.ActionSignInFailed, "method: confluence-password; reason: invalid credentials",
			"method: confluence-password; reason: invalid credentials", "方式：Confluence 密码或令牌；原因：用户名或密码错误"},
		{models.ActionSettingsUpdate, "changed: agentId, appSecret", "changed: agentId, appSecret", "修改了：agentId, appSecret"},
		{models.ActionConfluenceUpdate, "no changes", "no changes", "没有修改"},
		{models.ActionDeliveryRetry, "delivery 3 of event 2 (was dead after 8 attempts)", "delivery 3 of event 2 (was dead after 8 attempts)",
			"事件 2 的通知 3（原状态：" + zhDead + "，已尝试 8 次）"},
		{models.ActionSyncStart, "full of department 1 (run 7)", "Full sync of department 1 (run 7)", "全量同步，部门 ID 1（运行记录 7）"},
		{models.ActionDirectorySyncStart, "group confluence-users (run 3)", "group confluence-users (run 3)", "用户组 confluence-users（运行记录 3）"},
		{models.ActionSettingsTest, "succeeded (oapi.dingtalk.com)", "succeeded (oapi.dingtalk.com)", "成功（oapi.dingtalk.com）"},
		{models.ActionSettingsTest, "failed: errcode 40096 (oapi.dingtalk.com)", "failed: errcode 40096 (oapi.dingtalk.com)", "失败：钉钉返回错误码 40096（oapi.dingtalk.com）"},
		{models.ActionSettingsTest, "failed: DingTalk unreachable (127.0.0.1:9)", "failed: DingTalk unreachable (127.0.0.1:9)", "失败：无法连接钉钉（127.0.0.1:9）"},
		{models.ActionSettingsTest, "not run: settings.testNoSecret", "not run: No appSecret is stored yet. Type it in the appSecret field to test",
			"未执行：尚未保存 appSecret。请在 appSecret 字段中输入后再测试"},
		{models.ActionConfluenceTest, "failed: HTTP 401 (wiki.example.com)", "failed: HTTP 401 (wiki.example.com)", "失败：Confluence 返回 HTTP 401（wiki.example.com）"},
		{models.ActionConfluenceTest, "failed: Confluence unreachable (wiki.example.com)", "failed: Confluence unreachable (wiki.example.com)", "失败：无法连接 Confluence（wiki.example.com）"},
		{models.ActionConfluenceTest, "succeeded: administrator, can list group members (wiki.example.com)",
			"succeeded: administrator, can list group members (wiki.example.com)", "成功：是管理员，可以列出用户组成员（wiki.example.com）"},
		{models.ActionConfluenceTest, "signed in, but not in the admin group (wiki.example.com)",
			"signed in, but not in the admin group (wiki.example.com)", "signed in, but not in the admin group (wiki.example.com)（记录原文）"},
	}
	for _, tt := range tests {
		t.Run(tt.details, func(t *testing.T) {
			e := models.AuditEntry{Action: tt.action, Details: tt.details}
			if got := auditDetails(en, e); got != tt.en {
				t.Errorf("en: %q, want %q", got, tt.en)
			}
			if got := auditDetails(zh, e); got != tt.zh {
				t.Errorf("zh-Hans: %q, want %q", got, tt.zh)
			}
		})
	}
}
