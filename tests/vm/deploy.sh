#!/usr/bin/env bash
# Deployment tests: the udev rule and the systemd unit in contrib/, with
# Debian's real systemd-udevd and systemd.  Runs inside the test VM (see
# vm.sh), from the repository root, as root; each check prints one
# "PASS: name" or "FAIL: name: why" line.
#
#   BUILD=build   where the binaries are
#
# The guest has no udev and no systemd running, and its root file system is
# the host's, read-only.  So the script brings up what it needs itself, in
# places that are writable and that it removes again:
#   - systemd-udevd, with the rule copied to /run/udev/rules.d;
#   - the unit's ExecStart= line, parsed out of the unit and run the way
#     systemd runs it (specifiers, Environment=, ${VAR} and $VAR, the "!"
#     prefix, StateDirectory= owned by User=, UMask=, CapabilityBoundingSet=,
#     NoNewPrivileges=, NOTIFY_SOCKET), in a mount namespace where a tmpfs
#     over /var/lib takes the state directory;
#   - systemd itself as PID 1 of a PID and mount namespace, starting and
#     stopping the unit with every sandboxing directive in force.
set -u

BUILD=${BUILD:-build}
RULES=contrib/udev/60-cuse-tpm.rules
UNIT=contrib/systemd/cuse-tpm@.service
# Scratch space for everything below; /run is a tmpfs in the guest.
WORK=/run/cuse-tpm-deploy
# udevadm and systemctl refuse to act "in a chroot", and the guest's
# userspace is one (vm.sh's init chroots into the host's root).
export SYSTEMD_IGNORE_CHROOT=1

pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1: $2"; }
# check NAME COMMAND...: PASS if COMMAND exits 0, else FAIL with its output
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then
		pass "$name"
	else
		fail "$name" "$(printf '%s' "$out" | tail -n 3 | tr '\n' ' ')"
	fi
}
# A fresh name per run, so nothing left by another test can collide.
new_uuid() { cat /proc/sys/kernel/random/uuid; }

# wait_for SECONDS COMMAND...: polls COMMAND every 50 ms until it succeeds
wait_for() {
	local i limit=$(($1 * 20))
	shift
	for ((i = 0; i < limit; i++)); do
		"$@" && return 0
		sleep 0.05
	done
	return 1
}
gone() { ! kill -0 "$1" 2>/dev/null; }
either_gone() { gone "$1" || gone "$2"; }
no_node() { [ ! -e "$1" ]; }

# ---------------------------------------------------------------------------
# Parsing the unit the way systemd does, for the parts this unit uses.

# unit_values KEY: every value of KEY= in [Service], in order
unit_values() {
	local line section='' key=$1
	while IFS= read -r line || [ -n "$line" ]; do
		case $line in
		'#'* | ';'* | '') continue ;;
		'['*']') section=$line ;;
		"$key="*) [ "$section" = '[Service]' ] && printf '%s\n' "${line#"$key"=}" ;;
		esac
	done <"$UNIT"
}

# StateDirectoryMode= as stat(1) prints it (no leading 0)
state_dir_mode() {
	local m
	m=$(unit_values StateDirectoryMode)
	m=${m:-0755}
	printf '%s' "${m#0}"
}

# split_words STRING: systemd's word splitting (whitespace, '...' and
# "..." quoting; no backslash escapes, which this unit does not use) into
# the array WORDS; fails on an unbalanced quote
split_words() {
	local s=$1 word='' quote='' c i in_word=0
	WORDS=()
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		if [ -n "$quote" ]; then
			if [ "$c" = "$quote" ]; then quote=''; else word+=$c; fi
		elif [ "$c" = '"' ] || [ "$c" = "'" ]; then
			quote=$c
			in_word=1
		elif [ "$c" = ' ' ] || [ "$c" = $'\t' ]; then
			if [ $in_word = 1 ]; then WORDS+=("$word"); fi
			word=''
			in_word=0
		else
			word+=$c
			in_word=1
		fi
	done
	if [ $in_word = 1 ]; then WORDS+=("$word"); fi
	[ -z "$quote" ]
}

