# cuse_tpm: a TPM emulator served as a CUSE character device.
#
#   make            build the daemon and the admin tool into build/
#   make check      install what the tests need (apt), build, run every test
#   make run        install what is needed, build, serve /dev/vtpm-demo here
#   make install    PREFIX=/usr/local DESTDIR=
#   make bench      the benchmark table (build/bench/results.txt)
#   make fuzz       the libFuzzer targets (FUZZ_SECONDS each)

PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
BINDIR ?= $(PREFIX)/bin
INCLUDEDIR ?= $(PREFIX)/include
BUILD ?= build
VERSION := 0.1.0

PKGS := fuse3 libtpms libcrypto
# only the build's seccomp policy compiler links libseccomp
SECCOMP_LIBS = $(shell pkg-config --libs libseccomp 2>/dev/null || echo -lseccomp)
CC ?= cc
WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes \
	-Wmissing-prototypes
CFLAGS ?= -O2 -g
CPPFLAGS += -D_GNU_SOURCE -Iinclude -Icuse_tpm -Icuse_tpm_ioctl -Itests/lib -I$(BUILD)/gen \
	-DCUSE_TPM_VERSION='"$(VERSION)"'
ALL_CFLAGS = -std=gnu11 $(WARN) $(CFLAGS) $(SAN) \
	$(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread

# The client side of the control channel (the admin tool's library): its
# table of control operations is the daemon's too.
CLIENT_SRCS := cuse_tpm/io.c cuse_tpm_ioctl/client.c
# The core and its parts, shared by the daemon and the native unit tests.
CORE_SRCS := cuse_tpm/log.c $(CLIENT_SRCS) cuse_tpm/crypt.c \
	cuse_tpm/blob.c cuse_tpm/blob_read.c \
	cuse_tpm/store.c cuse_tpm/store_dir.c cuse_tpm/store_file.c \
	cuse_tpm/tpmlib.c cuse_tpm/vtpm.c cuse_tpm/vtpm_state.c \
	cuse_tpm/rm_cmd.c cuse_tpm/rm_tpm.c cuse_tpm/rm_space.c cuse_tpm/rm.c \
	cuse_tpm/subopt.c cuse_tpm/optvalue.c \
	cuse_tpm/options.c cuse_tpm/ctrl.c \
	cuse_tpm/server.c cuse_tpm/sandbox.c
# The CUSE front end's data path and ioctl codec; cuse.c is its session.
CUSE_SRCS := cuse_tpm/cuse_dev.c cuse_tpm/cuse_ioctl.c
DAEMON_SRCS := $(CORE_SRCS) $(CUSE_SRCS) cuse_tpm/cuse.c cuse_tpm/notify.c cuse_tpm/probe.c cuse_tpm/identity.c cuse_tpm/main.c
# The admin tool: its command line on top of the client.
TOOL_CLI_SRCS := cuse_tpm_ioctl/main.c cuse_tpm_ioctl/commands.c cuse_tpm_ioctl/report.c
TOOL_SRCS := $(TOOL_CLI_SRCS) $(CLIENT_SRCS)
# Hand-built TPM 2.0 commands for the tests and the benchmark.
TESTLIB_SRCS := tests/lib/tpm2.c
UNIT_TESTS := test_abi test_blob test_crypt test_options test_sandbox test_store test_vtpm test_rm

CORE_OBJS := $(CORE_SRCS:%.c=$(BUILD)/obj/%.o)
DAEMON_OBJS := $(DAEMON_SRCS:%.c=$(BUILD)/obj/%.o)
TESTLIB_OBJS := $(TESTLIB_SRCS:%.c=$(BUILD)/obj/%.o)

# Debian packages the build, the tests and `make run` need.
DEPS := build-essential pkg-config libfuse3-dev fuse3 libtpms-dev \
	libssl-dev openssl qemu-system-x86 busybox-static xz-utils \
	swtpm swtpm-tools tpm2-tools xxd valgrind cppcheck clang-tidy \
	udev systemd tpm-udev python3 shellcheck groff-base man-db \
	clang libclang-rt-14-dev dmsetup e2fsprogs util-linux libseccomp-dev \
	debhelper libvirt-daemon-system libvirt-clients \
	tpm2-abrmd libtss2-tcti-tabrmd0 dbus-daemon libtss2-dev

.PHONY: all check lint deps run demo-vm check-nested install clean asan bench

all: $(BUILD)/cuse_tpm $(BUILD)/cuse_tpm_ioctl \
	$(UNIT_TESTS:%=$(BUILD)/tests/%) $(BUILD)/tests/devtest \
	$(BUILD)/tests/loadtest $(BUILD)/tests/hostiletest $(BUILD)/tests/blobtool \
	$(BUILD)/tests/ossl_probe_provider.so

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

# The seccomp allow-list, compiled to BPF by libseccomp at build time
# (cuse_tpm/seccomp_policy.c); sandbox.c includes the programs.
$(BUILD)/gen/seccomp_policy: cuse_tpm/seccomp_policy.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $< -o $@ $(SECCOMP_LIBS)

$(BUILD)/gen/seccomp_filter.h: $(BUILD)/gen/seccomp_policy
	$< $@

$(BUILD)/obj/cuse_tpm/sandbox.o $(BUILD)/fuzz/obj/cuse_tpm/sandbox.o: $(BUILD)/gen/seccomp_filter.h

$(BUILD)/cuse_tpm: $(DAEMON_OBJS)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) $^ -o $@ $(LIBS)

