# The table of `make bench`, from the result lines of bench/run.sh:
#
#   info KEY TEXT...
#   FIGURE ENV PATH ITEM key=value ...     (see bench/bench.h)
#   error ENV TEXT...
#
# Targets follow the figures they judge, marked PASS or MISS: a MISS is
# information, never a failure.

function get(fig, env, path, item, key) {
	return val[fig, env, path, item, key]
}

function have(fig, env, path, item) {
	return (fig, env, path, item) in seen
}

function section(title) {
	printf "\n%s\n", title
	print substr("----------------------------------------------------------------------------------------------------", 1, length(title))
}

function target(ok, text) {
	printf "  %s  %s\n", ok ? "PASS" : "MISS", text
}

# ---- 1. commands ------------------------------------------------------------

# The rows of one command: every path, both environments.
function command_rows(cmd, label,    e, i, env, path, ops, lops, lp50, ratio, over) {
	for (e = 1; e <= 2; e++) {
		env = e == 1 ? "vm" : "host"
		lops = get("cmd", env, "limit", cmd, "ops")
		lp50 = get("cmd", env, "limit", cmd, "p50")
		for (i = 1; i <= npaths; i++) {
			path = paths[i]
			if (!have("cmd", env, path, cmd)) {
				if (path == "socket") {
					printf "%-24s %-4s %-14s %s\n", label, env, path, "n/a (not implemented)"
					label = ""
				}
				continue
			}
			ops = get("cmd", env, path, cmd, "ops")
			ratio = lops > 0 ? sprintf("%.3f", ops / lops) : "-"
			over = path != "limit" && lp50 != "" ? sprintf("%+.1f", get("cmd", env, path, cmd, "p50") - lp50) : "-"
			printf "%-24s %-4s %-14s %5d %11.1f %10.1f %10.1f %10.1f %7s %10s\n",
				label, env, path, get("cmd", env, path, cmd, "n"), ops,
				get("cmd", env, path, cmd, "mean"),
				get("cmd", env, path, cmd, "p50"), get("cmd", env, path, cmd, "p99"),
				ratio, over
			label = ""
		}
	}
}

function floor_line(env,    p, t) {
	p = get("floor", env, "-", "process", "p50")
	t = get("floor", env, "-", "thread", "p50")
	if (p != "")
		printf "  %-4s  between processes (socketpair) p50 %.1f us, p99 %.1f us;  between threads (condvar) p50 %.1f us, p99 %.1f us\n",
			env, p, get("floor", env, "-", "process", "p99"), t, get("floor", env, "-", "thread", "p99")
}

# Small commands through one device path: overhead, and p99 against p50.
function small_targets(path,    c, cmd, over, worst, wcmd, spread, wspread, scmd) {
	if (!have("cmd", "vm", path, "GetRandom"))
		return
	worst = -1e9
	wspread = 0
	for (c = 1; c <= ncmds; c++) {
		cmd = cmds[c]
		if (cmd ~ /^CreatePrimary/)
			continue
		over = get("cmd", "vm", path, cmd, "p50") - get("cmd", "vm", "limit", cmd, "p50")
		if (over > worst) {
			worst = over
			wcmd = cmd
		}
		spread = get("cmd", "vm", path, cmd, "p99") / get("cmd", "vm", path, cmd, "p50")
		if (spread > wspread) {
			wspread = spread
			scmd = cmd
		}
	}
	target(worst <= 200, sprintf("%s: small commands add <= 200 us (p50) over the limit: worst +%.1f us (%s)", path, worst, wcmd))
	target(wspread <= 3, sprintf("%s: small commands' p99 <= 3 x p50: worst %.2f x (%s)", path, wspread, scmd))
}

function ratio_target(path, cmd, want, text,    ops, lops) {
	ops = get("cmd", "vm", path, cmd, "ops")
	lops = get("cmd", "vm", "limit", cmd, "ops")
	if (ops == "" || lops == "")
		return
	target(ops / lops >= want, sprintf("%s: %s >= %.2f of the limit: %.3f", path, text, want, ops / lops))
}

