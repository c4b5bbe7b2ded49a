package dingtalktest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/dingfluence/dingfluence/dingtalk/dingtalktest"
)

func newClock() *clockwork.FakeClock {
	return clockwork.NewFakeClockAt(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
}

// answer is a decoded response plus its Content-Type.
type answer struct {
	body        map[string]any
	contentType string
}

func (a answer) code() int { n, _ := a.body["errcode"].(float64); return int(n) }

func (a answer) str(key string) string { s, _ := a.body[key].(string); return s }

func (a answer) result() map[string]any { r, _ := a.body["result"].(map[string]any); return r }

func do(t *testing.T, method, rawURL, contentType, body string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, rawURL, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: HTTP %d, DingTalk always answers 200", method, rawURL, resp.StatusCode)
	}
	var a answer
	if err := json.Unmarshal(raw, &a.body); err != nil {
		t.Fatalf("%s %s: body %q is not JSON: %v", method, rawURL, raw, err)
	}
	a.contentType = resp.Header.Get("Content-Type")
	return a
}

func token(t *testing.T, s *dingtalktest.Server) string {
	t.Helper()
	a := do(t, http.MethodGet, s.URL()+"/gettoken?appkey="+s.AppKey()+"&appsecret="+s.AppSecret(), "", "")
	if a.code() != 0 {
		t.Fatalf("gettoken: %v", a.body)
	}
	return a.str("access_token")
}

// postJSON calls a topapi path with a valid token and a JSON body.
func postJSON(t *testing.T, s *dingtalktest.Server, path, body string) answer {
	t.Helper()
	return do(t, http.MethodPost, s.URL()+path+"?access_token="+token(t, s), "application/json", body)
}

var requestIDPattern = regexp.MustCompile(`^[0-9a-z]{12,13}$`)

func TestGettoken(t *testing.T) {
	s := dingtalktest.Start(t, dingtalktest.Options{AppKey: "key", AppSecret: "secret"})
	tests := []struct {
		name, method, query, contentType, body string
		wantCode                               int
		wantMsg                                string
	}{
		{"valid", "GET", "appkey=key&appsecret=secret", "", "", 0, "ok"},
		{"wrong secret", "GET", "appkey=key&appsecret=nope", "", "", 40096, "不合法的appKey或appSecret"},
		{"missing", "GET", "", "", "", 40035, "缺少参数 corpid or appkey"},
		{"credentials in a body are not read", "POST", "", "application/x-www-form-urlencoded", "appkey=key&appsecret=secret", 40035, "缺少参数 corpid or appkey"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := do(t, tt.method, s.URL()+"/gettoken?"+tt.query, tt.contentType, tt.body)
			if a.code() != tt.wantCode || a.str("errmsg") != tt.wantMsg {
				t.Errorf("got %v, want errcode %d errmsg %q", a.body, tt.wantCode, tt.wantMsg)
			}
			if a.contentType != "application/json" || a.body["request_id"] != nil {
				t.Errorf("Content-Type %q, request_id %v; gettoken has plain application/json and no request_id", a.contentType, a.body["request_id"])
			}
			if tt.wantCode == 0 && (!regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(a.str("access_token")) || a.body["expires_in"] != 7200.0) {
				t.Errorf("token answer %v, want 32 hex characters and expires_in 7200", a.body)
			}
		})
	}
}

func TestTokenIsReusedAndRenewedWhileValid(t *testing.T) {
	clock := newClock()
	s := dingtalktest.Start(t, dingtalktest.Options{Clock: clock})
	listsub := func(tok string) int {
		return do(t, "POST", s.URL()+"/topapi/v2/department/listsub?access_token="+tok, "application/json", "{}").code()
	}
	first := token(t, s)
	clock.Advance(7000 * time.Second)
	if again := token(t, s); again != first {
		t.Fatalf("asking again while valid gave %q, want the same %q", again, first)
	}
	clock.Advance(7000 * time.Second) // past the first expiry, within the renewed one
	if code := listsub(first); code != 0 {
		t.Fatalf("renewed token refused with %d", code)
	}
	clock.Advance(201 * time.Second)
	if code := listsub(first); code != 88 {
		t.Fatalf("expired token answered %d, want 88", code)
	}
	if next := token(t, s); next == first {
		t.Error("after expiry the same token was issued again")
	}
	if s.TokenIssued() != 3 {
		t.Errorf("TokenIssued = %d, want 3", s.TokenIssued())
	}
}

