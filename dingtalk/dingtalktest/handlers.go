package dingtalktest

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	randv2 "math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dingfluence/dingfluence/dingtalk"
)

const (
	topapiContentType = "application/json;charset=UTF-8"
	tokenContentType  = "application/json"
)

// ServeHTTP answers like oapi.dingtalk.com: always HTTP 200 with a JSON envelope,
// except for paths outside /gettoken and /topapi/, which get a 404. An injected fault
// then replaces the answer (see InjectFault).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Read the body before taking the lock so one slow request does not stall the rest.
	p, token, parseErr := readParams(r)
	ans, fault := s.answer(r.URL.Path, r.URL.Query(), p, token, parseErr)
	switch fault {
	case FaultAcceptThenDrop:
		hj, ok := w.(http.Hijacker)
		if !ok {
			panic("dingtalktest: the connection cannot be hijacked to drop it")
		}
		conn, _, err := hj.Hijack()
		if err == nil {
			_ = conn.Close()
		}
		return
	case FaultAcceptThenStall:
		select {
		case s.stalled <- r.URL.Path:
		default: // nobody is listening; the stall goes on all the same
		}
		select {
		case <-r.Context().Done(): // the client gave up and closed the connection
		case <-s.closing:
		}
	}
	if ans.status == http.StatusNotFound {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", ans.contentType)
	_, _ = w.Write(ans.body)
}

// reply is an answer ready to be written.
type reply struct {
	status      int
	contentType string
	body        []byte
}

// answer does the call under the lock and returns its answer, and the fault to apply
// (0 for none).
func (s *Server) answer(path string, query url.Values, p params, token string, parseErr error) (reply, Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total++
	s.calls[path]++

	if s.ban != "" {
		ct := tokenContentType
		if !strings.HasPrefix(s.ban, "{") {
			ct = "text/html;charset=UTF-8"
		}
		return reply{http.StatusOK, ct, []byte(s.ban)}, 0
	}
	if path == "/gettoken" {
		body := s.serveToken(path, query)
		return jsonReply(tokenContentType, body), s.takeFault(path, body)
	}
	if !strings.HasPrefix(path, "/topapi/") {
		return reply{status: http.StatusNotFound}, 0
	}
	body, apiErr := s.serveTopapi(path, p, token, parseErr)
	if apiErr != nil {
		body = apiErr.body()
	} else {
		body["errcode"], body["errmsg"] = 0, "ok"
	}
	body["request_id"] = requestID()
	return jsonReply(topapiContentType, body), s.takeFault(path, body)
}

// takeFault uses up one injected fault for path, if the call got as far as being done
// (an injected or other error answer is written as it is); the caller holds s.mu.
func (s *Server) takeFault(path string, body map[string]any) Fault {
	if body["errcode"] != 0 {
		return 0
	}
	for i := range s.faults {
		f := &s.faults[i]
		if f.left > 0 && matchAPI(path, f.api) {
			f.left--
			return f.fault
		}
	}
	return 0
}

func (s *Server) serveToken(path string, q url.Values) map[string]any {
	if e := s.gate(path); e != nil {
		return e.body()
	}
	key, secret := q.Get("appkey"), q.Get("appsecret")
	if key == "" || secret == "" {
		return errorf(40035, "缺少参数 corpid or appkey").body()
	}
	if key != s.opts.AppKey || secret != s.opts.AppSecret {
		return errorf(40096, "不合法的appKey或appSecret").body()
	}
	now := s.opts.Clock.Now()
	// DingTalk hands out the same token while it is valid and extends its life.
	if s.token == "" || !now.Before(s.tokenUntil) {
		s.token = newToken()
	}
	s.tokenUntil = now.Add(s.opts.TokenTTL)
	s.issued++
	return map[string]any{
		"errcode": 0, "errmsg": "ok",
		"access_token": s.token, "expires_in": int64(s.opts.TokenTTL / time.Second),
	}
}

