package matching_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dingfluence/dingfluence/matching"
	"github.com/dingfluence/dingfluence/models"
	"github.com/dingfluence/dingfluence/models/modelstest"
)

// matchAllTarget is the longest a MatchAll of 10,000 users may take.
const matchAllTarget = time.Second

// BenchmarkMatchAll re-matches 10,000 users against 10,000 DingTalk users, on SQLite and
// (when TEST_MYSQL_DSN is set, as `make bench` does) on MariaDB: a first pass that
// writes every result, and a second over unchanged data that must write none. Users
// alternate between e-mail (matched, via email or org_email), job number and no match,
// with a share of ambiguous job numbers. Meant to run once (-benchtime=1x).
func BenchmarkMatchAll(b *testing.B) {
	const n = 10_000
	for _, d := range modelstest.BenchDialects(b) {
		b.Run(d.Name, func(b *testing.B) {
			var first, second time.Duration
			var sum1, sum2 matching.Summary
			for range b.N {
				b.StopTimer()
				f := newFixture(b, d.Open(b))
				f.setGlobal(models.MatchEmail)
				seedMatching(b, f, n)
				b.StartTimer()
				start := time.Now()
				sum1 = f.matchAll()
				first = time.Since(start)
				start = time.Now()
				sum2 = f.matchAll()
				second = time.Since(start)
			}
			if sum1.Written != n || sum2.Written != 0 {
				b.Fatalf("MatchAll wrote %d then %d rows, want %d then 0", sum1.Written, sum2.Written, n)
			}
			b.ReportMetric(float64(first.Milliseconds()), "ms/first")
			b.ReportMetric(float64(second.Milliseconds()), "ms/second")
			fmt.Printf("match all, %d users x %d DingTalk users, %-6s first: %6.0f ms, %d rows written (%d matched, %d unmatched, %d ambiguous) (target < %v) %s\n",
				n, n, d.Name, ms(first), sum1.Written, sum1.Matched, sum1.Unmatched, sum1.Ambiguous, matchAllTarget, verdict(first < matchAllTarget))
			fmt.Printf("match all, %d users x %d DingTalk users, %-6s again: %6.0f ms, %d rows written (target < %v, 0 rows) %s\n",
				n, n, d.Name, ms(second), sum2.Written, matchAllTarget, verdict(second < matchAllTarget && sum2.Written == 0))
		})
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISSED"
}

func seedMatching(b *testing.B, f *fixture, n int) {
	b.Helper()
	ctx := context.Background()
	dts := make([]models.DingTalkUser, n)
	for i := range dts {
		dts[i] = models.DingTalkUser{
			UserID: fmt.Sprintf("dt%05d", i), Name: fmt.Sprintf("User %05d", i), Active: true,
			JobNumber: fmt.Sprintf("E%05d", i/2*2), // pairs share a job number: ambiguous
		}
		if i%2 == 0 {
			dts[i].Email = fmt.Sprintf("user%05d@example.com", i)
		} else {
			dts[i].OrgEmail = fmt.Sprintf("USER%05d@corp.example.com", i)
		}
	}
	if _, err := f.store.UpsertDingTalkUsers(ctx, dts, f.clock.Now()); err != nil {
		b.Fatal(err)
	}
	users := make([]models.User, n)
	for i := range users {
		u := models.User{Username: fmt.Sprintf("E%05d", i), Enabled: true}
		switch i % 3 {
		case 0:
			u.Email = fmt.Sprintf("user%05d@example.com", i)
			if i%2 == 1 {
				u.Email = fmt.Sprintf("user%05d@corp.example.com", i)
			}
		case 1:
			u.MatchingMethod = models.MatchJobNumber
		case 2:
			u.Email = fmt.Sprintf("nobody%05d@example.com", i)
		}
		users[i] = u
	}
	if err := f.store.DB().CreateInBatches(users, 500).Error; err != nil {
		b.Fatal(err)
	}
}
