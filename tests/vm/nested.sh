#!/bin/sh
# Inside the CUSE test VM: QEMU passes /dev/vtpm-nested through to a nested
# guest (TCG inside TCG), whose kernel must find a TPM 2.0 with the nested
# firmware's measurement in PCR 0.  Too slow for make check (minutes):
# `make check-nested` runs it.  Usage: nested.sh KERNEL INITRD.
B=${BUILD:-build}
rm -rf /tmp/nested.state
"$B/cuse_tpm" -n vtpm-nested --tpmstate dir=/tmp/nested.state --flags not-need-init \
	--pid file=/tmp/nested.pid || { echo "FAIL: nested-daemon: could not start"; exit 1; }
t0=$(date +%s)
out=$(timeout 1500 qemu-system-x86_64 -accel tcg -m 256 -nographic -no-reboot \
	-kernel "$1" -initrd "$2" -append "console=ttyS0 quiet panic=-1" \
	-tpmdev passthrough,id=tpm0,path=/dev/vtpm-nested,cancel-path=/dev/null \
	-device tpm-tis,tpmdev=tpm0 2>&1 | tr -d '\r' | grep -a '^@@')
echo "# nested boot to power-off: $(($(date +%s) - t0)) s"
case $out in *"@@VERSION 2"*) echo "PASS: nested-guest-sees-tpm2" ;;
*) echo "FAIL: nested-guest-sees-tpm2: $out" ;; esac
pcr0=$(echo "$out" | sed -n 's/^@@PCR0 //p')
case $pcr0 in "" | 0000000000000000000000000000000000000000000000000000000000000000 | *[!0-9A-F]*)
	echo "FAIL: nested-firmware-measured-pcr0: $pcr0" ;;
*) echo "PASS: nested-firmware-measured-pcr0" ;; esac
kill "$(cat /tmp/nested.pid)"