function print_commands(    c, p, path, fuse, core) {
	section("1. Command throughput and latency")
	print "vm = the QEMU TCG guest, every vm row from the same guest run, all of it on vCPU 0; host = native,"
	print "for reference."
	print "limit = libtpms in-process, NVRAM in memory; limit-switched = the same libtpms, each command run"
	print "right after a round trip to another process (not timed), as a server's command always is: a"
	print "process switch costs the command its caches and, under TCG, its whole TLB.  core = the daemon's"
	print "core (its TPM lock and state files) without a front end; device = /dev/vtpm-bench, blocking"
	print "write+read or O_NONBLOCK+poll; socket = cuse_tpm socket's data channel; swtpm = Debian's swtpm"
	print "socket (both on unix sockets); swtpm-mt = the same swtpm with one idle thread more"
	print "(bench/onethread.c): what a second thread, which our socket channel has so that control"
	print "answers during a command, costs swtpm's own data path."
	print "x limit = ops/s over the limit's in the same environment; +p50 = p50 latency over the limit's."
	print "All paths but the core take turns in one client, ten blocks of commands each; each row is its"
	print "path's best round (most ops/s).  Every path starts from the same TPM state: the same seeds,"
	print "so the same primary keys."
	printf "\n%-24s %-4s %-14s %5s %11s %10s %10s %10s %7s %10s\n",
		"command", "env", "path", "n", "ops/s", "mean us", "p50 us", "p99 us", "x limit", "+p50 us"
	for (c = 1; c <= ncmds; c++)
		command_rows(cmds[c], labels[c])
	print "\nRound trips with no TPM work at all, the floor under every path that leaves the process:"
	floor_line("vm")
	floor_line("host")
	fuse = get("busy", "vm", "device", "idle", "p50")
	if (fuse != "")
		printf "  vm    one FUSE round trip (an idle PTM_GET_TPMESTABLISHED on the device) p50 %.1f us, p99 %.1f us\n",
			fuse, get("busy", "vm", "device", "idle", "p99")
	print "\nTargets (vm):"
	core = get("cmd", "vm", "core", "GetRandom", "p50") - get("cmd", "vm", "limit", "GetRandom", "p50")
	if (fuse != "")
		printf "  (what a blocking write+read must cost here: 2 FUSE round trips and the core's own cost,\n" \
			"   2 x %.1f + %.1f = %.0f us; O_NONBLOCK+poll adds a POLL round trip)\n",
			fuse, core, 2 * fuse + core
	for (p = 1; p <= 2; p++) {
		path = p == 1 ? "device" : "device-poll"
		small_targets(path)
		ratio_target(path, "GetRandom", 0.04, "GetRandom")
		ratio_target(path, "CreatePrimary_ECC", 0.85, "CreatePrimary ECC")
	}
}


# ---- 1b. against the floor ------------------------------------------------------

# The median of the per-round values of KEY for one path and command.
function round_median(env, path, item, key,    n, i, j, a, t) {
	n = nround[env, path, item]
	if (!n)
		return ""
	for (i = 1; i <= n; i++)
		a[i] = rv[env, path, item, key, i]
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
			t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
		}
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}

# The lowest and highest of A's KEY over B's, round by round: the paths
# take turns within a round, so each round's ratio is a fair pair, and
# their spread shows how far one median ratio can be trusted.
function round_ratio_range(env, a, b, item, key,    n, i, r, lo, hi) {
	n = nround[env, a, item]
	if (!n || nround[env, b, item] != n)
		return ""
	for (i = 1; i <= n; i++) {
		if (!rv[env, b, item, key, i])
			return ""
		r = rv[env, a, item, key, i] / rv[env, b, item, key, i]
		if (i == 1 || r < lo)
			lo = r
		if (i == 1 || r > hi)
			hi = r
	}
	return sprintf("%.2f-%.2f", lo, hi)
}

function fmt(v, f) {
	return v == "" ? "-" : sprintf(f, v)
}

