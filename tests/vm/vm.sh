#!/usr/bin/env bash
# Run a command inside a throwaway QEMU guest whose kernel has CUSE.
#
# The host kernel has no CUSE, so tests that need /dev/cuse run in a guest
# booted from Debian's stock kernel, which ships cuse.ko.  The guest has no disk
# image: it mounts the host's / read-only over 9p and chroots into it, so
# whatever is built on the host runs inside unchanged.
#
# Usage:
#   tests/vm/vm.sh prepare
#   tests/vm/vm.sh image INIT OUT
#   tests/vm/vm.sh run [--timeout SEC] [--mem MB] [--env NAME[=VALUE]]... \
#                      [--qemu-arg ARG]... [--] COMMAND [ARG]...
#
# run boots the guest, runs COMMAND as root in the directory vm.sh was called
# from, prints its output and exits with its status.  Inside the guest /tmp
# and /run are fresh tmpfs (but for the tree of the directory vm.sh was
# called from, if it lies there), HOME=/tmp, VM_GUEST=1 and VM_OUT is set.
#
# Environment:
#   VM_OUT     host directory shared read-write with the guest, at the same
#              path (default: build/vm/out, emptied before each run)
#   VM_DEBUG=1 show the whole serial console (kernel and init messages too)
#   VM_FIRMWARE_BOOT=1  boot the bzImage through the firmware (slower, but
#              the guest gets ACPI tables: needed for a TPM of its own)
#   VM_KERNEL  use this Debian kernel ABI (e.g. 6.1.0-56-amd64) instead of the
#              one linux-image-amd64 currently depends on
#
# image builds, for a guest of the caller's own, a busybox initramfs OUT whose
# /init is the script INIT (no 9p: QEMU refuses to migrate a guest with a
# virtfs), and prints the kernel to boot it with (through the firmware).
#
# Exit status of run: COMMAND's status; 124 if the guest timed out; 125 if the
# VM itself failed (no kernel, kernel panic, init error, ...).

set -euo pipefail

script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
repo_root=$(cd -- "$script_dir/../.." && pwd -P)
vm_dir=$repo_root/build/vm
init_script=$script_dir/init.sh

# Top-level modules the guest loads; their dependencies (netfs, fscache,
# virtio, ...) are taken from modules.dep.  Builtin ones are fine too.
required_modules=(virtio_pci 9pnet_virtio 9p fuse cuse)
# Loaded when the kernel has them, so tests can use /dev/vtpmx, and a RAM
# disk under device-mapper for the storage fault (EIO) test.
optional_modules=(tpm_vtpm_proxy tpm_tis tpm_crb dm_mod brd ext4 crc32c_generic)

# Temporary files and directories, removed however the script ends.
cleanup=()
trap 'rm -rf "${cleanup[@]}"' EXIT

msg() { printf 'vm.sh: %s\n' "$*" >&2; }
die() {
	msg "error: $*"
	exit 125
}

usage() {
	cat >&2 <<'EOF'
usage: vm.sh prepare
       vm.sh image INIT OUT
       vm.sh run [--timeout SEC] [--mem MB] [--env NAME[=VALUE]]... [--] COMMAND [ARG]...
EOF
	exit 125
}

# Fail early, naming the Debian package, rather than halfway through a build.
need() { # COMMAND PACKAGE
	command -v "$1" >/dev/null 2>&1 ||
		die "'$1' not found: install the Debian package '$2' (apt-get install $2)"
}

check_tools() {
	need qemu-system-x86_64 qemu-system-x86
	need busybox busybox-static
	need apt-get apt
	need apt-cache apt
	need dpkg-deb dpkg
	need dpkg-query dpkg
	need gzip gzip
	need flock util-linux
	need timeout coreutils
	need sha256sum coreutils
	# The initramfs has no libc, so the dynamically linked 'busybox' package
	# (which replaces busybox-static) would not run there.
	[[ $(dpkg-query -W -f='${Status}' busybox-static 2>/dev/null) == *" installed" ]] ||
		die "busybox must be the static one: install the Debian package 'busybox-static'"
}

