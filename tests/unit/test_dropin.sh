#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# cuse_tpm as a drop-in swtpm, natively on its socket channel:
#  - Debian's swtpm_setup manufactures a TPM 2.0 (EK and platform
#    certificates, NV locked, PCR banks sha256+sha384) and a TPM 1.2 (state
#    encrypted with --pwdfile) through `cuse_tpm socket`; cuse_tpm then
#    serves those states: tpm2_nvread gets the EK certificate and openssl
#    parses it, the TPM 1.2 lists its certificate indices;
#  - swtpm's syntax means swtpm's TPM 1.2 default (finding 1);
#  - --log level=N alone, with libtpms' own lines at level 20 (finding 4);
#  - --chroot: every later path is inside the jail (finding 5);
#  - --print-capabilities in swtpm 0.9.1's names and order (finding 6);
#  - --migration release-lock-outgoing: the lock at INIT (finding 7).
# Usage: test_dropin.sh [path/to/cuse_tpm].  PASS/FAIL lines, a tally.
set -u
OURS=$(realpath "${1:-build/cuse_tpm}")
# shellcheck source=tests/lib/ports.sh
. "$(dirname "$0")/../lib/ports.sh"
TMP=$(mktemp -d /tmp/cuse_tpm_dropin.XXXXXX)
PID=
passed=0 failed=0
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
pass() { echo "PASS: $1"; passed=$((passed + 1)); }
fail() { echo "FAIL: $1: $2"; failed=$((failed + 1)); }
check() { # NAME WHY COMMAND...: PASS when COMMAND succeeds
	local name=$1 why=$2
	shift 2
	if "$@"; then pass "$name"; else fail "$name" "$why"; fi
}

# A local CA of our own: swtpm_setup's default one lives in /var/lib.
mkdir -p "$TMP/ca"
cat >"$TMP/localca.conf" <<EOF
statedir = $TMP/ca
signingkey = $TMP/ca/signkey.pem
issuercert = $TMP/ca/issuercert.pem
certserial = $TMP/ca/certserial
EOF
printf -- '--platform-manufacturer cuse_tpm\n--platform-version 2.1\n--platform-model QEMU\n' \
	>"$TMP/localca.options"
cat >"$TMP/setup.conf" <<EOF
create_certs_tool = /usr/bin/swtpm_localca
create_certs_tool_config = $TMP/localca.conf
create_certs_tool_options = $TMP/localca.options
active_pcr_banks = sha256
EOF

# setup NAME DIR ARGS...: swtpm_setup with cuse_tpm as its TPM
setup() {
	local name=$1 dir=$2
	shift 2
	mkdir -p "$dir"
	swtpm_setup --tpm "$OURS socket" --config "$TMP/setup.conf" --tpmstate "$dir" \
		--create-ek-cert --create-platform-cert --lock-nvram \
		--logfile "$TMP/$name.setup.log" "$@" >"$TMP/$name.setup.out" 2>&1
}

# serve DIR ARGS...: cuse_tpm socket on DIR, data on $PORT and control on
# $PORT+1 (the swtpm TCTI's layout), started; retries on a taken port
serve() {
	start_on_free_port serve_on "$@"
}
# serve_on PORT DIR ARGS...: one try of serve, on PORT
serve_on() {
	local port=$1 dir=$2
	shift 2
	export TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=$port"
	"$OURS" socket --tpmstate "dir=$dir" --server "type=tcp,port=$port" \
		--ctrl "type=tcp,port=$((port + 1))" --flags not-need-init,startup-clear \
		--log "file=$TMP/serve.log" "$@" </dev/null >>"$TMP/serve.out" 2>&1 &
	PID=$!
	ctrl_answers $((port + 1)) "$PID" && return 0
	kill "$PID" 2>/dev/null
	wait "$PID" 2>/dev/null
	PID=
	return 1
}
halt() {
	swtpm_ioctl --tcp "127.0.0.1:$((PORT + 1))" -s >/dev/null 2>&1
	wait "$PID" 2>/dev/null
	PID=
}

# --- 9a: swtpm_setup manufactures, cuse_tpm serves ----------------------------
if setup tpm2 "$TMP/tpm2" --tpm2 --pcr-banks sha256,sha384 &&
	grep -q 'Successfully authored TPM state' "$TMP/tpm2.setup.log"; then
	pass swtpm_setup-tpm2-certs-locked-nvram-pcr-banks
else
	fail swtpm_setup-tpm2-certs-locked-nvram-pcr-banks "$(tail -n 3 "$TMP/tpm2.setup.log" "$TMP/tpm2.setup.out" | tr '\n' ' ')"
