#!/usr/bin/env bash
# A host's OpenSSL configuration under the sandbox.  OPENSSL_CONF names a
# provider (tests/unit/ossl_probe_provider.c) whose loading makes a system
# call outside the daemon's allow-list, as a host's provider or engine may:
# OpenSSL must load it before the seccomp filter goes on, and the daemon
# then starts, serves a TPM command and stops in order.
# Usage: test_openssl_conf.sh [BUILD]; prints PASS/FAIL lines.
set -u
BUILD=${1:-build}
# shellcheck source=tests/lib/ports.sh
. "$(dirname "$0")/../lib/ports.sh"
TMP=$(mktemp -d /tmp/cuse_tpm_osslconf.XXXXXX)
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$TMP"' EXIT
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1: $2"; }

probe=$(realpath "$BUILD/tests/ossl_probe_provider.so")
cat >"$TMP/openssl.cnf" <<EOF
openssl_conf = init
[init]
providers = providers
[providers]
default = default_sect
probe = probe_sect
[default_sect]
activate = 1
[probe_sect]
module = $probe
activate = 1
EOF
export OPENSSL_CONF=$TMP/openssl.cnf

# (the unnamed top section is OpenSSL's "default": not a provider's name)
if openssl list -providers 2>&1 | grep -q '^  probe$'; then
	pass openssl-conf-loads-the-probe-provider
else
	fail openssl-conf-loads-the-probe-provider "$(openssl list -providers 2>&1 | tr '\n' ' ')"
fi

# start_daemon PORT: data on PORT, control on PORT+1 (the swtpm TCTI's
# layout); the default --seccomp action=kill: a call outside the list would
# end the daemon
start_daemon() {
	local port=$1 i
	mkdir -p "$TMP/state"
	"$BUILD/cuse_tpm" socket --tpm2 --tpmstate "dir=$TMP/state" \
		--server "type=tcp,port=$port" --ctrl "type=tcp,port=$((port + 1))" \
		--flags not-need-init,startup-clear --log "file=$TMP/log" \
		</dev/null >"$TMP/out" 2>&1 &
	PID=$!
	for ((i = 0; i < 200; i++)); do
		"$BUILD/cuse_tpm_ioctl" -c --tcp "127.0.0.1:$((port + 1))" >/dev/null 2>&1 && return 0
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.05
	done
	kill "$PID" 2>/dev/null
	wait "$PID"
	status=$?
	PID=
	# a port taken by someone else: try another; a dead daemon: report it
	grep -q "in use" "$TMP/out" && return 1
	return 2
}
start_on_free_port start_daemon
if [ -n "$PID" ]; then
	pass daemon-starts-with-the-hosts-openssl-conf
else
	fail daemon-starts-with-the-hosts-openssl-conf \
		"exit status ${status:-?} (159: SIGSYS from the filter); $(tr '\n' ' ' <"$TMP/out")"
	exit 0
fi
if out=$(timeout 20 tpm2_getrandom -T "swtpm:host=127.0.0.1,port=$PORT" --hex 8 2>&1) &&
	[[ $out =~ ^[0-9a-f]{16}$ ]]; then
	pass daemon-serves-with-the-hosts-openssl-conf
else
	fail daemon-serves-with-the-hosts-openssl-conf "$out"
fi
kill -TERM "$PID"
wait "$PID"
status=$?
PID=
if [ "$status" -eq 0 ]; then
	pass daemon-stops-in-order-with-the-hosts-openssl-conf
else
	fail daemon-stops-in-order-with-the-hosts-openssl-conf "exit status $status"
fi