$(BUILD)/cuse_tpm_ioctl: $(TOOL_SRCS:%.c=$(BUILD)/obj/%.o)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) $^ -o $@

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(CORE_OBJS) $(TESTLIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) $^ -o $@ $(LIBS)

# An OpenSSL provider module for test_openssl_conf.sh.
$(BUILD)/tests/ossl_probe_provider.so: tests/unit/ossl_probe_provider.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -fPIC -shared $< -o $@

$(BUILD)/tests/devtest: $(BUILD)/obj/tests/vm/devtest.o $(TESTLIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $^ -o $@ -lpthread

$(BUILD)/tests/loadtest: $(BUILD)/obj/tests/vm/loadtest.o $(TESTLIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $^ -o $@ -lcrypto -lpthread

$(BUILD)/tests/hostiletest: $(BUILD)/obj/tests/vm/hostiletest.o $(TESTLIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $^ -o $@ -lpthread

-include $(shell find $(BUILD) -name '*.d' -type f 2>/dev/null)

# Installs the Debian packages that are missing (needs root and apt).
deps:
	@missing=$$(for p in $(DEPS); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
		grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update -q >/dev/null && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends $$missing >/dev/null; \
	fi

# The README's test command: fresh machine to a verdict.
check: deps
	$(MAKE) all
	$(MAKE) asan
	tests/run.sh

# Everything with AddressSanitizer and UBSan, in its own build tree.
asan:
	$(MAKE) BUILD=$(BUILD)/asan SAN='-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all' \
		$(BUILD)/asan/cuse_tpm $(BUILD)/asan/tests/devtest \
		$(UNIT_TESTS:%=$(BUILD)/asan/tests/%)

lint: lint-extra $(BUILD)/gen/seccomp_filter.h
	cppcheck --quiet --error-exitcode=1 --enable=warning,style,performance,portability \
		--inline-suppr --suppress=missingIncludeSystem --suppress=variableScope \
		-Iinclude -Icuse_tpm -Icuse_tpm_ioctl -Itests/lib -I$(BUILD)/gen \
		cuse_tpm cuse_tpm_ioctl tests/unit tests/vm tests/lib
	clang-tidy --quiet $(DAEMON_SRCS) cuse_tpm/seccomp_policy.c $(TOOL_CLI_SRCS) $(TESTLIB_SRCS) tests/unit/*.c \
		tests/vm/devtest.c tests/vm/loadtest.c tests/vm/hostiletest.c -- $(CPPFLAGS) -std=gnu11 \
		$(shell pkg-config --cflags $(PKGS))

# The README's run command: a vTPM in the foreground on ./build/state.
run: deps
	$(MAKE) all
	@if [ ! -e /dev/cuse ]; then modprobe cuse 2>/dev/null || true; fi
	@if [ ! -e /dev/cuse ]; then \
		echo "This kernel has no CUSE (no /dev/cuse, and 'modprobe cuse' failed)."; \
		echo "Use a kernel with CONFIG_CUSE (Debian's linux-image-amd64 has it as a module),"; \
		echo "or try it inside the test VM, whose kernel has CUSE: make demo-vm"; \
		exit 1; \
	fi
	$(BUILD)/cuse_tpm -f -n vtpm-demo --tpmstate dir=$(BUILD)/state --flags not-need-init,startup-clear

# The daemon and a few real clients inside the test VM (no CUSE needed here).
demo-vm: deps
	$(MAKE) all
	tests/vm/vm.sh run -- sh -c '$(BUILD)/cuse_tpm -n vtpm-demo --tpmstate dir=/tmp/vtpm-demo \
		--flags not-need-init,startup-clear && ls -l /dev/vtpm-demo && \
		$(BUILD)/cuse_tpm_ioctl -c /dev/vtpm-demo && \
		tpm2_getrandom -T device:/dev/vtpm-demo --hex 16 && echo && \
		tpm2_pcrread -T device:/dev/vtpm-demo sha256:0,1 && \
		$(BUILD)/cuse_tpm_ioctl -s /dev/vtpm-demo'

# A nested guest on QEMU passthrough to the device, inside the test VM:
# minutes under TCG-in-TCG, so not part of make check.
check-nested: deps
	$(MAKE) all
	@kernel=$$(tests/vm/vm.sh image tests/vm/nested-init.sh $(BUILD)/vm/nested.cpio.gz) && \
	tests/vm/vm.sh run --timeout 1800 --mem 1536 --env BUILD=$(BUILD) -- \
		tests/vm/nested.sh "$$kernel" $(BUILD)/vm/nested.cpio.gz

include contrib/install.mk

install: install-extra $(BUILD)/cuse_tpm $(BUILD)/cuse_tpm_ioctl
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(INCLUDEDIR)/cuse_tpm
	install -m 0755 $(BUILD)/cuse_tpm $(DESTDIR)$(SBINDIR)/cuse_tpm
	install -m 0755 $(BUILD)/cuse_tpm_ioctl $(DESTDIR)$(BINDIR)/cuse_tpm_ioctl
	install -m 0644 include/cuse_tpm/tpm_ioctl.h $(DESTDIR)$(INCLUDEDIR)/cuse_tpm/tpm_ioctl.h

clean:
	rm -rf $(BUILD)

# libFuzzer targets (make fuzz, make fuzz-check); needs the variables above.
include tests/fuzz/fuzz.mk

# make bench: figures against the in-process limit and swtpm (bench/run.sh).
include bench/bench.mk
