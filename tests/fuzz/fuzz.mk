# Fuzzing with libFuzzer (clang), ASan, UBSan and LSan.  Included from the
# top Makefile, after CORE_SRCS, TESTLIB_SRCS, CPPFLAGS, WARN, PKGS, LIBS and
# BUILD are defined (prerequisites are expanded when this file is read).
#
#   make fuzz                  build every target, run each FUZZ_SECONDS (60)
#   make fuzz FUZZ_TARGETS=blob FUZZ_SECONDS=600
#   make fuzz-check            replay tests/fuzz/regress/<t>/* and the seed
#                              corpus, then fuzz each target FUZZ_CHECK_SECONDS
#                              (20); one PASS:/FAIL: line per target
#   make fuzz-build            just build build/fuzz/fuzz-<t>
#
# New inputs found by `make fuzz` collect in build/fuzz/corpus/<t> (the
# committed seeds in tests/fuzz/corpus/<t> are only read); crashes land in
# build/fuzz/artifacts/<t>/.  Needs clang and libclang-rt-14-dev (libFuzzer).

FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_CHECK_SECONDS ?= 20
FUZZ_TARGETS ?= blob options ioctl datapath tool ctrl rm
FUZZ_ALL := blob options ioctl datapath tool ctrl rm
FUZZ_BUILD = $(BUILD)/fuzz
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
# -Werror off: clang's warnings are not the ones `make lint` keeps at zero
FUZZ_CFLAGS = -std=gnu11 -g -O1 $(filter-out -Werror,$(WARN)) $(FUZZ_SAN) \
	$(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# the CUSE targets link the data path and the ioctl codec (not cuse.c, the
# session: the harness is the kernel); tpm2.c builds commands
FUZZ_CORE_OBJS = $(CORE_SRCS:%.c=$(BUILD)/fuzz/obj/%.o) \
	$(TESTLIB_SRCS:%.c=$(BUILD)/fuzz/obj/%.o)
FUZZ_CUSE_OBJS = $(CUSE_SRCS:%.c=$(BUILD)/fuzz/obj/%.o)
# fuzz-tool links the admin tool's commands (the client is in the core) and
# takes the client's ioctl() calls; its harness includes the command line
FUZZ_SRCS_tool := cuse_tpm_ioctl/commands.c cuse_tpm_ioctl/report.c
FUZZ_LDFLAGS_tool := -Wl,--wrap=ioctl

# per-target libFuzzer options
FUZZ_OPTS_blob := -max_len=8192
FUZZ_OPTS_options := -max_len=1024
FUZZ_OPTS_ioctl := -max_len=16384 -timeout=60
FUZZ_OPTS_datapath := -max_len=16384 -timeout=60
FUZZ_OPTS_tool := -max_len=16384 -timeout=60
FUZZ_OPTS_ctrl := -max_len=16384 -timeout=60
FUZZ_OPTS_rm := -max_len=16384 -timeout=60

# the shell loops below pick a target's options with this: opts=...
FUZZ_OPTS_SH = case $$t in $(foreach t,$(FUZZ_ALL),$(t)$(rparen) opts="$(FUZZ_OPTS_$(t))";;) esac
rparen := )

.PHONY: fuzz fuzz-check fuzz-build
# keep the objects: they are intermediate files of the pattern rules below
.SECONDARY: $(FUZZ_CORE_OBJS) $(FUZZ_CUSE_OBJS) $(FUZZ_ALL:%=$(BUILD)/fuzz/obj/tests/fuzz/fuzz_%.o) \
	$(FUZZ_SRCS_tool:%.c=$(BUILD)/fuzz/obj/%.o)

fuzz-build: $(FUZZ_ALL:%=$(BUILD)/fuzz/fuzz-%)

# product code: coverage instrumented, no libFuzzer main
$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link \
		-MMD -MP -c $< -o $@

$(BUILD)/fuzz/fuzz-%: $(BUILD)/fuzz/obj/tests/fuzz/fuzz_%.o $(FUZZ_CORE_OBJS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(FUZZ_LDFLAGS_$*) $^ -o $@ $(LIBS)

$(BUILD)/fuzz/fuzz-tool: $(FUZZ_SRCS_tool:%.c=$(BUILD)/fuzz/obj/%.o)

$(BUILD)/fuzz/fuzz-ioctl $(BUILD)/fuzz/fuzz-datapath: $(FUZZ_CUSE_OBJS)

# The first line of a sanitizer or harness report, for the FAIL line.
FUZZ_WHY = grep -m1 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|^fuzz-[a-z]+: |SUMMARY:' "$$log" | \
	sed -e 's/^==[0-9]*==//' | cut -c1-200

fuzz: fuzz-build
	@fail=0; for t in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_BUILD)/corpus/$$t $(FUZZ_BUILD)/artifacts/$$t; \
		log=$(FUZZ_BUILD)/fuzz-$$t.log; \
		echo "== fuzz-$$t: $(FUZZ_SECONDS) s (log: $$log)"; \
		$(FUZZ_OPTS_SH); \
		if $(FUZZ_BUILD)/fuzz-$$t $$opts \
			-max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			-artifact_prefix=$(FUZZ_BUILD)/artifacts/$$t/ \
			$(FUZZ_BUILD)/corpus/$$t tests/fuzz/corpus/$$t >"$$log" 2>&1; then \
			grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)|^#[0-9]+.*DONE' "$$log" | tr '\n' ' '; echo; \
			echo "PASS: fuzz-$$t"; \
		else \
			fail=1; echo "FAIL: fuzz-$$t: $$($(FUZZ_WHY)); see $$log and $(FUZZ_BUILD)/artifacts/$$t/"; \
		fi; \
	done; exit $$fail

