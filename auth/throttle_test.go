package auth

import (
	"testing"
	"time"
)

func TestThrottle(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	th := NewThrottle(3, 30*time.Second, func() time.Time { return now })

	for i := 0; i < 3; i++ {
		if w := th.Wait("k"); w != 0 {
			t.Fatalf("attempt %d: wait %v before the burst is used", i+1, w)
		}
		th.Fail("k")
	}
	if w := th.Wait("k"); w != 30*time.Second {
		t.Fatalf("after burst wait = %v, want 30s", w)
	}
	if w := th.Wait("other"); w != 0 {
		t.Fatalf("other key throttled: %v", w)
	}
	now = now.Add(20 * time.Second)
	if w := th.Wait("k"); w != 10*time.Second {
		t.Fatalf("after 20s wait = %v, want 10s", w)
	}
	now = now.Add(10 * time.Second)
	if w := th.Wait("k"); w != 0 {
		t.Fatalf("after refill wait = %v, want 0", w)
	}
	th.Fail("k")
	th.Reset("k")
	if w := th.Wait("k"); w != 0 {
		t.Fatalf("after reset wait = %v", w)
	}
}
