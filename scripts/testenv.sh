#!/usr/bin/env bash
# Test environment for dingfluence: a throwaway MariaDB and headless Chromium.
#
# Sourced by scripts/test.sh and scripts/bench.sh:
#     . scripts/testenv.sh && testenv_setup
# which installs what is missing (a fresh Debian 12 has neither package),
# starts MariaDB on a free loopback port in a temp dir, exports
#     TEST_MYSQL_DSN  root@tcp(127.0.0.1:PORT)/?parseTime=true&charset=utf8mb4&loc=UTC
#     CHROMIUM_PATH   path of the chromium binary
# and sets an EXIT trap that stops MariaDB and removes the temp dir.
# Run directly, it does the same around a command:
#     scripts/testenv.sh go test ./models/...
#
# shellcheck shell=bash

# Run a command as root: CI runs as root; elsewhere use sudo if there is one.
testenv_as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		echo "testenv: need root (or sudo) to run: $*" >&2
		return 1
	fi
}

# apt-get install, running apt-get update only when the first try fails:
# fast when the package lists are fresh, and still works on a new machine
# whose lists are empty.
testenv_apt_install() {
	local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -y -q --no-install-recommends)
	echo "testenv: installing $*" >&2
	if ! testenv_as_root "${apt[@]}" install "$@" >&2; then
		testenv_as_root env DEBIAN_FRONTEND=noninteractive apt-get -q update >&2
		testenv_as_root "${apt[@]}" install "$@" >&2
	fi
}

testenv_mariadbd_path() {
	# /usr/sbin is not on a non-root user's PATH.
	command -v mariadbd 2>/dev/null || echo /usr/sbin/mariadbd
}

testenv_install_deps() {
	local pkgs=()
	if ! command -v mariadbd >/dev/null 2>&1 && ! test -x /usr/sbin/mariadbd; then
		pkgs+=(mariadb-server)
	fi
	if ! command -v chromium >/dev/null 2>&1; then
		# fonts-liberation: real metrics for screenshots (it is only a
		# recommendation of chromium, which we do not install).
		pkgs+=(chromium fonts-liberation)
	fi
	# A Chinese font, so the 简体中文 screens and names render as text in
	# screenshots rather than as empty boxes.
	if ! command -v fc-list >/dev/null 2>&1 || [ -z "$(fc-list :lang=zh 2>/dev/null)" ]; then
		pkgs+=(fonts-wqy-microhei)
	fi
	if [ "${#pkgs[@]}" -gt 0 ]; then
		testenv_apt_install "${pkgs[@]}"
	fi
	# Go lives in /usr/local/go on our machines; not every shell has it on PATH.
	if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
		export PATH="$PATH:/usr/local/go/bin"
	fi
}

# A loopback TCP port that nothing listens on right now (bash's /dev/tcp: a
# refused connection means free). mariadbd may still lose a race for it;
# testenv_start_mariadb then retries with another port.
testenv_free_port() {
	local port
	for _ in $(seq 1 50); do
		port=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return 0
		fi
	done
	echo "testenv: no free port found" >&2
	return 1
}