fi
if serve "$TMP/tpm2" --tpm2; then
	tpm2_nvread -C o 0x01c00002 -o "$TMP/ek.der" >/dev/null 2>"$TMP/nvread.err"
	check tpm2-ek-certificate-parses "$(cat "$TMP/nvread.err")" \
		openssl x509 -inform DER -in "$TMP/ek.der" -noout
	tpm2_nvread -C o 0x01c08000 -o "$TMP/platform.der" >/dev/null 2>&1
	check tpm2-platform-certificate-is-there "nvread 0x01c08000 failed" test -s "$TMP/platform.der"
	tpm2_nvreadpublic 0x01c00002 >"$TMP/nvpub" 2>&1
	check tpm2-ek-certificate-is-locked "$(grep -m1 attributes -A1 "$TMP/nvpub" | tr '\n' ' ')" \
		grep -q writelocked "$TMP/nvpub"
	tpm2_getcap handles-persistent >"$TMP/handles" 2>&1
	check tpm2-ek-persistent "$(tr '\n' ' ' <"$TMP/handles")" grep -qi 0x81010001 "$TMP/handles"
	# the active banks have PCRs selected, the others an empty list
	tpm2_getcap pcrs >"$TMP/pcrs" 2>&1
	check tpm2-pcr-banks-sha256-sha384 "$(tr '\n' ' ' <"$TMP/pcrs")" \
		sh -c "grep -q 'sha256: \[ 0' '$TMP/pcrs' && grep -q 'sha384: \[ 0' '$TMP/pcrs' &&
			! grep -q 'sha1: \[ 0' '$TMP/pcrs'"
	halt
else
	fail tpm2-served "$(tail -n 3 "$TMP/serve.log" "$TMP/serve.out" | tr '\n' ' ')"
fi

printf 'a passphrase for the TPM 1.2' >"$TMP/pwd"
if setup tpm12 "$TMP/tpm12" --pwdfile "$TMP/pwd" &&
	grep -q 'Successfully authored TPM state' "$TMP/tpm12.setup.log"; then
	pass swtpm_setup-tpm12-certs-locked-nvram-pwdfile
else
	fail swtpm_setup-tpm12-certs-locked-nvram-pwdfile "$(tail -n 3 "$TMP/tpm12.setup.log" "$TMP/tpm12.setup.out" | tr '\n' ' ')"
fi
check tpm12-state-is-encrypted "tpm-00.permall is not an encrypted blob" \
	sh -c "head -c 6 '$TMP/tpm12/tpm-00.permall' | od -An -tx1 | grep -q '02 01 00 0a 00 01'"