# Prints the kernel ABI to use, e.g. 6.1.0-56-amd64.
resolve_kernel() {
	if [[ -n ${VM_KERNEL:-} ]]; then
		printf '%s\n' "$VM_KERNEL"
		return
	fi
	# Asking apt costs about a second (no pkgcache.bin here), which would be a
	# large share of a quick run, so the answer is reused until the apt lists
	# change, i.e. until the next 'apt-get update'.
	local cached=$vm_dir/kernel-version ver
	if [[ -s $cached && -z $(find /var/lib/apt/lists -maxdepth 1 -newer "$cached" -print -quit 2>/dev/null) ]]; then
		cat "$cached"
		return
	fi
	ver=$(apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: linux-image-\([0-9][^ ]*\)$/\1/p' | head -n 1)
	if [[ -z $ver ]]; then
		if [[ -s $cached ]]; then
			msg "warning: apt-cache cannot resolve linux-image-amd64; reusing kernel $(cat "$cached")"
			cat "$cached"
			return
		fi
		die "apt-cache cannot resolve linux-image-amd64; run 'apt-get update' first"
	fi
	printf '%s\n' "$ver" >"$cached.tmp"
	mv -f "$cached.tmp" "$cached"
	printf '%s\n' "$ver"
}

# Finds the compressed kernel inside a bzImage and unpacks it to OUT.
extract_vmlinux() { # BZIMAGE OUT
	local bz=$1 out=$2 magic tool off
	for magic in '\xfd7zXZ\x00:xz' '\x28\xb5\x2f\xfd:zstd' '\x1f\x8b\x08:gzip'; do
		tool=${magic##*:}
		for off in $(LC_ALL=C grep -obUaP "${magic%:*}" "$bz" | head -n 3 | cut -d: -f1); do
			# The payload is followed by other data, hence --single-stream
			# and ignoring the others' "trailing garbage" status.  (Process
			# substitution, so that tail's SIGPIPE does not count.)
			case $tool in
			xz)
				need xz xz-utils
				xz -dc --single-stream <(tail -c +$((off + 1)) "$bz") >"$out" 2>/dev/null || continue
				;;
			zstd)
				need zstd zstd
				zstd -qdc <(tail -c +$((off + 1)) "$bz") >"$out" 2>/dev/null || :
				;;
			gzip) gzip -dc <(tail -c +$((off + 1)) "$bz") >"$out" 2>/dev/null || : ;;
			esac
			[[ $(head -c 4 "$out" | od -An -tx1 | tr -d ' ') == 7f454c46 ]] && return 0
		done
	done
	return 1
}