# One device path against the floor devices of the same client mode.
function floor_rows(path, suffix,    c, cmd, d, f, m, t, h, l, w) {
	printf "\n%-16s %9s %9s %9s %9s %9s %9s %9s %8s %8s %8s %10s %9s\n", path " p50 us", "floor-st", "floor-mt",
		"limit", "limit-sw", "floor-tpm", "handoff", path, "x floor", "/(f+l)", "/(f+l-sw)", "/floor-tpm", "/handoff"
	for (c = 1; c <= ncmds; c++) {
		cmd = cmds[c]
		if (cmd ~ /^CreatePrimary/)
			continue
		d = round_median("vm", path, cmd, "p50")
		f = round_median("vm", "floor-st" suffix, cmd, "p50")
		m = round_median("vm", "floor-mt" suffix, cmd, "p50")
		t = round_median("vm", "floor-tpm" suffix, cmd, "p50")
		h = round_median("vm", "floor-handoff" suffix, cmd, "p50")
		l = round_median("vm", "limit", cmd, "p50")
		w = round_median("vm", "limit-switched", cmd, "p50")
		printf "%-16s %9s %9s %9s %9s %9s %9s %9s %8s %8s %8s %10s %9s\n", cmd, fmt(f, "%.1f"), fmt(m, "%.1f"),
			fmt(l, "%.1f"), fmt(w, "%.1f"), fmt(t, "%.1f"), fmt(h, "%.1f"), fmt(d, "%.1f"),
			(d != "" && f > 0) ? sprintf("%.3f", d / f) : "-",
			(d != "" && f + l > 0) ? sprintf("%.3f", d / (f + l)) : "-",
			(d != "" && w != "" && f + w > 0) ? sprintf("%.3f", d / (f + w)) : "-",
			(d != "" && t > 0) ? sprintf("%.3f", d / t) : "-",
			(d != "" && h > 0) ? sprintf("%.3f", d / h) : "-"
	}
}

# The worst small command's p50 over (@fpath's p50 [+ @lpath's, a limit]).
function floor_targets(path, fpath, lpath, want, text,    c, cmd, d, f, l, worst, wcmd, r) {
	worst = 0
	for (c = 1; c <= ncmds; c++) {
		cmd = cmds[c]
		if (cmd ~ /^(CreatePrimary|NV_Write)/)
			continue
		d = round_median("vm", path, cmd, "p50")
		f = round_median("vm", fpath, cmd, "p50")
		l = lpath != "" ? round_median("vm", lpath, cmd, "p50") : 0
		if (d == "" || f == "" || l == "")
			return
		r = d / (f + l)
		if (r > worst) {
			worst = r
			wcmd = cmd
		}
	}
	target(worst <= want, sprintf("%s: small commands' p50 <= %.2f x %s: worst %.3f (%s)",
		path, want, text, worst, wcmd))
}

# The highest median KEY (p50, cpu_us) of path A over path B's among the
# small commands in ENV, as "RATIO COMMAND"; "" if either lacks one.
function worst_ratio(env, a, b, key,    c, cmd, o, w, worst, wcmd) {
	worst = 0
	for (c = 1; c <= ncmds; c++) {
		cmd = cmds[c]
		if (cmd ~ /^CreatePrimary/)
			continue
		o = round_median(env, a, cmd, key)
		w = round_median(env, b, cmd, key)
		if (o == "" || w == "" || w <= 0)
			return ""
		if (o / w > worst) {
			worst = o / w
			wcmd = cmd
		}
	}
	return worst " " wcmd
}

# "worst R x (COMMAND; its rounds: LO-HI x)" from worst_ratio's WORST.
function worst_text(env, a, b, key, worst,    w, spread) {
	split(worst, w, " ")
	spread = round_ratio_range(env, a, b, w[2], key)
	return sprintf("worst %.3f x (%s%s)", w[1], w[2],
		spread == "" ? "" : "; its rounds: " spread " x")
}

# For the record after a socket target on KEY: what one thread more costs
# swtpm itself (swtpm-mt), and our socket channel against that.
function thread_cost(env, key,    mt) {
	mt = worst_ratio(env, "swtpm-mt", "swtpm", key)
	if (mt == "")
		return
	printf "  (%s: swtpm-mt's %s over swtpm's: %s;\n", env, key == "p50" ? "p50" : "CPU", worst_text(env, "swtpm-mt", "swtpm", key, mt)
	printf "   cuse_tpm socket's over swtpm-mt's: %s)\n",
		worst_text(env, "socket", "swtpm-mt", key, worst_ratio(env, "socket", "swtpm-mt", key))
}

