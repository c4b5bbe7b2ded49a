package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dingfluence/dingfluence/confluence"
	"github.com/dingfluence/dingfluence/confluence/confluencetest"
	"github.com/dingfluence/dingfluence/models/modelstest"
)

// Targets of the webhook ingest (issue 9): throughput at least a quarter of the same
// server's /healthz, and p99 under 50 ms on MariaDB.
const (
	webhookSenders     = 64
	webhookRatioTarget = 0.25
	webhookP99Target   = 50 * time.Millisecond
	// webhookPhase is how long each of /healthz and the webhook is driven.
	webhookPhase = 3 * time.Second
)

// BenchmarkWebhookIngest drives POST /webhooks/confluence with 64 concurrent senders,
// each request a signed ID-only page_updated stored durably before its 202, on SQLite
// and MariaDB; throughput is given as a ratio of the same server's /healthz throughput
// measured in the same run with the same senders, and the webhook's p99 latency beside
// it. Every accepted event is counted in the database afterwards.
func BenchmarkWebhookIngest(b *testing.B) {
	for _, db := range modelstest.BenchDialects(b) {
		b.Run(db.Name, func(b *testing.B) {
			app := startApp(b, func(c *Config) { c.DB = db.DSN(b) })
			secret, _ := generateWebhookSecret(b, app)
			client := &http.Client{Transport: &http.Transport{MaxIdleConns: webhookSenders, MaxIdleConnsPerHost: webhookSenders}}
			defer client.CloseIdleConnections()

			healthz := func(int) *http.Request {
				req, _ := http.NewRequest(http.MethodGet, app.URL+"/healthz", nil)
				return req
			}
			var seq atomic.Int64
			webhook := func(int) *http.Request {
				n := seq.Add(1)
				body := fmt.Appendf(nil, `{"timestamp":%d,"event":"page_updated","userKey":"ff8081819ba46873019ba46aefbb0000","page":{"id":%d},"updateTrigger":"edit_page"}`,
					time.Now().UnixMilli(), 1_000_000+n)
				req, _ := http.NewRequest(http.MethodPost, app.URL+"/webhooks/confluence", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json; charset=utf-8")
				req.Header.Set(confluence.HeaderEventKey, string(confluence.EventPageUpdated))
				req.Header.Set(confluence.HeaderRequestID, fmt.Sprintf("bench-%d", n))
				req.Header.Set(confluence.HeaderSignature, confluencetest.Sign(secret, body))
				return req
			}

			// Warm both paths (connections, statement caches) before measuring.
			drive(b, client, healthz, http.StatusOK, 300*time.Millisecond)
			drive(b, client, webhook, http.StatusAccepted, 300*time.Millisecond)
			health := drive(b, client, healthz, http.StatusOK, webhookPhase)
			ingest := drive(b, client, webhook, http.StatusAccepted, webhookPhase)

			var stored int64
			if err := app.Store.DB().Table("events").Count(&stored).Error; err != nil {
				b.Fatal(err)
			}
			if stored != seq.Load() {
				b.Errorf("%d events stored, %d accepted", stored, seq.Load())
			}
			ratio := ingest.rate() / health.rate()
			p99 := ingest.percentile(0.99)
			b.ReportMetric(ingest.rate(), "webhooks/s")
			b.ReportMetric(ratio, "ratio-of-healthz")
			b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
			fmt.Printf("webhook ingest, %-6s %d senders: %7.0f req/s, /healthz %7.0f req/s: ratio %.3f (target ≥ %.2f) %s\n",
				db.Name, webhookSenders, ingest.rate(), health.rate(), ratio, webhookRatioTarget, verdict(ratio >= webhookRatioTarget))
			p99Line := fmt.Sprintf("webhook ingest, %-6s %d senders: p99 %6.2f ms, p50 %6.2f ms, p90 %6.2f ms, max %6.2f ms",
				db.Name, webhookSenders, ms(p99), ms(ingest.percentile(0.5)), ms(ingest.percentile(0.9)), ms(ingest.percentile(1)))
			if db.Name == "mysql" {
				fmt.Printf("%s (target < %d ms) %s\n", p99Line, webhookP99Target.Milliseconds(), verdict(p99 < webhookP99Target))
			} else {
				fmt.Println(p99Line + " (no target on SQLite)")
			}
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

// phase is what one drive measured.
type phase struct {
	elapsed   time.Duration
	latencies []time.Duration
}

func (p phase) rate() float64 { return float64(len(p.latencies)) / p.elapsed.Seconds() }

func (p phase) percentile(q float64) time.Duration {
	if len(p.latencies) == 0 {
		return 0
	}
	return p.latencies[min(len(p.latencies)-1, int(q*float64(len(p.latencies))))]
}

// drive sends requests from webhookSenders goroutines for d, each waiting for its
// answer before the next, and fails on any status other than want.
func drive(b *testing.B, c *http.Client, next func(sender int) *http.Request, want int, d time.Duration) phase {
	b.Helper()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		all      []time.Duration
		failures atomic.Int64
		firstErr atomic.Value
	)
	start := time.Now()
	deadline := start.Add(d)
	for s := range webhookSenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(deadline) {
				req := next(s)
				t0 := time.Now()
				res, err := c.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != want {
						err = fmt.Errorf("%s %s: status %d", req.Method, req.URL.Path, res.StatusCode)
					}
				}
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err)
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	p := phase{elapsed: time.Since(start), latencies: all}
	if n := failures.Load(); n > 0 {
		b.Fatalf("%d senders failed; first: %v", n, firstErr.Load())
	}
	slices.Sort(p.latencies)
	return p
}