# specifiers STRING INSTANCE: expands the unit specifiers this unit may use;
# fails on any other, so a new one in the unit cannot slip through untested
specifiers() {
	local s=$1 inst=$2 out='' c
	while [ -n "$s" ]; do
		c=${s:0:1}
		s=${s:1}
		if [ "$c" != % ]; then
			out+=$c
			continue
		fi
		c=${s:0:1}
		s=${s:1}
		case $c in
		i) out+=$inst ;;
		u) out+=root ;; # the manager's user, not User= (systemd.unit(5))
		I) out+=${inst//-//} ;;
		n) out+="cuse-tpm@$inst.service" ;;
		N) out+="cuse-tpm@$inst" ;;
		p) out+=cuse-tpm ;;
		S) out+=/var/lib ;;
		%) out+=% ;;
		*) return 1 ;;
		esac
	done
	printf '%s' "$out"
}

# exec_argv INSTANCE: the command line of ExecStart= into ARGV and the
# environment systemd gives it into ENVS (NAME=VALUE each)
exec_argv() {
	local inst=$1 line assignment name w v lines=()
	local -A env=()
	ENVS=()
	while IFS= read -r line; do
		line=$(specifiers "$line" "$inst") || return 1
		split_words "$line" || return 1
		for assignment in "${WORDS[@]}"; do
			env[${assignment%%=*}]=${assignment#*=}
		done
	done < <(unit_values Environment)
	env[STATE_DIRECTORY]=/var/lib/$(specifiers "$(unit_values StateDirectory)" "$inst")
	for name in "${!env[@]}"; do ENVS+=("$name=${env[$name]}"); done

	mapfile -t lines < <(unit_values ExecStart)
	[ ${#lines[@]} = 1 ] || return 1
	line=$(specifiers "${lines[0]}" "$inst") || return 1
	# "!": systemd runs the command as root and leaves the switch to User=
	# to the command itself; no other prefix is expected here.
	EXEC_PREFIX=''
	case $line in
	'!'*) EXEC_PREFIX='!' line=${line#!} ;;
	[-@:+]*) return 1 ;;
	esac
	split_words "$line" || return 1
	ARGV=()
	for w in "${WORDS[@]}"; do
		# "$VAR" alone: the value split at whitespace (0 or more words)
		if [[ $w =~ ^\$([A-Za-z_][A-Za-z0-9_]*)$ ]]; then
			split_words "${env[${BASH_REMATCH[1]}]:-}" || return 1
			ARGV+=("${WORDS[@]}")
			continue
		fi
		# "${VAR}" anywhere: the exact value, no splitting
		while [[ $w =~ \$\{([A-Za-z_][A-Za-z0-9_]*)\} ]]; do
			v=${env[${BASH_REMATCH[1]}]:-}
			w=${w/"${BASH_REMATCH[0]}"/$v}
		done
		ARGV+=("$w")
	done
}

# ---------------------------------------------------------------------------
# A receiver for sd_notify(): prints each datagram with the sender's pid
# and, on READY=1, opens the node at once, proving it is usable by then.
notify_listener() { # SOCKET NODE TIMEOUT
	python3 - "$@" <<'EOF'
import os, socket, struct, sys

path, node, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(path)
os.chmod(path, 0o777)  # as systemd's: the daemon may have left root by then
s.settimeout(timeout)
while True:
    try:
        msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
    except socket.timeout:
        print("TIMEOUT", flush=True)
        sys.exit(1)
    pid = "?"
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack("iII", data[:12])[0]
    lines = msg.decode(errors="replace").split("\n")
    print("MSG %s %s" % (pid, " ".join(lines)), flush=True)
    if "READY=1" in lines:
        try:
            os.close(os.open(node, os.O_RDWR | os.O_NONBLOCK))
            print("OPEN ok", flush=True)
        except OSError as e:
            print("OPEN failed: %s" % e.strerror, flush=True)
        sys.exit(0)
EOF
}

# ---------------------------------------------------------------------------
# Part 1: the udev rule, under Debian's systemd-udevd.

udevd_started=0
run_udev_existed=0
# What /run held before: systemd and mount(8) leave directories there.
mapfile -t run_before < <(ls -A /run)

start_udevd() {
	[ -d /run/udev ] && run_udev_existed=1
	mkdir -p /run/udev/rules.d
	cp "$RULES" /run/udev/rules.d/60-cuse-tpm.rules || return 1
	if udevadm control --ping 2>/dev/null; then
		udevadm control --reload # someone else's udevd: just reload
	else
		/lib/systemd/systemd-udevd --daemon >/dev/null 2>&1 || return 1
		udevd_started=1
		wait_for 10 udevadm control --ping 2>/dev/null
	fi
}

stop_udevd() {
	rm -f /run/udev/rules.d/60-cuse-tpm.rules
	if [ $udevd_started = 1 ]; then
		udevadm control --exit 2>/dev/null
		[ $run_udev_existed = 1 ] || rm -rf /run/udev
	elif udevadm control --ping 2>/dev/null; then
		udevadm control --reload
	fi
}

# start_daemon NAME STATEDIR: a vTPM in the background; PID in DAEMON_PID
start_daemon() {
	rm -f "$WORK/daemon.pid"
	"$BUILD/cuse_tpm" -n "$1" --tpmstate "dir=$2" \
		--flags not-need-init,startup-clear \
		--pid "file=$WORK/daemon.pid" >/dev/null 2>"$WORK/daemon.err" ||
		return 1
	DAEMON_PID=$(cat "$WORK/daemon.pid")
	STARTED+=("$DAEMON_PID")
}

stop_daemon() { # PID NODE: SIGTERM, then wait for the end and the node
	kill -TERM "$1" 2>/dev/null
	wait_for 10 gone "$1" && wait_for 5 no_node "$2"
}

test_udev() {
	local u name dev tss_gid st out link
	if [ ! -x /lib/systemd/systemd-udevd ]; then
		fail udev-daemon "no /lib/systemd/systemd-udevd: install Debian's 'udev'"
		return
	fi
	if ! tss_gid=$(getent group tss | cut -d: -f3) || [ -z "$tss_gid" ]; then
		fail udev-tss-group "no group 'tss': install Debian's 'tpm-udev'"
		return
	fi
	if ! start_udevd; then
		fail udev-daemon "systemd-udevd did not start"
		return
	fi
	u=$(new_uuid)
	name=vtpm-$u
	dev=/dev/$name
	if ! start_daemon "$name" "$WORK/state-udev"; then
		fail udev-daemon-starts "$(cat "$WORK/daemon.err")"
		return
	fi
	udevadm settle --timeout=10

	# The node: root keeps it, group tss may read and write, others nothing.
	st=$(stat -c '%U %G %a' "$dev" 2>&1)
	if [ "$st" = "root tss 660" ]; then
		pass udev-node-root-tss-0660
	else
		fail udev-node-root-tss-0660 "got '$st'"
	fi

	# The link /dev/vtpm/UUID, and the tag for a systemd .device unit.
	link=$(readlink "/dev/vtpm/$u" 2>&1)
	if [ "$link" = "../$name" ] && [ "/dev/vtpm/$u" -ef "$dev" ]; then
		pass udev-link-dev-vtpm-uuid
	else
		fail udev-link-dev-vtpm-uuid "readlink says '$link'"
	fi
	# The resource-managed node beside it: the same group and mode, its link.
	st=$(stat -c '%U %G %a' "/dev/vtpmrm-$u" 2>&1)
	link=$(readlink "/dev/vtpmrm/$u" 2>&1)
	if [ "$st" = "root tss 660" ] && [ "$link" = "../vtpmrm-$u" ]; then
		pass udev-rm-node-root-tss-0660-and-link
	else
		fail udev-rm-node-root-tss-0660-and-link "got '$st', link '$link'"
	fi
	check udev-tss-member-uses-the-rm-node \
		setpriv --reuid=nobody --regid=nogroup --groups="$tss_gid" \
		tpm2_getrandom -T "device:/dev/vtpmrm-$u" --hex 8
	out=$(udevadm info --query=property --name="$dev" 2>&1)
	if [[ $out == *TAGS=*:systemd:* ]]; then
		pass udev-tag-systemd
	else
		fail udev-tag-systemd "$(printf '%s' "$out" | tr '\n' ' ')"
	fi

	# A member of tss that is not root uses the TPM; an outsider may not
	# even open the node.  (setpriv: no user or group can be added to the
	# read-only /etc, so the ids are set directly.)
	check udev-tss-member-runs-tpm2_getrandom \
		setpriv --reuid=nobody --regid=nogroup --groups="$tss_gid" \
		tpm2_getrandom -T "device:$dev" --hex 8
	if ! out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups \
		tpm2_getrandom -T "device:$dev" --hex 8 2>&1) &&
		[[ $out == *"Permission denied"* ]]; then
		pass udev-outsider-refused
	else
		fail udev-outsider-refused "tpm2_getrandom said: $(printf '%s' "$out" | tail -n 2 | tr '\n' ' ')"
	fi

	# The link goes with the node.
	if stop_daemon "$DAEMON_PID" "$dev"; then
		udevadm settle --timeout=10
		if [ ! -L "/dev/vtpm/$u" ] && [ ! -L "/dev/vtpmrm/$u" ]; then
			pass udev-link-removed-with-node
		else
			fail udev-link-removed-with-node "/dev/vtpm/$u is still there"
		fi
	else
		fail udev-link-removed-with-node "the daemon did not end on SIGTERM"
	fi

	# A name the link would not be safe for still gets group and mode, but
	# no link (the rule's shell declines it).
	if start_daemon 'vtpm-odd name' "$WORK/state-odd"; then
		udevadm settle --timeout=10
		st=$(stat -c '%G %a' '/dev/vtpm-odd name' 2>&1)
		out=$(find /dev/vtpm -name 'odd*' 2>/dev/null)
		if [ "$st" = "tss 660" ] && [ -z "$out" ]; then
			pass udev-odd-name-no-link
		else
			fail udev-odd-name-no-link "mode '$st', links: $out"
		fi
		stop_daemon "$DAEMON_PID" '/dev/vtpm-odd name'
	else
		fail udev-odd-name-no-link "$(cat "$WORK/daemon.err")"
	fi
}

# ---------------------------------------------------------------------------
# Part 2: ExecStart= as systemd runs it.  Runs in a mount namespace of its
# own (see main), where /var/lib is a tmpfs.

test_execstart() {
	local u=$1 dev pid listener out rc umask_value state mode sender user group
	local caps w nnp
	dev=/dev/vtpm-$u
	if ! exec_argv "$u"; then
		fail unit-execstart-parses "cannot parse ExecStart= or Environment= in $UNIT"
		return
	fi
	if [ "${ARGV[0]}" != /usr/sbin/cuse_tpm ]; then
		fail unit-execstart-parses "ExecStart= runs '${ARGV[0]}', not /usr/sbin/cuse_tpm"
		return
	fi
	pass unit-execstart-parses
	echo "#   ExecStart: $EXEC_PREFIX${ARGV[*]}"
	# Not installed here: the only change to the command line.
	ARGV[0]=$BUILD/cuse_tpm

	# What StateDirectory=, StateDirectoryMode=, User=, Group= and UMask=
	# set up.  Without "!", systemd would also switch to User= itself.
	state=/var/lib/$(specifiers "$(unit_values StateDirectory)" "$u")
	mode=$(unit_values StateDirectoryMode)
	user=$(unit_values User)
	group=$(unit_values Group)
	umask_value=$(unit_values UMask)
	if [ -n "$user" ] && [ "$EXEC_PREFIX" != '!' ]; then
		fail unit-execstart-parses "User= without '!': not emulated here"
		return
	fi
	mkdir -p "${state%/*}" &&
		install -d -m "${mode:-0755}" -o "${user:-root}" -g "${group:-root}" "$state"

	notify_listener "$WORK/notify" "$dev" 30 >"$WORK/notify.out" 2>&1 &
	listener=$!
	wait_for 10 test -S "$WORK/notify"
	# CapabilityBoundingSet= and NoNewPrivileges= matter before the daemon
	# leaves root: what it does as root must work with only those
	# capabilities.  (setpriv: as root, the bounding set becomes exactly
	# what the executed daemon is permitted.)
	caps=-all
	for w in $(unit_values CapabilityBoundingSet); do
		w=${w,,}
		caps+=,+${w#cap_}
	done
	nnp=()
	[ "$(unit_values NoNewPrivileges)" = yes ] && nnp=(--no-new-privs)
	(
		umask "${umask_value:-0022}"
		exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			NOTIFY_SOCKET="$WORK/notify" INVOCATION_ID=0 "${ENVS[@]}" \
			setpriv --bounding-set="$caps" --inh-caps=-all "${nnp[@]}" \
			"${ARGV[@]}" </dev/null >"$WORK/execstart.log" 2>&1
	) &
	pid=$!
	STARTED+=("$pid")
	# Until READY=1 arrives (the listener ends), or the daemon ends first.
	wait_for 30 either_gone "$listener" "$pid"
	kill "$listener" 2>/dev/null
	wait "$listener" 2>/dev/null
	out=$(cat "$WORK/notify.out")

	if [[ $out == *READY=1* ]]; then
		pass notify-ready-1
	else
		fail notify-ready-1 "no READY=1 within 30 s: $(printf '%s' "$out" | tr '\n' ' ') $(tail -n 2 "$WORK/execstart.log" | tr '\n' ' ')"
		kill -KILL "$pid" 2>/dev/null
		return
	fi
	if [[ $out == *"OPEN ok"* ]]; then
		pass notify-node-opens-at-ready
	else
		fail notify-node-opens-at-ready "$(printf '%s' "$out" | tr '\n' ' ')"
	fi
	# NotifyAccess=main: the message must come from the main process.
	sender=$(sed -n 's/^MSG \([0-9?]*\) .*READY=1.*/\1/p' "$WORK/notify.out")
	if [ "$sender" = "$pid" ]; then
		pass notify-from-main-pid
	else
		fail notify-from-main-pid "sent by pid $sender, main pid is $pid"
	fi

	# The unit's default flags power the TPM on without TPM2_Startup.
	check execstart-tpm-usable sh -c "tpm2_startup -c -T device:$dev &&
		tpm2_getrandom -T device:$dev --hex 8"

	kill -TERM "$pid"
	wait "$pid"
	rc=$?
	if [ $rc -eq 0 ]; then
		pass sigterm-exit-0
	else
		fail sigterm-exit-0 "exit status $rc: $(tail -n 2 "$WORK/execstart.log" | tr '\n' ' ')"
	fi
	if wait_for 5 no_node "$dev"; then
		pass sigterm-node-removed
	else
		fail sigterm-node-removed "$dev still exists"
	fi
	# State where StateDirectory= put it, private to the unit's user.
	out=$(stat -c '%a %U' "$state" "$state/tpm2-00.permall" 2>&1 | tr '\n' ' ')
	if [ "$out" = "$(state_dir_mode) ${user:-root} 600 ${user:-root} " ]; then
		pass execstart-state-in-state-directory
	else
		fail execstart-state-in-state-directory "$state: $out"
	fi
}

# ---------------------------------------------------------------------------
# Part 3: systemd as PID 1 of its own PID and mount namespaces.

sd_pid=''
unshare_pid=''
cg_before=()

sd() { nsenter -t "$sd_pid" -m -p -r -w "$@"; }
# child_of PID: sets sd_pid to PID's first child (/proc sizes read as 0,
# so test -s cannot tell whether the file is empty)
child_of() {
	local c
	c=$(cat "/proc/$1/task/$1/children" 2>/dev/null) && [ -n "$c" ] || return 1
	sd_pid=${c%% *}
}
sd_private_socket() { [ -S /run/systemd/private ]; }

# Lists the cgroup v2 directories, to remove later those systemd made.
cgroup_dirs() {
	mkdir -p "$WORK/cg"
	mount -t cgroup2 none "$WORK/cg" 2>/dev/null || return 0
	find "$WORK/cg" -mindepth 1 -depth -type d -printf '%P\n'
	umount "$WORK/cg"
}

start_systemd() {
	local g
	[ -d /run/systemd ] || SYSTEMD_RUN_CREATED=1
	mkdir -p /run/systemd/system /run/systemd/system-generators \
		"/run/systemd/system/cuse-tpm@.service.d" "$WORK/bin" "$WORK/log"
	# No boot here: generators would only look for fstab devices, gettys
	# and SysV scripts of the host; a symlink to /dev/null masks each.
	for g in /lib/systemd/system-generators/*; do
		ln -sf /dev/null "/run/systemd/system-generators/${g##*/}"
	done
	# The unit as shipped, but for the binary's path.
	cp "$BUILD/cuse_tpm" "$WORK/bin/cuse_tpm"
	sed "s|^ExecStart=\([-@:+!]*\)/usr/sbin/cuse_tpm |ExecStart=\1$WORK/bin/cuse_tpm |" \
		"$UNIT" >/run/systemd/system/cuse-tpm@.service
	grep -q "^ExecStart=[-@:+!]*$WORK/bin/cuse_tpm " \
		/run/systemd/system/cuse-tpm@.service || return 1
	# What differs from a booted machine, and nothing else: no sysinit.target
	# to wait for, no journald to log to.  ExecStopPost= records how the
	# daemon ended ("systemctl show" cannot: a stopped unit is unloaded).
	cat >/run/systemd/system/cuse-tpm@.service.d/deploy-test.conf <<EOF
[Unit]
DefaultDependencies=no
[Service]
StandardOutput=append:$WORK/log/%i.log
StandardError=append:$WORK/log/%i.log
ExecStopPost=/bin/sh -c 'echo "ended: \$\$SERVICE_RESULT \$\$EXIT_CODE \$\$EXIT_STATUS"'
EOF
	printf '[Unit]\nDescription=deploy.sh\nDefaultDependencies=no\n' \
		>/run/systemd/system/cuse-tpm-deploy.target
	mapfile -t cg_before < <(cgroup_dirs)
	# container=: systemd then leaves the hardware and the shared mounts
	# alone, and "systemctl exit" ends it.  The tmpfs takes StateDirectory=.
	# Its messages go to the kernel log, and /dev/null stands in for the
	# console, which is our output.
	unshare --pid --fork --mount --propagation private --mount-proc \
		sh -c 'mount -t tmpfs -o mode=0755 tmpfs /var/lib &&
			mount --bind /dev/null /dev/console &&
			exec env container=cuse-tpm-deploy SYSTEMD_LOG_TARGET=kmsg \
			/lib/systemd/systemd --system --show-status=no \
			--unit=cuse-tpm-deploy.target' \
		>"$WORK/systemd.out" 2>&1 &
	unshare_pid=$!
	# unshare --fork: its only child is (after two execs) systemd.
	wait_for 10 child_of "$unshare_pid" && wait_for 30 sd_private_socket &&
		[ "$(timeout 60 nsenter -t "$sd_pid" -m -p -r -w \
			systemctl is-system-running --wait 2>&1)" = running ]
}

stop_systemd() {
	local d keep
	if [ -n "$sd_pid" ]; then
		sd systemctl exit >/dev/null 2>&1
		wait_for 15 gone "$unshare_pid" || kill -KILL "$sd_pid" 2>/dev/null
		wait "$unshare_pid" 2>/dev/null
	fi
	# Empty cgroups that systemd made and left behind.
	while IFS= read -r d; do
		for keep in "${cg_before[@]}"; do [ "$d" = "$keep" ] && continue 2; done
		rmdir "$WORK/cg/$d" 2>/dev/null
	done < <(mkdir -p "$WORK/cg" && mount -t cgroup2 none "$WORK/cg" 2>/dev/null &&
		find "$WORK/cg" -mindepth 1 -depth -type d -printf '%P\n')
	umount "$WORK/cg" 2>/dev/null
	if [ "${SYSTEMD_RUN_CREATED:-0}" = 1 ]; then
		rm -rf /run/systemd
	else
		rm -rf /run/systemd/system/cuse-tpm@.service \
			/run/systemd/system/cuse-tpm@.service.d \
			/run/systemd/system/cuse-tpm-deploy.target
	fi
}

test_systemd() {
	local u unit dev mp status out tss_gid user uid
	if [ ! -x /lib/systemd/systemd ]; then
		fail systemd-unit "no /lib/systemd/systemd: install Debian's 'systemd'"
		return
	fi
	if ! start_systemd; then
		fail systemd-boots-in-namespace "$(tail -n 5 "$WORK/systemd.out" | tr '\n' ' ')"
		return
	fi
	u=$(new_uuid)
	unit=cuse-tpm@$u.service
	dev=/dev/vtpm-$u

	# Type=notify: start returns once READY=1 came, i.e. the node opens.
	if out=$(timeout 60 nsenter -t "$sd_pid" -m -p -r -w systemctl start "$unit" 2>&1) &&
		[ "$(sd systemctl is-active "$unit")" = active ] && [ -c "$dev" ]; then
		pass systemd-unit-starts-notify
	else
		fail systemd-unit-starts-notify "$out $(tail -n 3 "$WORK/log/$u.log" 2>/dev/null | tr '\n' ' ')"
		return
	fi

	# The sandbox is really in force: the unit's user (the daemon switched
	# to it), no capabilities left, no_new_privs and a seccomp filter.
	user=$(unit_values User)
	uid=$(id -u "${user:-root}")
	mp=$(sd systemctl show -p MainPID --value "$unit")
	status=$(sd cat "/proc/$mp/status" 2>&1)
	if [[ $status == *$'\nUid:\t'"$uid"$'\t'"$uid"$'\t'"$uid"$'\t'* &&
		$status == *$'CapPrm:\t0000000000000000'* &&
		$status == *$'CapEff:\t0000000000000000'* &&
		$status == *$'NoNewPrivs:\t1'* && $status == *$'Seccomp:\t2'* ]]; then
		pass systemd-sandbox-in-force
	else
		fail systemd-sandbox-in-force "$(printf '%s' "$status" | grep -E '^Uid|Cap(Prm|Eff|Bnd)|NoNewPrivs|Seccomp:' | tr '\n\t' '  ')"
	fi

	# A tss member (the rule from part 1 is still in udev) uses it.
	udevadm settle --timeout=10
	tss_gid=$(getent group tss | cut -d: -f3)
	check systemd-unit-tpm-usable setpriv --reuid=nobody --regid=nogroup \
		--groups="${tss_gid:-0}" sh -c "tpm2_startup -c -T device:$dev &&
		tpm2_getrandom -T device:$dev --hex 8"
	# The daemon writes its state under ProtectSystem=strict.
	if "$BUILD/cuse_tpm_ioctl" -v "$dev" >"$WORK/ioctl.out" 2>&1 &&
		out=$(sd stat -c '%a %U' "/var/lib/cuse-tpm/$u" \
			"/var/lib/cuse-tpm/$u/tpm2-00.volatilestate" 2>&1 | tr '\n' ' ') &&
		[ "$out" = "$(state_dir_mode) ${user:-root} 600 ${user:-root} " ]; then
		pass systemd-unit-writes-state
	else
		fail systemd-unit-writes-state "$(cat "$WORK/ioctl.out") ${out:-}"
	fi

	# Stop = SIGTERM: the daemon exits 0 by itself, the node goes.
	sd systemctl stop "$unit" >/dev/null 2>&1
	out=$(grep '^ended: ' "$WORK/log/$u.log" 2>&1)
	if [ "$out" = "ended: success exited 0" ] && wait_for 5 no_node "$dev"; then
		pass systemd-unit-stops-clean
	else
		fail systemd-unit-stops-clean "'$out'; node: $(ls "$dev" 2>&1)"
	fi
}

# ---------------------------------------------------------------------------

cleanup() {
	local p
	for p in "${STARTED[@]}"; do kill -KILL "$p" 2>/dev/null; done
	stop_systemd
	stop_udevd
	rm -rf "$WORK"
	# Directories systemd (credentials, lock) and mount(8) (mount/utab)
	# made in /run, if they were not there before.
	for p in credentials lock mount; do
		[[ " ${run_before[*]} " == *" $p "* ]] || rm -rf "/run/$p"
	done
}

# The ExecStart= part, re-run by main inside a mount namespace.
if [ "${1:-}" = --execstart-in-namespace ]; then
	STARTED=()
	trap 'for p in "${STARTED[@]}"; do kill -KILL "$p" 2>/dev/null; done' EXIT
	mount -t tmpfs -o mode=0755 tmpfs /var/lib || exit 1
	test_execstart "$2"
	exit 0
fi

STARTED=()
mkdir -p "$WORK"
trap cleanup EXIT
test_udev
unshare --mount --propagation private "$BASH" "$0" --execstart-in-namespace "$(new_uuid)"
test_systemd