# Our socket channel against swtpm's, per small command, in ENV.
function socket_targets(env,    worst) {
	worst = worst_ratio(env, "socket", "swtpm", "p50")
	if (worst == "")
		return
	target(worst + 0 <= 1, sprintf("%s: cuse_tpm socket's p50 <= swtpm socket's on every small command: %s",
		env, worst_text(env, "socket", "swtpm", "p50", worst)))
	thread_cost(env, "p50")
}

# Server CPU time per command (us) and context switches per command.
function cpu_rows(env,    c, cmd, i, path, line, have_any) {
	have_any = 0
	for (i = 1; i <= ncpu; i++)
		if (nround[env, cpupaths[i], "GetRandom"])
			have_any = 1
	if (!have_any)
		return
	printf "\n%-4s server CPU us per command (switches per command)\n", env
	printf "%-14s", "command"
	for (i = 1; i <= ncpu; i++)
		if (nround[env, cpupaths[i], "GetRandom"])
			printf " %17s", cpupaths[i]
	printf "\n"
	for (c = 1; c <= ncmds; c++) {
		cmd = cmds[c]
		line = sprintf("%-14s", cmd)
		for (i = 1; i <= ncpu; i++) {
			path = cpupaths[i]
			if (!nround[env, path, "GetRandom"])
				continue
			if (round_median(env, path, cmd, "cpu_us") == "")
				line = line sprintf(" %17s", "-")
			else
				line = line sprintf(" %8.1f (%5.2f)", round_median(env, path, cmd, "cpu_us"),
					round_median(env, path, cmd, "vcsw") + round_median(env, path, cmd, "ivcsw"))
		}
		print line
	}
}

function cpu_targets(env, path, peer, peer_text,    worst) {
	worst = worst_ratio(env, path, peer, "cpu_us")
	if (worst == "")
		return
	target(worst + 0 <= 1, sprintf("%s: %s's CPU per small command <= %s: %s",
		env, path, peer_text, worst_text(env, path, peer, "cpu_us", worst)))
}

function print_floor(    n) {
	n = nround["vm", "floor-st", "GetRandom"]
	section("1b. Against the floor and swtpm (median of the rounds' p50)")
	if (!n) {
		print "(no floor device figures: they need the VM)"
	} else {
		print "floor-st, floor-mt = a bare CUSE device (bench/cuse_floor.c) that answers with a canned response,"
		print "on libfuse's single- and multi-threaded loop: the least any CUSE device costs in this guest."
		print "floor-tpm = the multi-threaded floor with libtpms run in its write(): no state files, no checks,"
		print "no control channel, one client; the least a CUSE TPM that answers ioctls during a command costs."
		print "handoff = floor-tpm built as swtpm's CUSE mode is: write() hands the command to a worker thread"
		print "and returns, read() and poll() wait for the worker: what that design costs here, without swtpm's"
		print "own work (Debian's swtpm has no CUSE mode to run beside ours)."
		print "limit-sw = limit-switched (section 1): libtpms right after a process switch, as floor-tpm runs"
		print "it; /(f+l) and /(f+l-sw) = the path over floor-st plus limit or limit-sw."
		print "The device, the floors and the socket servers run on vCPU 0.  Each figure is the median over " n
		print "rounds of the path's p50; the paths take turns in each round."
		floor_rows("device", "")
		floor_rows("device-poll", "-poll")
	}
	cpu_rows("vm")
	cpu_rows("host")
	print "(CPU: the server's on-CPU time, user + system, summed over its threads from /proc/PID/task/*/schedstat;"
	print " switches: voluntary + involuntary context switches of its threads.  Neither grows with other load.)"
	insn_rows()
	print "\nTargets:"
	floor_targets("device", "floor-st", "limit", 1.10, "(floor-st p50 + limit p50)")
	floor_targets("device-poll", "floor-st-poll", "limit", 1.10, "(floor-st-poll p50 + limit p50)")
	floor_targets("device", "floor-st", "limit-switched", 1.10, "(floor-st p50 + limit-switched p50)")
	floor_targets("device-poll", "floor-st-poll", "limit-switched", 1.10, "(floor-st-poll p50 + limit-switched p50)")
	floor_targets("device", "floor-tpm", "", 1.10, "floor-tpm p50")
	floor_targets("device-poll", "floor-tpm-poll", "", 1.10, "floor-tpm-poll p50")
	floor_targets("device", "floor-handoff", "", 0.95, "handoff p50 (swtpm's CUSE design)")
	floor_targets("device-poll", "floor-handoff-poll", "", 0.95, "handoff-poll p50 (swtpm's CUSE design)")
	socket_targets("vm")
	socket_targets("host")
	cpu_targets("vm", "device", "swtpm", "swtpm socket's")
	cpu_targets("vm", "device", "floor-handoff", "handoff's (swtpm's CUSE design)")
	cpu_targets("vm", "device-poll", "floor-handoff-poll", "handoff-poll's (swtpm's CUSE design)")
	cpu_targets("vm", "socket", "swtpm", "swtpm socket's")
	thread_cost("vm", "cpu_us")
	cpu_targets("host", "socket", "swtpm", "swtpm socket's")
	thread_cost("host", "cpu_us")
	insn_target()
}

