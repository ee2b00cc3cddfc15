# shellcheck shell=bash disable=SC2154
# ($bench, $out and the helpers are run.sh's.)
# Sourced by bench/run.sh: the resource-managed node against Debian's
# tpm2-abrmd on the raw node, the two ways to share one vTPM among many
# clients (issue 15).  One daemon serves both: tpm2-abrmd holds its raw node
# /dev/vtpm-rmcmp, the RM clients open /dev/vtpmrm-rmcmp; the paths take
# turns, so they share the same TPM and the same noise.  Uses run.sh's
# $bench, $raw, measure and the stop helpers.
#
#   bench/run.sh abrmd    this comparison alone: boots the VM, prints its table

# rm_vs_abrmd: inside the VM, appends the "rmcmp" result lines to $raw.
rm_vs_abrmd() {
	local name=vtpm-rmcmp dir=/tmp/bench-rmcmp bus_pid abrmd_pid i
	local tcti=tabrmd:bus_type=session
	rm -rf "$dir" && mkdir -p "$dir"
	if ! start_vtpm "$name" "$dir"; then
		echo "error vm rmcmp: the daemon did not start" >>"$raw"
		return
	fi
	# the guest runs no D-Bus: a session bus of our own
	export DBUS_SESSION_BUS_ADDRESS=unix:path=/tmp/bench-rmcmp.bus
	if bus_pid=$(dbus-daemon --session --address="$DBUS_SESSION_BUS_ADDRESS" \
		--fork --nopidfile --print-pid); then
		tpm2-abrmd --session --allow-root --tcti="device:/dev/$name" \
			>/tmp/bench-rmcmp.log 2>&1 &
		abrmd_pid=$!
		for ((i = 0; i < 100; i++)); do
			tpm2_getrandom -T "$tcti" 8 >/dev/null 2>&1 && break
			sleep 0.2
		done
		measure "vm: RM node against tpm2-abrmd" "$bench" rmcmp \
			"rm-direct=direct:/dev/vtpmrm-${name#vtpm-}" \
			"rm=device:/dev/vtpmrm-${name#vtpm-}" "abrmd=$tcti"
		kill -TERM "$abrmd_pid" 2>/dev/null
		wait "$abrmd_pid" 2>/dev/null
		kill -TERM "$bus_pid" 2>/dev/null
	else
		echo "error vm rmcmp: dbus-daemon did not start" >>"$raw"
	fi
	unset DBUS_SESSION_BUS_ADDRESS
	stop_vtpm "$name"
	rm -rf "$dir" /tmp/bench-rmcmp.log
}

# bench/run.sh guest-abrmd: the VM side of "bench/run.sh abrmd".
rm_vs_abrmd_guest() {
	local raw=$VM_OUT/raw-vm.txt
	: >"$raw"
	guest_info >>"$raw"
	rm_vs_abrmd
}

# bench/run.sh abrmd: the comparison alone, with its table.
rm_vs_abrmd_only() {
	local raw=$out/raw-host.txt vmraw=$out/vm/raw-vm.txt rc=0
	renice -n -10 -p $$ >/dev/null 2>&1 || :
	mkdir -p "$out"
	rm -rf "$out/vm"
	host_info >"$raw"
	host_load before >>"$raw"
	progress "booting the VM"
	VM_OUT=$out/vm tests/vm/vm.sh run --timeout 900 --mem 1024 \
		--env "BUILD=$BUILD" --env "BENCH_SCALE=${BENCH_SCALE:-1}" \
		-- bench/run.sh guest-abrmd || rc=$?
	host_load after >>"$raw"
	((rc)) && echo "error vm the VM part ended with status $rc" >>"$raw"
	awk -f bench/abrmd.awk -f <(echo 'END { rmcmp_print() }') \
		"$raw" "$vmraw" 2>/dev/null | tee "$out/results-abrmd.txt"
	if grep -qh '^error' "$raw" "$vmraw" 2>/dev/null; then
		grep -h '^error' "$raw" "$vmraw" >&2
		return 1
	fi
}
