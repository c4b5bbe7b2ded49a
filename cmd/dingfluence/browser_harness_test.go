package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath finds Debian's chromium; `make test` installs it when missing.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM_PATH"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium not found: run the suite with `make test`, which installs it, or set CHROMIUM_PATH")
	return ""
}

// newBrowser starts a headless chromium with a fresh profile and returns a
// tab context that ends with the test.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		// The machine has no outside network; background fetches only add
		// noise and delays.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// stepTimeout bounds one step, so a failing wait reports quickly and the
// page can still be read for the failure message.
const stepTimeout = 20 * time.Second

// do runs browser steps and fails the test, naming step, on error. On a
// failure it shows what the page held at that moment.
func do(t *testing.T, ctx context.Context, step string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	stepCtx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(stepCtx, actions...); err != nil {
		t.Fatalf("%s: %v\npage at that moment:\n%s", step, err, pageText(ctx))
	}
}

// pageText is the current URL and body text, for failure messages.
func pageText(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerHTML`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	if len(text) > 6000 {
		text = text[:6000] + "…"
	}
	return text
}

// read runs one browser query and returns its value.
func read[T any](t *testing.T, ctx context.Context, what string, action chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		t.Fatalf("read %s: %v", what, err)
	}
	return v
}

// pageReady waits until the page has loaded and htmx has wired up its
// elements, so a click right after a navigation is not lost.
func pageReady() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[bool](`document.readyState === "complete" && !!window.htmx && !!window.AJS`)(ctx, t)
		return err
	})
}

// htmxIdle waits until htmx has finished swapping and settling, so content
// it just inserted is wired up before the test clicks it.
func htmxIdle() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[bool](`!document.querySelector(".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added")`)(ctx, t)
		return err
	})
}

// css is a CSS selector for the first matching element.
func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

// screenshot saves the page into $DINGFLUENCE_SCREENSHOTS (used to refresh
// the README's pictures); without it nothing is written.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("DINGFLUENCE_SCREENSHOTS")
	if dir == "" {
		return
	}
	png := read(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatalf("write screenshot: %v", err)
	}
}

// browserSignIn signs in through the login form starting from path, which
// must redirect to it.
func browserSignIn(t *testing.T, ctx context.Context, base, path, username, password string) {
	t.Helper()
	do(t, ctx, "sign in",
		chromedp.Navigate(base+path),
		chromedp.WaitVisible(css(`#login-form`)),
		pageReady(),
		chromedp.SendKeys(css(`#username`), username),
		chromedp.SendKeys(css(`#password`), password),
		chromedp.Click(css(`#login-submit`)),
		// Only signed-in pages have the user menu.
		chromedp.WaitVisible(css(`#user-menu-trigger`)),
	)
}