# Unpacks vmlinuz and the needed modules (uncompressed, with their own
# modules.dep) into $vm_dir/KVER; the 400 MB of other modules are dropped.
fetch_kernel() { # KVER
	local kver=$1 kdir=$vm_dir/$1 want
	# Records how the directory was made; a change forces a fresh fetch.
	want="layout 4; modules: ${required_modules[*]} / ${optional_modules[*]}"
	if [[ -f $kdir/kernel.done && $(<"$kdir/kernel.done") == "$want" ]]; then
		return
	fi

	msg "fetching Debian kernel $kver (one-time)"
	rm -rf "$kdir"
	local tmp
	tmp=$(mktemp -d "$vm_dir/fetch.XXXXXX")
	cleanup+=("$tmp")
	if ! (cd "$tmp" && apt-get download "linux-image-$kver") >"$tmp/apt.log" 2>&1; then
		cat "$tmp/apt.log" >&2
		die "apt-get download linux-image-$kver failed"
	fi
	dpkg-deb -x "$tmp"/linux-image-*.deb "$tmp/x" || die "cannot unpack the kernel package"

	# Packages have used both /lib/modules and /usr/lib/modules; depmod -b wants
	# BASE/lib/modules, so point a private base at whichever exists.
	local mods
	for mods in "$tmp/x/lib/modules" "$tmp/x/usr/lib/modules" ""; do
		[[ -z $mods || -d $mods/$kver ]] && break
	done
	[[ -n $mods && -f $tmp/x/boot/vmlinuz-$kver ]] || die "linux-image-$kver has no vmlinuz or modules"
	mkdir -p "$tmp/base/lib"
	ln -s "$mods" "$tmp/base/lib/modules"
	busybox depmod -b "$tmp/base" "$kver" || die "depmod failed"

	# modules.dep lists each module's full dependency closure, in load order.
	local -A deps_of=()
	local line path name
	while IFS= read -r line; do
		path=${line%%:*}
		name=${path##*/}
		name=${name%%.ko*}
		deps_of[${name//-/_}]="$path ${line#*:}"
	done <"$mods/$kver/modules.dep"

	local stage=$tmp/stage src dst top=()
	local -A copied=()
	for name in "${required_modules[@]}" "${optional_modules[@]}"; do
		if [[ -z ${deps_of[$name]:-} ]]; then
			if grep -q "/${name}\.ko" "$mods/$kver/modules.builtin" 2>/dev/null; then
				continue # built in: nothing to load
			fi
			[[ " ${required_modules[*]} " != *" $name "* ]] ||
				die "kernel $kver has no module '$name'"
			continue # optional and absent
		fi
		top+=("$name")
		for path in ${deps_of[$name]}; do
			[[ -n ${copied[$path]:-} ]] && continue
			copied[$path]=1
			src=$mods/$kver/$path
			dst=$stage/lib/modules/$kver/${path%.ko*}.ko
			mkdir -p "${dst%/*}"
			# Store modules uncompressed: nothing in the guest then depends on
			# which decompressors busybox was built with.
			case $path in
			*.ko) cp "$src" "$dst" ;;
			*.ko.xz) need xz xz-utils && xz -dc "$src" >"$dst" ;;
			*.ko.gz) gzip -dc "$src" >"$dst" ;;
			*.ko.zst) need zstd zstd && zstd -qdc "$src" >"$dst" ;;
			*) die "unexpected module file $path" ;;
			esac
		done
	done
	busybox depmod -b "$stage" "$kver" || die "depmod of the module subset failed"
	mkdir -p "$stage/etc"
	printf '%s\n' "${top[@]}" >"$stage/etc/vm-modules"

	mkdir -p "$kdir"
	# A PVH-capable kernel is booted as the bare ELF: unpacking the bzImage's
	# xz payload under TCG takes ~3 s, about half of a whole run.  The
	# bzImage stays for guests that need ACPI devices (a TPM for the guest's
	# own kernel), which a PVH boot does not describe.
	cp "$tmp/x/boot/vmlinuz-$kver" "$kdir/vmlinuz"
	if grep -qx 'CONFIG_PVH=y' "$tmp/x/boot/config-$kver" &&
		extract_vmlinux "$tmp/x/boot/vmlinuz-$kver" "$kdir/vmlinux"; then
		:
	else
		rm -f "$kdir/vmlinux"
	fi
	mv "$stage" "$kdir/modules"
	printf '%s\n' "$want" >"$kdir/kernel.done"
}

