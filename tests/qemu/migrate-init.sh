#!/bin/sh
# PID 1 of the migration test guest (tests/qemu/migrate.py).  Its initramfs
# holds busybox and this script, nothing else: no 9p share, since QEMU
# refuses to migrate a guest with a mounted virtfs.
#
# The guest takes shell commands, one a line, from its serial console and
# answers each with its output and a line "@@DONE STATUS", so the host can
# act on it before and after a migration.  `tpm BYTES` sends one raw TPM
# command (BYTES as printf octal escapes) to /dev/tpm0, the kernel's TPM
# driver, and prints the response in hex.

export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
dmesg -n 1
# The host reads exactly what a command prints: no echo of its input, no
# \r added to each line.
stty -echo -onlcr

# The TIS/CRB driver is built in, but may finish probing after init starts.
i=0
while [ ! -c /dev/tpm0 ] && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
# One file description for the whole life of the guest: the kernel gives a
# response to the opener that wrote the command.
exec 3<>/dev/tpm0 || echo "@@NOTPM"

# printf hands the command to write() in one piece (the kernel takes a
# command only whole); one read() returns the whole response.  The host
# sends every byte as an octal escape, so the format holds no conversions.
tpm() {
	# shellcheck disable=SC2059
	printf "$1" >&3 || return 1
	dd bs=4096 count=1 <&3 2>/dev/null | od -An -v -tx1 | tr -d ' \n'
	echo
}

echo "@@READY"
while IFS= read -r line; do
	eval "$line"
	echo "@@DONE $?"
done
poweroff -f
