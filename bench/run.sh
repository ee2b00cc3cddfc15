#!/usr/bin/env bash
# `make bench`: measures, then prints the table and writes it, with the
# machine it ran on, to $BUILD/bench/results.txt.
#
# The host kernel has no CUSE, so the device is measured in the test VM (a
# QEMU TCG guest, see tests/vm/vm.sh).  Emulation slows everything there, so
# every path a device figure is compared with (the in-process limit, the core,
# the socket servers) is measured again in the same guest run: ratios compare
# like with like.  The host runs the paths that need no CUSE, labelled "host".
#
#   bench/run.sh          host part, VM part, report
#   bench/run.sh guest    the VM part (vm.sh runs it inside the guest)
#   bench/run.sh abrmd    only the RM node against tpm2-abrmd (bench/abrmd.sh)
#
# Environment: BUILD (default build), BENCH_SCALE (multiplies the iteration
# counts, default 1), BENCH_ROUNDS (rounds of figure 1's small commands,
# default 8), BENCH_KEY_ROUNDS (how many of them also generate keys, and
# rounds of the NV_Write loops, default 2), CC (named in the report).  No figure fails the run; a
# measurement that breaks does, after the table is printed.
set -uo pipefail

cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." || exit 1
BUILD=${BUILD:-build}
out=$BUILD/bench
bench=$out/bench
daemon=$BUILD/cuse_tpm
golden=$out/golden
flags=not-need-init,startup-clear
floor=$out/cuse_floor
runs=7 # start-ups per median, of each server
rounds=${BENCH_ROUNDS:-8}
key_rounds=${BENCH_KEY_ROUNDS:-2}
fleet=50

env_name=host
[[ ${VM_GUEST:-} == 1 ]] && env_name=vm

progress() { printf 'bench: %s\n' "$*" >&2; }

# measure NAME COMMAND...: appends COMMAND's result lines to $raw; a failure
# becomes an "error" line there, which fails the run in the end.
measure() {
	local name=$1 start=$SECONDS
	shift
	if ! "$@" >>"$raw"; then
		echo "error $env_name $name failed" >>"$raw"
	fi
	progress "$name ($((SECONDS - start)) s)"
}

# A fresh copy of the common starting state in DIR.
fresh_state() {
	rm -rf "$1"
	cp -r "$golden" "$1"
	rm -f "$1/.lock"
}

# A process's peak RSS, RSS and PSS in kB: "HWM RSS PSS".  RSS and PSS come
# from smaps_rollup, which walks the page tables: status' VmRSS (and VmHWM)
# are per-thread cached counters on kernels before 6.2, and may lag.
memory_kb() { # PID
	local h r p
	h=$(awk '/^VmHWM:/ { print $2 }' "/proc/$1/status")
	r=$(awk '/^Rss:/ { print $2 }' "/proc/$1/smaps_rollup")
	p=$(awk '/^Pss:/ { print $2 }' "/proc/$1/smaps_rollup")
	echo "${h:-0} ${r:-0} ${p:-0}"
}

memory_of() { # PID: the key=value form of the result lines
	local h r p a
	read -r h r p <<<"$(memory_kb "$1")"
	a=$(awk '/^Anonymous:/ { print $2 }' "/proc/$1/smaps_rollup")
	echo "hwm_kb=$h rss_kb=$r pss_kb=$p anon_kb=${a:-0}"
}

# Waits for the process and PATH (its device node or socket) to go.
wait_gone() { # PID PATH
	local i
	for ((i = 0; i < 400; i++)); do
		if ! kill -0 "$1" 2>/dev/null && [[ ! -e $2 ]]; then
			return 0
		fi
		sleep 0.05
	done
	progress "warning: pid $1 ($2) did not stop"
	return 1
}

stop_pidfile() { # PIDFILE PATH
	local pid
	pid=$(cat "$1" 2>/dev/null) || return 1
	kill -TERM "$pid" 2>/dev/null
	wait_gone "$pid" "$2" && rm -f "$1"
}

