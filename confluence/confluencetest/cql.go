package confluencetest

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// cqlQuery is the subset of CQL the server understands: clauses joined by "and" on
// type (= or in), space (= or in) and lastmodified (>, >=, <, <=), then an optional
// "order by lastmodified [asc|desc]". Anything else is refused with 400, so a test
// learns at once that its query relies on more than the double knows.
type cqlQuery struct {
	types  []string
	spaces []string
	after  []cqlTime
	desc   bool
}

type cqlTime struct {
	op string
	t  time.Time
}

var (
	cqlOrder  = regexp.MustCompile(`(?i)\s+order\s+by\s+lastmodified(?:\s+(asc|desc))?\s*$`)
	cqlAnd    = regexp.MustCompile(`(?i)\s+and\s+`)
	cqlClause = regexp.MustCompile(`(?i)^\s*(type|space|lastmodified)\s*(>=|<=|=|>|<|in)\s*(.+?)\s*$`)
)

func parseCQL(cql string) (cqlQuery, error) {
	var q cqlQuery
	if strings.TrimSpace(cql) == "" {
		return q, errors.New("empty query")
	}
	if m := cqlOrder.FindStringSubmatchIndex(cql); m != nil {
		q.desc = m[2] >= 0 && strings.EqualFold(cql[m[2]:m[3]], "desc")
		cql = cql[:m[0]]
	}
	for _, part := range cqlAnd.Split(cql, -1) {
		m := cqlClause.FindStringSubmatch(part)
		if m == nil {
			return q, fmt.Errorf("unsupported clause %q", strings.TrimSpace(part))
		}
		field, op, val := strings.ToLower(m[1]), strings.ToLower(m[2]), m[3]
		switch field {
		case "type", "space":
			vals, err := cqlValues(op, val)
			if err != nil {
				return q, err
			}
			if field == "type" {
				q.types = append(q.types, vals...)
			} else {
				q.spaces = append(q.spaces, vals...)
			}
		case "lastmodified":
			if op == "in" || op == "=" {
				return q, fmt.Errorf("lastmodified takes >, >=, < or <=, not %s", op)
			}
			t, err := cqlDate(unquote(val))
			if err != nil {
				return q, err
			}
			q.after = append(q.after, cqlTime{op: op, t: t})
		}
	}
	return q, nil
}

func cqlValues(op, val string) ([]string, error) {
	switch op {
	case "=":
		return []string{unquote(val)}, nil
	case "in":
		if !strings.HasPrefix(val, "(") || !strings.HasSuffix(val, ")") {
			return nil, fmt.Errorf("in needs a (list), got %q", val)
		}
		var out []string
		for _, v := range strings.Split(val[1:len(val)-1], ",") {
			out = append(out, unquote(strings.TrimSpace(v)))
		}
		return out, nil
	}
	return nil, fmt.Errorf("operator %s does not apply here", op)
}

func unquote(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && (s[0] == '"' && s[len(s)-1] == '"' || s[0] == '\'' && s[len(s)-1] == '\'') {
		return s[1 : len(s)-1]
	}
	return s
}

// cqlDate reads the date forms CQL accepts, in UTC: the server stands for a Confluence
// user whose profile time zone is UTC.
func cqlDate(s string) (time.Time, error) {
	for _, layout := range []string{"2006/01/02 15:04", "2006-01-02 15:04", "2006/01/02", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a CQL date", s)
}

func (q cqlQuery) matches(c *content) bool {
	if len(q.types) > 0 && !containsFold(q.types, string(c.typ)) {
		return false
	}
	if len(q.spaces) > 0 && !containsFold(q.spaces, c.space.key) {
		return false
	}
	// CQL compares at minute precision.
	mod := c.latest().when.Truncate(time.Minute)
	for _, a := range q.after {
		ok := false
		switch a.op {
		case ">":
			ok = mod.After(a.t)
		case ">=":
			ok = !mod.Before(a.t)
		case "<":
			ok = mod.Before(a.t)
		case "<=":
			ok = !mod.After(a.t)
		}
		if !ok {
			return false
		}
	}
	return true
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
