package directory_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/dingfluence/dingfluence/confluence"
	"github.com/dingfluence/dingfluence/confluence/confluencetest"
	"github.com/dingfluence/dingfluence/models/modelstest"
)

// directoryTarget is the longest a first sync of 10,000 users may take here (against a
// local simulated Confluence: the figure is this app's own cost, not Confluence's).
const directoryTarget = 5 * time.Second

// BenchmarkDirectorySync10k syncs a group of 10,000 users at Confluence's largest page
// (200) on SQLite and (under `make bench`) MariaDB: the first sync creates everyone, the
// second finds nothing changed and must make only the ⌈10,000 / 200⌉ = 50 list calls and
// write no row. Meant to run once (-benchtime=1x).
func BenchmarkDirectorySync10k(b *testing.B) {
	const n = 10_000
	pageSize := confluence.DefaultPageSize
	wantCalls := (n + pageSize - 1) / pageSize
	for _, d := range modelstest.BenchDialects(b) {
		b.Run(d.Name, func(b *testing.B) {
			var first, second time.Duration
			var calls1, calls2, rows1, rows2 int
			for range b.N {
				b.StopTimer()
				f := newFixture(b, d.Open(b), pageSize)
				names := make([]string, n)
				for i := range names {
					names[i] = fmt.Sprintf("user%05d", i)
					f.cf.AddUser(confluencetest.User{Username: names[i], DisplayName: fmt.Sprintf("User %05d", i),
						Email: names[i] + "@example.com"})
				}
				f.cf.AddToGroup(group, names...)
				b.StartTimer()
				start := time.Now()
				run := f.sync()
				first, calls1, rows1 = time.Since(start), f.listCalls(), run.RowsWritten()
				start = time.Now()
				run = f.sync()
				second, calls2, rows2 = time.Since(start), len(f.cf.Requests()), run.RowsWritten()
			}
			b.ReportMetric(ms(first), "ms/first")
			b.ReportMetric(ms(second), "ms/second")
			fmt.Printf("directory sync, %d users, %-6s first: %6.0f ms, %d list calls, %d rows written (target < %v) %s\n",
				n, d.Name, ms(first), calls1, rows1, directoryTarget, verdict(first < directoryTarget && calls1 == wantCalls && rows1 == n))
			fmt.Printf("directory sync, %d users, %-6s again: %6.0f ms, %d calls, %d rows written (target %d calls, 0 rows) %s\n",
				n, d.Name, ms(second), calls2, rows2, wantCalls, verdict(calls2 == wantCalls && rows2 == 0))
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