# start_vtpm NAME DIR [TPMSTATE-SUBOPTIONS]: returns once /dev/NAME opens.
start_vtpm() {
	"$daemon" -n "$1" --tpmstate "dir=$2${3:+,$3}" --pid "file=/tmp/$1.pid" \
		--flags "$flags"
}
stop_vtpm() { stop_pidfile "/tmp/$1.pid" "/dev/$1"; }

# Sets server_args to start a socket server KIND (swtpm: Debian's swtpm;
# swtpm-mt: the same with one idle thread more, bench/onethread.c; socket:
# ours) on unix sockets, returning once it serves.
set_server_args() { # KIND DIR SOCKET
	case $1 in
	swtpm) server_args=(swtpm socket --tpm2 --daemon) ;;
	swtpm-mt) server_args=(env "LD_PRELOAD=$PWD/$out/onethread.so"
		swtpm socket --tpm2 --daemon) ;;
	socket) server_args=("$daemon" socket --tpm2 --daemon) ;;
	esac
	server_args+=(--tpmstate "dir=$2" --pid "file=$2.pid"
		--server "type=unixio,path=$3" --ctrl "type=unixio,path=$3.ctrl"
		--flags "$flags")
}

# Our socket channel, where this build of the daemon has one.  grep reads
# the whole help: with -q it could leave at the first match and the daemon,
# still writing, would die of SIGPIPE, which pipefail takes for a no.
have_socket() { "$daemon" socket --help 2>&1 | grep -- --server >/dev/null; }

# The socket servers to measure: swtpm always, ours where it exists.
socket_kinds() {
	echo swtpm
	have_socket && echo socket
}

# The socket servers of the command rounds: those, and swtpm-mt.
workload_kinds() {
	socket_kinds
	echo swtpm-mt
}

# ---- what both sides measure ----------------------------------------------

# Starts socket server KIND on a fresh state; prints its socket.
start_server() { # ENV KIND
	local dir=/tmp/bench-$2 sock=/tmp/bench-$2.sock
	fresh_state "$dir"
	set_server_args "$2" "$dir" "$sock"
	if ! "${server_args[@]}" >/dev/null; then
		echo "error $1 $2 server did not start" >>"$raw"
		return 1
	fi
	echo "$sock"
}

stop_server() { # ENV KIND
	local dir=/tmp/bench-$2
	echo "mem $1 $2 after-workload $(memory_of "$(cat "$dir.pid")")" >>"$raw"
	stop_pidfile "$dir.pid" "/tmp/bench-$2.sock"
	rm -rf "$dir"
}

# Figure 1 through every path (the DEVICE paths too if given: "device:/dev/X"
# or "LABEL=device:/dev/X", each with @PID), in rounds.  One bench process
# runs the limit in-process and drives the devices and the socket servers,
# all taking turns block by block, so that other load on the host slows them
# alike.  The core needs a libtpms of its own, hence a process of its own.
# The first $key_rounds rounds also generate keys; the others run the small
# commands only.
workload_rounds() { # ENV [DEVICE-PATH...]
	local env=$1 r kind sock small paths=()
	shift
	for kind in $(workload_kinds); do
		sock=$(start_server "$env" "$kind") &&
			paths+=("$kind=unix:$sock@$(cat "/tmp/bench-$kind.pid")")
	done
	paths+=("$@")
	for ((r = 1; r <= rounds; r++)); do
		small=()
		((r > key_rounds)) && small=(--small)
		measure "$env: round-trip floor, round $r" "$bench" floor
		fresh_state /tmp/bench-core
		measure "$env: core (no front end), round $r" \
			"$bench" run "${small[@]}" core:/tmp/bench-core
		measure "$env: limit, devices, sockets (taking turns), round $r" \
			"$bench" run "${small[@]}" "limit:$golden" "${paths[@]}"
	done
	rm -rf /tmp/bench-core
	for kind in $(workload_kinds); do
		[[ -s /tmp/bench-$kind.pid ]] && stop_server "$env" "$kind"
	done
}

