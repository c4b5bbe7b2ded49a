package handlers

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/views"
)

// membersPageSize is how many members one page of the Members screen lists.
const membersPageSize = 50

// membersView reads the Members screen's filters, search and sort from the request.
func (h *Handlers) membersView(c echo.Context) (views.MembersView, error) {
	v := views.MembersView{
		Query:    strings.TrimSpace(c.QueryParam("q")),
		Subtree:  c.QueryParam("subtree") == "1",
		Sort:     models.MemberSort(c.QueryParam("sort")),
		Desc:     c.QueryParam("dir") == "desc",
		Page:     1,
		PageSize: membersPageSize,
	}
	if !v.Sort.Valid() {
		v.Sort = models.SortByName
	}
	v.WithoutConfluence = c.QueryParam("unlinked") == "1"
	if p, err := strconv.Atoi(c.QueryParam("page")); err == nil && p > 1 {
		v.Page = p
	}
	if d := c.QueryParam("dept"); d != "" {
		id, err := strconv.ParseInt(d, 10, 64)
		if err != nil || id <= 0 {
			return v, echo.NewHTTPError(http.StatusBadRequest, "error.badDepartment")
		}
		dept, err := h.Directory.Department(c.Request().Context(), id)
		if err != nil {
			return v, withMessage(fmt.Errorf("load department %d: %w", id, err), "error.departmentNotFound")
		}
		v.DeptID, v.DeptName = id, dept.Name
	}
	return v, nil
}

// memberQuery is the store query of v's page.
func memberQuery(v views.MembersView) models.MemberQuery {
	return models.MemberQuery{
		Search: v.Query, DeptID: v.DeptID, Subtree: v.Subtree, Sort: v.Sort, Desc: v.Desc,
		Offset: (v.Page - 1) * v.PageSize, Limit: v.PageSize,
		WithoutConfluenceUser: v.WithoutConfluence,
	}
}

// members lists DingTalk users, optionally of one department (and its
// subtree), filtered by a search, in the chosen order, one page at a time.
func (h *Handlers) members(c echo.Context) error {
	v, err := h.membersView(c)
	if err != nil {
		return err
	}
	result, err := h.Directory.SearchMembers(c.Request().Context(), memberQuery(v))
	if err != nil {
		return fmt.Errorf("search members: %w", err)
	}
	v.Result = result
	// A page past the end shows the last one, and says so in its pager.
	v.Page = result.Offset/v.PageSize + 1
	v.TotalPages = (result.Total + v.PageSize - 1) / v.PageSize
	return render(c, http.StatusOK, views.Members(h.page(c, "members.title", "members"), v))
}

// membersCSV streams every member the Members screen's filters and search select, in
// its order, as a spreadsheet file.
func (h *Handlers) membersCSV(c echo.Context) error {
	v, err := h.membersView(c)
	if err != nil {
		return err
	}
	res := c.Response()
	res.Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	res.Header().Set(echo.HeaderContentDisposition, `attachment; filename="dingtalk-members.csv"`)
	res.Header().Set("Cache-Control", "no-store")
	out := views.NewMembersCSV(c.Request().Context(), res)
	if err := out.Header(); err != nil {
		return fmt.Errorf("write members CSV: %w", err)
	}
	err = h.Directory.ExportMembers(c.Request().Context(), memberQuery(v), func(rows []models.MemberRow) error {
		if err := out.Rows(rows); err != nil {
			return err
		}
		res.Flush()
		return nil
	})
	if err != nil {
		// The file has begun, so no error page can follow: it ends here, short, and
		// the log says why.
		h.Logger.ErrorContext(c.Request().Context(), "export members", slog.Any("error", err))
	}
	return nil
}
