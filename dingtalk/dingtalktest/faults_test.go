package dingtalktest_test

import (
	"net/http"
	"testing"

	"github.com/dingfluence/dingfluence/dingtalk/dingtalktest"
)

// outcomes makes n listsub calls and returns which of them failed, as a string of
// "x" (failed with -1) and "." (answered).
func outcomes(t *testing.T, s *dingtalktest.Server, n int) string {
	t.Helper()
	tok := token(t, s)
	out := make([]byte, n)
	for i := range out {
		a := do(t, http.MethodPost, s.URL()+"/topapi/v2/department/listsub?access_token="+tok, "application/json", `{"dept_id":1}`)
		switch a.code() {
		case -1:
			out[i] = 'x'
		case 0:
			out[i] = '.'
		default:
			t.Fatalf("call %d: %v", i, a.body)
		}
	}
	return string(out)
}

func TestFailTransiently(t *testing.T) {
	const calls = 400
	run := func(seed uint64) string {
		s := dingtalktest.Start(t, dingtalktest.Options{})
		s.FailTransiently("", 0.3, seed)
		return outcomes(t, s, calls)
	}
	first := run(42)
	failed := 0
	for _, c := range first {
		if c == 'x' {
			failed++
		}
	}
	// 30% of 400 is 120; a seeded draw lands well within ±40.
	if failed < 80 || failed > 160 {
		t.Errorf("%d of %d calls failed, want about 30%%", failed, calls)
	}
	if again := run(42); again != first {
		t.Errorf("the same seed failed other calls:\n%s\n%s", first, again)
	}
	if other := run(43); other == first {
		t.Errorf("another seed failed exactly the same calls")
	}

	// gettoken is left alone, and other APIs are not touched by an API's flakiness.
	s := dingtalktest.Start(t, dingtalktest.Options{})
	s.FailTransiently("v2/user/list", 1, 1)
	for range 20 {
		token(t, s)
	}
	if got := outcomes(t, s, 20); got != "...................." {
		t.Errorf("listsub beside a failing user/list: %s", got)
	}
	s.FailTransiently("", 1, 1)
	if a := do(t, http.MethodGet, s.URL()+"/gettoken?appkey="+s.AppKey()+"&appsecret="+s.AppSecret(), "", ""); a.code() != 0 {
		t.Errorf("gettoken under FailTransiently(\"\") = %v, want it answered", a.body)
	}
}

func TestFailDepartment(t *testing.T) {
	s := dingtalktest.Start(t, dingtalktest.Options{})
	s.AddDepartment(dingtalktest.Department{ID: 2, ParentID: 1, Name: "Eng"})
	s.AddDepartment(dingtalktest.Department{ID: 3, ParentID: 1, Name: "Sales"})
	s.FailDepartment(2, -1)
	for _, path := range []string{"/topapi/v2/department/listsub", "/topapi/v2/department/get", "/topapi/user/listid"} {
		if a := postJSON(t, s, path, `{"dept_id":2}`); a.code() != -1 {
			t.Errorf("%s of the failing department = %v, want -1", path, a.body)
		}
		if a := postJSON(t, s, path, `{"dept_id":3}`); a.code() != 0 {
			t.Errorf("%s of another department = %v, want an answer", path, a.body)
		}
	}
	if a := postJSON(t, s, "/topapi/v2/user/list", `{"dept_id":2,"cursor":0,"size":10}`); a.code() != -1 {
		t.Errorf("user/list of the failing department = %v, want -1", a.body)
	}
	s.HealDepartment(2)
	if a := postJSON(t, s, "/topapi/v2/department/listsub", `{"dept_id":2}`); a.code() != 0 {
		t.Errorf("listsub after HealDepartment = %v, want an answer", a.body)
	}
}