func (s *Server) serveTopapi(path string, p params, token string, parseErr error) (map[string]any, *apiError) {
	handle := s.route(path)
	if handle == nil {
		return nil, errorf(22, "不合法ApiName，ApiName = %s", apiName(path))
	}
	if e := s.gate(path); e != nil {
		return nil, e
	}
	switch {
	case token == "":
		return nil, errorf(40000, "access_token is blank")
	case token != s.token || !s.opts.Clock.Now().Before(s.tokenUntil):
		return nil, errorf(40014, "不合法的access_token")
	case parseErr != nil:
		return nil, errorf(400002, "不合法的参数")
	}
	if e := s.deptFault(p); e != nil {
		return nil, e
	}
	return handle(p)
}

func (s *Server) route(path string) func(params) (map[string]any, *apiError) {
	switch path {
	case "/topapi/message/corpconversation/asyncsend_v2":
		return s.asyncSend
	case "/topapi/v2/department/listsub":
		return s.listSub
	case "/topapi/v2/department/get":
		return s.getDepartment
	case "/topapi/user/listid":
		return s.listUserIDs
	case "/topapi/v2/user/get":
		return s.getUser
	case "/topapi/v2/user/list":
		return s.listUsers
	case "/topapi/v2/user/getbymobile":
		return s.getByMobile
	}
	return nil
}

// gate applies the per-API QPS window and injected errors; the caller holds s.mu.
func (s *Server) gate(path string) *apiError {
	if s.opts.QPS > 0 {
		now := s.opts.Clock.Now()
		times := s.recent[path]
		for len(times) > 0 && !times[0].After(now.Add(-time.Second)) {
			times = times[1:]
		}
		if len(times) >= s.opts.QPS {
			s.recent[path] = times
			return errorf(90018, "%s", defaultMsg(90018))
		}
		s.recent[path] = append(times, now)
	}
	for i := range s.injected {
		in := &s.injected[i]
		if in.left > 0 && matchAPI(path, in.api) {
			in.left--
			msg := defaultMsg(in.errcode)
			if in.errcode == 22 {
				msg = "不合法ApiName，ApiName = " + apiName(path)
			}
			return errorf(in.errcode, "%s", msg)
		}
	}
	for _, f := range s.flaky {
		matches := matchAPI(path, f.api) || (f.api == "" && path != "/gettoken")
		if matches && f.rng.Float64() < f.share {
			return errorf(-1, "%s", defaultMsg(-1))
		}
	}
	return nil
}

// deptFault answers the errcode set by FailDepartment for a call naming that dept_id.
func (s *Server) deptFault(p params) *apiError {
	if len(s.deptFaults) == 0 {
		return nil
	}
	id, e := p.integer("dept_id", false, 0)
	if e != nil {
		return nil // the handler reports the bad parameter itself
	}
	if code, ok := s.deptFaults[id]; ok {
		return errorf(code, "%s", defaultMsg(code))
	}
	return nil
}

type deptJSON struct {
	ID       int64  `json:"dept_id"`
	Name     string `json:"name"`
	ParentID int64  `json:"parent_id,omitempty"`
}

func (s *Server) listSub(p params) (map[string]any, *apiError) {
	id, e := p.integer("dept_id", false, dingtalk.RootDepartmentID)
	if e != nil {
		return nil, e
	}
	if _, ok := s.depts[id]; !ok {
		return nil, errorf(60003, "部门不存在")
	}
	result := []deptJSON{}
	for _, d := range s.depts {
		if d.ParentID == id && d.ID != id {
			result = append(result, deptJSON{ID: d.ID, Name: d.Name, ParentID: d.ParentID})
		}
	}
	slices.SortFunc(result, func(a, b deptJSON) int {
		return cmp.Or(cmp.Compare(s.depts[a.ID].Order, s.depts[b.ID].Order), cmp.Compare(a.ID, b.ID))
	})
	return map[string]any{"result": result}, nil
}

