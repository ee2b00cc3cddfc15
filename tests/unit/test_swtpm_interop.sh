#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# cuse_tpm and Debian's swtpm swap TPMs both ways: a state directory or a
# linear state file (backend-uri=file://) one wrote starts under the other,
# and state blobs saved from one (running, with an extended PCR and an NV
# index) load into the other; for TPM 2.0 and TPM 1.2, plain and keyed.
# Blobs set into cuse_tpm survive its kill -9 before INIT.  Both run in
# socket mode; tpm2-tools reach a TPM 2.0 through tpm2-tss' swtpm TCTI, a
# TPM 1.2 gets raw commands from python3.
# Usage: test_swtpm_interop.sh [path/to/cuse_tpm].  PASS/FAIL lines, tally.
set -u
OURS=${1:-build/cuse_tpm}
# shellcheck source=tests/lib/ports.sh
. "$(dirname "$0")/../lib/ports.sh"
TMP=$(mktemp -d /tmp/cuse_tpm_interop.XXXXXX)
PID=
passed=0 failed=0
LOOP=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	[ -n "$LOOP" ] && losetup -d "$LOOP"
	rm -rf "$TMP"
}
trap cleanup EXIT
pass() { echo "PASS: $1"; passed=$((passed + 1)); }
fail() { echo "FAIL: $1: $2"; failed=$((failed + 1)); }

