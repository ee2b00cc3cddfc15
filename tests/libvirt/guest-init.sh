#!/bin/sh
# PID 1 of the libvirt test's guest: a busybox initramfs whose kernel's TPM
# driver finds the vTPM libvirt gave it.  Prints what it sees on the serial
# console as "@@KEY value" lines, then keeps ticking until the host stops it.
#  @@VERSION   tpm_version_major (1 or 2)
#  @@PCR0      PCR 0 (sha256 for a TPM 2.0, sha1 for a 1.2): the firmware's
#  @@HANDLES   TPM 2.0: the NV and persistent handles (EK certificate
#              0x01c00002, EK 0x81010001): the manufactured state
#  @@PCR16     TPM 2.0: PCR 16 at boot, then after the guest extended it
#  @@TICK N P  every second: PCR 16 again; across a managedsave it must
#              keep the extended value
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev 2>/dev/null
i=0
while [ ! -e /sys/class/tpm/tpm0/tpm_version_major ] && [ $i -lt 300 ]; do
	sleep 0.1
	i=$((i + 1))
done
v=$(cat /sys/class/tpm/tpm0/tpm_version_major 2>&1)
echo "@@VERSION $v"
if [ "$v" != 2 ]; then
	echo "@@PCR0 $(grep -m1 '^PCR-00' /sys/class/tpm/tpm0/device/pcrs 2>&1 | tr -d ' ')"
	n=0
	while :; do n=$((n + 1)); echo "@@TICK $n"; sleep 1; done
fi
echo "@@PCR0 $(cat /sys/class/tpm/tpm0/pcr-sha256/0 2>&1)"

# raw TPM 2.0 commands through /dev/tpm0, answers as hex
tpm() {
	exec 3<>/dev/tpm0
	# shellcheck disable=SC2059 # the format is the command, in octal
	printf "$1" >&3
	dd bs=4096 count=1 <&3 2>/dev/null | od -An -tx1 | tr -d ' \n'
	exec 3>&-
}
# TPM2_GetCapability(TPM_CAP_HANDLES) from 0x01000000 (NV), 0x81000000
nv=$(tpm '\200\001\000\000\000\026\000\000\001\172\000\000\000\001\001\000\000\000\000\000\000\100')
pers=$(tpm '\200\001\000\000\000\026\000\000\001\172\000\000\000\001\201\000\000\000\000\000\000\100')
echo "@@HANDLES nv=$nv persistent=$pers"
echo "@@PCR16 boot $(cat /sys/class/tpm/tpm0/pcr-sha256/16)"
# TPM2_PCR_Extend(16, password session, sha256 digest of 0x55 bytes)
tpm '\200\002\000\000\000\101\000\000\001\202\000\000\000\020\000\000\000\011\100\000\000\011\000\000\000\000\000\000\000\000\001\000\013'"$(printf '\\125%.0s' $(seq 32))" >/dev/null
echo "@@PCR16 extended $(cat /sys/class/tpm/tpm0/pcr-sha256/16)"
n=0
while :; do
	n=$((n + 1))
	echo "@@TICK $n $(cat /sys/class/tpm/tpm0/pcr-sha256/16 2>&1)"
	sleep 1
done
