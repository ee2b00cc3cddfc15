#!/usr/bin/env bash
# QEMU's -tpmdev emulator on cuse_tpm's socket channel, for real: Debian's
# QEMU boots Debian's kernel (through the firmware, so the guest gets the
# ACPI table that announces its TPM), and the guest kernel's own TPM driver
# uses the vTPM.  Runs on the host: the socket channel needs no CUSE.
# Prints "PASS: name" / "FAIL: name: why" lines.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
TMP=$(mktemp -d /tmp/cuse_tpm_qemu.XXXXXX)
export VM_OUT=$PWD/$BUILD/vm/out-qemu VM_FIRMWARE_BOOT=1
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1: $2"; }

# start_tpm NAME: cuse_tpm serving a control socket at $TMP/NAME.ctrl
start_tpm() {
	local name=$1 i
	"$BUILD/cuse_tpm" socket --tpm2 --tpmstate "dir=$TMP/$name.state" \
		--ctrl "type=unixio,path=$TMP/$name.ctrl" --terminate \
		--log "file=$TMP/$name.log,level=4" >/dev/null 2>&1 &
	PIDS+=($!)
	eval "PID_${name//-/_}=$!"
	for ((i = 0; i < 100; i++)); do
		[ -S "$TMP/$name.ctrl" ] && return 0
		sleep 0.05
	done
	return 1
}

# guest NAME DEVICE [QEMU-ARG...] -- COMMAND: boots a guest with the TPM
guest() {
	local name=$1 device=$2 args=()
	shift 2
	while [ "$1" != -- ]; do args+=(--qemu-arg "$1"); shift; done
	shift
	tests/vm/vm.sh run --timeout 300 \
		--qemu-arg -chardev --qemu-arg "socket,id=chrtpm,path=$TMP/$name.ctrl" \
		--qemu-arg -tpmdev --qemu-arg emulator,id=tpm0,chardev=chrtpm \
		--qemu-arg -device --qemu-arg "$device,tpmdev=tpm0" "${args[@]}" -- "$@"
}

# What the guest checks: a TPM 2.0 driven by its kernel, the firmware's
# measurements in PCR 0, and commands through the kernel's resource manager.
GUEST_CHECKS='
v=$(cat /sys/class/tpm/tpm0/tpm_version_major 2>&1)
[ "$v" = 2 ] && echo "PASS: $TAG-guest-sees-tpm2" || echo "FAIL: $TAG-guest-sees-tpm2: $v"
p=$(tpm2_pcrread -T device:/dev/tpmrm0 sha256:0 2>&1)
case $p in *0x0000000000000000000000000000000000000000000000000000000000000000*|"") echo "FAIL: $TAG-firmware-measured-pcr0: $p";; *0x*) echo "PASS: $TAG-firmware-measured-pcr0";; *) echo "FAIL: $TAG-firmware-measured-pcr0: $p";; esac
r=$(tpm2_getrandom -T device:/dev/tpmrm0 --hex 16 2>&1)
[ ${#r} -eq 32 ] && echo "PASS: $TAG-getrandom-via-tpmrm0" || echo "FAIL: $TAG-getrandom-via-tpmrm0: $r"
'

for device in tpm-tis tpm-crb; do
	if ! start_tpm "$device"; then
		fail "$device-start" "no control socket"
		continue
	fi
	guest "$device" "$device" -- sh -c "TAG=$device; $GUEST_CHECKS" ||
		fail "$device-guest" "vm.sh exited $?"
	# QEMU's CMD_SHUTDOWN or the data channel closing (--terminate): the
	# vTPM must end with the guest, either way
	pid_var=PID_${device//-/_}
	for ((i = 0; i < 100; i++)); do kill -0 "${!pid_var}" 2>/dev/null || break; sleep 0.05; done
	if ! kill -0 "${!pid_var}" 2>/dev/null; then
		pass "$device-vtpm-ends-with-qemu"
	else
		fail "$device-vtpm-ends-with-qemu" "$(tail -n 3 "$TMP/$device.log")"
	fi
done

# A reset of the machine power-cycles the vTPM: QEMU sends STOP,
# SET_BUFFERSIZE and INIT; the guest boots again on a fresh TPM, whose
# PCR 16 is zero again although the first boot extended it.
reset_test() {
	local qmp=$TMP/qmp.sock out
	start_tpm reset || { fail reset-start "no control socket"; return; }
	rm -rf "$VM_OUT" && mkdir -p "$VM_OUT"
	guest reset tpm-crb -qmp "unix:$qmp,server=on,wait=off" -action reboot=reset -- sh -c '
		if [ ! -e "$VM_OUT/boot1" ]; then
			tpm2_pcrextend -T device:/dev/tpmrm0 16:sha256=0101010101010101010101010101010101010101010101010101010101010101 >/dev/null
			tpm2_pcrread -T device:/dev/tpmrm0 sha256:16 >"$VM_OUT/boot1"
			sleep 600 # until the host resets the machine
		fi
		tpm2_pcrread -T device:/dev/tpmrm0 sha256:16 >"$VM_OUT/boot2"' >/dev/null 2>&1 &
	local vm=$! i
	for ((i = 0; i < 1200; i++)); do
		[ -s "$VM_OUT/boot1" ] && break
		sleep 0.25
	done
	python3 - "$qmp" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rw")
f.readline()  # greeting
for cmd in ("qmp_capabilities", "system_reset"):
    f.write(json.dumps({"execute": cmd}) + "\n"); f.flush()
    while "return" not in json.loads(f.readline()):
        pass
PY
	wait "$vm"
	out=$(cat "$VM_OUT/boot1" "$VM_OUT/boot2" 2>&1)
	if grep -q "16: 0x0000000000000000000000000000000000000000000000000000000000000000" "$VM_OUT/boot2" 2>/dev/null &&
		! grep -q "16: 0x0000000000000000000000000000000000000000000000000000000000000000" "$VM_OUT/boot1"; then
		pass reset-guest-sees-fresh-tpm
	else
		fail reset-guest-sees-fresh-tpm "$out"
	fi
	# the power cycle, as the control channel saw it: a second STOP + INIT
	if [ "$(grep -c 'control: command 0x2,' "$TMP/reset.log")" -ge 2 ]; then
		pass reset-power-cycles-vtpm
	else
		fail reset-power-cycles-vtpm "$(grep -c 'command 0x2,' "$TMP/reset.log") INITs"
	fi
}
reset_test
exit 0
