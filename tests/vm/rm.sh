#!/usr/bin/env bash
# The resource-managed node (/dev/vtpmrm-NAME, as /dev/tpmrm0): run inside
# the test VM by suite.sh (or alone: tests/vm/vm.sh run -- tests/vm/rm.sh).
# One "PASS: name" / "FAIL: name: why" line per check.
#
#   BUILD=build       where the binaries are
#   RM_CLIENTS=8      tpm2-tools clients at once on the RM node
#   RM_LOOPS=1        createprimary, create, load, sign, verifysignature
#                     rounds each (a count, not a time: under TCG one round
#                     of 8 clients takes about 75 s)
#   RM_DAEMON=$BUILD/cuse_tpm   the daemon to test (the ASan build, say)
#   RM_ABRMD=1        then the same clients through Debian's tpm2-abrmd on
#                     the raw node (0: skip)
set -u

BUILD=${BUILD:-build}
NAME=vtpm-rmtest
RAW=/dev/$NAME
RM=/dev/vtpmrm-rmtest
STATE=$(mktemp -d /tmp/rm-state.XXXXXX)
WORK=$(mktemp -d /tmp/rm-work.XXXXXX)
LOG=$WORK/daemon.log
CLIENTS=${RM_CLIENTS:-8}
LOOPS=${RM_LOOPS:-1}
DAEMON=${RM_DAEMON:-$BUILD/cuse_tpm}
CLIENT_PY=$(dirname "$0")/rm_client.py

pass() { echo "PASS: $1"; }
fail() {
	echo "FAIL: $1: $2"
	[ -f "$LOG" ] && sed 's/^/#   log: /' "$LOG" | tail -n 5
}
ours() { echo /dev/*rmtest*; } # the nodes of this test that exist

# start NAME STATEDIR [OPTIONS...]: returns once /dev/NAME opens
start() {
	local name=$1 dir=$2
	shift 2
	ASAN_OPTIONS=log_path=$WORK/asan:detect_leaks=1 \
		UBSAN_OPTIONS=log_path=$WORK/asan:print_stacktrace=1 \
		"$DAEMON" -n "$name" --tpmstate "dir=$dir" \
		--flags not-need-init,startup-clear --log "file=$LOG,level=3" \
		--pid "file=$WORK/$name.pid" "$@"
}
stop() { # NAME: SIGTERM, and wait until it is gone
	local pid i
	pid=$(cat "$WORK/$1.pid" 2>/dev/null) || return 1
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 200; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.05
	done
	return 1
}

# What the raw node lists of transient objects, loaded and saved sessions.
raw_leftovers() {
	local cap
	for cap in handles-transient handles-loaded-session handles-saved-session; do
		tpm2_getcap -T "device:$RAW" "$cap" 2>&1
	done
}
# Waits (RELEASE reaches the daemon after close() returns) until the TPM
# holds no transient object or session; prints what is left if it does.
wait_empty() {
	local i left
	for ((i = 0; i < 50; i++)); do
		left=$(raw_leftovers)
		[ -z "$left" ] && return 0
		sleep 0.1
	done
	echo "$left" | tr '\n' ' '
	return 1
}

# ---------------------------------------------------------------------------
# The node, its name, the option, the owner and mode
nodes() {
	local out
	if start "$NAME" "$STATE" --node group=tss,mode=0660 && [ -c "$RAW" ] &&
		[ -c "$RM" ]; then
		pass rm-node-beside-the-raw-one
	else
		fail rm-node-beside-the-raw-one "$(ours)"
		return 1
	fi
	out=$(stat -c '%G %a' "$RM")
	if [ "$out" = "tss 660" ]; then pass rm-node-takes-node-owner-and-mode
	else fail rm-node-takes-node-owner-and-mode "$out"; fi
	out=$(stat -c '%t:%T' "$RAW")/$(stat -c '%t:%T' "$RM")
	if [ "${out%/*}" != "${out#*/}" ]; then pass rm-node-is-its-own-device
	else fail rm-node-is-its-own-device "$out"; fi
	# no control channel on it, as on /dev/tpmrm0
	if ! out=$("$BUILD/cuse_tpm_ioctl" -c "$RM" 2>&1); then
		pass rm-node-has-no-ioctls
	else fail rm-node-has-no-ioctls "$out"; fi
	out=$(tpm2_getrandom -T "device:$RM" --hex 8 2>&1)
	if [[ $out =~ ^[0-9a-f]{16}$ ]]; then pass rm-node-serves-commands
	else fail rm-node-serves-commands "$out"; fi

	local s2 s3
	s2=$(mktemp -d /tmp/rm-state.XXXXXX)
	s3=$(mktemp -d /tmp/rm-state.XXXXXX)
	if start rmtest-off "$s2" --rm-node off && [ -c /dev/rmtest-off ] &&
		[ ! -e /dev/rmtest-off-rm ] && [ ! -e /dev/vtpmrm-rmtest-off ]; then
		pass rm-node-off
	else
		fail rm-node-off "$(ours)"
	fi
	stop rmtest-off
	# a name without the vtpm- prefix: NAME-rm
	if start rmtest-plain "$s3" && [ -c /dev/rmtest-plain-rm ]; then
		pass rm-node-name-without-vtpm-prefix
	else
		fail rm-node-name-without-vtpm-prefix "$(ours)"
	fi
	stop rmtest-plain
	rm -rf "$s2" "$s3"
}