fuzz-check: fuzz-build
	@fail=0; for t in $(FUZZ_TARGETS); do \
		bin=$(FUZZ_BUILD)/fuzz-$$t; log=$(FUZZ_BUILD)/check-$$t.log; \
		work=$(FUZZ_BUILD)/check-corpus/$$t; rm -rf $$work; mkdir -p $$work; \
		why=; $(FUZZ_OPTS_SH); \
		for f in $$(find tests/fuzz/regress/$$t -type f 2>/dev/null | sort); do \
			if ! $$bin $$opts -artifact_prefix=$$work- $$f >"$$log" 2>&1; then \
				why="$$why$${why:+; }regression $$f: $$($(FUZZ_WHY))"; \
			fi; \
		done; \
		if [ -z "$$why" ] && ! $$bin $$opts -max_total_time=$(FUZZ_CHECK_SECONDS) \
			-artifact_prefix=$$work- $$work tests/fuzz/corpus/$$t >"$$log" 2>&1; then \
			why="$$($(FUZZ_WHY)) (reproducer: $$(ls $$work-* 2>/dev/null | head -n1))"; \
		fi; \
		if [ -n "$$why" ]; then fail=1; echo "FAIL: fuzz-$$t: $$why"; \
		else echo "PASS: fuzz-$$t"; fi; \
	done; exit $$fail

# Line coverage of what the corpora reach (seeds + build/fuzz/corpus/<t>):
#   make fuzz-coverage [FUZZ_TARGETS=datapath]   -> build/fuzz/coverage/<t>.txt
FUZZ_COV_FLAGS := -fprofile-instr-generate -fcoverage-mapping
FUZZ_COV_SRCS = $(CORE_SRCS) $(CUSE_SRCS) $(TESTLIB_SRCS)
FUZZ_PROFDATA ?= $(shell command -v llvm-profdata || command -v llvm-profdata-14)
FUZZ_COV ?= $(shell command -v llvm-cov || command -v llvm-cov-14)
# the sources each target is about
FUZZ_COV_FILES_blob := cuse_tpm/blob.c cuse_tpm/blob_read.c cuse_tpm/crypt.c
FUZZ_COV_FILES_options := cuse_tpm/options.c cuse_tpm/optvalue.c cuse_tpm/subopt.c
FUZZ_COV_FILES_ioctl := cuse_tpm/cuse_ioctl.c cuse_tpm/cuse_dev.c cuse_tpm/vtpm.c \
	cuse_tpm/vtpm_state.c cuse_tpm/tpmlib.c
FUZZ_COV_FILES_datapath := cuse_tpm/cuse_dev.c cuse_tpm/vtpm.c cuse_tpm/tpmlib.c
FUZZ_COV_FILES_tool := cuse_tpm_ioctl/client.c cuse_tpm_ioctl/commands.c \
	cuse_tpm_ioctl/report.c cuse_tpm_ioctl/main.c
FUZZ_COV_FILES_ctrl := cuse_tpm/ctrl.c cuse_tpm/vtpm.c cuse_tpm/vtpm_state.c
FUZZ_COV_FILES_rm := cuse_tpm/rm_cmd.c cuse_tpm/rm.c cuse_tpm/rm_space.c \
	cuse_tpm/rm_tpm.c
FUZZ_COV_FILES_SH = case $$t in $(foreach t,$(FUZZ_ALL),$(t)$(rparen) files="$(FUZZ_COV_FILES_$(t))";;) esac

$(BUILD)/fuzz/cov/fuzz-%: tests/fuzz/fuzz_%.c $(FUZZ_COV_SRCS) tests/fuzz/cuse_harness.c \
		tests/fuzz/core_harness.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) $(FUZZ_COV_FLAGS) -fsanitize=fuzzer \
		$(FUZZ_LDFLAGS_$*) $< $(FUZZ_COV_SRCS) $(FUZZ_SRCS_$*) -o $@ $(LIBS)

.PHONY: fuzz-coverage
fuzz-coverage: $(FUZZ_TARGETS:%=$(BUILD)/fuzz/cov/fuzz-%)
	@mkdir -p $(FUZZ_BUILD)/coverage; for t in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_BUILD)/corpus/$$t; rm -f $(FUZZ_BUILD)/coverage/$$t.*.profraw; \
		$(FUZZ_OPTS_SH); $(FUZZ_COV_FILES_SH); \
		find $(FUZZ_BUILD)/corpus/$$t tests/fuzz/corpus/$$t -type f | \
		LLVM_PROFILE_FILE=$(FUZZ_BUILD)/coverage/$$t.%p.profraw \
			xargs -r $(FUZZ_BUILD)/cov/fuzz-$$t $$opts \
			-artifact_prefix=$(FUZZ_BUILD)/coverage/$$t- >/dev/null 2>&1; \
		$(FUZZ_PROFDATA) merge -sparse $(FUZZ_BUILD)/coverage/$$t.*.profraw \
			-o $(FUZZ_BUILD)/coverage/$$t.profdata && \
		$(FUZZ_COV) show $(FUZZ_BUILD)/cov/fuzz-$$t \
			-instr-profile=$(FUZZ_BUILD)/coverage/$$t.profdata \
			-show-line-counts-or-regions >$(FUZZ_BUILD)/coverage/$$t.txt && \
		echo "== fuzz-$$t (details: $(FUZZ_BUILD)/coverage/$$t.txt)" && \
		$(FUZZ_COV) report $(FUZZ_BUILD)/cov/fuzz-$$t \
			-instr-profile=$(FUZZ_BUILD)/coverage/$$t.profdata \
			--show-region-summary=false --show-branch-summary=false \
			--show-instantiation-summary=false $$files | grep -v '^---'; \
	done
