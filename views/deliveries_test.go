package views

import (
	"context"
	"testing"

	"github.com/dingfluence/dingfluence/locale"
	"github.com/dingfluence/dingfluence/models"
)

// Why a watcher was dropped reads in the reader's language, with Confluence's own
// words kept as they came; a detail stored before the codes shows as stored.
func TestRecipientDetailInTheReadersLanguage(t *testing.T) {
	bundle, err := locale.NewBundle()
	if err != nil {
		t.Fatal(err)
	}
	en := locale.WithLocalizer(context.Background(), bundle.Localizer("en"))
	zh := locale.WithLocalizer(context.Background(), bundle.Localizer("zh-Hans"))
	tests := []struct {
		detail string
		en, zh string
	}{
		{models.RecipientDetail(models.DetailRestrictedPage, ""), "view restricted on the page", "页面设置了查看限制"},
		{models.RecipientDetail(models.DetailRestrictedAnc, "98765"), "view restricted on parent page 98765", "父页面 98765 设置了查看限制"},
		{models.RecipientDetail(models.DetailNoSpaceView, "ENG"), "no View permission on space ENG", "没有空间 ENG 的查看权限"},
		{models.RecipientDetail(models.DetailUnmatched, string(models.MatchAmbiguous)), "no DingTalk match (Ambiguous)", "没有匹配的钉钉用户（" + bundle.Localizer("zh-Hans").T("match.status.ambiguous") + "）"},
		{models.RecipientDetail(models.DetailGroupsErr, "HTTP 500: boom"), "their groups could not be read; not sent. Confluence says: HTTP 500: boom",
			"无法读取其所属用户组，未发送。Confluence 返回：HTTP 500: boom"},
		{models.RecipientDetail(models.DetailNotifyOff, ""), "Enable? is No on their DingTalk tab", "其钉钉标签页上的“启用？”为“否”"},
		{"an old sentence", "an old sentence", "an old sentence"},
	}
	for _, tt := range tests {
		if got := recipientDetail(en, tt.detail); got != tt.en {
			t.Errorf("en %q = %q, want %q", tt.detail, got, tt.en)
		}
		if got := recipientDetail(zh, tt.detail); got != tt.zh {
			t.Errorf("zh %q = %q, want %q", tt.detail, got, tt.zh)
		}
	}
}