# ---------------------------------------------------------------------------
# One tpm2-tools client: LOOPS rounds through TCTI (the RM node, or
# tpm2-abrmd), each with an HMAC session kept in a file across processes,
# as tpm2-tools do.
client() { # DIR TCTI
	local dir=$1 i out
	export TPM2TOOLS_TCTI=$2
	mkdir -p "$dir" && cd "$dir" || return 1
	echo "message of client $dir" >msg
	for ((i = 0; i < LOOPS; i++)); do
		if ! { tpm2_startauthsession --hmac-session -S s.ctx &&
			tpm2_createprimary -Q -C o -G ecc -c prim.ctx -P session:s.ctx &&
			tpm2_create -Q -C prim.ctx -G ecc -u key.pub -r key.priv -P session:s.ctx &&
			tpm2_load -Q -C prim.ctx -u key.pub -r key.priv -c key.ctx -P session:s.ctx &&
			tpm2_sign -c key.ctx -g sha256 -o sig.bin -p session:s.ctx msg &&
			tpm2_verifysignature -c key.ctx -g sha256 -m msg -s sig.bin &&
			out=$(tpm2_getcap handles-transient) &&
			tpm2_flushcontext s.ctx; }; then
			echo "round $i failed"
			return 1
		fi
		# a fresh opener holds nothing: no other client's objects show
		[ -z "$out" ] || { echo "round $i: getcap shows $out"; return 1; }
		rm -f ./*.ctx key.pub key.priv sig.bin
	done
	echo "done"
}

# run_clients PREFIX TCTI N: N clients at once through TCTI, their output in
# $WORK/PREFIX-client*.out; sets client_failures to how many failed.
client_failures=0
run_clients() {
	local prefix=$1 i pids=() start_s
	client_failures=0
	start_s=$(date +%s)
	for ((i = 0; i < $3; i++)); do
		client "$WORK/$prefix-client$i" "$2" >"$WORK/$prefix-client$i.out" 2>&1 &
		pids+=($!)
	done
	for i in "${!pids[@]}"; do
		wait "${pids[$i]}" || client_failures=$((client_failures + 1))
	done
	echo "# $prefix: $3 clients x $LOOPS rounds: $(($(date +%s) - start_s)) s, $client_failures failed"
}

# clients PREFIX TCTI N: the N clients must all sign and verify, and never
# run out of object or session memory.
clients() {
	local prefix=$1 n=$3 memfail
	run_clients "$@"
	if [ $client_failures -eq 0 ]; then
		pass "$prefix-$n-tpm2-tools-clients-sign-and-verify"
	else
		fail "$prefix-$n-tpm2-tools-clients-sign-and-verify" \
			"$client_failures failed: $(cat "$WORK/$prefix"-client*.out | grep -v '^done' | tail -n 4 | tr '\n' ' ')"
	fi
	memfail=$(cat "$WORK/$prefix"-client*.out | grep -ci 'memory\|0x902\|0x903')
	if [ "$memfail" -eq 0 ]; then pass "$prefix-no-object-or-session-memory-errors"
	else fail "$prefix-no-object-or-session-memory-errors" "$memfail lines"; fi
}

many_clients() {
	local i out
	rm -f "$WORK/stop"
	python3 "$CLIENT_PY" raw-owner "$RAW" "$WORK/stop" >"$WORK/raw.out" 2>&1 &
	local raw_pid=$!
	for ((i = 0; i < 300; i++)); do
		grep -q holds "$WORK/raw.out" && break
		sleep 0.1
	done
	# the raw node keeps its single-owner rule while RM clients run
	if ! out=$(tpm2_getrandom -T "device:$RAW" 8 2>&1); then
		pass rm-raw-node-still-single-owner
	else
		fail rm-raw-node-still-single-owner "$out"
	fi
	# one more opener that keeps objects and a session while the others run
	python3 "$CLIENT_PY" hold "$RM" 30 >"$WORK/hold.out" 2>&1 &
	local hold_pid=$!
	clients rm "device:$RM" "$CLIENTS"
	out=$(cat "$WORK/hold.out")
	if [[ $out =~ ^"rcs 0 0 0 transient 0x80fffffe 0x80ffffff sessions 0x02"[0-9a-f]{6}$ ]]; then
		pass rm-getcap-shows-only-the-openers-own
	else
		fail rm-getcap-shows-only-the-openers-own "$out"
	fi
	kill "$hold_pid" 2>/dev/null
	wait "$hold_pid" 2>/dev/null
	: >"$WORK/stop"
	wait "$raw_pid"
	cat "$WORK/raw.out"
	if out=$(wait_empty); then pass rm-nothing-left-after-all-close
	else fail rm-nothing-left-after-all-close "$out"; fi
}

killed_client() {
	local out
	python3 "$CLIENT_PY" die-mid-command "$RM" >"$WORK/die.out" 2>&1
	if [ $? -eq 137 ] && [ ! -s "$WORK/die.out" ]; then
		if out=$(wait_empty); then pass rm-killed-mid-command-leaves-nothing
		else fail rm-killed-mid-command-leaves-nothing "$out"; fi
	else
		fail rm-killed-mid-command-leaves-nothing "$(cat "$WORK/die.out")"
	fi
}

# ---------------------------------------------------------------------------
# The same clients through Debian's tpm2-abrmd, the user-space resource
# manager, on the raw node: what a host without the RM node does.  The guest
# runs no D-Bus: a session bus of the test's own carries it.
#
# tpm2-abrmd keeps a session that a closed connection saved (as every
# tpm2-tools run saves its -S file) for the next connection to load, but
# only 4 of them at once (SESSION_LIST_MAX_ABANDONED, fixed at build time):
# past that it flushes the oldest, whose ContextLoad then fails with
# TPM_RC_HANDLE.  So 4 clients must all succeed; of 8, those that fail must
# fail that way alone.  The RM node keeps them all.
abrmd_clients() {
	local tcti=tabrmd:bus_type=session bus_pid abrmd_pid i out f other
	export DBUS_SESSION_BUS_ADDRESS=unix:path=$WORK/bus
	if ! bus_pid=$(dbus-daemon --session --address="$DBUS_SESSION_BUS_ADDRESS" \
		--fork --nopidfile --print-pid); then
		fail abrmd-serves-the-raw-node "dbus-daemon did not start"
		return 1
	fi
	tpm2-abrmd --session --allow-root --tcti="device:$RAW" \
		>"$WORK/abrmd.log" 2>&1 &
	abrmd_pid=$!
	for ((i = 0; i < 100; i++)); do
		out=$(tpm2_getrandom -T "$tcti" --hex 8 2>&1) && break
		kill -0 "$abrmd_pid" 2>/dev/null || break
		sleep 0.2
	done
	if [[ $out =~ ^[0-9a-f]{16}$ ]]; then
		pass abrmd-serves-the-raw-node
		clients abrmd "$tcti" 4
		rm -rf "$WORK"/abrmd-client*
		run_clients abrmd "$tcti" "$CLIENTS"
		# a failed client must have failed at loading its session
		other=
		for f in "$WORK"/abrmd-client*.out; do
			grep -qx 'done' "$f" || grep -q 'Esys_ContextLoad(0x1CB)' "$f" ||
				other+="$(grep -v '^WARN' "$f" | tail -n 2 | tr '\n' ' ')"
		done
		if [ -z "$other" ]; then
			pass "abrmd-$CLIENTS-clients-fail-only-by-its-session-limit"
		else
			fail "abrmd-$CLIENTS-clients-fail-only-by-its-session-limit" "$other"
		fi
		echo "# abrmd: $((CLIENTS - client_failures)) of $CLIENTS clients signed and verified; the others lost their session to tpm2-abrmd's limit"
	else
		fail abrmd-serves-the-raw-node "$out $(tail -n 3 "$WORK/abrmd.log" | tr '\n' ' ')"
	fi
	kill -TERM "$abrmd_pid" 2>/dev/null
	wait "$abrmd_pid" 2>/dev/null
	kill -TERM "$bus_pid" 2>/dev/null
	unset DBUS_SESSION_BUS_ADDRESS
	# tpm2-abrmd flushes a connection's objects and sessions when it closes
	if out=$(wait_empty); then pass abrmd-nothing-left-after-all-close
	else fail abrmd-nothing-left-after-all-close "$out"; fi
}

nodes && {
	many_clients
	killed_client
	[ "${RM_ABRMD:-1}" = 1 ] && abrmd_clients
	# Both nodes still serve once every client has gone.  Their requests
	# also take any INTERRUPT the kernel sent for a request answered just
	# before it: libfuse keeps such a one until the session's next request
	# and does not free it at exit, where LeakSanitizer would report it.
	if rm_out=$(tpm2_getrandom -T "device:$RM" --hex 8 2>&1) &&
		raw_out=$(tpm2_getrandom -T "device:$RAW" --hex 8 2>&1) &&
		[[ $rm_out =~ ^[0-9a-f]{16}$ && $raw_out =~ ^[0-9a-f]{16}$ ]]; then
		pass rm-nodes-serve-after-all-clients
	else
		fail rm-nodes-serve-after-all-clients "rm: ${rm_out:-} raw: ${raw_out:-}"
	fi
	if [ -n "$(pgrep -F "$WORK/$NAME.pid" 2>/dev/null)" ]; then
		pass rm-daemon-survived
	else
		fail rm-daemon-survived "it is gone"
	fi
	if stop "$NAME" && [ ! -e "$RM" ]; then
		pass rm-nodes-go-with-the-daemon
	else
		fail rm-nodes-go-with-the-daemon "$(ours)"
	fi
	# an ASan/UBSan daemon writes its reports there
	logs=$(cat "$WORK"/asan.* 2>/dev/null | head -n 40)
	if [ -z "$logs" ]; then pass rm-no-sanitizer-reports
	else fail rm-no-sanitizer-reports "$logs"; fi
}
rm -rf "$STATE" "$WORK"
exit 0
