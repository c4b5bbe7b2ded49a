#!/usr/bin/env bash
# Vendors the browser assets (AUI, jQuery, htmx) from npm into static/vendor/.
#
# The result is committed, so building or testing dingfluence needs no npm:
# run this (`make assets`) only to change one of the pinned versions below.
# It is idempotent: a second run with the same versions changes nothing.
set -euo pipefail

# Pinned versions. AUI's package.json declares jquery as a peer dependency
# (^2 || ^3), so we vendor the newest 3.x; htmx stays on 2.x.
AUI_VERSION=10.0.4
JQUERY_VERSION=3.8.0
HTMX_VERSION=2.0.11

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest=$root/static/vendor

command -v npm >/dev/null || { echo "vendor-assets: npm not found (apt-get install npm)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --ignore-scripts: we only want the published files, never install hooks.
echo "vendor-assets: npm install @atlassian/aui@$AUI_VERSION jquery@$JQUERY_VERSION htmx.org@$HTMX_VERSION"
npm install --prefix "$work" --ignore-scripts --no-audit --no-fund --no-package-lock \
	--loglevel=error --engine-strict=false \
	"@atlassian/aui@$AUI_VERSION" "jquery@$JQUERY_VERSION" "htmx.org@$HTMX_VERSION" >/dev/null
nm=$work/node_modules

# Build the new tree beside the old one, then swap, so a failure half-way
# leaves static/vendor untouched.
out=$work/vendor
mkdir -p "$out/aui/fonts" "$out/aui/images" "$out/jquery" "$out/htmx"

# AUI: aui-prototyping.{css,js} is the all-in-one build (it bundles Backbone,
# Underscore, skate, jQuery UI, Popper, DOMPurify; it needs window.jQuery).
# The *.nodeps builds would also need Backbone and Underscore as globals; the
# design-tokens JS is only for runtime theme switching (the CSS already has
# the light theme as default), so neither is vendored.
aui=$nm/@atlassian/aui
cp "$aui/dist/aui/aui-prototyping.css" "$aui/dist/aui/aui-prototyping.js" "$out/aui/"
# Every font/image the CSS references by relative URL (woff is what browsers
# load; eot/ttf/svg are the older fallbacks in the same @font-face rules).
cp "$aui"/dist/aui/fonts/*.{woff,ttf,eot} "$out/aui/fonts/"
cp "$aui"/dist/aui/images/*.svg "$out/aui/images/"
cp "$aui/LICENSE" "$out/aui/LICENSE"
# The icon fonts come from @atlassian/adg-server-iconfont, which has its own
# (Atlassian Design Guidelines) licence; keep it next to them.
cp "$nm/@atlassian/adg-server-iconfont/LICENSE.md" "$out/aui/LICENSE-ADG-ICONFONT.md"
# Licences of the libraries bundled into aui-prototyping.js.
{
	echo "Third-party libraries bundled in aui-prototyping.js (@atlassian/aui $AUI_VERSION)"
	for p in backbone underscore jquery-ui jquery-form @popperjs/core dompurify css.escape skatejs @atlaskit/tokens; do
		d=$nm/$p
		[ -d "$d" ] || continue
		printf '\n==== %s (%s) ====\n\n' "$p" \
			"$(node -p "require('$d/package.json').license || ''")"
		for f in "$d"/LICENSE "$d"/LICENSE.md "$d"/LICENSE.txt "$d"/LICENSE-MIT.txt; do
			if [ -f "$f" ]; then cat "$f"; break; fi
		done
	done
} >"$out/aui/THIRD-PARTY-NOTICES.txt"

cp "$nm/jquery/dist/jquery.min.js" "$out/jquery/"
cp "$nm/jquery/LICENSE.txt" "$out/jquery/LICENSE"

cp "$nm/htmx.org/dist/htmx.min.js" "$out/htmx/"
cp "$nm/htmx.org/LICENSE" "$out/htmx/LICENSE"

# Source maps are not vendored; drop the comments pointing at them so browser
# devtools do not request missing .map files.
for f in "$out/aui/aui-prototyping.css" "$out/aui/aui-prototyping.js" "$out/jquery/jquery.min.js" "$out/htmx/htmx.min.js"; do
	sed -i -E 's@/[*/]# sourceMappingURL=[^ *]*( ?\*/)?@@' "$f"
done

printf 'aui %s\njquery %s\nhtmx.org %s\n' "$AUI_VERSION" "$JQUERY_VERSION" "$HTMX_VERSION" >"$out/VERSIONS"

# Sanity check: each relative url() in the CSS must exist, or it would 404.
missing=0
while IFS= read -r ref; do
	path=${ref%%[?#]*}
	if [ ! -f "$out/aui/$path" ]; then
		echo "vendor-assets: aui-prototyping.css references missing $path" >&2
		missing=1
	fi
done < <(grep -oE 'url\([^)]*\)' "$out/aui/aui-prototyping.css" | sed -E 's/^url\(["'\'']?//; s/["'\'']?\)$//' | grep -vE '^(data:|https?:|//|#)' | sort -u)
[ "$missing" -eq 0 ] || exit 1

rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
mv "$out" "$dest"
echo "vendor-assets: wrote $dest ($(du -sh "$dest" | cut -f1))"
