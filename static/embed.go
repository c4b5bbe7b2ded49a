// Package static holds the browser assets served by dingfluence: our own
// app.css and app.js and the vendored AUI, jQuery and htmx under vendor/
// (refreshed by `make assets`, see scripts/vendor-assets.sh). They are
// embedded, so the binary needs no files next to it.
package static

import (
	"embed"
	"io/fs"
)

// Files holds the assets with paths relative to this directory, e.g.
// "app.css" or "vendor/htmx/htmx.min.js". An embed.FS is read-only, so it is
// safe to share. logo.svg is the product's mark (header and favicon);
// favicon.ico holds it rendered at 16, 32 and 48 px as PNGs, for browsers and
// tools that ask for /favicon.ico whatever the page says.
//
//go:embed app.css app.js logo.svg favicon.ico vendor
var Files embed.FS

// Favicon is the path of the .ico inside FS, served at /favicon.ico.
const Favicon = "favicon.ico"

// FS returns the assets as an fs.FS rooted at this directory.
func FS() fs.FS { return Files }

// Stylesheets are the CSS files every page includes, in this order, as paths
// inside FS (prefix them with the URL the FS is served under).
func Stylesheets() []string {
	return []string{
		"vendor/aui/aui-prototyping.css",
		"app.css",
	}
}

// Scripts are the JS files every page includes, in this order: AUI needs
// window.jQuery, and app.js configures htmx before it initialises.
func Scripts() []string {
	return []string{
		"vendor/jquery/jquery.min.js",
		"vendor/aui/aui-prototyping.js",
		"vendor/htmx/htmx.min.js",
		"app.js",
	}
}
