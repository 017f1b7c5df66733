# Fuzzing: libFuzzer targets for the parsers of host input (tests/fuzz/), built with clang, AddressSanitizer
# and UBSan. `make test` runs fuzz-smoke as one of its checks.
#
#   make fuzz            builds build/fuzz/fuzz_NAME for each target and runs it for FUZZ_SECONDS (60) on
#                        build/fuzz/corpus/NAME, which starts from and grows beyond tests/fuzz/seeds/NAME;
#                        a crash is written to build/fuzz/artifacts/NAME-crash-<sha1>
#   make fuzz-smoke      each target for FUZZ_RUNS (20000) runs from -seed=1 on its seeds only (the same
#                        mutations each time; the cov: figure still moves a little, since the code compares
#                        addresses); fails on a crash
#   make fuzz-bins       only builds them
#
#   make fuzz FUZZ_TARGETS=vmbus_ring FUZZ_SECONDS=300 FUZZ_ARGS="-jobs=2 -workers=2"
#
# A target NAME is tests/fuzz/fuzz_NAME.c and the library sources in FUZZ_NAME_SRCS, compiled hosted
# (-DHVRT_HOSTED) as the unit tests are. Its log is build/fuzz/NAME.log; the last line printed for it has
# libFuzzer's coverage (cov:) and speed (exec/s). docs/testing.md says what each target does.

FUZZ_TARGETS ?= vmbus_ring vmbus_messages
FUZZ_SECONDS ?= 60
FUZZ_RUNS    ?= 20000
FUZZ_ARGS    ?=
FUZZ_CC      ?= clang

FUZZ_CFLAGS := -std=c11 -g -O1 -Wall -Wextra -Werror -DHVRT_HOSTED -D_DEFAULT_SOURCE -I. -Iinclude \
               -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# -timeout: one input running 10 s is a hang. -rss_limit_mb: ASan's quarantine alone keeps 256 MB; the targets
# settle at 500 to 700 MB.
FUZZ_FLAGS  := -timeout=10 -rss_limit_mb=4096

