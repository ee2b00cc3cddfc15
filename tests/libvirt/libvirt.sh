#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Debian's libvirt makes and runs vTPMs with cuse_tpm in swtpm's place.
#
# The test starts virtlogd and libvirtd itself, natively, with a directory
# first in libvirtd's PATH that holds `swtpm` and `swtpm_ioctl` links to our
# binaries (what `make install-swtpm-compat` installs).  Each case boots a
# TCG guest from Debian's kernel and a busybox initramfs
# (tests/libvirt/guest-init.sh) with <tpm model='tpm-tis'> on an emulator
# backend, and reads what the guest's kernel found on its serial console:
#  tpm2  the first start manufactures the vTPM (swtpm_setup through
#        cuse_tpm: EK, certificates), the guest finds a TPM 2.0 with PCR 0
#        measured and the EK and its certificate present; it extends PCR 16;
#        virsh managedsave and start: the guest runs on with PCR 16 as it
#        was (the vTPM state came back); a cold boot reuses the state;
#  tpm12 version='1.2';
#  enc   an encrypted state (a libvirt secret): files encrypted, guest fine.
# libvirt runs the vTPM as user tss.  Needs root.
# Usage: tests/libvirt/libvirt.sh [BUILD_DIR].  PASS/FAIL lines, a tally.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=$(realpath "${1:-build}")
passed=0 failed=0
pass() { echo "PASS: $1"; passed=$((passed + 1)); }
fail() { echo "FAIL: $1: $2"; failed=$((failed + 1)); }
if pgrep -x libvirtd >/dev/null || pgrep -x virtlogd >/dev/null; then
	fail libvirt-start "a libvirtd or virtlogd runs already; this test starts its own"
	echo "$passed passed, $failed failed"
	exit 1
fi
TMP=$(mktemp -d /tmp/cuse_tpm_libvirt.XXXXXX)
chmod 0755 "$TMP" # libvirt-qemu reads the kernel, tss runs our binaries
TAG=ct$$
SECRET=
cleanup() {
	local d
	for d in $(virsh list --all --name 2>/dev/null | grep "^$TAG-"); do
		virsh destroy "$d" >/dev/null 2>&1
		virsh undefine --managed-save "$d" >/dev/null 2>&1
	done
	[ -n "$SECRET" ] && virsh secret-undefine "$SECRET" >/dev/null 2>&1
	for d in libvirtd virtlogd; do
		[ -s "$TMP/$d.pid" ] && kill "$(cat "$TMP/$d.pid")" 2>/dev/null
	done
	sleep 0.5
	rm -rf "$TMP" /var/log/swtpm/libvirt/qemu/"$TAG"-* /var/log/libvirt/qemu/"$TAG"-*
}
trap cleanup EXIT
export LIBVIRT_DEFAULT_URI=qemu:///system

# --- what libvirt needs: the guest, swtpm's names, the daemons ----------------
kernel=$(tests/vm/vm.sh image tests/libvirt/guest-init.sh "$TMP/initrd.cpio.gz") || {
	fail libvirt-guest-image "vm.sh image failed"
	exit 1
}
cp "$kernel" "$TMP/vmlinuz" && chmod 0644 "$TMP/vmlinuz" "$TMP/initrd.cpio.gz"
# the links `make install-swtpm-compat` makes, to the built programs
make -s install-swtpm-compat SWTPM_COMPAT_DIR="$TMP/compat" SBINDIR="$BUILD" \
	BINDIR="$BUILD" SYSTEMDUNITDIR="$TMP/units" >/dev/null ||
	fail install-swtpm-compat "make install-swtpm-compat failed"
# and ahead of them a `swtpm` that notes each command line (swtpm_setup's
# and libvirt's) before it becomes the installed one
mkdir -p "$TMP/bin"
install -m 0666 /dev/null "$TMP/swtpm.calls"
printf '#!/bin/bash\necho "$*" >>"%s"\nexec "%s" "$@"\n' \
	"$TMP/swtpm.calls" "$TMP/compat/swtpm" >"$TMP/bin/swtpm"
chmod 0755 "$TMP/bin/swtpm"
export PATH="$TMP/bin:$TMP/compat:/usr/sbin:/usr/bin:/sbin:/bin"
virtlogd -d -p "$TMP/virtlogd.pid"
libvirtd -d -p "$TMP/libvirtd.pid"
for ((i = 0; i < 100; i++)); do virsh version >/dev/null 2>&1 && break; sleep 0.1; done
if virsh version >/dev/null 2>&1; then
	pass libvirt-started-with-cuse_tpm-as-swtpm
