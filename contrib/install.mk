# contrib/install.mk: installs what a deployment needs besides the programs
# and the header: man pages, the udev rule, the systemd unit and the
# pkg-config file.  Included from the top Makefile, whose "install" depends
# on "install-extra".
#
#   make install PREFIX=/usr DESTDIR=/tmp/stage
#
# Every directory can be overridden on the command line (MANDIR=...,
# UDEVRULESDIR=..., SYSTEMDUNITDIR=..., PKGCONFIGDIR=...).  DESTDIR only
# prefixes where files land; the paths written into the unit and the
# pkg-config file are the final ones, without it.

# The same defaults as the top Makefile, in case this is included first.
PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
INCLUDEDIR ?= $(PREFIX)/include
BUILD ?= build
VERSION ?= 0.1.0

MANDIR ?= $(PREFIX)/share/man
# The header is the whole package: no architecture-specific library
# directory, so share/pkgconfig, which pkg-config searches on Debian for
# /usr and /usr/local alike.
PKGCONFIGDIR ?= $(PREFIX)/share/pkgconfig

# udev and systemd read /usr/local/lib/{udev/rules.d,systemd/system} as
# well as their own directories, so a /usr/local install works as it is.
# For PREFIX=/usr the distribution decides: Debian 12 (bookworm) keeps
# these files in /lib even with merged /usr (its packages may not move
# them yet), later releases in /usr/lib; udev.pc and systemd.pc say which,
# and /lib is the answer when they are not installed.  (Recursive '=':
# pkg-config runs only when an install needs the value.)
distro_udevdir = $(or $(shell pkg-config --variable=udevdir udev 2>/dev/null),/lib/udev)
distro_unitdir = $(or $(shell pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null),/lib/systemd/system)
UDEVRULESDIR ?= $(if $(filter /usr /usr/,$(PREFIX)),$(distro_udevdir),$(PREFIX)/lib/udev)/rules.d
SYSTEMDUNITDIR ?= $(if $(filter /usr /usr/,$(PREFIX)),$(distro_unitdir),$(PREFIX)/lib/systemd/system)

# Generated at install time, so PREFIX and SBINDIR are the ones given then.
EXTRA_GEN := $(BUILD)/contrib

.PHONY: install-extra uninstall-extra lint-extra install-swtpm-compat \
	uninstall-swtpm-compat

# Installing as swtpm (make install install-swtpm-compat): the links
# `swtpm` and `swtpm_ioctl` to our programs in a directory of their own,
# and systemd drop-ins that put it first in the PATH of libvirtd and
# virtqemud, which is where libvirt looks for swtpm (swtpm_setup, Debian's,
# then finds our swtpm the same way).  Debian's /usr/bin/swtpm stays as it
# is; uninstall-swtpm-compat and a daemon restart undo it all.
SWTPM_COMPAT_DIR ?= $(PREFIX)/lib/cuse-tpm/swtpm-compat
SWTPM_COMPAT_PATH = $(SWTPM_COMPAT_DIR):/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
SWTPM_COMPAT_UNITS := libvirtd virtqemud

install-swtpm-compat:
	install -d $(DESTDIR)$(SWTPM_COMPAT_DIR)
	ln -sfn $(SBINDIR)/cuse_tpm $(DESTDIR)$(SWTPM_COMPAT_DIR)/swtpm
	ln -sfn $(BINDIR)/cuse_tpm_ioctl $(DESTDIR)$(SWTPM_COMPAT_DIR)/swtpm_ioctl
	for u in $(SWTPM_COMPAT_UNITS); do \
		install -d $(DESTDIR)$(SYSTEMDUNITDIR)/$$u.service.d && \
		printf '# cuse_tpm serves the vTPMs libvirt starts as swtpm\n[Service]\nEnvironment=PATH=%s\n' \
			'$(SWTPM_COMPAT_PATH)' \
			>$(DESTDIR)$(SYSTEMDUNITDIR)/$$u.service.d/cuse-tpm-swtpm.conf || exit 1; \
	done
	@if [ -z "$(DESTDIR)" ]; then \
		echo "Now run: systemctl daemon-reload; systemctl try-restart libvirtd virtqemud"; \
	fi

uninstall-swtpm-compat:
	rm -f $(DESTDIR)$(SWTPM_COMPAT_DIR)/swtpm $(DESTDIR)$(SWTPM_COMPAT_DIR)/swtpm_ioctl
	for u in $(SWTPM_COMPAT_UNITS); do \
		rm -f $(DESTDIR)$(SYSTEMDUNITDIR)/$$u.service.d/cuse-tpm-swtpm.conf; \
	done

