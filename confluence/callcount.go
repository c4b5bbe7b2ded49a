package confluence

import (
	"context"
	"sync/atomic"
)

type callCounterKey struct{}

// WithCallCounter returns a context under which every HTTP request a Client makes
// (retries and each page of a list included) adds one to n. The notify pipeline uses it
// to record how many Confluence requests one fan-out cost, without a counter on the
// shared Client.
func WithCallCounter(ctx context.Context, n *atomic.Int64) context.Context {
	return context.WithValue(ctx, callCounterKey{}, n)
}

// countCall adds one to the context's counter, if it has one.
func countCall(ctx context.Context) {
	if n, ok := ctx.Value(callCounterKey{}).(*atomic.Int64); ok && n != nil {
		n.Add(1)
	}
}