# callgrind's counts (bench/insns.sh): the load-independent cost of a command.
function insn_rows(    i, path, n, l) {
	if (!have("insn", "host", "socket", "GetRandom"))
		return
	print "\nhost user-space instructions per GetRandom(32) over the socket channel (callgrind, bench/insns.sh)"
	printf "%-8s %12s %12s %12s\n", "server", "per command", "libtpms", "the rest"
	for (i = 1; i <= 2; i++) {
		path = i == 1 ? "socket" : "swtpm"
		n = get("insn", "host", path, "GetRandom", "per_cmd")
		l = get("insn", "host", path, "GetRandom", "libtpms")
		printf "%-8s %12d %12d %12d\n", path, n, l, n - l
	}
}

function insn_target(    o, w) {
	o = get("insn", "host", "socket", "GetRandom", "per_cmd")
	w = get("insn", "host", "swtpm", "GetRandom", "per_cmd")
	if (o && w)
		target(o <= w, sprintf("host: socket's instructions per GetRandom <= swtpm socket's: %d against %d", o, w))
}

# ---- 2. start-up --------------------------------------------------------------

function startup_row(what, env, path,    f, x, fc, xc) {
	f = get("startup", env, path, "fresh", "median_ms")
	x = get("startup", env, path, "existing", "median_ms")
	fc = get("startup", env, path, "fresh", "cpu_ms")
	xc = get("startup", env, path, "existing", "cpu_ms")
	if (f == "" && x == "")
		return
	printf "%-52s %-4s %12s %14s %10s %10s\n", what, env, f == "" ? "-" : sprintf("%.2f", f),
		x == "" ? "-" : sprintf("%.2f", x), fc == "" ? "-" : sprintf("%.1f", fc),
		xc == "" ? "-" : sprintf("%.1f", xc)
}

# Ours (PATH) against swtpm socket's start-up in the VM: wall and CPU.
function startup_vs_swtpm(path,    k, item, key, o, w) {
	for (k = 1; k <= 4; k++) {
		item = k % 2 ? "existing" : "fresh"
		key = k <= 2 ? "median_ms" : "cpu_ms"
		o = get("startup", "vm", path, item, key)
		w = get("startup", "vm", "swtpm", item, key)
		if (o != "" && w > 0)
			target(o < w, sprintf("%s start-up %s (%s state) below swtpm socket's: %.1f ms against %.1f ms",
				path, key == "cpu_ms" ? "CPU" : "wall time", item, o, w))
	}
}

function exec_row(what, env, path,    x) {
	x = get("startup", env, path, "exec", "median_ms")
	if (x != "")
		printf "%-52s %-4s %12.2f %14.2f\n", what, env, x, x
}

