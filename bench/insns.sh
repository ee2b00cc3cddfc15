#!/usr/bin/env bash
# bench/insns.sh BENCH DAEMON STATE_DIR: user-space instructions per command
# of a socket server, counted by callgrind, for cuse_tpm socket and Debian's
# swtpm socket.  Unlike time, a count does not move with other load on the
# machine, so it shows what a change to the data path saves.
#
# Each server runs twice under callgrind, serving SHORT and then LONG
# GetRandom(32) commands from `bench loop`; the difference of the two totals
# over LONG - SHORT is one command's cost without start-up and shutdown.
# libtpms' own share (TPMLIB_Process, inclusive) is counted the same way.
# One result line per server:
#
#     insn host KIND GetRandom per_cmd=N libtpms=N
set -uo pipefail

bench=$1 daemon=$2 state=$3
short=100 long=1100
flags=not-need-init,startup-clear
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The total and TPMLIB_Process' inclusive count of one callgrind output.
counts() { # FILE
	callgrind_annotate --inclusive=yes "$1" 2>/dev/null | awk '
		/PROGRAM TOTALS/ { gsub(",", "", $1); total = $1 }
		/TPMLIB_Process/ && !lib { gsub(",", "", $1); lib = $1 }
		END { print total + 0, lib + 0 }'
}

# Runs KIND's server under callgrind for N commands; prints its counts.
count_run() { # KIND N
	local kind=$1 n=$2 dir=$work/$1-$2 sock=$work/$1-$2.sock pid i
	local server=(swtpm socket)
	[[ $kind == socket ]] && server=("$daemon" socket --seccomp action=none)
	cp -r "$state" "$dir"
	valgrind --tool=callgrind --callgrind-out-file="$dir.cg" \
		"${server[@]}" --tpm2 --tpmstate "dir=$dir" \
		--server "type=unixio,path=$sock" \
		--ctrl "type=unixio,path=$sock.ctrl" --flags "$flags" \
		>/dev/null 2>&1 &
	pid=$!
	for ((i = 0; i < 300; i++)); do
		[[ -S $sock ]] && break
		sleep 0.05
	done
	"$bench" loop "unix:$sock" "$n" || echo "error host insns: $kind loop failed" >&2
	kill -TERM "$pid"
	wait "$pid"
	counts "$dir.cg"
}

command -v valgrind >/dev/null || {
	echo "error host insns: no valgrind"
	exit 0
}
for kind in socket swtpm; do
	read -r t1 l1 < <(count_run "$kind" "$short")
	read -r t2 l2 < <(count_run "$kind" "$long")
	if ((t2 > t1)); then
		echo "insn host $kind GetRandom per_cmd=$(((t2 - t1) / (long - short))) libtpms=$(((l2 - l1) / (long - short)))"
	else
		echo "error host insns: $kind counted nothing"
	fi
done
