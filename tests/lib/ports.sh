# shellcheck shell=bash
# SPDX-License-Identifier: BSD-3-Clause
#
# A TCP port for a test's server (our `cuse_tpm socket` or Debian's swtpm),
# for the test scripts that source this file.
#
# The ports are drawn from 20000-32000, below the kernel's ephemeral range
# (net.ipv4.ip_local_port_range, 32768-60999 by default): the local end of
# every client connection on the machine (tpm2-tools', swtpm_ioctl's, any
# other program's) takes a port from that range, so a port drawn there may
# be taken at any moment.  Below it, a port is taken only by a server that
# listens there on purpose, such as another test's: the server then cannot
# bind and exits at once, and another port is tried.  tests/unit/test_crash.py
# does the same in Python (its start_on_free_port()).

# start_on_free_port COMMAND [ARG...]: runs COMMAND PORT ARG..., with PORT a
# random port in 20000-31999 (a control channel on PORT+1 stays within
# 32000), up to 8 times.  COMMAND starts the server and returns 0 once it
# serves; 1 when it did not, which may be a taken port, to try another one;
# any other status for a failure that another port would not cure, which
# ends the tries.  Sets PORT to the last port tried, the one that works
# when this returns 0; returns COMMAND's last status.
start_on_free_port() {
	local cmd=$1 rc
	shift
	for _ in 1 2 3 4 5 6 7 8; do
		PORT=$((20000 + RANDOM % 12000))
		"$cmd" "$PORT" "$@"
		rc=$?
		[ "$rc" -eq 1 ] || return "$rc"
	done
	return 1
}

# ctrl_answers PORT PID: waits up to 10 s for the control channel on
# 127.0.0.1:PORT to answer swtpm_ioctl -c.  0 once it answers; 1 when PID
# exits first, as a server does whose port was taken; 2 when PID still runs
# without answering, which another port would not cure.
ctrl_answers() {
	local i
	for ((i = 0; i < 200; i++)); do
		swtpm_ioctl --tcp "127.0.0.1:$1" -c >/dev/null 2>&1 && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.05
	done
	return 2
}