function print_startup(    k, item, d, c) {
	section("2. Start-up (median of " runs " runs, ms)")
	printf "%-52s %-4s %12s %14s %10s %10s\n", "", "env", "fresh state", "existing state", "CPU fresh", "CPU exist"
	startup_row("cuse_tpm: exec -> first GetRandom through the device", "vm", "daemon")
	startup_row("the same with --rm-node off (one CUSE node)", "vm", "daemon-rm-off")
	startup_row("cuse_tpm socket: exec -> first GetRandom", "vm", "socket")
	startup_row("cuse_tpm socket: exec -> first GetRandom", "host", "socket")
	startup_row("swtpm socket: exec -> first GetRandom", "vm", "swtpm")
	startup_row("swtpm socket: exec -> first GetRandom", "host", "swtpm")
	exec_row("cuse_tpm --version: exec -> exit (loading only)", "vm", "daemon")
	exec_row("cuse_tpm --version: exec -> exit (loading only)", "host", "daemon")
	exec_row("swtpm --version: exec -> exit (loading only)", "vm", "swtpm")
	exec_row("swtpm --version: exec -> exit (loading only)", "host", "swtpm")
	startup_row("libtpms MainInit+Startup, first in a process", "vm", "limit-cold")
	startup_row("libtpms MainInit+Startup, first in a process", "host", "limit-cold")
	startup_row("libtpms MainInit+Startup, again in the process", "vm", "limit-warm")
	startup_row("libtpms MainInit+Startup, again in the process", "host", "limit-warm")
	print "(\"first in a process\" includes libtpms' one-time set-up, which every daemon pays once."
	print " CPU: user + system of the daemon (/proc/PID/stat at the first command) and of its parent, ms.)"
	print "\nTargets (vm):"
	startup_vs_swtpm("daemon")
	startup_vs_swtpm("socket")
	for (k = 1; k <= 2; k++) {
		item = k == 1 ? "existing" : "fresh"
		d = get("startup", "vm", "daemon", item, "median_ms")
		c = get("startup", "vm", "limit-cold", item, "median_ms")
		if (d != "" && c > 0)
			target(d <= 2 * c, sprintf("start-up (%s state) <= 2 x libtpms' own init: %.2f ms = %.1f x %.2f ms", item, d, d / c, c))
	}
}

# ---- 3. memory ---------------------------------------------------------------------

function mem_row(what, env, path, item, n,    h, r, p, a) {
	if (!have("mem", env, path, item))
		return
	h = get("mem", env, path, item, "hwm_kb")
	r = get("mem", env, path, item, "rss_kb")
	p = get("mem", env, path, item, "pss_kb")
	a = get("mem", env, path, item, "anon_kb")
	printf "%-44s %-4s %10.2f %10.2f %10.2f %10s\n", what, env, h / 1024 / n, r / 1024 / n, p / 1024 / n,
		a == "" ? "-" : sprintf("%.2f", a / 1024 / n)
}

function mem_vs_swtpm(path, key, what,    o, w) {
	o = get("mem", "vm", path, "after-workload", key)
	w = get("mem", "vm", "swtpm", "after-workload", key)
	if (o != "" && w > 0)
		target(o < w, sprintf("%s %s below swtpm socket's: %.2f MiB against %.2f MiB", path, what, o / 1024, w / 1024))
}

function print_memory(    n, h) {
	section("3. Memory (MiB)")
	printf "%-44s %-4s %10s %10s %10s %10s\n", "", "env", "VmHWM", "Rss", "Pss", "Anon"
	mem_row("cuse_tpm daemon after the workload", "vm", "daemon", "after-workload", 1)
	mem_row("cuse_tpm socket after the workload", "vm", "socket", "after-workload", 1)
	mem_row("cuse_tpm socket after the workload", "host", "socket", "after-workload", 1)
	mem_row("swtpm after the workload", "vm", "swtpm", "after-workload", 1)
	mem_row("swtpm after the workload", "host", "swtpm", "after-workload", 1)
	mem_row("swtpm-mt (one idle thread more) after it", "vm", "swtpm-mt", "after-workload", 1)
	mem_row("swtpm-mt (one idle thread more) after it", "host", "swtpm-mt", "after-workload", 1)
	mem_row("floor device, single-threaded loop", "vm", "floor-st", "after-workload", 1)
	mem_row("floor device, multi-threaded loop", "vm", "floor-mt", "after-workload", 1)
	mem_row("floor device with libtpms (floor-tpm)", "vm", "floor-tpm", "after-workload", 1)
	mem_row("floor-tpm with a worker thread (handoff)", "vm", "floor-handoff", "after-workload", 1)
	n = get("mem", "vm", "fleet", "total", "n")
	if (n > 0) {
		mem_row(n " cuse_tpm daemons at once: total", "vm", "fleet", "total", 1)
		mem_row(n " cuse_tpm daemons at once: per vTPM", "vm", "fleet", "total", n)
	}
	print "(VmHWM: the kernel's peak counter, which lags for threaded processes before Linux 6.2;"
	print " Rss and Pss: walked from the page tables; Pss shares library pages among their users.)"
	print "\nTargets (vm):"
	mem_vs_swtpm("daemon", "hwm_kb", "peak RSS")
	mem_vs_swtpm("daemon", "anon_kb", "anonymous memory")
	mem_vs_swtpm("socket", "hwm_kb", "peak RSS")
	mem_vs_swtpm("socket", "anon_kb", "anonymous memory")
	h = get("mem", "vm", "daemon", "after-workload", "hwm_kb")
	if (h != "")
		target(h / 1024 <= 4.5, sprintf("peak RSS (VmHWM) of a vTPM after the workload <= 4.5 MiB: %.2f MiB", h / 1024))
	if (n > 0) {
		h = get("mem", "vm", "fleet", "total", "hwm_kb") / n / 1024
		target(h <= 4.5, sprintf("peak RSS (VmHWM) per vTPM with %d running <= 4.5 MiB: %.2f MiB", n, h))
	}
}

