#!/usr/bin/env bash
# Runs the Go benchmarks against the same throwaway MariaDB and headless
# Chromium as the tests (see testenv.sh) and prints the figures.
# BENCH_ARGS replaces the default go test flags; extra arguments are passed
# on (packages default to ./...):
#     scripts/bench.sh
#     BENCH_ARGS='-run ^$ -bench Render -benchtime=2s -count=5' scripts/bench.sh ./views/...
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# -run '^$': benchmarks only; -benchtime=1x: each once, a quick smoke run.
read -r -a bench_args <<<"${BENCH_ARGS:--run ^$ -bench . -benchtime=1x -benchmem}"

# shellcheck source=scripts/testenv.sh
. scripts/testenv.sh
testenv_setup

pkgs=(./...)
for a in "$@"; do
	case $a in
	./* | ../* | */... | ... | github.com/dingfluence/*) pkgs=() ;;
	esac
done

out="$TESTENV_DIR/bench.out"
status=0
go test -count=1 -timeout 30m "${bench_args[@]}" "${pkgs[@]}" "$@" 2>&1 | tee "$out" || status=$?

echo
echo "== benchmark figures =="
grep -E '^(Benchmark|pkg:|goos:|cpu:)' "$out" || echo "(no benchmarks ran)"

# Benchmarks that have a target print it on their figure lines as "(target …) ok" or
# "(target …) MISSED"; this gathers them, so a missed target is not lost in the output.
echo
echo "== targets =="
if grep -E '\(target[^)]*\).* (ok|MISSED)$' "$out"; then
	missed=$(grep -cE '\(target[^)]*\).* MISSED$' "$out" || true)
	echo "targets missed: $missed"
else
	echo "(no figures with targets)"
fi
exit "$status"