func TestAccessTokenShapes(t *testing.T) {
	s := dingtalktest.Start(t, dingtalktest.Options{})
	valid := token(t, s)
	expired := func() string { s.ExpireTokens(); return valid }
	tests := []struct {
		name        string
		send        func() answer
		wantSubCode string
		wantErrmsg  string
	}{
		{"missing", func() answer {
			return do(t, "POST", s.URL()+"/topapi/v2/user/get", "application/json", `{"userid":"a"}`)
		}, "40000", "ding talk error[subcode=40000,submsg=access_token is blank]"},
		{"in a JSON body only", func() answer {
			return do(t, "POST", s.URL()+"/topapi/v2/user/get", "application/json", `{"userid":"a","access_token":"`+valid+`"}`)
		}, "40000", "ding talk error[subcode=40000,submsg=access_token is blank]"},
		{"in the header only", func() answer {
			req, _ := http.NewRequest("POST", s.URL()+"/topapi/v2/user/get", strings.NewReader(`{"userid":"a"}`))
			req.Header.Set("x-acs-dingtalk-access-token", valid)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var a answer
			_ = json.NewDecoder(resp.Body).Decode(&a.body)
			return a
		}, "40000", "ding talk error[subcode=40000,submsg=access_token is blank]"},
		{"invalid", func() answer {
			return do(t, "POST", s.URL()+"/topapi/v2/user/get?access_token=0123", "application/json", `{"userid":"a"}`)
		}, "40014", "ding talk error[subcode=40014,submsg=不合法的access_token]"},
		{"expired", func() answer {
			return do(t, "POST", s.URL()+"/topapi/v2/user/get?access_token="+expired(), "application/json", `{"userid":"a"}`)
		}, "40014", "ding talk error[subcode=40014,submsg=不合法的access_token]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.send()
			if a.code() != 88 || a.str("sub_code") != tt.wantSubCode || a.str("errmsg") != tt.wantErrmsg {
				t.Errorf("got %v, want 88 with sub_code %q and errmsg %q", a.body, tt.wantSubCode, tt.wantErrmsg)
			}
			if !requestIDPattern.MatchString(a.str("request_id")) {
				t.Errorf("request_id %q does not look like DingTalk's", a.str("request_id"))
			}
		})
	}
}

func TestUnknownTopapiPath(t *testing.T) {
	s := dingtalktest.Start(t, dingtalktest.Options{})
	a := do(t, "POST", s.URL()+"/topapi/v2/user/notexist?access_token=x", "application/json", "{}")
	wantSub := "不合法ApiName，ApiName = dingtalk.oapi.v2.user.notexist"
	if a.code() != 22 || a.str("sub_msg") != wantSub || a.str("errmsg") != "Invalid method[submsg="+wantSub+"]" {
		t.Errorf("got %v, want errcode 22 naming the API", a.body)
	}
	if a.contentType != "application/json;charset=UTF-8" || !requestIDPattern.MatchString(a.str("request_id")) {
		t.Errorf("Content-Type %q, request_id %q", a.contentType, a.str("request_id"))
	}
}

func TestParametersAreMergedFromQueryFormAndJSON(t *testing.T) {
	s := dingtalktest.Start(t, dingtalktest.Options{})
	s.AddDepartment(dingtalktest.Department{ID: 2, ParentID: 1, Name: "R&D"})
	s.AddUser(dingtalktest.User{UserID: "alice", Name: "Alice", DeptIDs: []int64{2}})
	tok := token(t, s)
	msg := url.QueryEscape(`{"msgtype":"text","text":{"content":"hi"}}`)
	tests := []struct {
		name, path, query, contentType, body string
	}{
		{"JSON with a numeric string", "/topapi/user/listid", "access_token=" + tok, "application/json", `{"dept_id":"2"}`},
		{"form with the token in the form", "/topapi/user/listid", "", "application/x-www-form-urlencoded", "access_token=" + tok + "&dept_id=2"},
		{"everything in the query, msg as a string", "/topapi/message/corpconversation/asyncsend_v2",
			fmt.Sprintf("access_token=%s&agent_id=%d&userid_list=alice&msg=%s", tok, s.AgentID(), msg), "application/json", "{}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := do(t, "POST", s.URL()+tt.path+"?"+tt.query, tt.contentType, tt.body)
			if a.code() != 0 {
				t.Errorf("got %v, want success", a.body)
			}
		})
	}
	if sent := s.Sent(); len(sent) != 1 || string(sent[0].Msg) != `{"msgtype":"text","text":{"content":"hi"}}` {
		t.Errorf("recorded %+v, want the query-mode message", sent)
	}
}