# ---- 4. state -------------------------------------------------------------------------

function blob_row(type,    g, s) {
	g = "get-" type
	s = "set-" type
	if (!have("state", "vm", "device", g))
		return
	printf "%-12s %10d %12.2f %12.2f %12.2f\n", type, get("state", "vm", "device", g, "bytes"),
		get("state", "vm", "device", g, "p50") / 1000, get("state", "vm", "device", s, "p50") / 1000,
		get("state", "vm", "device", s, "max") / 1000
}

function durable_row(fs,    k, item, on, off) {
	for (k = 1; k <= 2; k++) {
		item = k == 1 ? "same" : "change"
		on = get("durable", "vm", fs "-fsync-true", item, "ops")
		off = get("durable", "vm", fs "-fsync-false", item, "ops")
		if (on == "" || off == "")
			continue
		printf "%-8s %-16s %12.1f %12.1f %10.1f%%\n", fs, item == "same" ? "same bytes" : "changing bytes",
			on, off, 100 * (1 - on / off)
	}
}

function print_state(    p, fs, on, off) {
	section("4. State (through the device, vm)")
	printf "%-12s %10s %12s %12s %12s\n", "blob", "bytes", "GET p50 ms", "SET p50 ms", "SET max ms"
	blob_row("permanent")
	blob_row("volatile")
	blob_row("savestate")
	if (have("state", "vm", "device", "init-after-set"))
		printf "PTM_INIT after the SETs (resumes the volatile state): p50 %.2f ms\n",
			get("state", "vm", "device", "init-after-set", "p50") / 1000
	printf "\nNV_Write loop of 64 bytes, commands/s (best of the rounds; the two daemons take turns)\n"
	printf "%-8s %-16s %12s %12s %11s\n", "fs", "data", "fsync on", "fsync=false", "slower by"
	durable_row("tmpfs")
	durable_row("9p")
	print "(tmpfs: fsync costs nothing; 9p: fsync reaches the host's disk.  Unchanged bytes leave libtpms'"
	print " state unchanged, so nothing is written at all.  swtpm 0.7 never fsyncs its state.)"
	print "\nTargets (vm):"
	for (p = 1; p <= 2; p++) {
		fs = p == 1 ? "tmpfs" : "9p"
		on = get("durable", "vm", fs "-fsync-true", "same", "ops")
		off = get("durable", "vm", fs "-fsync-false", "same", "ops")
		if (on != "" && off > 0)
			target(on >= 0.9 * off, sprintf("durable NV_Write loop (same bytes, %s) <= 10%% slower: %.1f%% slower", fs, 100 * (1 - on / off)))
	}
}

# ---- 5. concurrency -------------------------------------------------------------------

function print_busy(    k) {
	section("5. Concurrency (vm)")
	k = "GET_TPMESTABLISHED"
	if (!have("busy", "vm", "device", k))
		return
	printf "PTM_GET_TPMESTABLISHED from a second opener, once a millisecond, while the first opener\n"
	printf "runs CreatePrimary RSA-2048 (%d keys, %.0f ms each): %d calls, p50 %.1f us, p99 %.1f us, max %.1f us\n",
		get("busy", "vm", "device", k, "keys"), get("busy", "vm", "device", k, "key_ms"),
		get("busy", "vm", "device", k, "n"), get("busy", "vm", "device", k, "p50"),
		get("busy", "vm", "device", k, "p99"), get("busy", "vm", "device", k, "max")
	if (have("busy", "vm", "device", "idle"))
		printf "(the same call with the TPM idle: p50 %.1f us, p99 %.1f us, max %.1f us)\n",
			get("busy", "vm", "device", "idle", "p50"), get("busy", "vm", "device", "idle", "p99"),
			get("busy", "vm", "device", "idle", "max")
}

