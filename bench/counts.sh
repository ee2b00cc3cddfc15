#!/usr/bin/env bash
# Counts per command that other load on the machine does not change, in the
# test VM: the system calls (strace -c -f) and context switches of the
# daemon's device and of the bare CUSE floor devices (bench/cuse_floor.c),
# for a blocking client and an O_NONBLOCK + poll one.  Where latency on a
# shared machine is noise, these say where a command's time goes.
#
#   bench/counts.sh          boots the VM and prints the counts
#   bench/counts.sh guest    the part inside the VM
#
# Environment: BUILD (default build), COUNT_N (commands per count, 500).
set -uo pipefail

cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." || exit 1
BUILD=${BUILD:-build}
bench=$BUILD/bench/bench
floor=$BUILD/bench/cuse_floor
daemon=$BUILD/cuse_tpm
n=${COUNT_N:-500}

# The process's context switches, summed over its threads: "VOL INVOL".
switches() { # PID
	cat /proc/"$1"/task/*/status 2>/dev/null | awk '
		/^voluntary_ctxt_switches/ { v += $2 }
		/^nonvoluntary_ctxt_switches/ { i += $2 }
		END { print v + 0, i + 0 }'
}

# count LABEL PID /dev/NAME [poll]: one line of counts per command.
count() {
	local label=$1 pid=$2 dev=$3 mode=${4:-} v0 i0 v1 i1 out tasks
	out=$(mktemp)
	"$bench" loop "$dev" 20 ${mode:+"$mode"} || return 1 # warm
	read -r v0 i0 <<<"$(switches "$pid")"
	"$bench" loop "$dev" "$n" ${mode:+"$mode"} || return 1
	read -r v1 i1 <<<"$(switches "$pid")"
	strace -f -c -o "$out" -p "$pid" &
	local st=$!
	sleep 1
	"$bench" loop "$dev" "$n" ${mode:+"$mode"}
	sleep 0.2
	kill -INT "$st"
	wait "$st" 2>/dev/null
	tasks=(/proc/"$pid"/task/*)
	awk -v l="$label" -v m="${mode:-block}" -v t="${#tasks[@]}" \
		-v v="$((v1 - v0))" -v i="$((i1 - i0))" -v n="$n" 'BEGIN {
		printf "%-16s %-6s threads=%d vcsw/cmd=%.2f ivcsw/cmd=%.2f\n", l, m, t, v / n, i / n }'
	awk -v n="$n" 'NR > 2 && $1 ~ /^[0-9.]+$/ && NF >= 5 {
		calls = $4; err = NF == 6 ? $5 : 0; name = $NF
		printf "    %-18s %7.2f/cmd%s\n", name, calls / n, err ? sprintf(" (%d errors)", err) : ""
	}' "$out"
	rm -f "$out"
}

guest() {
	local st pid fst fmt
	st=$(mktemp -d)
	"$bench" mkstate "$st" >/dev/null || exit 1
	"$daemon" -n vtpm-count --tpmstate "dir=$st" --pid "file=$st.pid" \
		--flags not-need-init,startup-clear || exit 1
	pid=$(cat "$st.pid")
	"$floor" floor-st st & fst=$!
	"$floor" floor-mt mt & fmt=$!
	for _ in $(seq 100); do
		[[ -e /dev/floor-st && -e /dev/floor-mt ]] && break
		sleep 0.05
	done
	echo "counts per command, $n GetRandom(32) each (strace -c -f on the server)"
	for mode in "" poll; do
		count floor-st "$fst" /dev/floor-st $mode
		count floor-mt "$fmt" /dev/floor-mt $mode
		count cuse_tpm "$pid" /dev/vtpm-count $mode
	done
	kill "$fst" "$fmt" "$pid"
	wait "$fst" "$fmt" 2>/dev/null
}

case ${1:-} in
guest) guest ;;
"")
	VM_OUT=$(mktemp -d) tests/vm/vm.sh run --timeout 900 --mem 1024 \
		--env "BUILD=$BUILD" --env "COUNT_N=$n" -- bench/counts.sh guest
	;;
*)
	echo "usage: bench/counts.sh [guest]" >&2
	exit 2
	;;
esac
