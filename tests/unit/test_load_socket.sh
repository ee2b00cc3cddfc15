#!/usr/bin/env bash
# The load test (tests/vm/loadtest.c) natively against the socket channel:
# control clients queueing for the control socket while the data socket
# runs commands, thousands of connect/close cycles, 50 socket daemons at
# once.  Usage: test_load_socket.sh [BUILD] [valgrind]; prints PASS/FAIL
# lines.  With "valgrind" the daemon runs under memcheck (a shorter load,
# no fleet): no error, no leak at its exit.
set -u
BUILD=${1:-build}
VG=${2:-}
TMP=$(mktemp -d /tmp/cuse_tpm_load.XXXXXX)
PIDFILE=$TMP/pid
tag=load-socket
extra=() # environment for the load test
trap 'kill "$(cat "$PIDFILE" 2>/dev/null)" 2>/dev/null; rm -rf "$TMP"' EXIT

# shellcheck disable=SC2054 # the commas are the options' own
args=(socket --tpm2 --tpmstate "dir=$TMP/state" \
	--ctrl "type=unixio,path=$TMP/ctrl.sock" --server "type=unixio,path=$TMP/data.sock" \
	--flags not-need-init,startup-clear --pid "file=$PIDFILE" --log "file=$TMP/log,level=3")
if [ "$VG" = valgrind ]; then
	tag=valgrind-load-socket
	# valgrind's own system calls would meet the seccomp filter
	valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
		--log-file="$TMP/vg.log" "$BUILD/cuse_tpm" "${args[@]}" --seccomp action=none &
	vgpid=$!
	for _ in $(seq 1 600); do [ -S "$TMP/data.sock" ] && [ -s "$PIDFILE" ] && break; sleep 0.1; done
	extra=(LOAD_SECONDS=3 LOAD_CYCLES=600 LOAD_CYCLE_SECONDS=60 LOAD_RSS_SLACK_KB=65536 LOAD_DAEMONS=0)
elif ! "$BUILD/cuse_tpm" "${args[@]}" -d; then
	echo "FAIL: $tag-daemon: could not start"
	exit 1
fi
pid=$(cat "$PIDFILE" 2>/dev/null)
[ -n "$pid" ] || { echo "FAIL: $tag-daemon: could not start"; exit 1; }
env VTPM_CTRL="$TMP/ctrl.sock" VTPM_DATA="$TMP/data.sock" VTPM_PID="$pid" \
	LOAD_SECONDS="${LOAD_SECONDS:-5}" LOAD_CYCLES="${LOAD_CYCLES:-6000}" \
	CUSE_TPM="$BUILD/cuse_tpm" CUSE_TPM_IOCTL="$BUILD/cuse_tpm_ioctl" ${extra[@]+"${extra[@]}"} \
	"$BUILD/tests/loadtest" | grep -v ' passed, .* failed$' | sed "s/^\(PASS\|FAIL\): /\1: $tag-/"
if kill -0 "$pid" 2>/dev/null; then echo "PASS: $tag-daemon-survived"; else echo "FAIL: $tag-daemon-survived: pid $pid gone"; fi
kill -TERM "$pid"
for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
if ! kill -0 "$pid" 2>/dev/null && [ ! -e "$TMP/ctrl.sock" ]; then
	echo "PASS: $tag-stop"
else
	echo "FAIL: $tag-stop: still running or socket left"
	tail -n 5 "$TMP/log" | sed 's/^/#   log: /'
fi
if [ "$VG" = valgrind ]; then
	wait "$vgpid"
	rc=$?
	# "==PID==" lines are errors; "--PID--" lines are valgrind's notes
	# (it does not know the Landlock calls: the daemon then goes without)
	errors=$(grep -E '^==[0-9]+== ' "$TMP/vg.log" | head -n 20 | tr '\n' ' ')
	if [ "$rc" = 0 ] && [ -z "$errors" ]; then
		echo "PASS: $tag-no-valgrind-errors-or-leaks"
	else
		echo "FAIL: $tag-no-valgrind-errors-or-leaks: exit $rc; $errors"
	fi
fi
