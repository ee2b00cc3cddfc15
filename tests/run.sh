#!/usr/bin/env bash
# Every test, in one run: unit tests natively (plain, under ASan/UBSan and
# under valgrind), the admin tool against Debian's swtpm, the linters, and
# the device tests inside a VM whose kernel has CUSE.  Each check prints
# "PASS: name" or "FAIL: name: why"; the last line is the tally.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
tally=$(mktemp)
trap 'rm -f "$tally" "$tally.out" "$tally.stage"' EXIT

# stage NAME COMMAND...: runs it, shows and records its PASS/FAIL lines; a
# command that fails without reporting a FAIL line counts as one failure.
stage() {
	local name=$1 rc start=$SECONDS
	shift
	echo "== $name"
	"$@" 2>&1 | tee "$tally.out"
	rc=${PIPESTATUS[0]}
	grep -E '^(PASS|FAIL): ' "$tally.out" >"$tally.stage"
	if [ "$rc" -ne 0 ] && ! grep -q '^FAIL: ' "$tally.stage"; then
		echo "FAIL: $name: exited with status $rc" | tee -a "$tally.stage"
	fi
	cat "$tally.stage" >>"$tally"
	echo "== $name: $((SECONDS - start)) s"
}

lint() {
	if make -s lint >/tmp/cuse_tpm_lint.log 2>&1; then
		echo "PASS: lint-cppcheck-clang-tidy"
	else
		echo "FAIL: lint-cppcheck-clang-tidy: $(tail -n 5 /tmp/cuse_tpm_lint.log | tr '\n' ' ')"
	fi
}

under_valgrind() { # TEST: zero errors and no leaks
	local t=$1
	if CUSE_TPM_UNDER_VALGRIND=1 valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
		"$t" >/tmp/cuse_tpm_vg.log 2>&1; then
		echo "PASS: valgrind-${t##*/}"
	else
		echo "FAIL: valgrind-${t##*/}: $(grep -E '==[0-9]+== ' /tmp/cuse_tpm_vg.log | head -n 5 | tr '\n' ' ')"
	fi
}

for t in "$BUILD"/tests/test_*; do stage "${t##*/}" "$t"; done
for t in "$BUILD"/asan/tests/test_*; do stage "asan ${t##*/}" "$t"; done
for t in "$BUILD"/tests/test_*; do stage "valgrind ${t##*/}" under_valgrind "$t"; done
stage "admin tool vs swtpm_ioctl, on swtpm" tests/unit/test_ioctl_tool.sh "$BUILD/cuse_tpm_ioctl"
SERVER=$BUILD/cuse_tpm stage "admin tool vs swtpm_ioctl, on our socket server" \
	tests/unit/test_ioctl_tool.sh "$BUILD/cuse_tpm_ioctl"
stage lint lint
# every fuzz target over its seeds and its saved crashes, then briefly fresh
stage "fuzz targets" make -s fuzz-check FUZZ_CHECK_SECONDS=10
stage "state encryption vs swtpm" tests/unit/test_swtpm_files.sh "$BUILD/tests/blobtool"
stage "swtpm interop: state dirs, linear files and blobs, TPM 2.0 and 1.2, both ways" tests/unit/test_swtpm_interop.sh "$BUILD/cuse_tpm"
stage "drop-in swtpm: swtpm_setup, dialect, log, chroot, capabilities, lock" \
	tests/unit/test_dropin.sh "$BUILD/cuse_tpm"
stage "a host OpenSSL configuration under the sandbox" tests/unit/test_openssl_conf.sh "$BUILD"
stage "crash: SIGKILL under NV writes" python3 tests/unit/test_crash.py "$BUILD/cuse_tpm" 300
stage "crash: SIGKILL under NV writes, linear state file" python3 tests/unit/test_crash.py "$BUILD/cuse_tpm" 300 file
stage "control socket: hostile clients" python3 tests/unit/test_ctrl_socket.py "$BUILD/cuse_tpm"
stage "socket channels: clients that hang, exhaust or race the daemon" python3 tests/unit/test_hostile_socket.py "$BUILD/cuse_tpm"
stage "storage faults: full, read-only, removed, denied" python3 tests/unit/test_faults.py "$BUILD/cuse_tpm"
stage "storage faults, ASan/UBSan daemon" python3 tests/unit/test_faults.py "$BUILD/asan/cuse_tpm"
stage "load on the socket channel" tests/unit/test_load_socket.sh "$BUILD"
stage "valgrind: the socket daemon under load" tests/unit/test_load_socket.sh "$BUILD" valgrind
stage "QEMU -tpmdev emulator on our socket" tests/qemu/emulator.sh
stage "libvirt: cuse_tpm as swtpm (manufacture, managedsave, 1.2, encrypted)" \
	tests/libvirt/libvirt.sh "$BUILD"
BUILD=$BUILD stage "QEMU live migration: cuse_tpm and swtpm, both ways" python3 tests/qemu/migrate.py
stage "Debian package" tests/unit/test_deb.sh
# a results directory of its own: a benchmark may use the default meanwhile
VM_OUT=$BUILD/vm/out-tests stage "VM: CUSE device" tests/vm/vm.sh run --timeout 1500 --mem 1536 --env BUILD="$BUILD" -- tests/vm/suite.sh

passed=$(grep -c '^PASS: ' "$tally")
failed=$(grep -c '^FAIL: ' "$tally")
if [ "$failed" -ne 0 ]; then
	echo "Failures:"
	grep '^FAIL: ' "$tally"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