# TPM_GetCapability(TPM_CAP_NV_LIST): the EK and platform certificate indices
tpm12_nv_list() {
	python3 - "$PORT" <<'EOF'
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(struct.pack(">HII", 0xC1, 18, 0x65) + struct.pack(">II", 0xD, 0))
hdr = s.recv(10)
tag, size, rc = struct.unpack(">HII", hdr)
body = b""
while len(body) < size - 10:
    body += s.recv(size - 10 - len(body))
n = struct.unpack(">I", body[:4])[0]
idx = struct.unpack(">%dI" % (n // 4), body[4:4 + n])
ok = rc == 0 and 0x1000F000 in idx and 0x1000F002 in idx
if not ok:
    print("rc 0x%x," % rc, " ".join("0x%08x" % i for i in idx))
sys.exit(0 if ok else 1)
EOF
}
if serve "$TMP/tpm12" --key "pwdfile=$TMP/pwd"; then
	check tpm12-served-with-certificate-indices "NV indices: $(tpm12_nv_list 2>&1)" tpm12_nv_list
	halt
else
	fail tpm12-served-with-certificate-indices "$(tail -n 3 "$TMP/serve.log" "$TMP/serve.out" | tr '\n' ' ')"
fi

# --not-overwrite asks --print-states (here for a TPM 1.2) and keeps the
# state; --reconfigure of the PCR banks rewrites a TPM 2.0's
sum=$(sha256sum <"$TMP/tpm12/tpm-00.permall")
setup tpm12b "$TMP/tpm12" --pwdfile "$TMP/pwd" --not-overwrite
check swtpm_setup-not-overwrite-sees-our-states "$(tail -n 2 "$TMP/tpm12b.setup.log" | tr '\n' ' ')" \
	sh -c "grep -q 'Not overwriting' '$TMP/tpm12b.setup.log' &&
		[ \"\$(sha256sum <'$TMP/tpm12/tpm-00.permall')\" = '$sum' ]"
swtpm_setup --tpm "$OURS socket" --tpm2 --config "$TMP/setup.conf" --tpmstate "$TMP/tpm2" \
	--reconfigure --pcr-banks sha1 --logfile "$TMP/reconf.log" >/dev/null 2>&1
check swtpm_setup-reconfigures-pcr-banks "$(tail -n 2 "$TMP/reconf.log" | tr '\n' ' ')" \
	grep -q 'Successfully activated PCR banks sha1 ' "$TMP/reconf.log"

# --- finding 1: swtpm's syntax, swtpm's TPM 1.2 default ----------------------
mkdir -p "$TMP/f1"
if serve "$TMP/f1"; then
	swtpm_ioctl --tcp "127.0.0.1:$((PORT + 1))" --save permanent "$TMP/f1.blob" >/dev/null 2>&1
	halt
fi
check socket-without-tpm2-is-tpm12 "state files: $(cd "$TMP/f1" && echo *)" \
	sh -c "test -e '$TMP/f1/tpm-00.permall' && ! test -e '$TMP/f1/tpm2-00.permall'"
"$OURS" --tpmstate "dir=$TMP/f1" --print-states >"$TMP/states" 2>&1
check bare-form-stays-tpm2 "$(cat "$TMP/states")" \
	sh -c "! grep -q permall '$TMP/states'"

# --- finding 4: --log level=N alone; libtpms' lines at 20 ---------------------
mkdir -p "$TMP/f4"
"$OURS" socket --tpmstate "dir=$TMP/f4" --ctrl "type=unixio,path=$TMP/f4.ctrl" \
	--flags not-need-init --log level=20 </dev/null >"$TMP/f4.out" 2>"$TMP/f4.err" &
PID=$!
for ((i = 0; i < 200; i++)); do [ -S "$TMP/f4.ctrl" ] && break; sleep 0.05; done
swtpm_ioctl --unix "$TMP/f4.ctrl" -s >/dev/null 2>&1
wait "$PID"
rc=$?
PID=
check log-level-alone-is-accepted "exit $rc: $(head -c 300 "$TMP/f4.err")" test "$rc" = 0
check log-level-20-passes-libtpms-debug "no indented libtpms lines: $(head -n 3 "$TMP/f4.err" | tr '\n' ' ')" \
	grep -q '^    TPM_MainInit' "$TMP/f4.err"

# --- finding 5: --chroot ---------------------------------------------------------
mkdir -p "$TMP/jail/state"
"$OURS" socket --tpm2 -R "$TMP/jail" --tpmstate dir=/state --ctrl type=unixio,path=/ctrl \
	--pid file=/pid --flags not-need-init,startup-clear --log "file=$TMP/jail.log,level=3" \
	-d >"$TMP/jail.out" 2>&1
rc=$?
check chroot-paths-are-inside-the-jail "exit $rc: $(cat "$TMP/jail.out" "$TMP/jail.log" | tr '\n' ' ')" \
	sh -c "test -S '$TMP/jail/ctrl' && test -s '$TMP/jail/pid' && test -s '$TMP/jail/state/tpm2-00.permall'"
swtpm_ioctl --unix "$TMP/jail/ctrl" -s >/dev/null 2>&1
for ((i = 0; i < 100; i++)); do [ -e "$TMP/jail/pid" ] || break; sleep 0.05; done

# --- finding 6: --print-capabilities -----------------------------------------------
# swtpm 0.9.1's names in its order (CUSE/TPM 2 list, anchors.md section 11)
SWTPM091="tpm-1.2 tpm-2.0 flags-opt-startup flags-opt-disable-auto-shutdown
ctrl-opt-terminate cmdarg-seccomp cmdarg-key-fd cmdarg-pwd-fd cmdarg-print-states
cmdarg-chroot cmdarg-migration nvram-backend-dir nvram-backend-file rsa-keysize-1024
rsa-keysize-2048 rsa-keysize-3072"
"$OURS" socket --tpm2 --print-capabilities >"$TMP/caps" 2>&1
caps_in_order() {
	python3 - "$TMP/caps" "$SWTPM091" <<'EOF'
import json, sys
ours = json.load(open(sys.argv[1]))["features"]
ref = sys.argv[2].split()
common = [f for f in ours if f in ref]
if common != [f for f in ref if f in ours]:
    sys.exit("not in swtpm's order: %s" % common)
extra = [f for f in ours if f not in ref]
if ours[len(common):] != extra:
    sys.exit("our own names are not last: %s" % ours)
need = {"tpm-1.2", "tpm-2.0", "cmdarg-pwd-fd", "cmdarg-migration", "cmdarg-chroot",
        "nvram-backend-dir", "rsa-keysize-2048", "rsa-keysize-3072", "tpmstate-opt-lock"}
if need - set(ours):
    sys.exit("missing: %s" % sorted(need - set(ours)))
EOF
}
check print-capabilities-swtpm-names-and-order "$(caps_in_order 2>&1)" caps_in_order

# --- finding 7: release-lock-outgoing without not-need-init locks at INIT --------
mkdir -p "$TMP/f7"
lock_is_free() { python3 -c 'import fcntl, sys
f = open(sys.argv[1], "a")
try:
    fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
except OSError:
    sys.exit(1)' "$TMP/f7/.lock"; }
lock_is_held() { ! lock_is_free; }
"$OURS" socket --tpm2 --tpmstate "dir=$TMP/f7" --ctrl "type=unixio,path=$TMP/f7.ctrl" \
	--migration release-lock-outgoing --log "file=$TMP/f7.log,level=3" </dev/null >/dev/null 2>&1 &
PID=$!
for ((i = 0; i < 200; i++)); do [ -S "$TMP/f7.ctrl" ] && break; sleep 0.05; done
check lock-not-taken-before-init "the state lock is held before PTM_INIT" lock_is_free
swtpm_ioctl --unix "$TMP/f7.ctrl" -i >/dev/null 2>&1
check lock-taken-at-init "the state lock is free after PTM_INIT" lock_is_held
swtpm_ioctl --unix "$TMP/f7.ctrl" -s >/dev/null 2>&1
wait "$PID" 2>/dev/null
PID=

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