func (s *Server) getDepartment(p params) (map[string]any, *apiError) {
	id, e := p.integer("dept_id", true, 0)
	if e != nil {
		return nil, e
	}
	d, ok := s.depts[id]
	if !ok {
		return nil, errorf(60003, "部门不存在")
	}
	tree := s.subtree(id)
	members := 0
	for _, u := range s.users {
		if slices.ContainsFunc(u.DeptIDs, func(d int64) bool { return slices.Contains(tree, d) }) {
			members++
		}
	}
	return map[string]any{"result": struct {
		deptJSON
		Order       int64 `json:"order,omitempty"`
		MemberCount int   `json:"member_count"`
	}{deptJSON{ID: d.ID, Name: d.Name, ParentID: d.ParentID}, d.Order, members}}, nil
}

func (s *Server) listUserIDs(p params) (map[string]any, *apiError) {
	members, e := s.directMembers(p)
	if e != nil {
		return nil, e
	}
	ids := []string{}
	for _, u := range members {
		ids = append(ids, u.UserID)
	}
	return map[string]any{"result": map[string]any{"userid_list": ids}}, nil
}

// userJSON omits empty optional fields, as DingTalk does.
type userJSON struct {
	UserID    string  `json:"userid"`
	UnionID   string  `json:"unionid,omitempty"`
	Name      string  `json:"name"`
	Email     string  `json:"email,omitempty"`
	OrgEmail  string  `json:"org_email,omitempty"`
	JobNumber string  `json:"job_number,omitempty"`
	Mobile    string  `json:"mobile,omitempty"`
	Title     string  `json:"title,omitempty"`
	Active    bool    `json:"active"`
	DeptIDs   []int64 `json:"dept_id_list"`
}

func toJSON(u User) userJSON {
	depts := u.DeptIDs
	if depts == nil {
		depts = []int64{}
	}
	return userJSON{u.UserID, u.UnionID, u.Name, u.Email, u.OrgEmail, u.JobNumber, u.Mobile, u.Title, u.Active, depts}
}

func (s *Server) getUser(p params) (map[string]any, *apiError) {
	id, e := p.required("userid")
	if e != nil {
		return nil, e
	}
	u, ok := s.users[id]
	if !ok {
		return nil, errorf(60121, "找不到该用户")
	}
	return map[string]any{"result": toJSON(u)}, nil
}

func (s *Server) listUsers(p params) (map[string]any, *apiError) {
	cursor, e := p.integer("cursor", true, 0)
	if e != nil {
		return nil, e
	}
	size, e := p.integer("size", true, 0)
	if e != nil {
		return nil, e
	}
	if size < 1 || size > dingtalk.MaxPageSize || cursor < 0 {
		return nil, errorf(40035, "不合法的参数 cursor/size")
	}
	members, e := s.directMembers(p)
	if e != nil {
		return nil, e
	}
	start := min(int(cursor), len(members))
	end := min(start+int(size), len(members))
	list := []userJSON{}
	for _, u := range members[start:end] {
		list = append(list, toJSON(u))
	}
	result := map[string]any{"has_more": end < len(members), "list": list}
	if end < len(members) {
		result["next_cursor"] = end // DingTalk leaves it out on the last page
	}
	return map[string]any{"result": result}, nil
}

func (s *Server) getByMobile(p params) (map[string]any, *apiError) {
	mobile, e := p.required("mobile")
	if e != nil {
		return nil, e
	}
	for _, id := range s.userOrder {
		if u := s.users[id]; u.Active && u.Mobile == mobile {
			return map[string]any{"result": map[string]any{"userid": u.UserID}}, nil
		}
	}
	return nil, errorf(60121, "找不到该用户")
}