func TestQPSLimitPerAPI(t *testing.T) {
	clock := newClock()
	s := dingtalktest.Start(t, dingtalktest.Options{QPS: 2, Clock: clock})
	tok := token(t, s) // gettoken has its own window
	call := func(path string) answer {
		return do(t, "POST", s.URL()+path+"?access_token="+tok, "application/json", `{"dept_id":1}`)
	}
	for i := range 2 {
		if a := call("/topapi/user/listid"); a.code() != 0 {
			t.Fatalf("call %d: %v", i+1, a.body)
		}
	}
	a := call("/topapi/user/listid")
	if a.code() != 90018 || a.body["sub_code"] != nil || !requestIDPattern.MatchString(a.str("request_id")) {
		t.Fatalf("third call in one second: %v, want flat 90018", a.body)
	}
	if a := call("/topapi/v2/department/get"); a.code() != 0 {
		t.Errorf("another API is limited separately, got %v", a.body)
	}
	clock.Advance(time.Second)
	if a := call("/topapi/user/listid"); a.code() != 0 {
		t.Errorf("a second later: %v, want success", a.body)
	}
}

func TestInjectError(t *testing.T) {
	tests := []struct {
		errcode     int
		wantErrcode int
		wantSubCode any
	}{
		{60011, 88, "60011"},
		{90018, 90018, nil},
		{90002, 90002, nil},
		{-1, -1, nil},
		{60121, 60121, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.errcode), func(t *testing.T) {
			s := dingtalktest.Start(t, dingtalktest.Options{})
			s.InjectError("/topapi/user/listid", tt.errcode, 2)
			for i := range 2 {
				a := postJSON(t, s, "/topapi/user/listid", `{"dept_id":1}`)
				if a.code() != tt.wantErrcode || a.body["sub_code"] != tt.wantSubCode || a.str("errmsg") == "" {
					t.Fatalf("call %d: %v, want errcode %d sub_code %v", i+1, a.body, tt.wantErrcode, tt.wantSubCode)
				}
			}
			if a := postJSON(t, s, "/topapi/user/listid", `{"dept_id":1}`); a.code() != 0 {
				t.Errorf("third call: %v, want success once the injection is used up", a.body)
			}
			if got := s.Calls("user/listid"); got != 3 {
				t.Errorf("Calls = %d, want 3", got)
			}
		})
	}
}

func TestAsyncSend(t *testing.T) {
	const textMsg = `{"msgtype":"text","text":{"content":"hi"}}`
	ids := func(n int) string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprint("u", i)
		}
		return strings.Join(out, ",")
	}
	tests := []struct {
		name     string
		agent    int64 // 0: the right one
		userids  string
		msg      string
		wantCode int
	}{
		{"accepted, unknown userids included", 0, "alice, ghost", textMsg, 0},
		{"100 recipients", 0, ids(100), textMsg, 0},
		{"wrong agent", 42, "alice", textMsg, 40056},
		{"no recipients", 0, "", textMsg, 40035},
		{"101 recipients", 0, ids(101), textMsg, 40035},
		{"msg over 2048 bytes", 0, "alice", `{"msgtype":"text","text":{"content":"` + strings.Repeat("a", 2048) + `"}}`, 34016},
		{"unknown msgtype", 0, "alice", `{"msgtype":"feedCard","feedCard":{}}`, 40008},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := dingtalktest.Start(t, dingtalktest.Options{AgentID: 836390886})
			s.AddUser(dingtalktest.User{UserID: "alice", Name: "Alice"})
			agent := tt.agent
			if agent == 0 {
				agent = s.AgentID()
			}
			body := fmt.Sprintf(`{"agent_id":%d,"userid_list":%q,"msg":%s}`, agent, tt.userids, tt.msg)
			a := postJSON(t, s, "/topapi/message/corpconversation/asyncsend_v2", body)
			if a.code() != tt.wantCode {
				t.Fatalf("got %v, want errcode %d", a.body, tt.wantCode)
			}
			sent := s.Sent()
			if tt.wantCode != 0 {
				if len(sent) != 0 {
					t.Errorf("a refused send was recorded: %+v", sent)
				}
				return
			}
			taskID, _ := a.body["task_id"].(float64)
			if len(sent) != 1 || float64(sent[0].TaskID) != taskID || sent[0].AgentID != 836390886 || string(sent[0].Msg) != tt.msg {
				t.Errorf("answer %v, recorded %+v", a.body, sent)
			}
			if want := strings.Split(strings.ReplaceAll(tt.userids, " ", ""), ","); strings.Join(sent[0].UserIDs, ",") != strings.Join(want, ",") {
				t.Errorf("recorded userids %v, want %v", sent[0].UserIDs, want)
			}
		})
	}
}

