#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The encrypted state containers of blob.c/blob_read.c and the keys of
# crypt.c against Debian's swtpm, through tests/unit/blobtool:
#  (a) state files swtpm encrypted (128/256-bit keys, passphrases with both
#      KDFs) decrypt to what swtpm itself hands out (swtpm_ioctl --save);
#  (b) state files we encrypt, in every layout our reader takes, are taken
#      by swtpm: it starts on them and an NV index we put there reads back;
#  (c) migration blobs with --migration-key cross in both directions, with
#      the inner layer decrypted or still under the state key.
#
# Usage: tests/unit/test_swtpm_files.sh [path/to/blobtool]
# Needs: swtpm, swtpm_ioctl, tpm2-tools.  Prints "PASS: name" or
# "FAIL: name: why" per check and "N passed, N failed"; exits 1 on failure.

set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TOOL=${1:-$ROOT/build/tests/blobtool}
case $TOOL in /*) ;; *) TOOL=$PWD/$TOOL ;; esac

for t in "$TOOL" swtpm swtpm_ioctl tpm2_startup tpm2_nvdefine tpm2_nvwrite \
	tpm2_nvread; do
	if ! command -v "$t" >/dev/null; then
		echo "FAIL: setup: missing $t"
		echo "0 passed, 1 failed"
		exit 1
	fi
done

# shellcheck source=tests/lib/ports.sh
. "$ROOT/tests/lib/ports.sh"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/test_swtpm_files.XXXXXX")
PIDS=()
PASSED=0
FAILED=0
NV=0x1500016

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pass() {
	PASSED=$((PASSED + 1))
	echo "PASS: $1"
}
fail() {
	FAILED=$((FAILED + 1))
	echo "FAIL: $1: $2"
}

# --- swtpm ----------------------------------------------------------------

# start_tpm DIR [swtpm options...]: a TPM 2 swtpm on DIR with its TCP server
# on $PORT and control channel on $((PORT + 1)); sets PID and PORT.
start_tpm() {
	mkdir -p "$1"
	start_on_free_port start_tpm_on "$@"
}

# start_tpm_on PORT DIR [swtpm options...]: one try of start_tpm, on PORT
start_tpm_on() {
	local port=$1 dir=$2
	shift 2
	"${TPM_BIN:-swtpm}" socket --tpm2 --tpmstate "dir=$dir" \
		--server "type=tcp,port=$port,bindaddr=127.0.0.1" \
		--ctrl "type=tcp,port=$((port + 1)),bindaddr=127.0.0.1" \
		--log "file=$dir.log" "$@" </dev/null >/dev/null 2>&1 &
	PID=$!
	PIDS+=("$PID")
	if wait_listening "$PID" $((port + 1)); then
		return 0
	fi
	wait "$PID" 2>/dev/null
	# a port clash makes swtpm exit; anything else would repeat
	grep -q 'Address already in use' "$dir.log" 2>/dev/null && return 1
	return 2
}

wait_listening() {
	local _
	for _ in $(seq 1 100); do
		kill -0 "$1" 2>/dev/null || return 1
		if (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; then
			sleep 0.05
			kill -0 "$1" 2>/dev/null
			return
		fi
		sleep 0.05
	done
	return 1
}

ctl() {
	timeout 20 swtpm_ioctl --tcp "127.0.0.1:$((PORT + 1))" "$@"
}

# Ends the current swtpm cleanly (its state is written out).
stop_tpm() {
	local _
	ctl -s >/dev/null 2>&1
	for _ in $(seq 1 60); do
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.05
	done
	kill "$PID" 2>/dev/null
	wait "$PID" 2>/dev/null
}

tss() {
	timeout 20 "$@" -T "swtpm:host=127.0.0.1,port=$PORT"
}

# nv_reads_back NAME: the NV index holds $TMP/nv.bin on the current swtpm
nv_reads_back() {
	if ! tss tpm2_nvread "$NV" -C o -s 16 -o "$TMP/nv.out" \
		>"$TMP/tss.err" 2>&1; then
		fail "$1" "tpm2_nvread failed: $(head -c 200 "$TMP/tss.err")"
	elif ! cmp -s "$TMP/nv.bin" "$TMP/nv.out"; then
		fail "$1" "the NV index reads back different bytes"
	else
		pass "$1"
	fi
}

# tool NAME ARGS...: runs blobtool; on failure reports NAME and returns 1
tool() {
	local name=$1
	shift
	if ! "$TOOL" "$@" >"$TMP/tool.out" 2>"$TMP/tool.err"; then
		fail "$name" "blobtool $1: $(head -c 200 "$TMP/tool.err")"
		return 1
	fi
}

# same NAME A B: files A and B are equal
same() {
	if cmp -s "$2" "$3"; then pass "$1"; else fail "$1" "$2 and $3 differ"; fi
}

# flags_are NAME FILE WANT: the container's header flags
flags_are() {
	local got
	got=$("$TOOL" flags "$2" 2>&1)
	if [ "$got" = "$3" ]; then pass "$1"; else
		fail "$1" "header flags $got, want $3"; fi
}

# --- keys -----------------------------------------------------------------

make_keys() {
	head -c 16 /dev/urandom | xxd -p -c 64 >"$TMP/k128.hex"
	head -c 32 /dev/urandom | xxd -p -c 64 >"$TMP/k256.hex"
	head -c 32 /dev/urandom | xxd -p -c 64 >"$TMP/m256.hex"
	head -c 16 /dev/urandom | xxd -p -c 64 >"$TMP/m128.hex"
	head -c 32 /dev/urandom >"$TMP/k256.bin"
	printf 'correct horse battery staple\n' >"$TMP/pw"
	head -c 16 /dev/urandom >"$TMP/nv.bin"
	K128="file=$TMP/k128.hex"
	K256="file=$TMP/k256.hex,format=hex,mode=aes-256-cbc"
	KBIN="file=$TMP/k256.bin,format=binary,mode=aes-256-cbc"
	M128="file=$TMP/m128.hex,mode=aes-cbc"
	M256="file=$TMP/m256.hex,mode=aes-256-cbc"
	PBKDF2="pwdfile=$TMP/pw,mode=aes-256-cbc"
	SHA512="pwdfile=$TMP/pw,kdf=sha512"
	PBKDF2_128="pwdfile=$TMP/pw,kdf=pbkdf2,mode=aes-128-cbc"
}

# A plain state with an NV index in it: $TMP/ref.plain
make_reference() {
	start_tpm "$TMP/ref" --flags not-need-init,startup-clear || {
		fail setup "cannot start swtpm"
		return 1
	}
	if ! tss tpm2_nvdefine "$NV" -C o -s 16 -a "ownerread|ownerwrite" \
		>"$TMP/tss.err" 2>&1 ||
		! tss tpm2_nvwrite "$NV" -C o -i "$TMP/nv.bin" \
			>>"$TMP/tss.err" 2>&1; then
		fail setup "cannot put the NV index: $(head -c 200 "$TMP/tss.err")"
		stop_tpm
		return 1
	fi
	stop_tpm
	tool setup unwrap-file - "$TMP/ref/tpm2-00.permall" "$TMP/ref.plain"
}

# --- (a) swtpm's files, our reader ---------------------------------------

# swtpm_wrote NAME KEY FLAGS: a fresh swtpm encrypts its state with KEY;
# we decrypt the file to what swtpm_ioctl --save hands out in the clear.
swtpm_wrote() {
	local name=$1 key=$2 flags=$3 d=$TMP/a-$1
	if ! start_tpm "$d" --key "$key" --flags not-need-init,startup-clear; then
		fail "swtpm-file-$name" "swtpm did not start"
		return
	fi
	# no migration key: --save gives header + MIGRATION_DATA(DATA(plain))
	ctl --save permanent "$d.save" >/dev/null 2>&1
	cp "$d/tpm2-00.permall" "$d.file"
	stop_tpm
	flags_are "swtpm-file-$name-flags" "$d.file" "$flags"
	tool "swtpm-file-$name" unwrap-file "$key" "$d.file" "$d.ours" &&
		tool "swtpm-file-$name" unwrap-migration - - "$d.save" "$d.theirs" &&
		same "swtpm-file-$name-decrypts-to-swtpm-plaintext" "$d.ours" "$d.theirs"
	if "$TOOL" unwrap-file "$OTHER_KEY" "$d.file" "$d.x" 2>/dev/null; then
		fail "swtpm-file-$name-wrong-key" "a wrong key was taken"
	else
		pass "swtpm-file-$name-wrong-key-refused"
	fi
}

# --- (b) our files, swtpm's reader ---------------------------------------

# swtpm_takes NAME KEY OP: our file (blobtool OP) under KEY; swtpm with KEY
# starts on it and the NV index reads back; then what swtpm wrote back
# still decrypts with our reader.
swtpm_takes() {
	local name=$1 key=$2 op=$3 d=$TMP/b-$1
	mkdir -p "$d"
	tool "ours-$name" "$op" "$key" "$TMP/ref.plain" "$d/tpm2-00.permall" ||
		return
	cp "$d/tpm2-00.permall" "$d.file"
	tool "ours-$name-reread" unwrap-file "$key" "$d.file" "$d.back" &&
		same "ours-$name-reread" "$d.back" "$TMP/ref.plain"
	if ! start_tpm "$d" --key "$key" --flags not-need-init,startup-clear; then
		fail "ours-$name-taken-by-swtpm" "swtpm did not start: $(tail -n 3 "$d.log")"
		return
	fi
	nv_reads_back "ours-$name-taken-by-swtpm"
	stop_tpm
	tool "ours-$name-swtpm-rewrote" unwrap-file "$key" \
		"$d/tpm2-00.permall" "$d.rewritten" &&
		pass "ours-$name-swtpm-rewrote-readable"
}

# swtpm refuses our file under another key: the file really is encrypted
swtpm_refuses_wrong_key() {
	local d=$TMP/b-wrongkey
	mkdir -p "$d"
	tool swtpm-refuses-wrong-key wrap-file "$K128" "$TMP/ref.plain" \
		"$d/tpm2-00.permall" || return
	if ! start_tpm "$d" --key "$M128"; then
		fail swtpm-refuses-wrong-key "swtpm did not start"
		return
	fi
	if ctl -i >/dev/null 2>&1; then
		fail swtpm-refuses-wrong-key "swtpm initialized on a wrong key"
	else
		pass swtpm-refuses-wrong-key
	fi
	stop_tpm
}

# --- (c) migration blobs ---------------------------------------------------

# swtpm_migration_out NAME FKEY MKEY WRONG DEC-FLAGS ENC-FLAGS: swtpm with
# both keys hands out its state; we open the blob, decrypted (as
# swtpm_ioctl asks) and still under the state key, and refuse it under the
# WRONG migration key.
#
# The encrypted GET goes first: swtpm 0.7 keeps one IV buffer that only
# grows, and once it has rolled a 32-byte IV, encrypting with a 16-byte key
# fails with TPM_ENCRYPT_ERROR (the IV TLV must be key-sized).  So with a
# 128-bit state key and a 256-bit migration key only this order works, and
# a 256-bit state key with a 128-bit migration key never does.
swtpm_migration_out() {
	local name=$1 fkey=$2 mkey=$3 wrong=$4 want_dec=$5 want_enc=$6
	local d=$TMP/c-$1
	mkdir -p "$d"
	tool "swtpm-migration-$name" wrap-file "$fkey" "$TMP/ref.plain" \
		"$d/tpm2-00.permall" || return
	if ! start_tpm "$d" --key "$fkey" --migration-key "$mkey" \
		--flags not-need-init,startup-clear; then
		fail "swtpm-migration-$name" "swtpm did not start"
		return
	fi
	"$TOOL" get-stateblob "tcp:$((PORT + 1))" 1 encrypted "$d.enc" \
		>"$d.encflag" 2>&1
	ctl --save permanent "$d.dec" >/dev/null 2>&1
	cp "$d/tpm2-00.permall" "$d.file"
	stop_tpm
	tool "swtpm-migration-$name" unwrap-file "$fkey" "$d.file" "$d.state" ||
		return
	flags_are "swtpm-migration-$name-decrypted-flags" "$d.dec" "$want_dec"
	tool "swtpm-migration-$name-decrypted" unwrap-migration - "$mkey" \
		"$d.dec" "$d.dec.plain" &&
		same "swtpm-migration-$name-decrypted-opens" "$d.dec.plain" "$d.state"
	flags_are "swtpm-migration-$name-encrypted-flags" "$d.enc" "$want_enc"
	if [ "$(cat "$d.encflag")" = encrypted ]; then
		pass "swtpm-migration-$name-reply-flagged-encrypted"
	else
		fail "swtpm-migration-$name-reply-flagged-encrypted" \
			"$(head -c 200 "$d.encflag")"
	fi
	tool "swtpm-migration-$name-encrypted" unwrap-migration -e "$fkey" \
		"$mkey" "$d.enc" "$d.enc.plain" &&
		same "swtpm-migration-$name-encrypted-opens" "$d.enc.plain" "$d.state"
	if [ ! -s "$d.dec" ] ||
		"$TOOL" unwrap-migration - "$wrong" "$d.dec" "$d.x" 2>/dev/null; then
		fail "swtpm-migration-$name-wrong-key" "a wrong key was taken"
	else
		pass "swtpm-migration-$name-wrong-key-refused"
	fi
}

# swtpm_migration_in NAME FKEY MKEY BLOB-FKEY: our blob (inner layer under
# BLOB-FKEY, or plain with "-") is loaded into a stopped swtpm with both
# keys; after INIT the NV index reads back.
swtpm_migration_in() {
	local name=$1 fkey=$2 mkey=$3 inner=$4 d=$TMP/c-in-$1
	tool "ours-migration-$name" wrap-migration "$inner" "$mkey" \
		"$TMP/ref.plain" "$d.blob" || return
	if ! start_tpm "$d" --key "$fkey" --migration-key "$mkey"; then
		fail "ours-migration-$name" "swtpm did not start"
		return
	fi
	if ! ctl --load permanent "$d.blob" >"$d.err" 2>&1 ||
		! ctl -i >>"$d.err" 2>&1 ||
		! tss tpm2_startup -c >>"$d.err" 2>&1; then
		fail "ours-migration-$name-taken-by-swtpm" "$(head -c 200 "$d.err")"
	else
		nv_reads_back "ours-migration-$name-taken-by-swtpm"
	fi
	stop_tpm
}

# A version-1 migration blob (older swtpm releases), its key from a
# passphrase with kdf=sha512: Debian's swtpm takes it, and so does cuse_tpm
# (finding 3; it answered 0x2e before).
legacy_migration_in() {
	local name=$1 mkey=$2 bin d
	tool "legacy-migration-$name" wrap-legacy-migration "$mkey" \
		"$TMP/ref.plain" "$TMP/legacy-$name.blob" || return
	for bin in swtpm "$ROOT/build/cuse_tpm"; do
		d=$TMP/legacy-$name-${bin##*/}
		if ! TPM_BIN=$bin start_tpm "$d" --migration-key "$mkey"; then
			fail "legacy-migration-$name-${bin##*/}" "did not start"
			continue
		fi
		if ! ctl --load permanent "$TMP/legacy-$name.blob" >"$d.err" 2>&1 ||
			! ctl -i >>"$d.err" 2>&1 ||
			! tss tpm2_startup -c >>"$d.err" 2>&1; then
			fail "legacy-migration-$name-taken-by-${bin##*/}" "$(head -c 200 "$d.err")"
		else
			nv_reads_back "legacy-migration-$name-taken-by-${bin##*/}"
		fi
		stop_tpm
	done
}