func (s *Server) asyncSend(p params) (map[string]any, *apiError) {
	agent, e := p.integer("agent_id", true, 0)
	if e != nil {
		return nil, e
	}
	if agent != s.opts.AgentID {
		return nil, errorf(40056, "不合法的agentid")
	}
	if toAll, _, _ := p.text("to_all_user"); toAll == "true" || p["dept_id_list"] != nil {
		return nil, errorf(40035, "dingtalktest 只模拟 userid_list")
	}
	list, _, e := p.text("userid_list")
	if e != nil {
		return nil, e
	}
	var ids []string
	for id := range strings.SplitSeq(list, ",") {
		if id = strings.TrimSpace(id); id != "" {
			ids = append(ids, id)
		}
	}
	switch {
	case len(ids) == 0:
		return nil, errorf(40035, "缺少参数 userid_list")
	case len(ids) > dingtalk.MaxRecipients:
		return nil, errorf(40035, "不合法的参数 userid_list, 最多%d个", dingtalk.MaxRecipients)
	}
	msg, e := p.object("msg")
	if e != nil {
		return nil, e
	}
	if len(msg) > dingtalk.MaxMessageBytes {
		return nil, errorf(34016, "%s", defaultMsg(34016))
	}
	var head struct {
		MsgType string `json:"msgtype"`
	}
	_ = json.Unmarshal(msg, &head) // object() already checked it is a JSON object
	switch head.MsgType {
	case "action_card":
		if e := checkActionCard(msg); e != nil {
			return nil, e
		}
	case "text", "image", "voice", "file", "link", "oa", "markdown":
	default:
		return nil, errorf(40008, "%s", defaultMsg(40008))
	}
	s.nextTask++
	s.sent = append(s.sent, SentMessage{TaskID: s.nextTask, AgentID: agent, UserIDs: ids, Msg: msg, At: s.opts.Clock.Now()})
	return map[string]any{"task_id": s.nextTask}, nil
}

// checkActionCard applies the documented action_card rules (KB/0775): title and
// markdown given; either single_title + single_url or btn_orientation ("0" or "1") +
// btn_json_list, not both and not half of one; a button title at most 20 characters,
// single_url at most 500, btn_json_list at most 1000. A body that is not the documented
// shape (action_card not an object, btn_json_list not a list of objects) is malformed
// message JSON, 34014; a field missing or out of its bounds is 40035, DingTalk's code for
// a missing or invalid parameter. (Which of the two codes DingTalk picks for a too-long
// button title is not documented; 40035 is the documented code for invalid parameters.)
func checkActionCard(msg json.RawMessage) *apiError {
	var body struct {
		Card json.RawMessage `json:"action_card"`
	}
	var card struct {
		Title          *string         `json:"title"`
		Markdown       *string         `json:"markdown"`
		SingleTitle    *string         `json:"single_title"`
		SingleURL      *string         `json:"single_url"`
		BtnOrientation *string         `json:"btn_orientation"`
		BtnJSONList    json.RawMessage `json:"btn_json_list"`
	}
	if json.Unmarshal(msg, &body) != nil || len(body.Card) == 0 || body.Card[0] != '{' || json.Unmarshal(body.Card, &card) != nil {
		return errorf(34014, "消息体格式错误: action_card")
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"title", card.Title}, {"markdown", card.Markdown}} {
		if f.v == nil || strings.TrimSpace(*f.v) == "" {
			return errorf(40035, "缺少参数 action_card.%s", f.name)
		}
	}
	single := card.SingleTitle != nil || card.SingleURL != nil
	list := card.BtnOrientation != nil || (len(card.BtnJSONList) > 0 && string(card.BtnJSONList) != "null")
	switch {
	case single && list:
		return errorf(40035, "不合法的参数 action_card: single_title/single_url 与 btn_orientation/btn_json_list 只能选其一")
	case single:
		return checkSingleButton(card.SingleTitle, card.SingleURL)
	case !list:
		return errorf(40035, "缺少参数 action_card.single_title/single_url 或 btn_orientation/btn_json_list")
	}
	if card.BtnOrientation == nil || (*card.BtnOrientation != "0" && *card.BtnOrientation != "1") {
		return errorf(40035, "不合法的参数 action_card.btn_orientation")
	}
	if len(card.BtnJSONList) == 0 || string(card.BtnJSONList) == "null" {
		return errorf(40035, "缺少参数 action_card.btn_json_list")
	}
	var buttons []json.RawMessage
	if json.Unmarshal(card.BtnJSONList, &buttons) != nil {
		return errorf(34014, "消息体格式错误: action_card.btn_json_list")
	}
	if len(buttons) == 0 {
		return errorf(40035, "缺少参数 action_card.btn_json_list")
	}
	if utf8.RuneCount(card.BtnJSONList) > dingtalk.MaxButtonListChars {
		return errorf(40035, "不合法的参数 action_card.btn_json_list, 最长%d个字符", dingtalk.MaxButtonListChars)
	}
	for i, raw := range buttons {
		var b struct {
			Title     *string `json:"title"`
			ActionURL *string `json:"action_url"`
		}
		if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &b) != nil {
			return errorf(34014, "消息体格式错误: action_card.btn_json_list[%d]", i)
		}
		switch {
		case b.Title == nil || *b.Title == "":
			return errorf(40035, "缺少参数 action_card.btn_json_list[%d].title", i)
		case b.ActionURL == nil || *b.ActionURL == "":
			return errorf(40035, "缺少参数 action_card.btn_json_list[%d].action_url", i)
		case utf8.RuneCountInString(*b.Title) > dingtalk.MaxButtonTitleChars:
			return errorf(40035, "不合法的参数 action_card.btn_json_list[%d].title, 最长%d个字符", i, dingtalk.MaxButtonTitleChars)
		}
	}
	return nil
}