testenv_start_mariadb() {
	local mariadbd me attempt
	mariadbd=$(testenv_mariadbd_path)
	me=$(whoami)
	TESTENV_DIR=$(mktemp -d "${TMPDIR:-/tmp}/dingfluence-testdb.XXXXXX")
	export TESTENV_DIR

	# root@localhost with an empty password and normal (not unix_socket)
	# auth, so the tests can log in over TCP as root.
	if ! mariadb-install-db --no-defaults --datadir="$TESTENV_DIR/data" \
		--user="$me" --auth-root-authentication-method=normal --skip-test-db \
		>"$TESTENV_DIR/install-db.log" 2>&1; then
		cat "$TESTENV_DIR/install-db.log" >&2
		echo "testenv: mariadb-install-db failed" >&2
		return 1
	fi

	local args=(
		--no-defaults # ignore /etc/mysql: this server is ours alone
		--datadir="$TESTENV_DIR/data"
		--socket="$TESTENV_DIR/mysql.sock"
		--pid-file="$TESTENV_DIR/mariadb.pid"
		--log-error="$TESTENV_DIR/mariadb.err"
		--tmpdir="$TESTENV_DIR"
		--bind-address=127.0.0.1
		--skip-networking=0
		--innodb-buffer-pool-size=256M
		--max-connections=500
		# Speed over durability: a crash only loses a throwaway database.
		--skip-log-bin
		--sync-binlog=0
		--innodb-flush-log-at-trx-commit=2
		--innodb-doublewrite=0
		# What production (and --no-defaults would not give us) looks like.
		--character-set-server=utf8mb4
		--collation-server=utf8mb4_unicode_ci
		--default-time-zone=+00:00
	)
	# mariadbd refuses to run as root unless told to.
	if [ "$(id -u)" -eq 0 ]; then
		args+=(--user=root)
	fi

	for attempt in 1 2 3 4 5; do
		TESTENV_MARIADB_PORT=$(testenv_free_port)
		: >"$TESTENV_DIR/mariadb.err"
		"$mariadbd" "${args[@]}" --port="$TESTENV_MARIADB_PORT" </dev/null >>"$TESTENV_DIR/mariadb.err" 2>&1 &
		TESTENV_MARIADB_PID=$!
		# Wait until it answers on TCP (what the tests use), ~30s at most.
		for _ in $(seq 1 150); do
			if mariadb-admin --no-defaults --protocol=tcp -h127.0.0.1 -P"$TESTENV_MARIADB_PORT" \
				-uroot --connect-timeout=2 ping >/dev/null 2>&1; then
				export TESTENV_MARIADB_PORT TESTENV_MARIADB_PID
				echo "testenv: MariaDB $("$mariadbd" --version | awk '{print $3}') up on 127.0.0.1:$TESTENV_MARIADB_PORT (pid $TESTENV_MARIADB_PID, dir $TESTENV_DIR)" >&2
				return 0
			fi
			kill -0 "$TESTENV_MARIADB_PID" 2>/dev/null || break
			sleep 0.2
		done
		if kill -0 "$TESTENV_MARIADB_PID" 2>/dev/null; then
			echo "testenv: MariaDB did not answer within 30s" >&2
			break
		fi
		wait "$TESTENV_MARIADB_PID" 2>/dev/null || true
		TESTENV_MARIADB_PID=
		# Someone took the port between our check and the bind: try another.
		if grep -qiE 'bind on TCP/IP port|address already in use' "$TESTENV_DIR/mariadb.err"; then
			echo "testenv: port $TESTENV_MARIADB_PORT taken, retrying (attempt $attempt)" >&2
			continue
		fi
		break
	done
	echo "testenv: MariaDB failed to start; its error log:" >&2
	cat "$TESTENV_DIR/mariadb.err" >&2
	return 1
}

# Stop MariaDB (SIGTERM is a clean shutdown) and remove the temp dir. Safe to
# call more than once and after a half-done start.
testenv_stop() {
	local pid=${TESTENV_MARIADB_PID:-}
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 1 300); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "testenv: MariaDB did not stop within 30s, killing it" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
		wait "$pid" 2>/dev/null || true
		echo "testenv: MariaDB stopped" >&2
	fi
	TESTENV_MARIADB_PID=
	if [ -n "${TESTENV_DIR:-}" ] && [ -d "$TESTENV_DIR" ]; then
		rm -rf "$TESTENV_DIR"
	fi
	TESTENV_DIR=
}

testenv_setup() {
	# Clean up however we leave: normal exit, failure (set -e) or Ctrl-C.
	trap testenv_stop EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	testenv_install_deps
	testenv_start_mariadb
	export TEST_MYSQL_DSN="root@tcp(127.0.0.1:$TESTENV_MARIADB_PORT)/?parseTime=true&charset=utf8mb4&loc=UTC"
	CHROMIUM_PATH=$(command -v chromium)
	export CHROMIUM_PATH
}

# Run directly: set up, run the given command, clean up, pass on its status.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	if [ "$#" -eq 0 ]; then
		echo "usage: $0 COMMAND [ARG...]   (or source it and call testenv_setup)" >&2
		exit 2
	fi
	testenv_setup
	status=0
	"$@" || status=$?
	exit "$status"
fi