swtpm_refuses_wrong_migration_key() {
	local d=$TMP/c-in-wrongkey
	tool ours-migration-wrong-key wrap-migration - "$M256" \
		"$TMP/ref.plain" "$d.blob" || return
	if ! start_tpm "$d" --migration-key "$K256"; then
		fail swtpm-refuses-wrong-migration-key "swtpm did not start"
		return
	fi
	if ctl --load permanent "$d.blob" >/dev/null 2>&1; then
		fail swtpm-refuses-wrong-migration-key "swtpm loaded the blob"
	else
		pass swtpm-refuses-wrong-migration-key
	fi
	stop_tpm
}

# --- run --------------------------------------------------------------------

make_keys
if make_reference; then
	OTHER_KEY=$M256
	swtpm_wrote aes128 "$K128" 0x01
	swtpm_wrote aes256 "$K256" 0x09
	swtpm_wrote binary256 "$KBIN" 0x09
	swtpm_wrote pwd-pbkdf2 "$PBKDF2" 0x09
	swtpm_wrote pwd-sha512 "$SHA512" 0x01
	OTHER_KEY=$M128
	swtpm_wrote pwd-pbkdf2-128 "$PBKDF2_128" 0x01

	swtpm_takes aes128 "$K128" wrap-file
	swtpm_takes aes256 "$K256" wrap-file
	swtpm_takes pwd-pbkdf2 "$PBKDF2" wrap-file
	swtpm_takes pwd-sha512 "$SHA512" wrap-file
	swtpm_takes legacy-v1 "$K128" wrap-legacy
	swtpm_takes no-iv-128 "$K128" wrap-noiv
	swtpm_takes no-iv-256 "$K256" wrap-noiv
	swtpm_refuses_wrong_key

	# flags: MIGRATION_DATA 0x04, MIGRATION_ENCRYPTED 0x02, its 256-bit
	# 0x10; ENCRYPTED 0x01 and its 256-bit 0x08 when the inner layer stays
	swtpm_migration_out k128-m256 "$K128" "$M256" "$K256" 0x16 0x17
	swtpm_migration_out k128-m128 "$K128" "$M128" "$K128" 0x06 0x07
	swtpm_migration_out k256-m256 "$K256" "$M256" "$K256" 0x16 0x1f
	swtpm_migration_out same-key "$K256" "$K256" "$M256" 0x16 0x1f
	swtpm_migration_in inner-plain "$K128" "$M256" -
	swtpm_migration_in inner-encrypted "$K128" "$M256" "$K128"
	swtpm_migration_in k256-m128 "$K256" "$M128" "$K256"
	swtpm_refuses_wrong_migration_key
	legacy_migration_in sha512-128 "$SHA512"
	legacy_migration_in sha512-256 "$SHA512,mode=aes-256-cbc"
fi

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
