package handlers

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/views"
)

// unmatchedPageSize is how many users one page of the unmatched list shows.
const unmatchedPageSize = 50

// unmatched lists the active Confluence users no single DingTalk user is matched to,
// with why, one page at a time.
func (h *Handlers) unmatched(c echo.Context) error {
	v := views.UnmatchedView{Query: strings.TrimSpace(c.QueryParam("q")), Page: 1, PageSize: unmatchedPageSize}
	if p, err := strconv.Atoi(c.QueryParam("page")); err == nil && p > 1 {
		v.Page = p
	}
	result, err := h.Identities.UsersWithoutDingTalkMatch(c.Request().Context(), models.UnmatchedUserQuery{
		Search: v.Query, Offset: (v.Page - 1) * v.PageSize, Limit: v.PageSize,
	})
	if err != nil {
		return fmt.Errorf("list users without a DingTalk match: %w", err)
	}
	v.Result = result
	v.TotalPages = (result.Total + v.PageSize - 1) / v.PageSize
	return render(c, http.StatusOK, views.Unmatched(h.page(c, "unmatched.title", "members"), v))
}