# libtpms' own initialisation, loading the programs, and the servers'
# start-up: the socket servers', and in the VM the CUSE daemon's, with and
# without its resource-managed node.  The servers take turns, start by
# start: a guest's speed drifts by more than what they differ in.
startup_common() { # ENV
	local env=$1 kind startup_args=()
	measure "$env: libtpms init" "$bench" init "$runs" "$golden"
	measure "$env: loading cuse_tpm" "$bench" exec daemon "$runs" -- "$daemon" --version
	measure "$env: loading swtpm" "$bench" exec swtpm "$runs" -- swtpm --version
	for kind in $(socket_kinds); do
		add_socket_start "$kind"
	done
	if [[ $env == vm ]]; then
		add_daemon_start daemon vtpm-bsa
		# the same without the resource-managed node: what it costs
		add_daemon_start daemon-rm-off vtpm-bsb --rm-node off
	fi
	measure "$env: start-up" "$bench" startup "$runs" "${startup_args[@]:1}"
	rm -rf /tmp/bench-swtpm* /tmp/bench-socket* /tmp/bench-daemon* /tmp/vtpm-bs?.pid
}

# Appends a socket server KIND to startup_args.
add_socket_start() { # KIND
	local dir=/tmp/bench-$1 sock=/tmp/bench-$1.sock
	set_server_args "$1" "$dir" "$sock"
	startup_args+=(";" "$1" "unix:$sock" "$dir" "$dir.pid" -- "${server_args[@]}")
}

# Appends the daemon, as LABEL serving /dev/NAME, to startup_args.
add_daemon_start() { # LABEL NAME [OPTION...]
	local label=$1 name=$2 dir=/tmp/bench-$1
	shift 2
	startup_args+=(";" "$label" "/dev/$name" "$dir" "/tmp/$name.pid" --
		"$daemon" -n "$name" --tpmstate "dir=$dir" --pid "file=/tmp/$name.pid"
		--flags "$flags" "$@")
}

# ---- inside the VM ---------------------------------------------------------

# The floor devices (bench/cuse_floor.c): one per libfuse loop, the
# multi-threaded one with libtpms inside ("tpm": the least a CUSE TPM can
# be), and the same handing each command to a worker thread as swtpm's CUSE
# mode does ("handoff"); sets floor_paths to their paths for "bench run" and
# floor_pids.
start_floors() {
	local loop pid i with
	floor_paths=()
	floor_pids=()
	for loop in st mt tpm handoff; do
		if [[ $loop == tpm || $loop == handoff ]]; then
			with=tpm
			[[ $loop == handoff ]] && with=tpm-handoff
			rm -rf "/tmp/bench-floor-$loop"
			mkdir -p "/tmp/bench-floor-$loop"
			"$floor" "floor-$loop" mt "$with" "/tmp/bench-floor-$loop" &
		else
			"$floor" "floor-$loop" "$loop" &
		fi
		pid=$!
		for ((i = 0; i < 200; i++)); do
			[[ -e /dev/floor-$loop ]] && break
			sleep 0.05
		done
		if [[ -e /dev/floor-$loop ]]; then
			floor_paths+=("floor-$loop=device:/dev/floor-$loop@$pid")
			floor_pids[pid]=floor-$loop
		else
			echo "error vm the $loop floor device did not start" >>"$raw"
			kill "$pid" 2>/dev/null
		fi
	done
}

stop_floors() {
	local pid
	for pid in "${!floor_pids[@]}"; do
		echo "mem vm ${floor_pids[pid]} after-workload $(memory_of "$pid")" >>"$raw"
		kill -TERM "$pid"
		wait "$pid" 2>/dev/null
	done
}

# Figures 1 (device rows), 3 (one daemon), 4 (state blobs) and 5.
device_figures() {
	local name=vtpm-bench dir=/tmp/bench-dev floor_paths floor_pids
	fresh_state "$dir"
	start_floors
	if ! start_vtpm "$name" "$dir"; then
		echo "error vm the daemon did not start" >>"$raw"
		workload_rounds vm "${floor_paths[@]}"
		stop_floors
		return
	fi
	workload_rounds vm "device:/dev/$name@$(cat "/tmp/$name.pid")" \
		"${floor_paths[@]}"
	stop_floors
	echo "mem vm daemon after-workload $(memory_of "$(cat "/tmp/$name.pid")")" >>"$raw"
	measure "vm: control ioctl during RSA keygen" "$bench" busy "/dev/$name"
	measure "vm: state blobs" "$bench" state "/dev/$name"
	stop_vtpm "$name"
	rm -rf "$dir"
}