# Builds OUT (default $vm_dir/KVER/initramfs.cpio.gz): busybox, INIT
# (default init.sh) as /init, and the modules.
build_initramfs() { # KVER [INIT OUT]
	local kver=$1 kdir=$vm_dir/$1 init=${2:-$init_script} image=${3:-$vm_dir/$1/initramfs.cpio.gz} stamp
	# Rebuild whenever anything that goes into the image changes.
	stamp=$(cat "$init" "${BASH_SOURCE[0]}" "$(command -v busybox)" "$kdir/kernel.done" | sha256sum)
	if [[ -f $image && -f $image.stamp && $(<"$image.stamp") == "$stamp" ]]; then
		return
	fi

	local stage applet
	stage=$(mktemp -d "$vm_dir/initramfs.XXXXXX")
	cleanup+=("$stage")
	mkdir -p "$stage"/{bin,dev,proc,sys}
	cp "$(command -v busybox)" "$stage/bin/busybox"
	for applet in $(busybox --list); do
		[[ $applet == busybox ]] || ln -s busybox "$stage/bin/$applet"
	done
	cp "$init" "$stage/init"
	chmod 0755 "$stage/init"
	cp -R "$kdir/modules/." "$stage/"
	# gzip -1: the guest decompresses under TCG emulation, and a stronger
	# level saves little on a ~4 MB image.
	(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | busybox cpio -o -H newc 2>/dev/null) |
		gzip -1 >"$image.tmp"
	mv -f "$image.tmp" "$image"
	printf '%s\n' "$stamp" >"$image.stamp"
}

# Sets $kver and $kdir to a ready kernel + initramfs.
prepare() {
	check_tools
	mkdir -p "$vm_dir"
	# Serialise concurrent prepares (e.g. parallel test jobs) on one lock.
	exec {lock_fd}>"$vm_dir/.lock"
	flock "$lock_fd"
	kver=$(resolve_kernel)
	kdir=$vm_dir/$kver
	fetch_kernel "$kver"
	build_initramfs "$kver"
	exec {lock_fd}>&-
}

# Single-quotes a string for the guest's busybox sh.
sh_quote() {
	local q="'\\''"
	printf "'%s'" "${1//\'/$q}"
}

# QEMU option values are comma-separated; a literal comma is doubled.
qemu_escape() { printf '%s' "${1//,/,,}"; }

# Copies the console to LOG and prints only what lies between the markers.
# The end marker directly follows the command's output, so when that lacks a
# final newline the marker ends its last line instead of standing alone.
console_filter() { # LOG START END
	local log=$1 start=$2 end=$3 line state=start
	exec 3>"$log"
	while IFS= read -r line || [[ -n $line ]]; do
		printf '%s\n' "$line" >&3
		if [[ ${VM_DEBUG:-0} == 1 ]]; then
			printf '%s\n' "$line"
			continue
		fi
		line=${line%$'\r'}
		case $state in
		start) [[ $line == "$start" ]] && state=body ;;
		body)
			if [[ $line == *"$end" ]]; then
				printf '%s' "${line%"$end"}"
				state=finished
			else
				printf '%s\n' "$line"
			fi
			;;
		esac
	done
	exec 3>&-
}

# Signal handler for run: stop QEMU (timeout passes the signal on to it),
# let the console drain, and exit like a killed command would.
interrupted() { # SIGNAL STATUS
	local pid
	pid=$(cat "$run_ctl/timeout.pid" 2>/dev/null) && kill -TERM "$pid" 2>/dev/null
	wait
	msg "interrupted by SIG$1; VM stopped"
	exit "$2"
}