func checkSingleButton(title, url *string) *apiError {
	switch {
	case title == nil || *title == "":
		return errorf(40035, "缺少参数 action_card.single_title")
	case url == nil || *url == "":
		return errorf(40035, "缺少参数 action_card.single_url")
	case utf8.RuneCountInString(*title) > dingtalk.MaxButtonTitleChars:
		return errorf(40035, "不合法的参数 action_card.single_title, 最长%d个字符", dingtalk.MaxButtonTitleChars)
	case utf8.RuneCountInString(*url) > dingtalk.MaxSingleURLChars:
		return errorf(40035, "不合法的参数 action_card.single_url, 最长%d个字符", dingtalk.MaxSingleURLChars)
	}
	return nil
}

// directMembers returns the users directly in dept_id, in insertion order.
func (s *Server) directMembers(p params) ([]User, *apiError) {
	id, e := p.integer("dept_id", true, 0)
	if e != nil {
		return nil, e
	}
	if _, ok := s.depts[id]; !ok {
		return nil, errorf(60003, "部门不存在")
	}
	var out []User
	for _, uid := range s.userOrder {
		if u := s.users[uid]; slices.Contains(u.DeptIDs, id) {
			out = append(out, u)
		}
	}
	return out, nil
}

// apiError is a non-zero errcode answer.
type apiError struct {
	code int
	msg  string
}

func errorf(code int, format string, args ...any) *apiError {
	return &apiError{code: code, msg: fmt.Sprintf(format, args...)}
}

// body renders the real shape: auth and permission codes wrapped in 88 with a string
// sub_code, 22 with sub_msg, everything else flat.
func (e *apiError) body() map[string]any {
	switch e.code {
	case 40000, 40014, 60011:
		sub := strconv.Itoa(e.code)
		return map[string]any{
			"errcode": 88, "sub_code": sub, "sub_msg": e.msg,
			"errmsg": fmt.Sprintf("ding talk error[subcode=%s,submsg=%s]", sub, e.msg),
		}
	case 22:
		return map[string]any{"errcode": 22, "sub_msg": e.msg, "errmsg": "Invalid method[submsg=" + e.msg + "]"}
	}
	return map[string]any{"errcode": e.code, "errmsg": e.msg}
}

func defaultMsg(code int) string {
	switch code {
	case -1:
		return "系统繁忙"
	case 40000:
		return "access_token is blank"
	case 40001:
		return "获取access_token时Secret错误，或者access_token无效"
	case 40008:
		return "不合法的消息类型"
	case 40014:
		return "不合法的access_token"
	case 40035:
		return "不合法的参数"
	case 40056:
		return "不合法的agentid"
	case 40089:
		return "不合法的corpId或corpSecret"
	case 40096:
		return "不合法的appKey或appSecret"
	case 42001:
		return "access_token超时"
	case 34016:
		return "消息内容过长"
	case 60003:
		return "部门不存在"
	case 60011:
		return "没有调用该接口的权限"
	case 60121:
		return "找不到该用户"
	case 90002:
		return "您的服务器调用钉钉开放平台当前接口的所有请求都被暂时禁用了, 请求总次数超过了限制, 处罚将在稍后结束."
	case 90018:
		return "当前应用调用该接口的并发量超过每秒调用次数上限"
	case 90020:
		return "您的企业本月api调用量已超过限制"
	}
	return "dingtalktest 注入的错误"
}

