#!/bin/sh
# PID 1 of the nested guest (tests/vm/nested.sh): a busybox initramfs whose
# kernel's own TPM driver probes the TPM that QEMU passes through from the
# outer guest's /dev/vtpm-*.  Prints what it found, then powers off.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
i=0
while [ ! -e /sys/class/tpm/tpm0/tpm_version_major ] && [ $i -lt 600 ]; do
	sleep 0.1
	i=$((i + 1))
done
echo "@@VERSION $(cat /sys/class/tpm/tpm0/tpm_version_major 2>&1)"
echo "@@PCR0 $(cat /sys/class/tpm/tpm0/pcr-sha256/0 2>&1)"
poweroff -f