else
	fail libvirt-started-with-cuse_tpm-as-swtpm "virsh cannot reach libvirtd"
	exit 1
fi

# domain NAME VERSION [BACKEND-XML]: defines a guest with a vTPM
domain() {
	cat >"$TMP/$1.xml" <<EOF
<domain type='qemu'>
  <name>$TAG-$1</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$TMP/vmlinuz</kernel>
    <initrd>$TMP/initrd.cpio.gz</initrd>
    <cmdline>console=ttyS0 quiet panic=-1</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <serial type='file'><source path='$TMP/$1.console' append='on'/><target port='0'/></serial>
    <tpm model='tpm-tis'>
      <backend type='emulator' version='$2'>${3:-}</backend>
    </tpm>
  </devices>
</domain>
EOF
	virsh define "$TMP/$1.xml" >/dev/null
}
uuid() { virsh domuuid "$TAG-$1"; }
# console NAME KEY: the last "@@KEY ..." value the guest printed
console() { grep -a "^@@$2 " "$TMP/$1.console" 2>/dev/null | tail -n 1 | cut -d' ' -f2- | tr -d '\r'; }
# ticks NAME: how many "@@TICK" lines so far
ticks() { grep -ac '^@@TICK ' "$TMP/$1.console" 2>/dev/null; }
# wait_ticks NAME N: until the console shows N more ticks (120 s at most)
wait_ticks() {
	local want=$(($(ticks "$1") + $2)) i
	for ((i = 0; i < 1200; i++)); do
		[ "$(ticks "$1")" -ge "$want" ] && return 0
		virsh domstate "$TAG-$1" 2>/dev/null | grep -q running || return 1
		sleep 0.1
	done
	return 1
}
# why NAME: the end of the logs, for a FAIL line
why() {
	tail -n 4 "$TMP/$1.console" "/var/log/libvirt/qemu/$TAG-$1.log" \
		/var/log/swtpm/libvirt/qemu/"$TAG-$1"-swtpm.log 2>/dev/null | tr '\n\r' '  ' | cut -c1-600
}
start() { # NAME: starts it and waits for its first ticks
	local out
	if ! out=$(virsh start "$TAG-$1" 2>&1); then
		fail "$1-start" "$(printf '%s ' "$out" | tr '\n' ' ') $(why "$1")"
		return 1
	fi
	wait_ticks "$1" 2 || { fail "$1-boot" "no ticks: $(why "$1")"; return 1; }
}
zero64=0000000000000000000000000000000000000000000000000000000000000000