# The NV_Write loop with and without fsync, on tmpfs (where fsync costs
# nothing) and on the 9p share, whose fsync reaches the host's disk.  Both
# daemons of a file system run side by side and take turns, in rounds.
durable_writes() {
	local fs base sync r up
	for fs in tmpfs 9p; do
		base=/tmp/bench-nv
		[[ $fs == 9p ]] && base=$VM_OUT/bench-nv
		up=()
		for sync in true false; do
			fresh_state "$base-$sync"
			if start_vtpm "vtpm-nv-$sync" "$base-$sync" "fsync=$sync"; then
				up+=("$sync")
			else
				echo "error vm daemon on $fs with fsync=$sync did not start" >>"$raw"
			fi
		done
		for ((r = 1; r <= key_rounds; r++)); do
			for sync in "${up[@]}"; do
				measure "vm: NV_Write loop, $fs, fsync=$sync, round $r" \
					"$bench" nvloop "/dev/vtpm-nv-$sync" "$fs-fsync-$sync"
			done
		done
		for sync in "${up[@]}"; do
			stop_vtpm "vtpm-nv-$sync"
		done
		rm -rf "$base-true" "$base-false"
	done
}

# Many vTPMs at once (vtpm-b0, ..., separate state dirs): their memory.
fleet_memory() {
	local i pid n=0 hwm=0 rss=0 pss=0 h r p pids=() nodes=() start=$SECONDS
	# one after the other: starting them side by side is slower on two vCPUs
	for ((i = 0; i < fleet; i++)); do
		mkdir -p "/tmp/fleet/$i"
		start_vtpm "vtpm-b$i" "/tmp/fleet/$i"
		pids[i]=$(cat "/tmp/vtpm-b$i.pid" 2>/dev/null)
		nodes+=("/dev/vtpm-b$i")
	done
	if ! "$bench" ping "${nodes[@]}" >/dev/null; then
		echo "error vm not every one of the $fleet daemons answered" >>"$raw"
	fi
	for pid in "${pids[@]}"; do
		[[ -n $pid ]] || continue
		read -r h r p <<<"$(memory_kb "$pid")"
		n=$((n + 1))
		hwm=$((hwm + h))
		rss=$((rss + r))
		pss=$((pss + p))
	done
	echo "mem vm fleet total n=$n hwm_kb=$hwm rss_kb=$rss pss_kb=$pss" >>"$raw"
	# all stop at once, then each is waited for
	for pid in "${pids[@]}"; do
		[[ -n $pid ]] && kill -TERM "$pid"
	done
	for i in "${!pids[@]}"; do
		[[ -n ${pids[i]} ]] && wait_gone "${pids[i]}" "/dev/vtpm-b$i"
	done
	rm -rf /tmp/fleet
	progress "vm: $fleet daemons at once ($((SECONDS - start)) s)"
}

guest_info() {
	echo "info guest_kernel $(uname -srm)"
	echo "info guest_cpu $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) vCPU, $(awk '/^MemTotal/ { printf "%d MiB", $2 / 1024 }' /proc/meminfo)"
}

# $raw, where the result lines go, is local to guest() and host() and seen by
# every function they call.
guest() {
	local raw=$VM_OUT/raw-vm.txt
	: >"$raw"
	guest_info >>"$raw"
	# the golden state lies on the read-only root: work on copies
	cp -r "$golden" /tmp/bench-golden
	golden=/tmp/bench-golden
	# Everything device_figures measures (the device, its floors, the
	# socket servers) runs on vCPU 0: in TCG a wake-up across vCPUs costs
	# about 100 us, more than the differences measured, and the more the
	# more thread switches a design makes.  The other figures run unpinned.
	taskset -pc 0 $$ >/dev/null
	device_figures
	taskset -pc "0-$(($(nproc) - 1))" $$ >/dev/null
	rm_vs_abrmd
	startup_common vm
	durable_writes
	fleet_memory
}

