#!/usr/bin/env bash
# The Debian package: dpkg-buildpackage -b -us -uc builds it from a copy of
# the tracked files (its .deb lands next to the source, so not in the
# checkout), and it holds what a deployment needs.
set -u
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1: $2"; }

src=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/cuse_tpm_deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/cuse-tpm"
(cd "$src" && git ls-files -z --cached --others --exclude-standard |
	xargs -0 cp --parents -t "$work/cuse-tpm") 2>/dev/null ||
	tar -C "$src" --exclude=./build --exclude=./.git -cf - . | tar -C "$work/cuse-tpm" -xf -

if (cd "$work/cuse-tpm" && dpkg-buildpackage -b -us -uc) >"$work/build.log" 2>&1; then
	pass deb-builds
else
	fail deb-builds "$(tail -n 5 "$work/build.log" | tr '\n' ' ')"
	exit 0
fi
debs=("$work"/cuse-tpm_*.deb)
deb=${debs[0]}
files=$(dpkg-deb -c "$deb" | awk '{print $6}')
missing=
for f in ./usr/sbin/cuse_tpm ./usr/bin/cuse_tpm_ioctl \
	./usr/include/cuse_tpm/tpm_ioctl.h ./usr/share/man/man8/cuse_tpm.8.gz \
	./lib/udev/rules.d/60-cuse-tpm.rules ./lib/systemd/system/cuse-tpm@.service; do
	grep -qx -- "$f" <<<"$files" || missing="$missing $f"
done
if [ -z "$missing" ]; then pass deb-holds-daemon-tool-man-udev-unit; else fail deb-holds-daemon-tool-man-udev-unit "missing:$missing"; fi
dep=$(dpkg-deb -f "$deb" Depends)
# the seccomp allow-list is compiled in at build time: no libseccomp at run time
if [[ $dep == *libtpms* && $dep == *libfuse3* && $dep == *libssl* &&
	$dep != *libseccomp* ]]; then
	pass deb-depends-on-its-libraries
else
	fail deb-depends-on-its-libraries "$dep"
fi
mkdir "$work/root"
dpkg-deb -x "$deb" "$work/root"
if "$work/root/usr/sbin/cuse_tpm" --version | grep -q '^cuse_tpm '; then
	pass deb-daemon-runs
else
	fail deb-daemon-runs "$("$work/root/usr/sbin/cuse_tpm" --version 2>&1)"
fi
