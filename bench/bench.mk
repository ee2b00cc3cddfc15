# `make bench`: performance figures of the daemon, its core and the in-process
# limit, on the host and inside the test VM, against Debian's swtpm.  Prints a
# table and writes it to $(BUILD)/bench/results.txt.  No figure fails the
# build, only a measurement that breaks.  BENCH_SCALE=F scales the iteration
# counts, BENCH_ROUNDS=N the rounds of the command figures (default 8: the
# floor table takes the median of their p50s, the rest the best round), and
# BENCH_KEY_ROUNDS=N how many of them also generate keys, and the rounds of
# the NV_Write loops (default 2).  bench/counts.sh prints the system calls
# and context switches per command of the device and the floor devices.
#
# Included from the top Makefile; uses its BUILD, CC, ALL_CFLAGS, LIBS,
# CORE_OBJS and TESTLIB_OBJS, its object rule (CPPFLAGS) and the daemon's
# rule.

BENCH_SRCS := bench/main.c bench/stats.c bench/workload.c bench/limit.c \
	bench/core.c bench/device.c bench/socket.c bench/devctl.c \
	bench/startup.c bench/floor.c bench/usage.c
# the RM node against tpm2-abrmd, both through tpm2-tss' TCTI loader
BENCH_SRCS += bench/abrmd.c
BENCH_LIBS := $(shell pkg-config --libs tss2-tctildr 2>/dev/null || echo -ltss2-tctildr)
BENCH_OBJS := $(BENCH_SRCS:%.c=$(BUILD)/obj/%.o)

.PHONY: bench

$(BUILD)/bench/bench: $(BENCH_OBJS) $(CORE_OBJS) $(TESTLIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $^ -o $@ $(LIBS) $(BENCH_LIBS)

# The floor: a bare CUSE device with a canned response (bench/cuse_floor.c).
$(BUILD)/bench/cuse_floor: $(BUILD)/obj/bench/cuse_floor.o
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $^ -o $@ $(LIBS)

# swtpm socket with one idle thread more: what a second thread costs it.
$(BUILD)/bench/onethread.so: bench/onethread.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -shared -fPIC $< -o $@ -lpthread

bench: $(BUILD)/bench/bench $(BUILD)/bench/cuse_floor \
	$(BUILD)/bench/onethread.so $(BUILD)/cuse_tpm
	BUILD=$(BUILD) CC="$(CC)" bench/run.sh