# ---- the whole ------------------------------------------------------------------------

function print_header(    k) {
	print "cuse_tpm benchmark (make bench)"
	print "==============================="
	for (k = 1; k <= ninfo; k++)
		if (info_keys[k] in info)
			printf "%-13s %s\n", info_keys[k] ":", info[info_keys[k]]
	# another job on the host takes the guest's vCPUs away at random
	if (load_was_high)
		print "WARNING: the host was busy with other work during the run; the vm figures are noisy."
}

# A later "cmd", "floor" or "durable" line of the same path and item is
# another round: the round with the most ops/s stands.
function better_round(    i) {
	if (($1 != "cmd" && $1 != "floor" && $1 != "durable") || !(($1, $2, $3, $4) in seen))
		return 1
	for (i = 5; i <= NF; i++)
		if ($i ~ /^ops=/)
			return substr($i, 5) + 0 > get($1, $2, $3, $4, "ops")
	return 0
}

BEGIN {
	ncmds = split("GetRandom PCR_Extend ReadClock GetCapability Hash_1KiB NV_Write_64 CreatePrimary_ECC CreatePrimary_RSA", cmds, " ")
	split("GetRandom(32)|PCR_Extend(SHA-256)|ReadClock|GetCapability|Hash(1 KiB)|NV_Write(64 B)|CreatePrimary ECC+Flush|CreatePrimary RSA+Flush", labels, "|")
	npaths = split("limit limit-switched core device device-poll socket swtpm swtpm-mt", paths, " ")
	ncpu = split("device device-poll floor-st floor-st-poll floor-mt floor-mt-poll floor-tpm floor-tpm-poll floor-handoff floor-handoff-poll socket swtpm swtpm-mt", cpupaths, " ")
	ninfo = split("date host_kernel host_cpu guest_kernel guest_cpu libtpms swtpm qemu cuse_tpm cc scale load_before load_after", info_keys, " ")
	runs = 5
}

$1 == "info" {
	key = $2
	# 1-minute load averages: before the run, anything else running; after
	# it, more than our own guest's vCPUs (about one per core) account for
	if ((key == "load_before" && $3 + 0 > 1) ||
	    (key == "load_after" && $3 + 0 > $(NF - 1) + 1.5))
		load_was_high = 1
	$1 = $2 = ""
	sub(/^ +/, "")
	info[key] = $0
	next
}

$1 == "error" {
	errors[++nerrors] = $0
	next
}

# every round's figures of a command, for the medians of section 1b
$1 == "cmd" && NF >= 4 {
	k = ++nround[$2, $3, $4]
	for (i = 5; i <= NF; i++) {
		eq = index($i, "=")
		if (eq)
			rv[$2, $3, $4, substr($i, 1, eq - 1), k] = substr($i, eq + 1) + 0
	}
}

NF >= 4 && better_round() {
	seen[$1, $2, $3, $4] = 1
	for (i = 5; i <= NF; i++) {
		eq = index($i, "=")
		if (!eq)
			continue
		v = substr($i, eq + 1)
		if (v ~ /^[-+]?[0-9]+(\.[0-9]*)?$/)
			v += 0 # compare as a number, not as text
		val[$1, $2, $3, $4, substr($i, 1, eq - 1)] = v
	}
	if ($1 == "startup" && get("startup", $2, $3, $4, "runs") != "")
		runs = get("startup", $2, $3, $4, "runs")
}

END {
	print_header()
	print_commands()
	print_floor()
	print_startup()
	print_memory()
	print_state()
	print_busy()
	rmcmp_print() # bench/abrmd.awk
	if (nerrors) {
		section("Errors: these measurements failed")
		for (i = 1; i <= nerrors; i++)
			print errors[i]
	}
}
