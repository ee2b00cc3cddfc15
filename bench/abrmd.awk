# The RM node against tpm2-abrmd: the "rmcmp" lines of bench/abrmd.c.
# Loaded beside bench/report.awk, whose END calls rmcmp_print(); alone (bench/
# run.sh abrmd), an END of its own does.  Names start with rmcmp_ so as not to
# meet report.awk's.

$1 == "rmcmp" {
	rmcmp_seen[$3] = 1
	for (rmcmp_i = 5; rmcmp_i <= NF; rmcmp_i++) {
		rmcmp_eq = index($rmcmp_i, "=")
		if (rmcmp_eq)
			rmcmp_val[$3, $4, substr($rmcmp_i, 1, rmcmp_eq - 1)] = substr($rmcmp_i, rmcmp_eq + 1) + 0
	}
}

$1 == "error" && $0 ~ /rmcmp/ {
	rmcmp_errors[++rmcmp_nerrors] = $0
}

function rmcmp_row(path, what,    p50) {
	if (!(path in rmcmp_seen))
		return
	printf "%-44s %10.1f %10.1f %12.1f %12.1f\n", what,
		rmcmp_val[path, "GetRandom", "p50"], rmcmp_val[path, "GetRandom", "p99"],
		rmcmp_val[path, "connect", "p50"], rmcmp_val[path, "clients8", "ops"]
}

function rmcmp_print(    rm, ab, i) {
	if (!("rm" in rmcmp_seen) && !rmcmp_nerrors)
		return
	print "\n6. Many clients on one vTPM: the RM node against tpm2-abrmd (vm)"
	print "-----------------------------------------------------------------"
	print "One daemon; tpm2-abrmd (Debian's, on a D-Bus session bus) holds its raw node, the RM clients"
	print "open its /dev/vtpmrm node.  rm and abrmd: the same client code, tpm2-tss' TCTI loader"
	print "(device:/dev/vtpmrm-... against tabrmd:), a GetRandom(32) at a time, the paths taking turns."
	print "rm-direct: the bench's own write()+read() on the RM node, for reference.  connect: open the"
	print "TCTI, one GetRandom, close, as every tpm2-tools run does.  8 clients: 8 threads, each its own"
	print "opener or connection, GetRandom in a loop; commands/s of all of them together."
	print "(tpm2-abrmd's D-Bus carries only the connect; its commands go over a socket to it, then on"
	print " to the raw node: one process more on each command's way.)"
	printf "\n%-44s %10s %10s %12s %12s\n", "path", "p50 us", "p99 us", "connect p50", "8 clients/s"
	rmcmp_row("rm-direct", "RM node, write()+read()")
	rmcmp_row("rm", "RM node, TCTI device:")
	rmcmp_row("abrmd", "tpm2-abrmd on the raw node, TCTI tabrmd:")
	rm = rmcmp_val["rm", "GetRandom", "p50"]
	ab = rmcmp_val["abrmd", "GetRandom", "p50"]
	if (rm > 0 && ab > 0) {
		print "\nTargets (vm):"
		printf "  %s  the RM node is faster than tpm2-abrmd, p50 per command: %.1f us against %.1f us (%.2f x)\n",
			(rm < ab ? "PASS" : "MISS"), rm, ab, ab / rm
		rm = rmcmp_val["rm", "clients8", "ops"]
		ab = rmcmp_val["abrmd", "clients8", "ops"]
		if (rm > 0 && ab > 0)
			printf "  %s  the RM node is faster than tpm2-abrmd with 8 clients: %.1f against %.1f commands/s (%.2f x)\n",
				(rm > ab ? "PASS" : "MISS"), rm, ab, rm / ab
	}
	for (i = 1; i <= rmcmp_nerrors; i++)
		print rmcmp_errors[i]
}
