package main

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/models/modelstest"
)

// BenchmarkMembersPage100k measures the Members screen over HTTP, through
// the whole app, with 100,000 DingTalk users in the database: the median of
// 20 requests for each kind of page, on SQLite and on MariaDB. Seeding takes
// far longer than measuring, so it is meant to run once (-benchtime=1x, as
// `make bench` does); the medians are the result.
func BenchmarkMembersPage100k(b *testing.B) {
	const users = 100_000
	databases := modelstest.BenchDialects(b)
	pages := []struct{ name, query string }{
		{"first page", ""},
		{"search by email prefix", "?q=user04217"},
		{"search by name", "?q=Wang"},
		{"search by phone", "?q=1380004"},
		{"phone middle", "?q=80004"},
		{"e-mail domain", "?q=acme.example"},
		{"search, page 3", "?q=user0&page=3"},
		{"sorted by userid", "?sort=userid&dir=desc"},
	}
	for _, db := range databases {
		b.Run(db.Name, func(b *testing.B) {
			app := startApp(b, func(c *Config) { c.DB = db.DSN(b) })
			seedMembers(b, app.Store, users)
			// As orgsync does after a sync that wrote users.
			if err := app.Store.AnalyzeOrgTables(b.Context()); err != nil {
				b.Fatal(err)
			}
			client := newClient(b)
			signIn(b, client, app.URL, "admin", testAdminPassword)
			for _, p := range pages {
				median := medianRequest(b, client, app.URL+"/admin/dingtalk/members"+p.query, 20)
				ms := float64(median.Microseconds()) / 1000
				b.ReportMetric(ms, "ms/"+slug(p.name))
				verdict := "ok"
				if ms >= 50 {
					verdict = "MISSED"
				}
				fmt.Printf("members page, %d users, %-6s %-24s median of 20: %6.2f ms (target < 50 ms) %s\n", users, db.Name, p.name, ms, verdict)
			}
		})
	}
}

// medianRequest GETs url n times and returns the median latency.
func medianRequest(b *testing.B, c *http.Client, url string, n int) time.Duration {
	b.Helper()
	durations := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		res, err := c.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: status %d", url, res.StatusCode)
		}
		durations = append(durations, time.Since(start))
	}
	slices.Sort(durations)
	return durations[n/2]
}

// seedMembers stores n DingTalk users in batches through the org sync's write
// (with their sort keys and search index), as a sync would leave them.
func seedMembers(b *testing.B, store *models.Store, n int) {
	b.Helper()
	surnames := []string{"Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Zhao", "Huang"}
	batch := make([]models.DingTalkUser, 0, 1000)
	now := time.Now().UTC()
	for i := range n {
		batch = append(batch, models.DingTalkUser{
			UserID:    fmt.Sprintf("u%05d", i),
			Name:      fmt.Sprintf("%s Wei %05d", surnames[i%len(surnames)], i),
			Email:     fmt.Sprintf("user%05d@acme.example", i),
			JobNumber: fmt.Sprintf("E%05d", i),
			Mobile:    fmt.Sprintf("138%08d", i),
			Active:    i%50 != 0,
			SyncedAt:  now,
		})
		if len(batch) == cap(batch) || i == n-1 {
			if _, err := store.UpsertDingTalkUsers(b.Context(), batch, now); err != nil {
				b.Fatalf("seed members: %v", err)
			}
			batch = batch[:0]
		}
	}
}

func slug(s string) string {
	out := []rune{}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			out = append(out, r)
		default:
			out = append(out, '_')
		}
	}
	return string(out)
}
