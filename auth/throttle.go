package auth

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/jonboulle/clockwork"
)

// DefaultThrottleKeys is how many keys a throttle tracks at most. Each costs well under
// 200 bytes, so the cap holds the throttle to a few MB whatever arrives.
const DefaultThrottleKeys = 10_000

// Throttle limits sign-in attempts per key with a token bucket: a burst of attempts is
// allowed (people mistype), then one more per interval.
//
// An attempt takes its token before the password is checked, not after it failed: checked
// afterwards, N guesses sent in parallel would all pass the check before the first failure
// was counted. A sign-in that succeeds gives its token back.
//
// Memory is bounded twice over: keys are stored as their SHA-256, so a megabyte username
// costs 32 bytes, and at most maxKeys buckets are kept, the least recently used making
// room for a new one. A bucket that has filled up again says nothing and is dropped.
type Throttle struct {
	mu      sync.Mutex
	buckets *simplelru.LRU[bucketKey, *bucket]
	every   time.Duration
	burst   int
	clock   clockwork.Clock
}

// bucketKey is the SHA-256 of a throttle key.
type bucketKey [sha256.Size]byte

// bucket is one key's tokens as of at.
type bucket struct {
	tokens float64
	at     time.Time
}

// NewThrottle allows burst attempts per key, then one per every, tracking at most maxKeys
// keys (DefaultThrottleKeys when maxKeys <= 0).
func NewThrottle(burst int, every time.Duration, maxKeys int, clock clockwork.Clock) *Throttle {
	if maxKeys <= 0 {
		maxKeys = DefaultThrottleKeys
	}
	// NewLRU fails only for a size <= 0, excluded above.
	buckets, _ := simplelru.NewLRU[bucketKey, *bucket](maxKeys, nil)
	return &Throttle{buckets: buckets, every: every, burst: burst, clock: clock}
}

// tokensAt is what b holds at now, refilled since b.at.
func (t *Throttle) tokensAt(b *bucket, now time.Time) float64 {
	elapsed := now.Sub(b.at)
	if elapsed <= 0 {
		return b.tokens
	}
	return min(float64(t.burst), b.tokens+float64(elapsed)/float64(t.every))
}

// Take takes one attempt from each key's bucket. If any bucket is empty it takes none and
// returns how long until every key has an attempt again; zero means go ahead.
func (t *Throttle) Take(keys ...string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.clock.Now()
	hashed := make([]bucketKey, len(keys))
	var wait time.Duration
	for i, k := range keys {
		hashed[i] = sha256.Sum256([]byte(k))
		if b, ok := t.buckets.Peek(hashed[i]); ok {
			if tokens := t.tokensAt(b, now); tokens < 1 {
				wait = max(wait, time.Duration((1-tokens)*float64(t.every)))
			}
		}
	}
	if wait > 0 {
		return wait
	}
	for _, h := range hashed {
		b, ok := t.buckets.Get(h)
		if !ok {
			b = &bucket{tokens: float64(t.burst), at: now}
			t.buckets.Add(h, b)
		}
		b.tokens, b.at = t.tokensAt(b, now)-1, now
	}
	return 0
}

// Refund gives back the attempt Take took from each key, for a sign-in that succeeded (or
// could not be checked at all).
func (t *Throttle) Refund(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.clock.Now()
	for _, k := range keys {
		h := sha256.Sum256([]byte(k))
		b, ok := t.buckets.Peek(h)
		if !ok {
			continue
		}
		b.tokens, b.at = min(float64(t.burst), t.tokensAt(b, now)+1), now
		if b.tokens >= float64(t.burst) {
			t.buckets.Remove(h)
		}
	}
}

// Reset forgets the attempts of key, after a successful sign-in.
func (t *Throttle) Reset(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buckets.Remove(sha256.Sum256([]byte(key)))
}

// Len reports how many keys the throttle holds now.
func (t *Throttle) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buckets.Len()
}
