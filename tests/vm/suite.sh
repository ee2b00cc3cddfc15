#!/usr/bin/env bash
# The tests that need a kernel with CUSE.  Runs inside the test VM (see
# vm.sh), from the repository root, as root.  Each check prints one
# "PASS: name" or "FAIL: name: why" line; the host counts them.
#
#   BUILD=build         where the binaries are
#   SUITE_ONLY=a,b      run only these groups (default: all)
set -u

BUILD=${BUILD:-build}
DEV_NAME=vtpm-test
DEV=/dev/$DEV_NAME
STATE=/tmp/vtpm-state
LOG=/tmp/vtpm.log
export TPM2TOOLS_TCTI="device:$DEV"

pass() { echo "PASS: $1"; }
fail() {
	echo "FAIL: $1: $2"
	[ -f "$LOG" ] && sed 's/^/#   log: /' "$LOG" | tail -n 5
}
# check NAME COMMAND...: PASS if COMMAND exits 0
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then
		pass "$name"
	else
		fail "$name" "$(echo "$out" | tail -n 3 | tr '\n' ' ')"
	fi
}
want() { [[ ${SUITE_ONLY:-all} == all || ,$SUITE_ONLY, == *,$1,* ]]; }

# start_daemon [BINARY] [OPTIONS...]: returns once /dev/vtpm-test opens
start_daemon() {
	local bin=$BUILD/cuse_tpm
	if [[ ${1:-} == */* ]]; then bin=$1; shift; fi
	"$bin" -n "$DEV_NAME" --tpmstate "dir=$STATE" --log "file=$LOG,level=3" \
		--pid "file=/tmp/vtpm.pid" "$@"
}
daemon_pid() { cat /tmp/vtpm.pid 2>/dev/null; }
# stop_daemon: SIGTERM, wait for exit and for the node to go
stop_daemon() {
	local pid i
	pid=$(daemon_pid) || return 1
	kill -TERM "$pid" 2>/dev/null || return 1
	for ((i = 0; i < 200; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	! kill -0 "$pid" 2>/dev/null && [ ! -e "$DEV" ]
}
wait_gone() { # PID: the process ended and the node went
	local i
	for ((i = 0; i < 200; i++)); do
		if ! kill -0 "$1" 2>/dev/null && [ ! -e "$DEV" ]; then return 0; fi
		sleep 0.05
	done
	return 1
}

# ---------------------------------------------------------------------------
group_daemon() {
	local out rc pid
	rm -rf "$STATE"
	if start_daemon && [ -c "$DEV" ] && (exec 3<>"$DEV"); then
		pass daemon-starts-and-node-opens
	else
		fail daemon-starts-and-node-opens "no usable $DEV"
	fi
	pid=$(daemon_pid)
	check daemon-pidfile-names-the-server kill -0 "$pid"
	out=$(start_daemon 2>&1); rc=$?
	if [ $rc -ne 0 ] && [[ $out == *"already exists"* ]]; then
		pass daemon-refuses-a-taken-name
	else
		fail daemon-refuses-a-taken-name "rc=$rc out=$out"
	fi
	out=$("$BUILD/cuse_tpm" -n vtpm-other --tpmstate "dir=$STATE" 2>&1); rc=$?
	if [ $rc -ne 0 ] && [[ $out == *"in use"* ]] && [ ! -e /dev/vtpm-other ]; then
		pass daemon-refuses-a-locked-state-dir
	else
		fail daemon-refuses-a-locked-state-dir "rc=$rc out=$out"
	fi
	: >/tmp/not-a-dir
	out=$("$BUILD/cuse_tpm" -n vtpm-other --tpmstate dir=/tmp/not-a-dir 2>&1); rc=$?
	if [ $rc -ne 0 ] && [[ $out == *"unusable"* ]]; then
		pass daemon-explains-an-unusable-state-dir
	else
		fail daemon-explains-an-unusable-state-dir "rc=$rc out=$out"
	fi
	check daemon-sigterm-exits-and-removes-node stop_daemon
	# -f: stays in the foreground, says where the device is
	"$BUILD/cuse_tpm" -f -n "$DEV_NAME" --tpmstate "dir=$STATE" >/tmp/fg.out 2>&1 &
	pid=$!
	for ((i = 0; i < 100; i++)); do [ -c "$DEV" ] && break; sleep 0.05; done
	sleep 0.2
	if kill -0 $pid && grep -q "$DEV is ready" /tmp/fg.out && grep -q "tpm2_getrandom" /tmp/fg.out; then
		pass daemon-foreground-prints-device-and-hint
	else
		fail daemon-foreground-prints-device-and-hint "$(cat /tmp/fg.out)"
	fi
	kill -INT $pid
	for ((i = 0; i < 200; i++)); do kill -0 $pid 2>/dev/null || break; sleep 0.05; done
	kill -KILL $pid 2>/dev/null
	wait $pid; rc=$?
	if [ $rc -eq 0 ] && [ ! -e "$DEV" ]; then pass daemon-sigint-exits-0; else fail daemon-sigint-exits-0 "rc=$rc"; fi
	daemon_stops_while_starting
}

# SIGTERM at 0-200 ms after exec: while loading (the default action, 143),
# while the TPM boots, as the loops start, while the readiness probe waits
# for them, or once ready.  Past loading, the daemon must end in order
# (status 0; before readiness it says so), and its node go, however the
# signal and the probe cross.  read -t on a FIFO that never speaks waits without a
# fork, to the millisecond.
daemon_stops_while_starting() {
	local pid ms rc out bad="" early=0 unborn=0
	rm -f /tmp/never; mkfifo /tmp/never
	exec 9<>/tmp/never
	for ((ms = 0; ms <= 200; ms += 10)); do
		rm -rf "$STATE"
		"$BUILD/cuse_tpm" -f -n "$DEV_NAME" --tpmstate "dir=$STATE" >/tmp/stop.out 2>&1 &
		pid=$!
		read -r -t "$(printf '0.%03d' "$ms")" -u 9
		kill -TERM $pid
		wait_gone $pid || { bad+=" ${ms}ms:hangs"; kill -KILL $pid; }
		wait $pid; rc=$?
		out=$(cat /tmp/stop.out)
		if [ $rc -eq 0 ] && [[ $out == *"stopped before $DEV was ready"* ]]; then
			early=$((early + 1))
		elif [ $rc -eq 143 ] && [ -z "$out" ]; then
			unborn=$((unborn + 1)) # still loading: nothing of ours ran
		elif [ $rc -ne 0 ]; then
			bad+=" ${ms}ms:rc=$rc:$out"
		fi
	done
	exec 9<&-
	if [ -z "$bad" ]; then
		pass daemon-stops-while-starting
		echo "# of 21: $unborn ended while loading, $early stopped before ready"
	else
		fail daemon-stops-while-starting "$bad"
	fi
}

# ---------------------------------------------------------------------------
group_devtest() {
	local bin=${1:-$BUILD/cuse_tpm} tester=${2:-$BUILD/tests/devtest} tag=${3:-}
	rm -rf "$STATE"
	if ! start_daemon "$bin"; then
		fail "devtest$tag-daemon" "could not start $bin"
		return
	fi
	# the tester's own leaks on a failed check are not the daemon's
	VTPM_DEV=$DEV ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 "$tester" | grep -v ' passed, .* failed$' | sed "s/^\(PASS\|FAIL\): /\1: devtest$tag-/"
	check "devtest$tag-daemon-survived" kill -0 "$(daemon_pid)"
	check "devtest$tag-stop" stop_daemon
}

# ---------------------------------------------------------------------------
# Load: ioctls from several openers while commands run, thousands of
# open/close cycles, 50 daemons at once (tests/vm/loadtest.c).
# load_run BINARY TAG [NAME=VALUE...]: the load test on a fresh daemon
load_run() {
	local bin=$1 tag=$2 pid
	shift 2
	rm -rf "$STATE"
	if ! start_daemon "$bin" --flags not-need-init,startup-clear; then
		fail "$tag-daemon" "could not start $bin"
		return
	fi
	pid=$(daemon_pid)
	env VTPM_DEV=$DEV VTPM_PID="$pid" CUSE_TPM="$bin" CUSE_TPM_IOCTL="$BUILD/cuse_tpm_ioctl" "$@" \
		"$BUILD/tests/loadtest" | grep -v ' passed, .* failed$' | sed "s/^\(PASS\|FAIL\): /\1: $tag-/"
	check "$tag-daemon-survived" kill -0 "$pid"
	check "$tag-stop" stop_daemon
}

# With the guest's transparent huge pages as Debian sets them (always): the
# daemon opts out itself, so its RSS must stay flat regardless.  Then a
# shorter run on the ASan build, whose leak check at exit sees any lost
# opener.
group_load() {
	local logs
	load_run "$BUILD/cuse_tpm" load
	rm -f /tmp/asan.*
	ASAN_OPTIONS=log_path=/tmp/asan:detect_leaks=1 UBSAN_OPTIONS=log_path=/tmp/asan:print_stacktrace=1 \
		load_run "$BUILD/asan/cuse_tpm" load-asan LOAD_SECONDS=3 LOAD_CYCLES=300 \
		LOAD_CYCLE_SECONDS=15 LOAD_RSS_SLACK_KB=0 LOAD_DAEMONS=0 ASAN_OPTIONS= UBSAN_OPTIONS=
	logs=$(cat /tmp/asan.* 2>/dev/null | head -n 40)
	if [ -z "$logs" ]; then pass load-asan-no-reports; else fail load-asan-no-reports "$logs"; fi
}

# Hostile openers (issue 12): a thousand parked blob transfers, 64 non-owner
# writers, cancel with a hundred ioctls queued (tests/vm/hostiletest.c).
group_hostile() {
	local pid
	rm -rf "$STATE"
	if ! start_daemon --flags not-need-init,startup-clear; then
		fail hostile-daemon "could not start $BUILD/cuse_tpm"
		return
	fi
	pid=$(daemon_pid)
	VTPM_DEV=$DEV VTPM_PID=$pid "$BUILD/tests/hostiletest" | grep -v ' passed, .* failed$' | sed "s/^\(PASS\|FAIL\): /\1: hostile-/"
	check hostile-daemon-survived kill -0 "$pid"
	check hostile-stop stop_daemon
	hostile_sigterm_during_lock_wait
}

# SIGTERM while an ioctl waits for a lock another process holds (a
# migration destination on shared storage): the daemon ends at once, in
# order; it once waited as long as the other process held the lock.
hostile_sigterm_during_lock_wait() {
	local pid other waiter i t0 t1 why=
	rm -rf "$STATE"
	if ! start_daemon --migration release-lock-outgoing --flags not-need-init,startup-clear; then
		fail hostile-sigterm-during-lock-wait "could not start $BUILD/cuse_tpm"
		return
	fi
	pid=$(daemon_pid)
	# the savestate blob out: the lock is released, another process takes it
	"$BUILD/cuse_tpm_ioctl" --save savestate /tmp/hostile.savestate "$DEV" >/dev/null 2>&1
	rm -f /tmp/hostile-other.sock
	"$BUILD/cuse_tpm" socket --tpm2 --tpmstate "dir=$STATE" --ctrl type=unixio,path=/tmp/hostile-other.sock \
		--log file=/tmp/hostile-other.log >/dev/null 2>&1 &
	other=$!
	for ((i = 0; i < 200; i++)); do [ -S /tmp/hostile-other.sock ] && break; sleep 0.05; done
	[ -S /tmp/hostile-other.sock ] || why="the other process did not take the lock"
	"$BUILD/cuse_tpm_ioctl" --lock-storage 4294967295 "$DEV" >/dev/null 2>&1 &
	waiter=$!
	sleep 0.5
	kill -0 "$waiter" 2>/dev/null || why=${why:-"LOCK_STORAGE did not wait"}
	t0=$(date +%s%N)
	kill -TERM "$pid"
	for ((i = 0; i < 300; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	t1=$(date +%s%N)
	echo "# SIGTERM with LOCK_STORAGE waiting for another process's lock: exit after $(((t1 - t0) / 1000000)) ms"
	if kill -0 "$pid" 2>/dev/null || [ -e "$DEV" ]; then
		why=${why:-"the daemon is still there long after SIGTERM"}
		kill -KILL "$pid" 2>/dev/null
	fi
	if [ -z "$why" ]; then pass hostile-sigterm-during-lock-wait
	else fail hostile-sigterm-during-lock-wait "$why"; fi
	kill -TERM "$other" 2>/dev/null
	wait "$waiter" "$other" 2>/dev/null
}

group_asan() {
	local logs
	rm -f /tmp/asan.*
	export ASAN_OPTIONS=log_path=/tmp/asan:detect_leaks=1 UBSAN_OPTIONS=log_path=/tmp/asan:print_stacktrace=1
	group_devtest "$BUILD/asan/cuse_tpm" "$BUILD/asan/tests/devtest" "-asan"
	unset ASAN_OPTIONS UBSAN_OPTIONS
	logs=$(cat /tmp/asan.* 2>/dev/null | head -n 40)
	if [ -z "$logs" ]; then pass asan-ubsan-no-reports; else fail asan-ubsan-no-reports "$logs"; fi
}

# ---------------------------------------------------------------------------
# Debian's swtpm_ioctl, and ours, against the device: every option.
ioctl_tool_checks() { # TOOL TAG
	local t=$1 tag=$2 out
	out=$($t -c $DEV 2>&1) && [[ $out == *0x16fff* ]] && pass "$tag-c-capabilities" || fail "$tag-c-capabilities" "$out"
	check "$tag-i-init" $t -i $DEV
	check "$tag-startup" tpm2_startup -c
	out=$($t -e $DEV 2>&1) && [[ $out == *"tpmEstablished is 0"* ]] && pass "$tag-e-established" || fail "$tag-e-established" "$out"
	check "$tag-l-locality" $t -l 0 $DEV
	if out=$($t -l 5 $DEV 2>&1); then fail "$tag-l-bad-locality-fails" "exit 0: $out"; else pass "$tag-l-bad-locality-fails"; fi
	check "$tag-h-hash" $t -h "measured data" $DEV
	out=$($t -e $DEV 2>&1) && [[ $out == *"tpmEstablished is 1"* ]] && pass "$tag-hash-sets-established" || fail "$tag-hash-sets-established" "$out"
	check "$tag-r-reset-established" $t -r 3 $DEV
	out=$($t -e $DEV 2>&1) && [[ $out == *"tpmEstablished is 0"* ]] && pass "$tag-r-cleared-established" || fail "$tag-r-cleared-established" "$out"
	check "$tag-i-after-hash" $t -i $DEV
	check "$tag-startup-again" tpm2_startup -c
	check "$tag-C-cancel" $t -C $DEV
	rm -f "$STATE/tpm2-00.volatilestate"
	check "$tag-v-store-volatile" bash -c "$t -v $DEV && test -s $STATE/tpm2-00.volatilestate"
	out=$($t --info 1 $DEV 2>&1) && [[ $out == *'"family":"2.0"'* ]] && pass "$tag-info-spec" || fail "$tag-info-spec" "$out"
	out=$($t --info 2 $DEV 2>&1) && [[ $out == *TPMAttributes* ]] && pass "$tag-info-attributes" || fail "$tag-info-attributes" "$out"
	out=$($t -g $DEV 2>&1) && [[ $out == *0x0* ]] && pass "$tag-g-config" || fail "$tag-g-config" "$out"
	out=$($t -b 0 $DEV 2>&1) && [[ $out == *4096* ]] && pass "$tag-b-buffersize" || fail "$tag-b-buffersize" "$out"
	# Debian 12's swtpm_ioctl (0.7) predates --lock-storage
	if $t --help 2>&1 | grep -q -- --lock-storage; then
		check "$tag-lock-storage" $t --lock-storage 0 $DEV
	fi
	# save, stop, load, init: the PCR survives; ioctl and read/write modes
	local pcr_before pcr_after bs
	tpm2_pcrextend 16:sha256=0101010101010101010101010101010101010101010101010101010101010101 >/dev/null 2>&1
	pcr_before=$(tpm2_pcrread sha256:16 2>&1)
	for bs in "" 100 4096; do
		local sfx=${bs:+-bufsize$bs}
		rm -f /tmp/blob.*
		check "$tag-save-permanent$sfx" env ${bs:+SWTPM_IOCTL_BUFFERSIZE=$bs} $t --save permanent /tmp/blob.perm $DEV
		check "$tag-save-volatile$sfx" env ${bs:+SWTPM_IOCTL_BUFFERSIZE=$bs} $t --save volatile /tmp/blob.vol $DEV
		check "$tag-save-savestate$sfx" env ${bs:+SWTPM_IOCTL_BUFFERSIZE=$bs} $t --save savestate /tmp/blob.save $DEV
		check "$tag-stop$sfx" $t --stop $DEV
		check "$tag-load-permanent$sfx" env ${bs:+SWTPM_IOCTL_BUFFERSIZE=$bs} $t --load permanent /tmp/blob.perm $DEV
		check "$tag-load-volatile$sfx" env ${bs:+SWTPM_IOCTL_BUFFERSIZE=$bs} $t --load volatile /tmp/blob.vol $DEV
		check "$tag-init-after-load$sfx" $t -i $DEV
		pcr_after=$(tpm2_pcrread sha256:16 2>&1)
		if [ "$pcr_before" = "$pcr_after" ] && [[ $pcr_before == *0x* ]]; then
			pass "$tag-state-round-trip$sfx"
		else
			fail "$tag-state-round-trip$sfx" "before=$pcr_before after=$pcr_after"
		fi
	done
	if out=$($t -b 3000 $DEV 2>&1); then fail "$tag-b-refused-while-running" "$out"; else pass "$tag-b-refused-while-running"; fi
	local pid
	pid=$(daemon_pid)
	check "$tag-s-shutdown" $t -s $DEV
	check "$tag-s-process-and-node-gone" wait_gone "$pid"
}

group_ioctl() {
	local t
	for t in swtpm_ioctl "$BUILD/cuse_tpm_ioctl"; do
		local tag=${t##*/}
		rm -rf "$STATE"
		if ! start_daemon; then fail "$tag-daemon" "could not start"; continue; fi
		ioctl_tool_checks "$t" "$tag"
	done
	# ours prints what swtpm_ioctl prints, and explains failures
	rm -rf "$STATE"
	start_daemon && swtpm_ioctl -i $DEV >/dev/null && tpm2_startup -c >/dev/null 2>&1
	local opt a b
	for opt in -c -e -g "-b 0" "--info 1" "--info 3" "-l 2" "-r 3" -v -C; do
		a=$(swtpm_ioctl $opt $DEV 2>/dev/null; echo "rc=$?")
		b=$("$BUILD/cuse_tpm_ioctl" $opt $DEV 2>/dev/null; echo "rc=$?")
		if [ "$a" = "$b" ]; then pass "ioctl-same-output:${opt// /_}"; else fail "ioctl-same-output:${opt// /_}" "swtpm_ioctl: $a / ours: $b"; fi
	done
	b=$("$BUILD/cuse_tpm_ioctl" -l 7 $DEV 2>&1)
	if [[ $b == *[Ll]ocality* ]]; then pass ioctl-explains-bad-locality; else fail ioctl-explains-bad-locality "$b"; fi
	# failures on the device: ours, run as swtpm_ioctl, prints what
	# swtpm_ioctl prints on stderr too, and ours under its own name adds
	# its explanation after it
	local sw=/tmp/ioctl-link/swtpm_ioctl
	mkdir -p "${sw%/*}" && ln -sf "$(realpath "$BUILD/cuse_tpm_ioctl")" "$sw"
	ioctl_same_failure ioctl-fail-b-while-running "" -b 3000 $DEV
	ioctl_same_failure ioctl-fail-r-locality-0 "" -r 0 $DEV
	ioctl_same_failure ioctl-fail-load-while-running "" --load permanent "$STATE/tpm2-00.permall" $DEV
	ioctl_same_failure ioctl-fail-l-7 "" -l 7 $DEV
	ioctl_same_failure ioctl-fail-bad-blob-type "" --save bogus /tmp/ioctl-bogus $DEV
	check ioctl-stop swtpm_ioctl --stop $DEV
	for opt in -e -v -C "-h abc" "-r 3" "--save permanent /tmp/ioctl-stopped"; do
		ioctl_same_failure "ioctl-fail-stopped:${opt// /_}" "" $opt $DEV
	done
	ioctl_same_failure ioctl-fail-stopped-save-bufsize100 100 --save volatile /tmp/ioctl-stopped $DEV
	head -c 100 /dev/urandom >/tmp/ioctl-junk
	ioctl_same_failure ioctl-fail-load-junk "" --load permanent /tmp/ioctl-junk $DEV
	ioctl_same_failure ioctl-fail-load-junk-bufsize100 100 --load permanent /tmp/ioctl-junk $DEV
	ioctl_same_failure ioctl-fail-load-missing-file "" --load permanent /tmp/ioctl-none $DEV
	stop_daemon
	ioctl_same_failure ioctl-fail-missing-device "" -c $DEV
	b=$("$BUILD/cuse_tpm_ioctl" -c $DEV 2>&1)
	if [[ $b == *"No such file"* || $b == *"running"* ]]; then pass ioctl-explains-missing-device; else fail ioctl-explains-missing-device "$b"; fi
}

# ioctl_same_failure NAME BUFSIZE ARGS...: swtpm_ioctl and ours as
# swtpm_ioctl fail alike, stderr byte for byte; ours under its own name
# prints swtpm_ioctl's lines and its own "cuse_tpm_ioctl: " ones.
ioctl_same_failure() {
	local name=$1 bs=$2 a b c
	shift 2
	a=$(env ${bs:+SWTPM_IOCTL_BUFFERSIZE=$bs} swtpm_ioctl "$@" 2>&1 >/dev/null; echo "rc=$?")
	b=$(env ${bs:+SWTPM_IOCTL_BUFFERSIZE=$bs} /tmp/ioctl-link/swtpm_ioctl "$@" 2>&1 >/dev/null; echo "rc=$?")
	c=$(env ${bs:+SWTPM_IOCTL_BUFFERSIZE=$bs} "$BUILD/cuse_tpm_ioctl" "$@" 2>&1 >/dev/null; echo "rc=$?")
	# an unended line of swtpm_ioctl's gets its newline before ours
	c=$(grep -v '^cuse_tpm_ioctl: ' <<<"$c" | tr -d '\n')
	if [ "$a" = "rc=0" ] || [ "$a" != "$b" ]; then
		fail "$name" "swtpm_ioctl '$a', ours as swtpm_ioctl '$b'"
	elif [ "$(tr -d '\n' <<<"$a")" != "$c" ]; then
		fail "$name" "swtpm_ioctl '$a', ours without explanations '$c'"
	else
		pass "$name"
	fi
}

# ---------------------------------------------------------------------------
# tpm2-tools through tpm2-tss' device TCTI.
group_tpm2tools() {
	local out expect
	rm -rf "$STATE"
	start_daemon --flags not-need-init || { fail tpm2-daemon "could not start"; return; }
	check tpm2-startup tpm2_startup -c
	out=$(tpm2_getrandom 16 --hex 2>&1) && [[ ${#out} -ge 32 ]] && pass tpm2-getrandom || fail tpm2-getrandom "$out"
	check tpm2-pcrextend tpm2_pcrextend 16:sha256=0000000000000000000000000000000000000000000000000000000000000001
	# PCR16 = SHA256(32 zero bytes || digest)
	expect=$( (head -c 32 /dev/zero; printf '%064x' 1 | xxd -r -p) | sha256sum | cut -c1-64 | tr a-f A-F)
	out=$(tpm2_pcrread sha256:16 2>&1)
	if [[ $out == *"0x$expect"* ]]; then pass tpm2-pcrread-has-extended-value; else fail tpm2-pcrread-has-extended-value "want $expect got $out"; fi
	check tpm2-createprimary-rsa tpm2_createprimary -C o -G rsa2048 -c /tmp/rsa.ctx
	check tpm2-flush tpm2_flushcontext -t
	check tpm2-createprimary-ecc tpm2_createprimary -C o -G ecc256 -c /tmp/ecc.ctx
	check tpm2-flush-2 tpm2_flushcontext -t
	check tpm2-nvdefine tpm2_nvdefine 0x1500016 -C o -s 32 -a "ownerread|ownerwrite|authread|authwrite"
	printf 'cuse_tpm keeps this across restart' | head -c 32 >/tmp/nvdata
	check tpm2-nvwrite tpm2_nvwrite 0x1500016 -C o -i /tmp/nvdata
	out=$(tpm2_nvread 0x1500016 -C o -s 32 2>/dev/null)
	if [ "$out" = "$(cat /tmp/nvdata)" ]; then pass tpm2-nvread; else fail tpm2-nvread "got '$out'"; fi
	check tpm2-daemon-stops stop_daemon
	start_daemon || { fail tpm2-daemon-restarts "could not start"; return; }
	check tpm2-init-after-restart swtpm_ioctl -i $DEV
	check tpm2-startup-after-restart tpm2_startup -c
	out=$(tpm2_nvread 0x1500016 -C o -s 32 2>/dev/null)
	if [ "$out" = "$(cat /tmp/nvdata)" ]; then pass tpm2-nv-survives-restart; else fail tpm2-nv-survives-restart "got '$out'"; fi
	check tpm2-state-files-named-as-swtpm test -s "$STATE/tpm2-00.permall"
	stop_daemon
}

# ---------------------------------------------------------------------------
# A TPM 1.2 on request: files, Startup, a response in 1.2's format.
group_tpm12() {
	local out
	rm -rf "$STATE"
	start_daemon --tpm12 || { fail tpm12-daemon "could not start"; return; }
	check tpm12-init swtpm_ioctl -i $DEV
	# TPM_Startup(ST_CLEAR): tag 0xc1, size 12, ordinal 0x99
	out=$(exec 3<>$DEV; printf '\x00\xc1\x00\x00\x00\x0c\x00\x00\x00\x99\x00\x01' >&3; \
		head -c 10 <&3 | xxd -p)
	if [ "$out" = "00c40000000a00000000" ]; then pass tpm12-startup; else fail tpm12-startup "response $out"; fi
	out=$(swtpm_ioctl --info 1 $DEV 2>&1)
	if [[ $out == *'"family":"1.2"'* ]]; then pass tpm12-info-says-1.2; else fail tpm12-info-says-1.2 "$out"; fi
	check tpm12-stop-writes-state bash -c "swtpm_ioctl -s $DEV && sleep 0.5 && test -s $STATE/tpm-00.permall"
	tpm12_blob_round_trip
}

# tpm12_tx HEX: one TPM 1.2 command through the device; the response in hex
tpm12_tx() {
	(exec 3<>$DEV; printf '%s' "$1" | xxd -r -p >&3; head -c 4096 <&3 | xxd -p | tr -d '\n')
}

# A TPM 1.2's three blobs out of the device and into a fresh one, then
# PTM_INIT: PCR 10 comes back (finding 2 of issue 11 said INIT gave 0x9).
tpm12_blob_round_trip() {
	local t out pcr=00c40000001e00000000b3e26c6ca6785f04dd7187293d802d5b16dad8c1
	rm -rf "$STATE"
	start_daemon --tpm12 || { fail tpm12-blobs-daemon "could not start"; return; }
	swtpm_ioctl -i $DEV >/dev/null
	tpm12_tx 00c10000000c000000990001 >/dev/null
	out=$(tpm12_tx 00c100000022000000140000000a1111111111111111111111111111111111111111)
	[ "$out" = $pcr ] || fail tpm12-blobs-extend "response $out"
	for t in permanent volatile savestate; do
		swtpm_ioctl --save $t /tmp/tpm12.$t $DEV >/dev/null || fail tpm12-blobs-save-$t "swtpm_ioctl --save failed"
	done
	stop_daemon
	rm -rf "$STATE"
	start_daemon --tpm12 || { fail tpm12-blobs-daemon "could not start again"; return; }
	for t in permanent volatile savestate; do
		swtpm_ioctl --load $t /tmp/tpm12.$t $DEV >/dev/null || fail tpm12-blobs-load-$t "swtpm_ioctl --load failed"
	done
	check tpm12-blobs-init swtpm_ioctl -i $DEV
	out=$(tpm12_tx 00c10000000e000000150000000a)
	if [ "$out" = $pcr ]; then pass tpm12-blobs-keep-pcr; else fail tpm12-blobs-keep-pcr "response $out"; fi
	stop_daemon
}

# ---------------------------------------------------------------------------
# QEMU opens the device node as a passthrough TPM: its version probe runs
# through our data path, and QMP shows the TPM.  (No nested guest boots:
# TCG inside TCG is too slow to be worth it here.)
group_passthrough() {
	local out pid i
	rm -rf "$STATE"
	start_daemon --flags not-need-init,startup-clear || { fail passthrough-daemon "could not start"; return; }
	qemu-system-x86_64 -accel tcg -S -nodefaults -display none -M pc -m 64 \
		-tpmdev "passthrough,id=tpm0,path=$DEV,cancel-path=/dev/null" \
		-device tpm-tis,tpmdev=tpm0 -qmp unix:/tmp/qmp.sock,server=on,wait=off \
		>/tmp/qemu-pt.log 2>&1 &
	pid=$!
	for ((i = 0; i < 200; i++)); do [ -S /tmp/qmp.sock ] && break; sleep 0.05; done
	out=$(python3 - <<'PY' 2>&1
import json, socket
s = socket.socket(socket.AF_UNIX)
s.connect("/tmp/qmp.sock")
f = s.makefile("rw")
f.readline()
for cmd in ("qmp_capabilities", "query-tpm", "quit"):
    f.write(json.dumps({"execute": cmd}) + "\n"); f.flush()
    while True:
        r = json.loads(f.readline())
        if "return" in r or "error" in r:
            break
    if cmd == "query-tpm":
        print(json.dumps(r))
PY
)
	wait $pid
	if [[ $out == *'"type": "passthrough"'* && $out == *"$DEV"* ]]; then
		pass passthrough-qemu-probes-and-lists-tpm
	else
		fail passthrough-qemu-probes-and-lists-tpm "$out $(cat /tmp/qemu-pt.log)"
	fi
	check passthrough-daemon-still-serves tpm2_getrandom 8
	stop_daemon
}

# ---------------------------------------------------------------------------
# --runas: the serving process is the user, holds no capability, and every
# state file it writes is the user's.
group_runas() {
	local pid out
	rm -rf "$STATE" /tmp/vtpm.pid
	start_daemon --runas nobody --flags not-need-init,startup-clear ||
		{ fail runas-daemon "could not start"; return; }
	pid=$(daemon_pid)
	out=$(awk '/^Uid:/ {print $2} /^CapEff:/ {print $2}' /proc/"$pid"/status | tr '\n' ' ')
	if [ "$out" = "65534 0000000000000000 " ]; then pass runas-uid-and-no-capabilities; else fail runas-uid-and-no-capabilities "$out"; fi
	check runas-serves tpm2_nvdefine 0x1500030 -C o -s 8 -a "ownerread|ownerwrite"
	out=$(find "$STATE" -mindepth 1 ! -user nobody)
	if [ -z "$out" ] && [ -n "$(ls "$STATE")" ]; then pass runas-state-files-owned-by-user; else fail runas-state-files-owned-by-user "$out"; fi
	check runas-stops stop_daemon
}

# ---------------------------------------------------------------------------
# dm_switch DEV SECTORS TARGET: the command that swaps DEV's table
dm_switch() {
	echo "dmsetup load $1 --table '0 $2 $3' && dmsetup suspend --nolockfs $1 && dmsetup resume $1"
}
# EIO under the state directory: ext2 on a device-mapper device over a RAM
# disk, whose table test_faults.py switches to "error" and back.
group_faults() {
	local dm=cuse-tpm-eio mnt=/tmp/eio size
	export DM_DISABLE_UDEV=1 # no udevd here: dmsetup makes the node itself
	if [ ! -b /dev/ram0 ] || [ ! -e /dev/mapper/control ]; then
		fail fault-eio "no RAM disk or device-mapper in this kernel"
		return
	fi
	size=$(blockdev --getsz /dev/ram0)
	mkdir -p "$mnt"
	if ! { dmsetup create "$dm" --table "0 $size linear /dev/ram0 0" &&
		mkfs.ext2 -q "/dev/mapper/$dm" &&
		mount -o errors=continue "/dev/mapper/$dm" "$mnt"; } >/tmp/eio.log 2>&1; then
		fail fault-eio "cannot set up the device: $(tail -n 2 /tmp/eio.log | tr '\n' ' ')"
		dmsetup remove "$dm" 2>/dev/null
		return
	fi
	python3 tests/unit/test_faults.py "$BUILD/cuse_tpm" --eio "$mnt" \
		"$(dm_switch "$dm" "$size" error)" \
		"$(dm_switch "$dm" "$size" "linear /dev/ram0 0")" | grep -E '^(PASS|FAIL): '
	umount "$mnt"
	dmsetup remove "$dm"
}

# Confinement: the seccomp filter (on by default), Landlock, --node, -M/-m.
status_field() { # PID FIELD
	awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"
}
group_confine() {
	local pid out tss_gid nr
	rm -rf "$STATE" /tmp/vtpm.pid
	# the default: filter in force, no_new_privs, Landlock on 6.1 (ABI 2)
	start_daemon --flags not-need-init,startup-clear --log "file=$LOG,level=4" ||
		{ fail confine-daemon "could not start"; return; }
	pid=$(daemon_pid)
	out="$(status_field "$pid" Seccomp) $(status_field "$pid" NoNewPrivs)"
	if [ "$out" = "2 1" ]; then pass confine-seccomp-filter-in-force-by-default
	else fail confine-seccomp-filter-in-force-by-default "Seccomp/NoNewPrivs: $out"; fi
	if grep -q 'landlock (ABI [0-9]*): writes only to' "$LOG"; then pass confine-landlock-in-force
	else fail confine-landlock-in-force "$(grep -i landlock "$LOG")"; fi
	# the TPM works under both: NV writes reach the state directory
	check confine-tpm-writes-its-state tpm2_nvdefine 0x1500031 -C o -s 8 -a "ownerread|ownerwrite"
	printf 12345678 >/tmp/nv.in
	check confine-tpm-nv-write tpm2_nvwrite 0x1500031 -C o -i /tmp/nv.in
	check confine-stops stop_daemon
	if [ ! -e /tmp/vtpm.pid ]; then pass confine-pid-file-removed-at-end
	else fail confine-pid-file-removed-at-end "/tmp/vtpm.pid is left"; fi
	# the same rules, on this kernel: a forbidden call kills, or is logged;
	# a write outside the state directory is refused
	check confine-sandbox-unit-tests "$BUILD/tests/test_sandbox"
	nr=121 # getpgid on x86_64, test_sandbox's forbidden call
	if dmesg | grep -q "type=1326.*comm=\"test_sandbox\".*syscall=$nr "; then
		pass confine-seccomp-log-reaches-kernel-log
	else
		fail confine-seccomp-log-reaches-kernel-log "$(dmesg | grep type=1326 | tail -n 2)"
	fi
	# action=none: no filter
	start_daemon --seccomp action=none ||
		{ fail confine-seccomp-none "could not start"; return; }
	out=$(status_field "$(daemon_pid)" Seccomp)
	if [ "$out" = 0 ]; then pass confine-seccomp-none-installs-nothing
	else fail confine-seccomp-none-installs-nothing "Seccomp: $out"; fi
	stop_daemon
	# --node: without udev, a group member (not root) uses the device
	tss_gid=$(getent group tss | cut -d: -f3)
	rm -rf "$STATE" /tmp/vtpm.pid
	start_daemon --runas nobody --node owner=root,group=tss,mode=0660 \
		--flags not-need-init,startup-clear ||
		{ fail confine-node-daemon "could not start"; return; }
	out=$(stat -c '%U %G %a' "$DEV")
	if [ "$out" = "root tss 660" ]; then pass confine-node-owner-group-mode
	else fail confine-node-owner-group-mode "$out"; fi
	check confine-node-group-member-uses-it setpriv --reuid=nobody --regid=nogroup \
		--groups="${tss_gid:-0}" tpm2_getrandom -T "device:$DEV" 8
	if ! setpriv --reuid=nobody --regid=nogroup --clear-groups \
		sh -c "exec 3<>$DEV" 2>/dev/null; then
		pass confine-node-others-refused
	else
		fail confine-node-others-refused "a non-member opened $DEV"
	fi
	stop_daemon
	rm -rf "$STATE"
	out=$(start_daemon --node group=no-such-group 2>&1)
	if [[ $out == *"no such group 'no-such-group'"* ]] && [ ! -e "$DEV" ]; then
		pass confine-node-bad-group-refused
	else
		fail confine-node-bad-group-refused "$out"
	fi
	# -M/-m: the numbers asked for (240: for local/experimental use)
	start_daemon -M 240 -m 17 --flags not-need-init,startup-clear || { fail confine-major-minor "could not start"; return; }
	out=$(stat -c '%t:%T' "$DEV")
	if [ "$out" = "f0:11" ]; then pass confine-major-minor-as-asked
	else fail confine-major-minor-as-asked "$out"; fi
	check confine-major-minor-serves tpm2_getrandom 8
	stop_daemon
}

# ---------------------------------------------------------------------------
# cuse_tpm as a drop-in swtpm, on the device: swtpm's dialect serves a
# TPM 1.2 unless --tpm2; a state Debian's swtpm_setup manufactured through
# `cuse_tpm socket` serves its EK certificate through /dev/NAME; --chroot
# with --runas into a jail that has no /dev.
group_dropin() {
	local out jail=/tmp/jail pid
	rm -rf "$STATE"
	"$BUILD/cuse_tpm" cuse -n "$DEV_NAME" --tpmstate "dir=$STATE" \
		--log "file=$LOG,level=3" || { fail dropin-cuse-daemon "could not start"; return; }
	out=$(swtpm_ioctl --info 1 "$DEV" 2>&1)
	if [[ $out == *'"family":"1.2"'* ]]; then pass dropin-cuse-mode-is-tpm12; else fail dropin-cuse-mode-is-tpm12 "$out"; fi
	swtpm_ioctl -s "$DEV" >/dev/null 2>&1
	wait_gone "$(pgrep -n -f "cuse_tpm cuse -n $DEV_NAME")" 2>/dev/null
	# swtpm_setup with a local CA of its own (/etc is read-only here)
	rm -rf "$STATE" /tmp/ca && mkdir -p "$STATE" /tmp/ca
	printf 'statedir = /tmp/ca\nsigningkey = /tmp/ca/key.pem\nissuercert = /tmp/ca/cert.pem\ncertserial = /tmp/ca/serial\n' >/tmp/ca/localca.conf
	printf 'create_certs_tool = /usr/bin/swtpm_localca\ncreate_certs_tool_config = /tmp/ca/localca.conf\nactive_pcr_banks = sha256\n' >/tmp/ca/setup.conf
	check dropin-swtpm_setup-manufactures swtpm_setup --tpm "$BUILD/cuse_tpm socket" --tpm2 \
		--config /tmp/ca/setup.conf --tpmstate "$STATE" --create-ek-cert \
		--create-platform-cert --lock-nvram --logfile /tmp/ca/setup.log
	start_daemon --tpm2 --flags not-need-init,startup-clear ||
		{ fail dropin-serves-manufactured-state "could not start"; return; }
	rm -f /tmp/ek.der
	tpm2_nvread -C o 0x01c00002 -o /tmp/ek.der >/dev/null 2>&1
	check dropin-device-serves-ek-certificate openssl x509 -inform DER -in /tmp/ek.der -noout
	stop_daemon
	# --chroot: /dev/cuse opened outside, every later path inside the jail
	rm -rf "$jail" && mkdir -p "$jail/state" && chown nobody "$jail/state"
	"$BUILD/cuse_tpm" cuse --tpm2 -n "$DEV_NAME" -R "$jail" --runas nobody \
		--tpmstate dir=/state --pid file=/state/pid --flags not-need-init,startup-clear \
		--log "file=$LOG,level=3" || { fail dropin-chroot-daemon "could not start"; return; }
	check dropin-chroot-device-serves tpm2_getrandom 8
	check dropin-chroot-state-in-jail test -s "$jail/state/tpm2-00.permall"
	pid=$(cat "$jail/state/pid" 2>/dev/null)
	out=$(readlink "/proc/$pid/root" 2>&1)
	if [ "$out" = "$jail" ]; then pass dropin-chroot-root-is-jail; else fail dropin-chroot-root-is-jail "root '$out'"; fi
	kill -TERM "$pid" 2>/dev/null
	check dropin-chroot-ends wait_gone "$pid"
}

want daemon && group_daemon
want devtest && group_devtest
want ioctl && group_ioctl
want tpm2tools && group_tpm2tools
want tpm12 && group_tpm12
want passthrough && group_passthrough
want runas && group_runas
want faults && group_faults
want load && group_load
want hostile && group_hostile
want confine && group_confine
want dropin && group_dropin
want asan && group_asan
# the resource-managed node: 8 tpm2-tools clients at once, a raw owner, the
# same clients through tpm2-abrmd on the raw node
# (on the ASan/UBSan daemon when there is one)
if want rm; then
	if [ -x "$BUILD/asan/cuse_tpm" ]; then
		RM_DAEMON=$BUILD/asan/cuse_tpm tests/vm/rm.sh
	else
		tests/vm/rm.sh
	fi
fi
# the udev rule and the systemd unit, with Debian's udevd and systemd
want deploy && tests/vm/deploy.sh
exit 0