func TestUserList(t *testing.T) {
	s := dingtalktest.Start(t, dingtalktest.Options{})
	s.AddDepartment(dingtalktest.Department{ID: 2, ParentID: 1, Name: "R&D"})
	for i := range 3 {
		s.AddUser(dingtalktest.User{UserID: fmt.Sprint("u", i), Name: "x", DeptIDs: []int64{2}})
	}
	tests := []struct {
		body          string
		wantCode      int
		wantUsers     int
		wantHasMore   bool
		wantNextCursr any // nil: the key is absent
	}{
		{`{"dept_id":2,"cursor":0,"size":2}`, 0, 2, true, 2.0},
		{`{"dept_id":2,"cursor":2,"size":2}`, 0, 1, false, nil},
		{`{"dept_id":2,"cursor":0,"size":101}`, 40035, 0, false, nil},
		{`{"dept_id":99,"cursor":0,"size":10}`, 60003, 0, false, nil},
	}
	for _, tt := range tests {
		a := postJSON(t, s, "/topapi/v2/user/list", tt.body)
		if a.code() != tt.wantCode {
			t.Errorf("%s: got %v, want errcode %d", tt.body, a.body, tt.wantCode)
			continue
		}
		if tt.wantCode != 0 {
			continue
		}
		r := a.result()
		list, _ := r["list"].([]any)
		next, hasNext := r["next_cursor"]
		if len(list) != tt.wantUsers || r["has_more"] != tt.wantHasMore || (tt.wantNextCursr == nil) == hasNext || (hasNext && next != tt.wantNextCursr) {
			t.Errorf("%s: result %v", tt.body, r)
		}
	}
}

func TestUsers(t *testing.T) {
	s := dingtalktest.Start(t, dingtalktest.Options{})
	s.AddUser(dingtalktest.User{UserID: "alice", Name: "Alice", Mobile: "138", Active: true, DeptIDs: []int64{1}})
	s.AddUser(dingtalktest.User{UserID: "bob", Name: "Bob", Mobile: "139", Active: false, DeptIDs: []int64{1}})

	a := postJSON(t, s, "/topapi/v2/user/get", `{"userid":"alice"}`)
	for _, absent := range []string{"email", "org_email", "unionid", "title", "job_number"} {
		if _, ok := a.result()[absent]; ok {
			t.Errorf("empty %s is present in %v; DingTalk omits it", absent, a.result())
		}
	}
	tests := []struct {
		path, body string
		wantCode   int
	}{
		{"/topapi/v2/user/get", `{"userid":"ghost"}`, 60121},
		{"/topapi/v2/user/getbymobile", `{"mobile":"138"}`, 0},
		{"/topapi/v2/user/getbymobile", `{"mobile":"139"}`, 60121}, // not active
		{"/topapi/v2/user/getbymobile", `{"mobile":"000"}`, 60121},
	}
	for _, tt := range tests {
		if a := postJSON(t, s, tt.path, tt.body); a.code() != tt.wantCode {
			t.Errorf("%s %s: %v, want %d", tt.path, tt.body, a.body, tt.wantCode)
		}
	}
	s.UpdateUser(dingtalktest.User{UserID: "bob", Name: "Bob", Mobile: "139", Active: true})
	if a := postJSON(t, s, "/topapi/v2/user/getbymobile", `{"mobile":"139"}`); a.result()["userid"] != "bob" {
		t.Errorf("after activation: %v", a.body)
	}
	s.RemoveUser("alice")
	if a := postJSON(t, s, "/topapi/v2/user/get", `{"userid":"alice"}`); a.code() != 60121 {
		t.Errorf("removed user: %v, want 60121", a.body)
	}
}