# vmbus/ring.c alone.
FUZZ_vmbus_ring_SRCS := vmbus/ring.c
FUZZ_vmbus_ring_LIBS :=
FUZZ_vmbus_ring_SKIP :=
FUZZ_vmbus_ring_CHECK := true
# The guest's hv/ and vmbus/ on the simulated Hyper-V and VMBus host. vmbus/ files with state are compiled
# through tests/fuzz/state/ (each input starts from the same guest: tests/fuzz/state.h). The simulators fail
# through cmocka's fail_msg; --wrap=_fail turns that into an abort (tests/fuzz/fuzz_vmbus_messages.c).
FUZZ_STATE_FILES := capture_api channel connection driver events gpadl offer
FUZZ_vmbus_messages_SRCS = $(sort $(wildcard hv/*.c)) \
                           $(filter-out $(patsubst %,vmbus/%.c,$(FUZZ_STATE_FILES)),$(sort $(wildcard vmbus/*.c))) \
                           $(patsubst %,tests/fuzz/state/%.c,$(FUZZ_STATE_FILES)) $(patsubst %,vmbus/%.c,$(FUZZ_STATE_FILES)) \
                           arch/x86_64/console.c arch/x86_64/fmt.c tests/hostsim/cpu_sim.c tests/hostsim/hv_sim.c \
                           tests/hostsim/irq_sim.c tests/hostsim/runtime_sim.c tests/hostsim/vmbus_sim.c
FUZZ_vmbus_messages_LIBS := -lcmocka -Wl,--wrap=_fail
# The wrapped files are prerequisites (they are #included), not compiled on their own: the rule filters them.
FUZZ_vmbus_messages_SKIP = $(patsubst %,vmbus/%.c,$(FUZZ_STATE_FILES))
# A vmbus/ file with a file-scope static struct and no wrapper would keep its state from input to input.
FUZZ_vmbus_messages_CHECK = for f in $$(grep -l '^static struct [a-z_]* {' vmbus/*.c); do \
	[ -f tests/fuzz/state/$$(basename $$f) ] || { echo "$$f keeps state: add tests/fuzz/state/$$(basename $$f)," \
	"list it in FUZZ_STATE_FILES and its getter in state_of[] of tests/fuzz/fuzz_vmbus_messages.c" \
	"(tests/fuzz/state.h)"; exit 1; }; done

FUZZ_DIR     := $(BUILD)/fuzz
FUZZ_BINS    := $(patsubst %,$(FUZZ_DIR)/fuzz_%,$(FUZZ_TARGETS))
FUZZ_HEADERS = $(HOST_HEADERS) $(wildcard tests/fuzz/*.h)

define fuzz_rule
$(FUZZ_DIR)/fuzz_$(1): tests/fuzz/fuzz_$(1).c $$(FUZZ_$(1)_SRCS) $$(FUZZ_HEADERS) mk/fuzz.mk | $$(DEPS_STAMP)
	@mkdir -p $$(@D)
	@echo "  FUZZCC  $$@"
	$$(Q)$$(FUZZ_$(1)_CHECK)
	$$(Q)$$(FUZZ_CC) $$(FUZZ_CFLAGS) tests/fuzz/fuzz_$(1).c $$(filter-out $$(FUZZ_$(1)_SKIP),$$(FUZZ_$(1)_SRCS)) \
		$$(FUZZ_$(1)_LIBS) -o $$@
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call fuzz_rule,$(t))))

.PHONY: fuzz fuzz-smoke fuzz-bins
fuzz-bins: $(FUZZ_BINS)

# Every target runs even when one crashes; the status says whether any did. The last progress line of each
# log is its summary.
fuzz: $(FUZZ_BINS)
	$(Q)fail=0; for t in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_DIR)/corpus/$$t $(FUZZ_DIR)/artifacts; \
		echo "  FUZZ    $$t for $(FUZZ_SECONDS) s (log $(FUZZ_DIR)/$$t.log)"; \
		if ! $(FUZZ_DIR)/fuzz_$$t $(FUZZ_FLAGS) -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			-artifact_prefix=$(FUZZ_DIR)/artifacts/$$t- $(FUZZ_ARGS) \
			$(FUZZ_DIR)/corpus/$$t tests/fuzz/seeds/$$t > $(FUZZ_DIR)/$$t.log 2>&1; then \
			fail=1; echo "  FAIL    $$t: (last lines of its log)"; tail -n 40 $(FUZZ_DIR)/$$t.log; fi; \
		grep -E '^#[0-9]+' $(FUZZ_DIR)/$$t.log | tail -n 1 | sed "s/^/          $$t: /"; \
	done; exit $$fail

# Deterministic: an empty scratch corpus first (new units go there, not into the seeds), then the seeds.
fuzz-smoke: $(FUZZ_BINS)
	$(Q)fail=0; for t in $(FUZZ_TARGETS); do \
		rm -rf $(FUZZ_DIR)/smoke/$$t; mkdir -p $(FUZZ_DIR)/smoke/$$t $(FUZZ_DIR)/artifacts; \
		echo "  FUZZ    $$t: $(FUZZ_RUNS) runs, seed 1 (log $(FUZZ_DIR)/$$t-smoke.log)"; \
		if ! $(FUZZ_DIR)/fuzz_$$t $(FUZZ_FLAGS) -runs=$(FUZZ_RUNS) -seed=1 -print_final_stats=1 \
			-artifact_prefix=$(FUZZ_DIR)/artifacts/$$t- $(FUZZ_ARGS) \
			$(FUZZ_DIR)/smoke/$$t tests/fuzz/seeds/$$t > $(FUZZ_DIR)/$$t-smoke.log 2>&1; then \
			fail=1; echo "  FAIL    $$t: (last lines of its log)"; tail -n 40 $(FUZZ_DIR)/$$t-smoke.log; fi; \
		grep -E '^#[0-9]+' $(FUZZ_DIR)/$$t-smoke.log | tail -n 1 | sed "s/^/          $$t: /"; \
	done; exit $$fail
