#!/usr/bin/env bash
# The load test (tests/vm/loadtest.c) natively against the socket channel:
# control clients queueing for the control socket while the data socket
# runs commands, thousands of connect/close cycles, 50 socket daemons at
# once.  Usage: test_load_socket.sh [BUILD]; prints PASS/FAIL lines.
set -u
BUILD=${1:-build}
TMP=$(mktemp -d /tmp/cuse_tpm_load.XXXXXX)
PIDFILE=$TMP/pid
trap 'kill "$(cat "$PIDFILE" 2>/dev/null)" 2>/dev/null; rm -rf "$TMP"' EXIT

if ! "$BUILD/cuse_tpm" socket -d --tpmstate "dir=$TMP/state" \
	--ctrl "type=unixio,path=$TMP/ctrl.sock" --server "type=unixio,path=$TMP/data.sock" \
	--flags not-need-init,startup-clear --pid "file=$PIDFILE" --log "file=$TMP/log,level=3"; then
	echo "FAIL: load-socket-daemon: could not start"
	exit 1
fi
pid=$(cat "$PIDFILE")
VTPM_CTRL=$TMP/ctrl.sock VTPM_DATA=$TMP/data.sock VTPM_PID=$pid \
	LOAD_SECONDS=${LOAD_SECONDS:-5} LOAD_CYCLES=${LOAD_CYCLES:-6000} CUSE_TPM=$BUILD/cuse_tpm CUSE_TPM_IOCTL=$BUILD/cuse_tpm_ioctl \
	"$BUILD/tests/loadtest" | grep -v ' passed, .* failed$' | sed 's/^\(PASS\|FAIL\): /\1: load-socket-/'
if kill -0 "$pid" 2>/dev/null; then echo "PASS: load-socket-daemon-survived"; else echo "FAIL: load-socket-daemon-survived: pid $pid gone"; fi
kill -TERM "$pid"
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
if ! kill -0 "$pid" 2>/dev/null && [ ! -e "$TMP/ctrl.sock" ]; then
	echo "PASS: load-socket-stop"
else
	echo "FAIL: load-socket-stop: still running or socket left"
	tail -n 5 "$TMP/log" | sed 's/^/#   log: /'
fi
