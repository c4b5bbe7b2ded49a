package dingtalk

import (
	"context"
	"fmt"
)

// RootDepartmentID is the id of the company's root department.
const RootDepartmentID int64 = 1

// Department is one entry of listsub: a direct child department.
type Department struct {
	ID       int64  `json:"dept_id"`
	ParentID int64  `json:"parent_id"`
	Name     string `json:"name"`
}

// DepartmentDetail is the answer of v2/department/get.
type DepartmentDetail struct {
	ID          int64  `json:"dept_id"`
	ParentID    int64  `json:"parent_id"` // 0 for the root
	Name        string `json:"name"`
	Order       int64  `json:"order"`
	MemberCount int    `json:"member_count"` // includes sub-departments
}

// User is a DingTalk user as returned by v2/user/get and v2/user/list.
// Fields the app may not see (email, mobile, …) are simply empty.
type User struct {
	UserID    string  `json:"userid"`
	UnionID   string  `json:"unionid"`
	Name      string  `json:"name"`
	Email     string  `json:"email"`
	OrgEmail  string  `json:"org_email"`
	JobNumber string  `json:"job_number"`
	Mobile    string  `json:"mobile"`
	Title     string  `json:"title"`
	Active    bool    `json:"active"`
	DeptIDs   []int64 `json:"dept_id_list"`
}

// UserPage is one page of v2/user/list; pass NextCursor back while HasMore is true.
type UserPage struct {
	Users      []User `json:"list"`
	HasMore    bool   `json:"has_more"`
	NextCursor int64  `json:"next_cursor"`
}

// MaxPageSize is the largest page v2/user/list serves.
const MaxPageSize = 100

// ListSubDepartments returns the direct children of deptID (0 means the root).
func (c *Client) ListSubDepartments(ctx context.Context, deptID int64) ([]Department, error) {
	req := struct {
		DeptID int64 `json:"dept_id,omitempty"`
	}{deptID}
	var out struct {
		Result []Department `json:"result"`
	}
	if err := c.call(ctx, apiListSubDepts, req, &out); err != nil {
		return nil, err
	}
	return out.Result, nil
}

// GetDepartment returns the details of one department.
func (c *Client) GetDepartment(ctx context.Context, deptID int64) (DepartmentDetail, error) {
	var out struct {
		Result DepartmentDetail `json:"result"`
	}
	if err := c.call(ctx, apiGetDepartment, deptBody(deptID), &out); err != nil {
		return DepartmentDetail{}, err
	}
	return out.Result, nil
}

// ListUserIDs returns the userids of the direct members of deptID.
func (c *Client) ListUserIDs(ctx context.Context, deptID int64) ([]string, error) {
	var out struct {
		Result struct {
			UserIDs []string `json:"userid_list"`
		} `json:"result"`
	}
	if err := c.call(ctx, apiListUserIDs, deptBody(deptID), &out); err != nil {
		return nil, err
	}
	return out.Result.UserIDs, nil
}

// GetUser returns one user's details.
func (c *Client) GetUser(ctx context.Context, userID string) (User, error) {
	req := struct {
		UserID string `json:"userid"`
	}{userID}
	var out struct {
		Result User `json:"result"`
	}
	if err := c.call(ctx, apiGetUser, req, &out); err != nil {
		return User{}, err
	}
	return out.Result, nil
}

// ListUsers returns one page of the direct members of deptID, starting at cursor (0 first).
func (c *Client) ListUsers(ctx context.Context, deptID, cursor int64, size int) (UserPage, error) {
	if size < 1 || size > MaxPageSize {
		return UserPage{}, fmt.Errorf("dingtalk %s: %w (got %d)", apiListUsers, ErrInvalidPageSize, size)
	}
	req := struct {
		DeptID int64 `json:"dept_id"`
		Cursor int64 `json:"cursor"`
		Size   int   `json:"size"`
	}{deptID, cursor, size}
	var out struct {
		Result UserPage `json:"result"`
	}
	if err := c.call(ctx, apiListUsers, req, &out); err != nil {
		return UserPage{}, err
	}
	return out.Result, nil
}

// GetUserIDByMobile returns the userid of the current employee with this mobile number.
func (c *Client) GetUserIDByMobile(ctx context.Context, mobile string) (string, error) {
	req := struct {
		Mobile string `json:"mobile"`
	}{mobile}
	var out struct {
		Result struct {
			UserID string `json:"userid"`
		} `json:"result"`
	}
	if err := c.call(ctx, apiGetUserByMobile, req, &out); err != nil {
		return "", err
	}
	return out.Result.UserID, nil
}

func deptBody(deptID int64) any {
	return struct {
		DeptID int64 `json:"dept_id"`
	}{deptID}
}