func TestDepartmentTreeChanges(t *testing.T) {
	s := dingtalktest.Start(t, dingtalktest.Options{CompanyName: "ACME"})
	s.AddDepartment(dingtalktest.Department{ID: 2, ParentID: 1, Name: "R&D", Order: 2})
	s.AddDepartment(dingtalktest.Department{ID: 3, ParentID: 1, Name: "Sales", Order: 1})
	s.AddDepartment(dingtalktest.Department{ID: 4, ParentID: 2, Name: "Backend"})
	s.AddUser(dingtalktest.User{UserID: "alice", Name: "Alice", DeptIDs: []int64{1, 4}})

	children := func(parent int64) string {
		a := postJSON(t, s, "/topapi/v2/department/listsub", fmt.Sprintf(`{"dept_id":%d}`, parent))
		list, _ := a.body["result"].([]any)
		var names []string
		for _, d := range list {
			names = append(names, d.(map[string]any)["name"].(string))
		}
		return strings.Join(names, ",")
	}
	if got := children(1); got != "Sales,R&D" {
		t.Errorf("root children %q, want Sales,R&D (by order)", got)
	}
	if a := postJSON(t, s, "/topapi/v2/department/listsub", `{}`); len(a.body["result"].([]any)) != 2 {
		t.Errorf("listsub without dept_id: %v, want the root's children", a.body)
	}
	if a := postJSON(t, s, "/topapi/v2/department/get", `{"dept_id":1}`); a.result()["name"] != "ACME" {
		t.Errorf("root: %v, want the company name", a.body)
	}
	s.RenameDepartment(4, "Platform")
	s.MoveDepartment(4, 3)
	if got := children(3); got != "Platform" {
		t.Errorf("Sales children %q after move and rename", got)
	}
	s.RemoveDepartment(3)
	if got := children(1); got != "R&D" {
		t.Errorf("root children %q after removing Sales", got)
	}
	for _, id := range []int{3, 4} {
		if a := postJSON(t, s, "/topapi/v2/department/get", fmt.Sprintf(`{"dept_id":%d}`, id)); a.code() != 60003 {
			t.Errorf("removed department %d: %v, want 60003", id, a.body)
		}
	}
	if a := postJSON(t, s, "/topapi/v2/user/get", `{"userid":"alice"}`); fmt.Sprint(a.result()["dept_id_list"]) != "[1]" {
		t.Errorf("alice's departments %v, want [1] after her department went", a.result()["dept_id_list"])
	}
}

func TestIPBan(t *testing.T) {
	s := dingtalktest.Start(t, dingtalktest.Options{})
	s.BanIP(false)
	a := do(t, "GET", s.URL()+"/gettoken?appkey=x&appsecret=y", "", "")
	if a.body["punish"] != "deny" || a.body["errcode"] != nil {
		t.Errorf("banned answer %v, want the punish object without errcode", a.body)
	}
	s.LiftIPBan()
	if a := do(t, "GET", s.URL()+"/gettoken?appkey=x&appsecret=y", "", ""); a.code() != 40096 {
		t.Errorf("after the ban: %v", a.body)
	}
}

func TestCounters(t *testing.T) {
	s := dingtalktest.Start(t, dingtalktest.Options{})
	postJSON(t, s, "/topapi/v2/user/get", `{"userid":"x"}`)
	postJSON(t, s, "/topapi/v2/user/getbymobile", `{"mobile":"1"}`)
	checks := []struct {
		api  string
		want int
	}{
		{"gettoken", 2},
		{"/gettoken", 2},
		{"user/get", 1}, // a suffix at a "/" boundary: getbymobile is not counted
		{"/topapi/v2/user/get", 1},
		{"getbymobile", 1},
		{"et", 0},
	}
	for _, c := range checks {
		if got := s.Calls(c.api); got != c.want {
			t.Errorf("Calls(%q) = %d, want %d", c.api, got, c.want)
		}
	}
	if s.TotalCalls() != 4 || s.TokenIssued() != 2 {
		t.Errorf("TotalCalls %d, TokenIssued %d; want 4 and 2", s.TotalCalls(), s.TokenIssued())
	}
	s.ResetCounters()
	if s.TotalCalls() != 0 || s.TokenIssued() != 0 || s.Calls("gettoken") != 0 {
		t.Error("ResetCounters left counts behind")
	}
}