# --- TPM 2.0: manufacture, boot, managedsave, cold boot ---------------------
tpm2_case() {
	local n=tpm2 pid user handles pcr16 state
	domain $n 2.0 || { fail $n-define "virsh define failed"; return; }
	start $n || return
	# the vTPM libvirt started is ours, under swtpm's name, as tss
	pid=$(pgrep -f -n "swtpm socket.*$(uuid $n)")
	user=$(ps -o user= -p "$pid" 2>/dev/null)
	if [ "$(readlink "/proc/$pid/exe")" = "$BUILD/cuse_tpm" ] && [ "$user" = tss ]; then
		pass "$n-vtpm-is-cuse_tpm-as-tss"
	else
		fail "$n-vtpm-is-cuse_tpm-as-tss" "pid '$pid' runs $(readlink "/proc/$pid/exe") as '$user'"
	fi
	# swtpm_setup manufactured through it: the connected sockets it hands over
	if grep -q -- '--server type=tcp,fd=.*--ctrl type=unixio,clientfd=' "$TMP/swtpm.calls"; then
		pass "$n-swtpm_setup-manufactured-through-cuse_tpm"
	else
		fail "$n-swtpm_setup-manufactured-through-cuse_tpm" "calls: $(tr '\n' '|' <"$TMP/swtpm.calls")"
	fi
	if [ "$(console $n VERSION)" = 2 ]; then
		pass "$n-guest-sees-tpm2"
	else
		fail "$n-guest-sees-tpm2" "$(console $n VERSION) $(why $n)"
	fi
	case $(console $n PCR0) in
	"$zero64" | "" | *[!0-9A-Fa-f]*) fail "$n-firmware-measured-pcr0" "'$(console $n PCR0)'" ;;
	*) pass "$n-firmware-measured-pcr0" ;;
	esac
	handles=$(console $n HANDLES)
	case $handles in
	*01c00002*01c08000*persistent=*81010001*) pass "$n-manufactured-ek-and-certificates" ;;
	*) fail "$n-manufactured-ek-and-certificates" "guest saw: $handles" ;;
	esac
	pcr16=$(console $n PCR16 | sed -n 's/^extended //p')
	if [ -z "$pcr16" ] || [ "$pcr16" = "$zero64" ]; then
		fail "$n-guest-extends-pcr16" "'$(console $n PCR16)'"
	fi
	# managedsave: the vTPM's state goes with the guest's and comes back
	if virsh managedsave "$TAG-$n" >/dev/null 2>"$TMP/err" && start $n; then
		state=$(console $n TICK)
		if [ "${state#* }" = "$pcr16" ]; then
			pass "$n-managedsave-restores-vtpm-state"
		else
			fail "$n-managedsave-restores-vtpm-state" "PCR 16 '${state#* }', was '$pcr16'"
		fi
	else
		fail "$n-managedsave-restores-vtpm-state" "$(cat "$TMP/err") $(why $n)"
	fi
	# a cold boot: a fresh PCR 16 on the same manufactured state
	virsh destroy "$TAG-$n" >/dev/null 2>&1
	: >"$TMP/$n.console"
	if start $n; then
		if grep -aq "^@@PCR16 boot $zero64" "$TMP/$n.console" &&
			console $n HANDLES | grep -q 01c00002; then
			pass "$n-cold-boot-reuses-state"
		else
			fail "$n-cold-boot-reuses-state" "$(grep -a '^@@' "$TMP/$n.console" | head -n 5 | tr '\n\r' '  ')"
		fi
	fi
	virsh destroy "$TAG-$n" >/dev/null 2>&1
}

# --- TPM 1.2 ----------------------------------------------------------------
tpm12_case() {
	local n=tpm12
	domain $n 1.2 || { fail $n-define "virsh define failed"; return; }
	start $n || return
	if [ "$(console $n VERSION)" = 1 ]; then
		pass "$n-guest-sees-tpm12"
	else
		fail "$n-guest-sees-tpm12" "$(console $n VERSION) $(why $n)"
	fi
	case $(console $n PCR0) in
	PCR-00:*[1-9A-Fa-f]*) pass "$n-firmware-measured-pcr0" ;;
	*) fail "$n-firmware-measured-pcr0" "'$(console $n PCR0)'" ;;
	esac
	virsh destroy "$TAG-$n" >/dev/null 2>&1
}

# --- an encrypted state -------------------------------------------------------
enc_case() {
	local n=enc dir
	cat >"$TMP/secret.xml" <<EOF
<secret ephemeral='no' private='yes'>
  <description>cuse_tpm test $TAG</description>
  <usage type='vtpm'><name>$TAG</name></usage>
</secret>
EOF
	SECRET=$(virsh secret-define "$TMP/secret.xml" | awk '{print $2}')
	virsh secret-set-value "$SECRET" "$(printf 'a vTPM passphrase' | base64)" >/dev/null 2>&1 ||
		{ fail $n-secret "secret-set-value failed"; return; }
	domain $n 2.0 "<encryption secret='$SECRET'/>" || { fail $n-define "virsh define failed"; return; }
	start $n || return
	case "$(console $n VERSION) $(console $n HANDLES)" in
	2\ *01c00002*) pass "$n-guest-sees-manufactured-tpm2" ;;
	*) fail "$n-guest-sees-manufactured-tpm2" "$(console $n VERSION) $(why $n)" ;;
	esac
	dir=/var/lib/libvirt/swtpm/$(uuid $n)/tpm2
	# header version 2, encrypted flag (0x01) or 256-bit key flag (0x08) set
	if head -c 6 "$dir/tpm2-00.permall" | od -An -tx1 | grep -Eq '02 01 00 0a 00 0[19]'; then
		pass "$n-state-is-encrypted"
	else
		fail "$n-state-is-encrypted" "$(head -c 10 "$dir/tpm2-00.permall" | od -An -tx1)"
	fi
	virsh destroy "$TAG-$n" >/dev/null 2>&1
}

tpm2_case
tpm12_case
enc_case
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