install-extra:
	@mkdir -p $(EXTRA_GEN)
	# The unit names the daemon by its installed path.
	sed 's|^\(ExecStart=[-@:+!]*\)/usr/sbin/cuse_tpm |\1$(SBINDIR)/cuse_tpm |' \
		contrib/systemd/cuse-tpm@.service >$(EXTRA_GEN)/cuse-tpm@.service
	grep -q '^ExecStart=[-@:+!]*$(SBINDIR)/cuse_tpm ' $(EXTRA_GEN)/cuse-tpm@.service
	# includedir relative to ${prefix} when it lies under it.
	sed -e 's|@PREFIX@|$(PREFIX)|' \
		-e 's|@INCLUDEDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))|' \
		-e 's|@VERSION@|$(VERSION)|' \
		contrib/cuse_tpm.pc.in >$(EXTRA_GEN)/cuse_tpm.pc
	install -d $(DESTDIR)$(MANDIR)/man4 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(UDEVRULESDIR) $(DESTDIR)$(SYSTEMDUNITDIR) \
		$(DESTDIR)$(PKGCONFIGDIR)
	install -m 0644 man/cuse_tpm.8 man/cuse_tpm_ioctl.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 man/cuse_tpm_ioctl.4 $(DESTDIR)$(MANDIR)/man4/
	install -m 0644 contrib/udev/60-cuse-tpm.rules $(DESTDIR)$(UDEVRULESDIR)/
	install -m 0644 $(EXTRA_GEN)/cuse-tpm@.service $(DESTDIR)$(SYSTEMDUNITDIR)/
	install -m 0644 $(EXTRA_GEN)/cuse_tpm.pc $(DESTDIR)$(PKGCONFIGDIR)/
	@if [ -z "$(DESTDIR)" ]; then \
		echo "Now run: udevadm control --reload; systemctl daemon-reload"; \
	fi

uninstall-extra:
	rm -f $(DESTDIR)$(MANDIR)/man8/cuse_tpm.8 \
		$(DESTDIR)$(MANDIR)/man8/cuse_tpm_ioctl.8 \
		$(DESTDIR)$(MANDIR)/man4/cuse_tpm_ioctl.4 \
		$(DESTDIR)$(UDEVRULESDIR)/60-cuse-tpm.rules \
		$(DESTDIR)$(SYSTEMDUNITDIR)/cuse-tpm@.service \
		$(DESTDIR)$(PKGCONFIGDIR)/cuse_tpm.pc

# Checks of the files above that need no VM: the man pages render without
# a warning, the unit passes systemd-analyze verify (pointed at the built
# daemon and at these man pages, as it looks for both), the test script is
# shellcheck-clean.  Needs groff-base, man-db, systemd and shellcheck;
# mandoc is used when present.
lint-extra: $(BUILD)/cuse_tpm
	@set -e; for m in man/cuse_tpm.8 man/cuse_tpm_ioctl.8 man/cuse_tpm_ioctl.4; do \
		out=$$(groff -t -man -ww -z $$m 2>&1; \
			MANWIDTH=80 man --warnings -l $$m 2>&1 >/dev/null); \
		if command -v mandoc >/dev/null; then \
			out="$$out$$(mandoc -T lint -W warning $$m 2>&1)"; fi; \
		if [ -n "$$out" ]; then echo "$$m: $$out"; exit 1; fi; \
	done
	@rm -rf $(EXTRA_GEN)/lint && mkdir -p $(EXTRA_GEN)/lint/man/man4 $(EXTRA_GEN)/lint/man/man8
	cp man/*.8 $(EXTRA_GEN)/lint/man/man8/ && cp man/*.4 $(EXTRA_GEN)/lint/man/man4/
	sed 's|^\(ExecStart=[-@:+!]*\)/usr/sbin/cuse_tpm |\1$(abspath $(BUILD))/cuse_tpm |' \
		contrib/systemd/cuse-tpm@.service >$(EXTRA_GEN)/lint/cuse-tpm@.service
	@out=$$(MANPATH=$(abspath $(EXTRA_GEN))/lint/man: \
		systemd-analyze verify $(EXTRA_GEN)/lint/cuse-tpm@.service 2>&1); \
		if [ -n "$$out" ]; then echo "$$out"; exit 1; fi
	shellcheck tests/vm/deploy.sh tests/vm/nested.sh tests/vm/nested-init.sh tests/vm/rm.sh
