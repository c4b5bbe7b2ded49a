#!/usr/bin/env bash
# Runs the Go tests against a throwaway MariaDB and headless Chromium (see
# testenv.sh). Extra arguments go to `go test`; without a package argument
# the whole module (./...) is tested:
#     scripts/test.sh                        # everything
#     scripts/test.sh ./models/... -run Foo  # some packages, some tests
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/testenv.sh
. scripts/testenv.sh
testenv_setup

# A package argument looks like ./x, ../x, x/... or the module path; flag
# values (-run Foo) do not.
pkgs=(./...)
for a in "$@"; do
	case $a in
	./* | ../* | */... | ... | github.com/dingfluence/*) pkgs=() ;;
	esac
done

status=0
# -race: the app is full of goroutines (syncs, scheduler, token refresh); the
# race detector is cheap insurance at about twice the run time. It needs cgo
# (a C compiler); without one the suite still runs, without the detector.
race=()
if [ "$(go env CGO_ENABLED)" = 1 ] && command -v "$(go env CC)" >/dev/null 2>&1; then
	race=(-race)
else
	echo "test: no C compiler for cgo, running without -race" >&2
fi
go test "${race[@]}" -count=1 -timeout 30m "${pkgs[@]}" "$@" || status=$?
exit "$status" # the EXIT trap stops MariaDB and keeps this status