# the RM node against tpm2-abrmd: rm_vs_abrmd and the "abrmd" mode
# shellcheck source=bench/abrmd.sh
. bench/abrmd.sh

# ---- on the host -------------------------------------------------------------

host_info() {
	local ver
	echo "info date $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "info host_kernel $(uname -srm)"
	echo "info host_cpu $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) cores, $(awk '/^MemTotal/ { printf "%d MiB", $2 / 1024 }' /proc/meminfo)"
	ver=$(dpkg-query -W -f='${Version}' libtpms0 2>/dev/null)
	echo "info libtpms ${ver:-?} ($("$daemon" --version 2>/dev/null | sed -n 's/.*(libtpms \(.*\))/\1/p'))"
	echo "info swtpm $(swtpm --version 2>/dev/null | head -n 1)"
	echo "info qemu $(qemu-system-x86_64 --version 2>/dev/null | head -n 1)"
	echo "info cuse_tpm $("$daemon" --version 2>/dev/null)"
	echo "info cc $("${CC:-cc}" --version 2>/dev/null | head -n 1)"
	echo "info scale BENCH_SCALE=${BENCH_SCALE:-1}, BENCH_ROUNDS=$rounds, BENCH_KEY_ROUNDS=$key_rounds"
}

# Other load on the host slows the guest's vCPUs at random: say how much
# there was.
host_load() { # WHEN
	echo "info load_$1 $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min load average, $(nproc) cores)"
}

host() {
	local raw=$out/raw-host.txt vmraw=$out/vm/raw-vm.txt rc=0
	# Other jobs on the host take the CPU from the guest at random: ask for
	# more of it (as root; where refused, nothing changes).  Children, QEMU
	# among them, inherit the priority.
	renice -n -10 -p $$ >/dev/null 2>&1 || :
	mkdir -p "$out"
	rm -rf "$golden" "$out/vm"
	if ! "$bench" mkstate "$golden" >/dev/null; then
		progress "error: cannot make the starting state"
		return 1
	fi
	host_info >"$raw"
	host_load before >>"$raw"
	workload_rounds host
	startup_common host
	measure "host: instructions per command" bench/insns.sh "$bench" "$daemon" "$golden"
	progress "booting the VM"
	VM_OUT=$out/vm tests/vm/vm.sh run --timeout 1500 --mem 2048 \
		--env "BUILD=$BUILD" --env "BENCH_SCALE=${BENCH_SCALE:-1}" \
		--env "BENCH_ROUNDS=$rounds" --env "BENCH_KEY_ROUNDS=$key_rounds" \
		-- bench/run.sh guest || rc=$?
	host_load after >>"$raw"
	if ((rc)); then
		progress "error: the VM part ended with status $rc"
		echo "error vm the VM part ended with status $rc" >>"$raw"
	fi
	awk -f bench/report.awk -f bench/abrmd.awk "$raw" "$vmraw" >"$out/results.txt" 2>/dev/null ||
		awk -f bench/report.awk -f bench/abrmd.awk "$raw" >"$out/results.txt"
	cat "$out/results.txt"
	echo "(written to $out/results.txt)"
	rm -rf "$golden" "$out/vm/bench-nv-true" "$out/vm/bench-nv-false"
	if grep -qh '^error' "$raw" "$vmraw" 2>/dev/null; then
		progress "some measurements failed:"
		grep -h '^error' "$raw" "$vmraw" >&2
		return 1
	fi
}

case ${1:-} in
guest) guest ;;
guest-abrmd) rm_vs_abrmd_guest ;;
abrmd) rm_vs_abrmd_only ;;
"") host ;;
*)
	echo "usage: bench/run.sh [guest|abrmd]" >&2
	exit 2
	;;
esac
