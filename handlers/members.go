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

// membersPageSize is how many members one page of the Members screen lists.
const membersPageSize = 50

// members lists DingTalk users, optionally of one department (and its
// subtree), filtered by a search, one page at a time.
func (h *Handlers) members(c echo.Context) error {
	ctx := c.Request().Context()
	v := views.MembersView{
		Query:    strings.TrimSpace(c.QueryParam("q")),
		Subtree:  c.QueryParam("subtree") == "1",
		Page:     1,
		PageSize: membersPageSize,
	}
	v.WithoutConfluence = c.QueryParam("unlinked") == "1"
	if p, err := strconv.Atoi(c.QueryParam("page")); err == nil && p > 1 {
		v.Page = p
	}
	if d := c.QueryParam("dept"); d != "" {
		id, err := strconv.ParseInt(d, 10, 64)
		if err != nil || id <= 0 {
			return echo.NewHTTPError(http.StatusBadRequest, "error.badDepartment")
		}
		dept, err := h.Directory.Department(ctx, id)
		if err != nil {
			return withMessage(fmt.Errorf("load department %d: %w", id, err), "error.departmentNotFound")
		}
		v.DeptID, v.DeptName = id, dept.Name
	}
	result, err := h.Directory.SearchMembers(ctx, models.MemberQuery{
		Search: v.Query, DeptID: v.DeptID, Subtree: v.Subtree,
		Offset: (v.Page - 1) * v.PageSize, Limit: v.PageSize,
		WithoutConfluenceUser: v.WithoutConfluence,
	})
	if err != nil {
		return fmt.Errorf("search members: %w", err)
	}
	v.Result = result
	v.TotalPages = (result.Total + v.PageSize - 1) / v.PageSize
	return render(c, http.StatusOK, views.Members(h.page(c, "members.title", "members"), v))
}