// A faulted call is done (a send is recorded as taken) and then answered by a dropped
// connection, or by an answer held until the client gives up.
func TestInjectFault(t *testing.T) {
	const path = "/topapi/message/corpconversation/asyncsend_v2"
	send := func(t *testing.T, s *dingtalktest.Server, tok string) (*http.Request, context.CancelFunc) {
		body := fmt.Sprintf(`{"agent_id":%d,"userid_list":"alice","msg":{"msgtype":"text","text":{"content":"hi"}}}`, s.AgentID())
		ctx, cancel := context.WithCancel(t.Context())
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL()+path+"?access_token="+tok, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		return req, cancel
	}

	t.Run("accept then drop", func(t *testing.T) {
		s := dingtalktest.Start(t, dingtalktest.Options{})
		tok := token(t, s)
		s.InjectFault("asyncsend_v2", dingtalktest.FaultAcceptThenDrop, 1)
		req, cancel := send(t, s, tok)
		defer cancel()
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("faulted send answered HTTP %d, want a dropped connection", resp.StatusCode)
		}
		if n := len(s.Sent()); n != 1 {
			t.Errorf("%d sends recorded, want 1: the send was taken before the drop", n)
		}
		req, cancel = send(t, s, tok)
		defer cancel()
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("send after the fault was used up: %v", err)
		}
		resp.Body.Close()
		if n := len(s.Sent()); n != 2 {
			t.Errorf("%d sends recorded, want 2", n)
		}
	})

	t.Run("accept then stall", func(t *testing.T) {
		s := dingtalktest.Start(t, dingtalktest.Options{})
		tok := token(t, s)
		s.InjectFault("asyncsend_v2", dingtalktest.FaultAcceptThenStall, 1)
		req, cancel := send(t, s, tok)
		errc := make(chan error, 1)
		go func() {
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			errc <- err
		}()
		if got := <-s.Stalled(); got != path {
			t.Errorf("stalled %q, want %q", got, path)
		}
		if n := len(s.Sent()); n != 1 {
			t.Errorf("%d sends recorded while stalled, want 1", n)
		}
		cancel() // the client gives up
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("stalled send ended with %v, want the client's cancellation", err)
		}
	})

	t.Run("an error answer is not faulted", func(t *testing.T) {
		s := dingtalktest.Start(t, dingtalktest.Options{})
		s.InjectError("user/listid", 90018, 1)
		s.InjectFault("user/listid", dingtalktest.FaultAcceptThenDrop, 1)
		if a := postJSON(t, s, "/topapi/user/listid", `{"dept_id":1}`); a.code() != 90018 {
			t.Fatalf("got %v, want the injected 90018", a.body)
		}
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL()+"/topapi/user/listid?access_token="+token(t, s), strings.NewReader(`{"dept_id":1}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			t.Fatal("the next successful call was answered, want it dropped")
		}
	})
}

// asyncsend_v2 holds an action_card to the documented rules, answering a card DingTalk
// would refuse with its error codes and recording nothing.
func TestAsyncSendActionCard(t *testing.T) {
	card := func(fields string) string { return `{"msgtype":"action_card","action_card":{` + fields + `}}` }
	const head = `"title":"Page updated","markdown":"**v7**",`
	twenty, twentyOne := strings.Repeat("页", 20), strings.Repeat("页", 21)
	longURL := "https://wiki.example/" + strings.Repeat("a", 480)
	tests := []struct {
		name     string
		msg      string
		wantCode int
		wantMsg  string // a part of errmsg
	}{
		{"single button", card(head + `"single_title":"View page","single_url":"https://wiki.example/p"`), 0, ""},
		{"two buttons in a row", card(head + `"btn_orientation":"1","btn_json_list":[{"title":"View page","action_url":"https://a"},{"title":"View changes","action_url":"https://b"}]`), 0, ""},
		{"buttons in a column", card(head + `"btn_orientation":"0","btn_json_list":[{"title":"A","action_url":"https://a"}]`), 0, ""},
		{"button title of 20 characters", card(head + `"single_title":"` + twenty + `","single_url":"https://a"`), 0, ""},
		{"single_url of 500 characters", card(head + `"single_title":"A","single_url":"` + longURL[:500] + `"`), 0, ""},
		{"no action_card object", `{"msgtype":"action_card"}`, 34014, "action_card"},
		{"action_card not an object", `{"msgtype":"action_card","action_card":"x"}`, 34014, "action_card"},
		{"no title", card(`"markdown":"m","single_title":"A","single_url":"https://a"`), 40035, "action_card.title"},
		{"empty markdown", card(`"title":"T","markdown":"","single_title":"A","single_url":"https://a"`), 40035, "action_card.markdown"},
		{"no button at all", card(head[:len(head)-1]), 40035, "single_title"},
		{"single_title without single_url", card(head + `"single_title":"A"`), 40035, "single_url"},
		{"single_url without single_title", card(head + `"single_url":"https://a"`), 40035, "single_title"},
		{"both kinds of button", card(head + `"single_title":"A","single_url":"https://a","btn_orientation":"1","btn_json_list":[{"title":"B","action_url":"https://b"}]`), 40035, "只能选其一"},
		{"list without orientation", card(head + `"btn_json_list":[{"title":"B","action_url":"https://b"}]`), 40035, "btn_orientation"},
		{"orientation without list", card(head + `"btn_orientation":"1"`), 40035, "btn_json_list"},
		{"orientation neither 0 nor 1", card(head + `"btn_orientation":"2","btn_json_list":[{"title":"B","action_url":"https://b"}]`), 40035, "btn_orientation"},
		{"empty list", card(head + `"btn_orientation":"1","btn_json_list":[]`), 40035, "btn_json_list"},
		{"list not a list", card(head + `"btn_orientation":"1","btn_json_list":{"title":"B"}`), 34014, "btn_json_list"},
		{"button not an object", card(head + `"btn_orientation":"1","btn_json_list":["B"]`), 34014, "btn_json_list[0]"},
		{"button without action_url", card(head + `"btn_orientation":"1","btn_json_list":[{"title":"A","action_url":"https://a"},{"title":"B"}]`), 40035, "btn_json_list[1].action_url"},
		{"single_title of 21 characters", card(head + `"single_title":"` + twentyOne + `","single_url":"https://a"`), 40035, "single_title"},
		{"button title of 21 characters", card(head + `"btn_orientation":"1","btn_json_list":[{"title":"` + twentyOne + `","action_url":"https://a"}]`), 40035, "btn_json_list[0].title"},
		{"single_url of 501 characters", card(head + `"single_title":"A","single_url":"` + longURL[:501] + `"`), 40035, "single_url"},
		{"btn_json_list over 1000 characters", card(head + `"btn_orientation":"0","btn_json_list":[` +
			strings.TrimSuffix(strings.Repeat(`{"title":"B","action_url":"`+longURL[:200]+`"},`, 5), ",") + `]`), 40035, "btn_json_list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := dingtalktest.Start(t, dingtalktest.Options{})
			body := fmt.Sprintf(`{"agent_id":%d,"userid_list":"alice","msg":%s}`, s.AgentID(), tt.msg)
			a := postJSON(t, s, "/topapi/message/corpconversation/asyncsend_v2", body)
			if a.code() != tt.wantCode || !strings.Contains(a.str("errmsg"), tt.wantMsg) || a.body["sub_code"] != nil {
				t.Fatalf("got %v, want flat errcode %d with %q", a.body, tt.wantCode, tt.wantMsg)
			}
			if !requestIDPattern.MatchString(a.str("request_id")) {
				t.Errorf("no request_id: %v", a.body)
			}
			if n := len(s.Sent()); (tt.wantCode == 0) != (n == 1) {
				t.Errorf("recorded %d sends for errcode %d", n, tt.wantCode)
			}
		})
	}
}