cmd_run() {
	local timeout=600 mem=1024 envs=() qemu_extra=() arg
	while (($#)); do
		case $1 in
		--timeout)
			[[ ${2:-} =~ ^[0-9]+$ && $2 -gt 0 ]] || die "--timeout needs a positive number of seconds"
			timeout=$2
			shift 2
			;;
		--mem)
			[[ ${2:-} =~ ^[0-9]+$ && $2 -ge 128 ]] || die "--mem needs a size in MB (at least 128)"
			mem=$2
			shift 2
			;;
		--env)
			arg=${2:-}
			[[ $arg =~ ^[A-Za-z_][A-Za-z0-9_]*(=|$) ]] || die "--env needs NAME=VALUE or NAME"
			# A bare NAME passes the host's value along.
			if [[ $arg != *=* ]]; then
				[[ -n ${!arg+set} ]] || die "--env $arg: not set on the host"
				arg="$arg=${!arg}"
			fi
			envs+=("$arg")
			shift 2
			;;
		--qemu-arg)
			# Passed to QEMU as is: e.g. a TPM for the guest itself.
			[[ -n ${2:-} ]] || die "--qemu-arg needs a value"
			qemu_extra+=("$2")
			shift 2
			;;
		--)
			shift
			break
			;;
		-*) usage ;;
		*) break ;;
		esac
	done
	(($#)) || usage

	prepare

	local out
	if [[ -n ${VM_OUT:-} ]]; then
		mkdir -p -- "$VM_OUT"
		out=$(cd -- "$VM_OUT" && pwd -P)
	else
		out=$vm_dir/out
		# Emptying the shared default under another run's feet would lose
		# its results, so a second concurrent run must bring its own VM_OUT.
		exec {out_lock}>"$vm_dir/out.lock"
		flock -n "$out_lock" ||
			die "$out is in use by another vm.sh run; set VM_OUT to a directory of your own"
		rm -rf "$out"
		mkdir -p "$out"
	fi
	[[ $out != *$'\n'* ]] || die "VM_OUT must not contain a newline"

	local ctl
	ctl=$(mktemp -d "$vm_dir/run.XXXXXX")
	cleanup+=("$ctl")

	# Random markers, so no command output can fake them.
	local token start end
	token=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
	start="=== vm start $token ==="
	end="=== vm end $token ==="
	local cwd
	cwd=$(pwd -P)
	{
		printf 'vm_out=%s\n' "$(sh_quote "$out")"
		printf 'vm_cwd=%s\n' "$(sh_quote "$cwd")"
		printf 'vm_start=%s\n' "$(sh_quote "$start")"
		printf 'vm_end=%s\n' "$(sh_quote "$end")"
		printf 'vm_debug=%s\n' "$([[ ${VM_DEBUG:-0} == 1 ]] && echo 1 || echo 0)"
	} >"$ctl/config"

	# The command travels as a bash script run by the host's own bash inside
	# the guest, so %q quoting round-trips any argument exactly.
	{
		printf 'cd -- %q || { echo "vm.sh: cannot enter %q in the guest (/tmp and /run are fresh tmpfs there)" >&2; exit 125; }\n' "$cwd" "$cwd"
		printf 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n'
		printf 'export HOME=/tmp USER=root LOGNAME=root TERM=dumb VM_GUEST=1 VM_OUT=%q\n' "$out"
		for arg in "${envs[@]}"; do
			printf 'export %s=%q\n' "${arg%%=*}" "${arg#*=}"
		done
		printf 'exec'
		printf ' %q' "$@"
		printf '\n'
	} >"$ctl/command.sh"

	local kernel=$kdir/vmlinux
	[[ -f $kernel && ${VM_FIRMWARE_BOOT:-0} != 1 ]] || kernel=$kdir/vmlinuz
	# panic=-1 turns a panic into a reboot, which -no-reboot turns into QEMU
	# exiting.  The rest trims ~1 s of boot under TCG: the crypto self-tests,
	# ACPI-routed PCI interrupt setup (very slow in TCG), speculation
	# mitigations that mean nothing in a throwaway test VM.
	local append="console=ttyS0 panic=-1 cryptomgr.notests pci=noacpi mitigations=off"
	[[ ${VM_DEBUG:-0} == 1 ]] || append+=" quiet"
	local qemu=(
		# -cpu max: host binaries built for newer ISA levels still run.
		qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m "$mem"
		-nographic -no-reboot -nic none
		# Stops SeaBIOS from mirroring its screen to the serial port, which
		# would put terminal-reset escape sequences into the console.
		-machine graphics=on
		-kernel "$kernel" -initrd "$kdir/initramfs.cpio.gz" -append "$append"
		# multidevs=remap: / spans several host filesystems, whose inode
		# numbers would otherwise collide in the guest.
		-virtfs "local,path=/,mount_tag=vmroot,security_model=none,readonly=on,multidevs=remap"
		-virtfs "local,path=$(qemu_escape "$out"),mount_tag=vmout,security_model=none,multidevs=remap"
		-virtfs "local,path=$(qemu_escape "$ctl"),mount_tag=vmctl,security_model=none"
		"${qemu_extra[@]}"
	)

	# stdin from /dev/null: QEMU then leaves the terminal alone and Ctrl-C
	# kills it, as one would expect from a test runner.  --foreground keeps
	# QEMU in our process group for the same reason.  QEMU's own messages go
	# to a file, so they cannot be mistaken for the command's output.
	# The pipeline runs in the background because bash defers traps while a
	# foreground command runs, but not while in 'wait': a signal sent to
	# vm.sh alone must still take QEMU down rather than orphan it.
	run_ctl=$ctl
	trap 'interrupted INT 130' INT
	trap 'interrupted TERM 143' TERM
	trap 'interrupted HUP 129' HUP
	{
		timeout --foreground -k 10 "$timeout" "${qemu[@]}" </dev/null 2>"$ctl/qemu.err" &
		echo $! >"$ctl/timeout.pid"
		qemu_status=0
		wait $! || qemu_status=$? # (errexit would end this subshell)
		echo "$qemu_status" >"$ctl/qemu.status"
	} | console_filter "$ctl/console.log" "$start" "$end" &
	# Every member of the pipeline: qemu.status is written last.
	wait
	local status=255
	[[ ! -s $ctl/qemu.status ]] || status=$(<"$ctl/qemu.status")

	if [[ -f $ctl/rc ]]; then
		local rc
		rc=$(<"$ctl/rc")
		[[ $rc =~ ^[0-9]+$ ]] || die "guest returned a bad exit status '$rc'"
		exit "$rc"
	fi

	local why
	if ((status == 124 || status == 137)); then
		why="timed out after ${timeout}s; QEMU killed"
	elif grep -q 'Kernel panic' "$ctl/console.log"; then
		why="the guest kernel panicked"
	elif ! grep -qF "$start" "$ctl/console.log"; then
		why="the guest failed before running the command (QEMU status $status)"
	else
		why="the guest died while running the command (QEMU status $status)"
	fi
	# The command's own output has been shown already; the console's other
	# lines and QEMU's complaints are what explain the failure.
	local console=()
	mapfile -t console < <(sed "/^$start\$/,/^$end\$/d; /^[[:space:]]*\$/d" "$ctl/console.log" | tail -n 25)
	if [[ ${VM_DEBUG:-0} != 1 ]] && ((${#console[@]})); then
		msg "console, without the command's output (VM_DEBUG=1 shows everything):"
		printf '  | %s\n' "${console[@]}" >&2
	fi
	# (Its note about being killed by timeout says nothing new.)
	local said=()
	mapfile -t said < <(grep -v 'terminating on signal' "$ctl/qemu.err")
	if ((${#said[@]})); then
		msg "QEMU said:"
		printf '  | %s\n' "${said[@]}" >&2
	fi
	msg "error: $why"
	if ((status == 124 || status == 137)); then
		exit 124
	fi
	exit 125
}

case ${1:-} in
prepare)
	(($# == 1)) || usage
	prepare
	;;
image)
	(($# == 3)) || usage
	[[ -f $2 ]] || die "no init script $2"
	prepare
	exec {lock_fd}>"$vm_dir/.lock"
	flock "$lock_fd"
	build_initramfs "$kver" "$2" "$3"
	exec {lock_fd}>&-
	printf '%s\n' "$kdir/vmlinuz"
	;;
run)
	shift
	cmd_run "$@"
	;;
*) usage ;;
esac