# TPM 2.0 unless TPMV=12; the flags the servers start with
TPMV=2
FLAGS=not-need-init,startup-clear
# state_arg DIR|FILE.img|/dev/BLOCKDEV: the --tpmstate value (a .img or a
# device is a linear file)
state_arg() {
	case $1 in
	*.img | /dev/*) echo "backend-uri=file://$1" ;;
	*) echo "dir=$1" ;;
	esac
}
# version_args IMPL: TPM 2.0 is --tpm2 for both; TPM 1.2 is swtpm's default
version_args() {
	if [ $TPMV = 2 ]; then echo --tpm2; elif [ "$1" != swtpm ]; then echo --tpm12; fi
}
# serve IMPL DIR: that implementation on DIR, data on $PORT, control on
# $PORT+1 (the TCTI's layout), powered and started.  A server that exits at
# once found its port taken (other tests pick random ports too): it tries
# other ports.  A failure says why on stderr.
serve() {
	start_on_free_port serve_on "$@" && return 0
	echo "$1 did not serve on port $PORT: $(tail -n 2 "$TMP/$1.log" 2>/dev/null | tr '\n' ' ')" >&2
	return 1
}
# serve_on PORT IMPL DIR: one try of serve, on PORT
serve_on() {
	local port=$1 impl=$2 dir=$3 bin=$2
	[ "$bin" = swtpm ] || bin=$OURS
	export TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=$port"
	# shellcheck disable=SC2046
	"$bin" socket $(version_args "$impl") --tpmstate "$(state_arg "$dir")" \
		${KEYARGS[@]+"${KEYARGS[@]}"} \
		--server "type=tcp,port=$port" --ctrl "type=tcp,port=$((port + 1))" \
		--flags "$FLAGS" --log "file=$TMP/$impl.log" \
		</dev/null >"$TMP/$impl.out" 2>&1 &
	PID=$!
	ctrl_answers $((port + 1)) "$PID"
	case $? in
	0) return 0 ;;
	2)
		kill "$PID"
		wait "$PID" 2>/dev/null
		PID=
		return 2
		;;
	esac
	wait "$PID" 2>/dev/null
	PID=
	echo "$impl on port $port exited: $(tail -n 2 "$TMP/$impl.out" "$TMP/$impl.log" 2>/dev/null | tr '\n' ' ')" >&2
	return 1
}
halt() {
	swtpm_ioctl --tcp "127.0.0.1:$((PORT + 1))" -s >/dev/null 2>&1
	wait "$PID" 2>/dev/null
	PID=
}
ctl() { swtpm_ioctl --tcp "127.0.0.1:$((PORT + 1))" "$@"; }

NVDATA=$TMP/nvdata
printf 'interop between two vTPMs....' >"$NVDATA"
# fill IMPL DIR: an NV index and a PCR 16 value; records the PCR
fill() {
	[[ $2 == *.img || $2 == /dev/* ]] || mkdir -p "$2"
	serve "$1" "$2" || return 1
	tpm2_nvdefine 0x1500020 -C o -s 29 -a "ownerread|ownerwrite|authread|authwrite" >/dev/null &&
		tpm2_nvwrite 0x1500020 -C o -i "$NVDATA" &&
		tpm2_pcrextend 16:sha256=1111111111111111111111111111111111111111111111111111111111111111 &&
		tpm2_pcrread sha256:16 >"$TMP/pcr.$1"
}
nv_is_there() { [ "$(tpm2_nvread 0x1500020 -C o -s 29 2>/dev/null)" = "$(cat "$NVDATA")" ]; }

KEYARGS=()
for run in plain keyed; do
if [ $run = keyed ]; then
	# the same, with state files and migration blobs encrypted (both keys
	# 256-bit: swtpm 0.7 cannot mix key sizes, see its IV buffer)
	printf '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff' >"$TMP/key"
	printf 'a passphrase for migration\n' >"$TMP/pwd"
	KEYARGS=(--key "file=$TMP/key,mode=aes-256-cbc" --migration-key "pwdfile=$TMP/pwd,mode=aes-256-cbc")
fi
for from in swtpm cuse_tpm; do
	to=cuse_tpm
	[ "$from" = cuse_tpm ] && to=swtpm
	# 1. the state directory or linear file, after an orderly shutdown
	for kind in dir file; do
		where=$TMP/$run.$kind.$from
		[ $kind = file ] && where=$where.img
		if fill "$from" "$where"; then
			halt
			if serve "$to" "$where" && nv_is_there; then
				pass "$run-state-$kind-$from-to-$to"
			else
				fail "$run-state-$kind-$from-to-$to" "NV index not readable"
			fi
			halt
		else
			fail "$run-state-$kind-$from-to-$to" "could not fill $from"
			halt
		fi
	done
	# 2. the three state blobs of a running TPM
	if fill "$from" "$TMP/$run.run.$from"; then
		for t in permanent volatile savestate; do
			ctl --save "$t" "$TMP/blob.$from.$t" >/dev/null || fail "save-$t-from-$from" "swtpm_ioctl --save failed"
		done
		halt
		mkdir -p "$TMP/$run.new.$to"
		serve "$to" "$TMP/$run.new.$to"
		ctl --stop >/dev/null
		ok=1
		for t in permanent volatile savestate; do
			[ -s "$TMP/blob.$from.$t" ] || continue
			ctl --load "$t" "$TMP/blob.$from.$t" >/dev/null 2>"$TMP/err" || {
				ok=0
				fail "load-$t-into-$to" "$(cat "$TMP/err")"
			}
		done
		ctl -i >/dev/null
		if [ $ok = 1 ] && nv_is_there && [ "$(tpm2_pcrread sha256:16)" = "$(cat "$TMP/pcr.$from")" ]; then
			pass "$run-blobs-$from-to-$to-keep-pcr-and-nv"
		else
			fail "$run-blobs-$from-to-$to-keep-pcr-and-nv" "PCR $(tpm2_pcrread sha256:16 2>&1 | tail -1) vs $(tail -1 "$TMP/pcr.$from")"
		fi
		halt
	else
		fail "$run-blobs-$from-to-$to-keep-pcr-and-nv" "could not fill $from"
		halt
	fi
done
done
if head -c 10 "$TMP/keyed.dir.cuse_tpm/tpm2-00.permall" | od -An -tx1 | grep -q '02 01 00 0a 00 09'; then
	pass keyed-files-are-encrypted-256
else
	fail keyed-files-are-encrypted-256 "$(head -c 10 "$TMP/keyed.dir.cuse_tpm/tpm2-00.permall" | od -An -tx1)"
fi
KEYARGS=()

# The linear backend on a block device (a loop device): cuse_tpm writes it,
# swtpm changes it in place, cuse_tpm reads it back; cuse_tpm's second
# write goes beside its first (the header then switches to it).
header_offset() { od -An -tu4 -j 12 -N 4 "$LOOP" | tr -d ' '; }
truncate -s 1M "$TMP/loop.img"
if LOOP=$(losetup -f --show "$TMP/loop.img" 2>/dev/null); then
	if fill cuse_tpm "$LOOP"; then
		halt
		first=$(header_offset)
		serve cuse_tpm "$LOOP" && tpm2_pcrextend 16:sha256=1111111111111111111111111111111111111111111111111111111111111111 >/dev/null
		halt
		second=$(header_offset)
		if serve swtpm "$LOOP" && nv_is_there && tpm2_nvwrite 0x1500020 -C o -i "$NVDATA" &&
			halt && serve cuse_tpm "$LOOP" && nv_is_there &&
			[ "$first" != "$second" ] && [ "$first" -ge 192 ] && [ "$second" -ge 192 ]; then
			pass linear-block-device-both-ways
		else
			fail linear-block-device-both-ways "permall at $first, then $second"
		fi
	else
		fail linear-block-device-both-ways "could not fill cuse_tpm"
	fi
	halt
else
	echo "# no loop device here: the block-device check is skipped"
fi

# Blobs set into a stopped cuse_tpm are on disk before the set is answered:
# kill -9 before INIT, restart, INIT, and the state is there (as in swtpm).
if fill cuse_tpm "$TMP/kill.src"; then
	for t in permanent volatile; do
		ctl --save "$t" "$TMP/kill.$t" >/dev/null
	done
	halt
	mkdir -p "$TMP/kill.dst"
	serve cuse_tpm "$TMP/kill.dst" && ctl --stop >/dev/null
	for t in permanent volatile; do
		ctl --load "$t" "$TMP/kill.$t" >/dev/null
	done
	kill -9 "$PID"
	wait "$PID" 2>/dev/null
	PID=
	FLAGS=not-need-init serve cuse_tpm "$TMP/kill.dst"
	if ctl -i >/dev/null && nv_is_there &&
		[ "$(tpm2_pcrread sha256:16)" = "$(cat "$TMP/pcr.cuse_tpm")" ]; then
		pass set-blobs-survive-kill-before-init
	else
		fail set-blobs-survive-kill-before-init "$(ls "$TMP/kill.dst")"
	fi
	halt
else
	fail set-blobs-survive-kill-before-init "could not fill cuse_tpm"
	halt
fi

# TPM 1.2: raw commands, as tpm2-tools speak only 2.0.
# tpm12 CMDHEX...: sends each command on one connection to $PORT, prints
# each response in hex
tpm12() {
	python3 -c '
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
for h in sys.argv[2:]:
    s.sendall(bytes.fromhex(h))
    r = b""
    while len(r) < 6 or len(r) < struct.unpack(">I", r[2:6])[0]:
        c = s.recv(4096)
        if not c:
            break
        r += c
    print(r.hex())' "$PORT" "$@"
}
T12_STARTUP_CLEAR=00c10000000c000000990001
T12_STARTUP_STATE=00c10000000c000000990002
T12_SAVESTATE=00c10000000a00000098
T12_EXTEND10=00c100000022000000140000000a1111111111111111111111111111111111111111
T12_PCRREAD10=00c10000000e000000150000000a
# TPM_CreateEndorsementKeyPair (RSA 2048) and TPM_ReadPubek: the EK lives in
# the permanent state
T12_NONCE=2222222222222222222222222222222222222222
T12_CREATEEK=00c10000003600000078${T12_NONCE}00000001000300010000000c000008000000000200000000
T12_READPUBEK=00c10000001e0000007c${T12_NONCE}
# PCR 10 after one extend of 20 bytes 0x11 from zero (16 resets at Startup)
T12_PCR10=00c40000001e00000000b3e26c6ca6785f04dd7187293d802d5b16dad8c1
TPMV=12 FLAGS=not-need-init
for run in plain keyed; do
KEYARGS=()
# keyed: the migration key from the passphrase by kdf=sha512 this time
[ $run = keyed ] && KEYARGS=(--key "file=$TMP/key,mode=aes-256-cbc" --migration-key "pwdfile=$TMP/pwd,mode=aes-256-cbc,kdf=sha512")
for from in swtpm cuse_tpm; do
	to=cuse_tpm
	[ "$from" = cuse_tpm ] && to=swtpm
	# permall and savestate after TPM_SaveState: TPM_Startup(ST_STATE)
	# on the other brings PCR 10 back
	for kind in dir file; do
		where=$TMP/t12.$run.$kind.$from
		[ $kind = file ] && where=$where.img || mkdir -p "$where"
		name=tpm12-$run-state-$kind-$from-to-$to
		if serve "$from" "$where" &&
			[ "$(tpm12 $T12_STARTUP_CLEAR $T12_EXTEND10 $T12_SAVESTATE | tail -1)" = 00c40000000a00000000 ]; then
			halt
			serve "$to" "$where"
			out=$(tpm12 $T12_STARTUP_STATE $T12_PCRREAD10 | tr '\n' ' ')
			if [ "$out" = "00c40000000a00000000 $T12_PCR10 " ]; then
				pass "$name"
			else
				fail "$name" "responses $out"
			fi
		else
			fail "$name" "could not fill $from"
		fi
		halt
	done
	# the three blobs of a running TPM 1.2: the permanent state holds an
	# EK, the volatile state PCR 10
	name=tpm12-$run-blobs-$from-to-$to
	mkdir -p "$TMP/t12.$run.run.$from" "$TMP/t12.$run.new.$to"
	if serve "$from" "$TMP/t12.$run.run.$from" &&
		[ "$(tpm12 $T12_STARTUP_CLEAR $T12_CREATEEK $T12_EXTEND10 | tail -1)" = "$T12_PCR10" ] &&
		tpm12 $T12_READPUBEK >"$TMP/t12.pubek" && grep -q "^00c4........00000000" "$TMP/t12.pubek"; then
		ok=1
		for t in permanent volatile savestate; do
			ctl --save "$t" "$TMP/t12.$from.$t" >/dev/null || ok=0
		done
		halt
		serve "$to" "$TMP/t12.$run.new.$to" && ctl --stop >/dev/null
		for t in permanent volatile savestate; do
			[ -s "$TMP/t12.$from.$t" ] || continue
			ctl --load "$t" "$TMP/t12.$from.$t" >/dev/null 2>"$TMP/err" || ok=0
		done
		if [ $ok = 1 ] && ctl -i >/dev/null 2>"$TMP/err" &&
			[ "$(tpm12 $T12_PCRREAD10 $T12_READPUBEK | tr '\n' ' ')" = "$T12_PCR10 $(cat "$TMP/t12.pubek") " ]; then
			pass "$name"
		else
			fail "$name" "$(cat "$TMP/err"; tail -n 3 "$TMP/$to.log")"
		fi
	else
		fail "$name" "could not fill $from"
	fi
	halt
done
done
TPMV=2 FLAGS=not-need-init,startup-clear
KEYARGS=()
# libvirt's own command line for swtpm, with the program name changed
mkdir -p "$TMP/libvirt"
"$OURS" socket --ctrl "type=unixio,path=$TMP/libvirt/sock,mode=0600" \
	--tpmstate "dir=$TMP/libvirt,mode=0600,lock" --log "file=$TMP/libvirt.log" \
	--terminate --tpm2 </dev/null >/dev/null 2>&1 &
PID=$!
for ((i = 0; i < 100; i++)); do [ -S "$TMP/libvirt/sock" ] && break; sleep 0.05; done
if [ "$(stat -c %a "$TMP/libvirt/sock" 2>/dev/null)" = 600 ] &&
	swtpm_ioctl --unix "$TMP/libvirt/sock" -i >/dev/null &&
	swtpm_ioctl --unix "$TMP/libvirt/sock" -s >/dev/null && wait "$PID"; then
	pass libvirt-command-line
else
	fail libvirt-command-line "socket mode $(stat -c %a "$TMP/libvirt/sock" 2>&1)"
fi
PID=
out=$("$OURS" --print-capabilities)
if python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["type"]=="swtpm" and "tpm-2.0" in d["features"]' <<<"$out"; then
	pass print-capabilities-is-swtpm-json
else
	fail print-capabilities-is-swtpm-json "$out"
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
