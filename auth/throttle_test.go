package auth

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

var throttleEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestThrottle(t *testing.T) {
	clock := clockwork.NewFakeClockAt(throttleEpoch)
	th := NewThrottle(3, 30*time.Second, 0, clock)

	for i := range 3 {
		if w := th.Take("k"); w != 0 {
			t.Fatalf("attempt %d: wait %v before the burst is used", i+1, w)
		}
	}
	if w := th.Take("k"); w != 30*time.Second {
		t.Fatalf("after burst wait = %v, want 30s", w)
	}
	if w := th.Take("other"); w != 0 {
		t.Fatalf("other key throttled: %v", w)
	}
	clock.Advance(20 * time.Second)
	if w := th.Take("k"); w != 10*time.Second {
		t.Fatalf("after 20s wait = %v, want 10s", w)
	}
	clock.Advance(10 * time.Second)
	if w := th.Take("k"); w != 0 {
		t.Fatalf("after refill wait = %v, want 0", w)
	}
	th.Reset("k")
	if w := th.Take("k"); w != 0 {
		t.Fatalf("after reset wait = %v", w)
	}
}

// A refused attempt takes nothing from any key, and a refunded one gives its
// token back, so a successful sign-in costs nothing.
func TestThrottleTakeIsAllOrNothingAndRefunds(t *testing.T) {
	clock := clockwork.NewFakeClockAt(throttleEpoch)
	th := NewThrottle(2, time.Minute, 0, clock)
	th.Take("a")
	th.Take("a")
	if w := th.Take("a", "b"); w == 0 {
		t.Fatal("a is empty but the attempt went ahead")
	}
	// b lost nothing to the refused attempt: both of its tokens are there.
	if th.Take("b") != 0 || th.Take("b") != 0 {
		t.Fatal("b was charged for an attempt that a's bucket refused")
	}
	th.Refund("b")
	if w := th.Take("b"); w != 0 {
		t.Fatalf("b after a refund: wait %v, want its token back", w)
	}
}

// However many addresses or usernames arrive, the throttle keeps at most its
// cap of keys, and a key costs the same whatever its length.
func TestThrottleMemoryIsBounded(t *testing.T) {
	clock := clockwork.NewFakeClockAt(throttleEpoch)
	const maxKeys = 10_000
	th := NewThrottle(5, 30*time.Second, maxKeys, clock)
	for i := range 20_000 {
		th.Take(fmt.Sprintf("ip:198.51.%d.%d", i/256, i%256))
	}
	if n := th.Len(); n > maxKeys {
		t.Fatalf("throttle holds %d keys after 20,000 distinct ones, want at most %d", n, maxKeys)
	}
	// The newest keys are the ones kept: the last address is still throttled.
	last := "ip:198.51.78.31" // i = 19,999
	for range 4 {
		th.Take(last)
	}
	if w := th.Take(last); w == 0 {
		t.Fatal("the most recent key was evicted")
	}
}

// A key costs the same whatever its length: 200 failed attempts with
// megabyte keys leave the heap where it was (keys kept as they came would
// hold 200 MB).
func TestThrottleDoesNotKeepLongKeys(t *testing.T) {
	th := NewThrottle(5, 30*time.Second, 0, clockwork.NewFakeClockAt(throttleEpoch))
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	long := strings.Repeat("x", 1<<20)
	before := heap()
	for i := range 200 {
		th.Take("user:" + long + strconv.Itoa(i) + "|ip:203.0.113.7")
	}
	after := heap()
	if th.Len() != 200 {
		t.Fatalf("throttle holds %d keys, want 200", th.Len())
	}
	if grown := int64(after) - int64(before); grown > 10<<20 {
		t.Fatalf("heap grew by %d MB for 200 keys", grown>>20)
	}
}