// apiName renders a path the way DingTalk names it in errcode 22.
func apiName(path string) string {
	return "dingtalk.oapi." + strings.ReplaceAll(strings.TrimPrefix(path, "/topapi/"), "/", ".")
}

// params merges query, form and JSON body parameters. Query and form values are kept as
// JSON strings, so every value is read the same way whichever way it was sent.
type params map[string]json.RawMessage

// readParams returns the merged parameters and the access token, which DingTalk reads
// from the query or a form body only (never from JSON or a header).
func readParams(r *http.Request) (params, string, error) {
	p := params{}
	q := r.URL.Query()
	for k, v := range q {
		p[k] = jsonString(v[0])
	}
	token := q.Get("access_token")
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return p, token, fmt.Errorf("read body: %w", err)
	}
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case mediaType == "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return p, token, fmt.Errorf("parse form: %w", err)
		}
		for k, v := range form {
			p[k] = jsonString(v[0])
		}
		if token == "" {
			token = form.Get("access_token")
		}
	case len(bytes.TrimSpace(body)) > 0:
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(body, &obj); err != nil {
			return p, token, fmt.Errorf("parse JSON body: %w", err)
		}
		maps.Copy(p, obj)
	}
	return p, token, nil
}

// text returns a string parameter, accepting a number's or bool's literal too.
func (p params) text(key string) (string, bool, *apiError) {
	raw, ok := p[key]
	switch {
	case !ok || string(raw) == "null":
		return "", false, nil
	case string(raw) == "true" || string(raw) == "false":
		return string(raw), true, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, true, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		return n.String(), true, nil
	}
	return "", true, errorf(400002, "不合法的参数 %s", key)
}

func (p params) required(key string) (string, *apiError) {
	v, ok, e := p.text(key)
	if e != nil {
		return "", e
	}
	if !ok || v == "" {
		return "", errorf(40035, "缺少参数 %s", key)
	}
	return v, nil
}

// integer reads a numeric parameter, accepting numeric strings as DingTalk does.
func (p params) integer(key string, required bool, def int64) (int64, *apiError) {
	v, ok, e := p.text(key)
	if e != nil {
		return 0, e
	}
	if !ok || v == "" {
		if required {
			return 0, errorf(40035, "缺少参数 %s", key)
		}
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, errorf(400002, "不合法的参数 %s", key)
	}
	return n, nil
}

// object reads a JSON object parameter, sent either as an object (JSON mode) or as a
// string holding one (form or query mode), and returns it compacted.
func (p params) object(key string) (json.RawMessage, *apiError) {
	raw, ok := p[key]
	if !ok || string(raw) == "null" {
		return nil, errorf(40035, "缺少参数 %s", key)
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		raw = json.RawMessage(s)
	}
	var obj map[string]json.RawMessage
	var buf bytes.Buffer
	if json.Unmarshal(raw, &obj) != nil || json.Compact(&buf, raw) != nil {
		return nil, errorf(34014, "%s 不是合法的JSON对象", key)
	}
	return buf.Bytes(), nil
}

func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s) // a string always marshals
	return b
}

func jsonReply(contentType string, body map[string]any) reply {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(body); err != nil {
		return reply{http.StatusInternalServerError, "text/plain;charset=UTF-8", []byte(err.Error())}
	}
	return reply{http.StatusOK, contentType, buf.Bytes()}
}

func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// requestID mimics DingTalk's 12–13 character lowercase alphanumeric request ids.
func requestID() string {
	const chars = "0123456789abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 12+randv2.IntN(2))
	for i := range b {
		b[i] = chars[randv2.IntN(len(chars))]
	}
	return string(b)
}
