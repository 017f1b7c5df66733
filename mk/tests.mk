# Tests: hosted cmocka unit tests and QEMU boot tests, one runner for both.
#
# Each tests/unit/NAME.mk adds NAME to UNIT_TESTS and lists UNIT_NAME_SRCS:
# the test file and the library sources it exercises, compiled for Linux with
# -DHVRT_HOSTED (arch/x86_64/cpu.h then uses tests/hostsim's simulated CPU).

UNIT_TESTS :=
include $(sort $(wildcard tests/unit/*.mk))

HOST_CC      ?= gcc
HOST_CFLAGS  := -std=c11 -g -O1 -Wall -Wextra -Werror -DHVRT_HOSTED -D_DEFAULT_SOURCE -I. -Iinclude \
                -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
HOST_HEADERS := $(shell find include arch boot libc-glue hv vmbus tests/hostsim tests/unit -name '*.h' -o -name '*.def')
UNIT_BINS    := $(patsubst %,$(BUILD)/tests/unit/test_%,$(UNIT_TESTS))

define unit_rule
$(BUILD)/tests/unit/test_$(1): $$(UNIT_$(1)_SRCS) $$(HOST_HEADERS) tests/unit/$(1).mk | $$(DEPS_STAMP)
	@mkdir -p $$(@D)
	@echo "  HOSTCC  $$@"
	$$(Q)$$(HOST_CC) $$(HOST_CFLAGS) $$(UNIT_$(1)_SRCS) -lcmocka -o $$@
endef
$(foreach t,$(UNIT_TESTS),$(eval $(call unit_rule,$(t))))

.PHONY: unit-bins
unit-bins: $(UNIT_BINS)

# The project builds warning-free under clang too: every library, EFI and example source with the
# same flags (clang's own headers instead of gcc's), and the unit tests.
CLANG_INCLUDE = $(shell clang -print-resource-dir)/include
CLANG_SRCS    = $(filter %.c,$(LIB_SRCS))
.PHONY: clang-check
clang-check: $(NEWLIB_STAMP)
	$(Q)for f in $(CLANG_SRCS); do \
		clang $(subst $(GCC_INCLUDE),$(CLANG_INCLUDE),$(LIB_CFLAGS)) -c $$f -o /dev/null || exit 1; done
	$(Q)for f in $(filter %.c,$(EFI_SRCS)); do \
		clang $(subst $(GCC_INCLUDE),$(CLANG_INCLUDE),$(EFI_CFLAGS)) -c $$f -o /dev/null || exit 1; done
	$(Q)for e in $(EXAMPLES); do \
		clang $(subst $(GCC_INCLUDE),$(CLANG_INCLUDE),$(APP_CFLAGS)) -Werror -c examples/$$e/main.c -o /dev/null || exit 1; done
	$(Q)$(MAKE) -s --no-print-directory unit-bins HOST_CC=clang BUILD=$(BUILD)/clang >/dev/null

# make test: everything, last line "N passed, N failed".
test: examples test-images $(UNIT_BINS)
	$(Q)python3 tests/run.py --unit $(UNIT_BINS) --boot --nested --nested-dir $(BUILD)/nested --qemu-dir $(BUILD)/qemu --check "clang builds without warnings=$(MAKE) -s --no-print-directory clang-check" \
		--check "fuzz targets survive $(FUZZ_RUNS) runs each (make fuzz-smoke)=$(MAKE) -s --no-print-directory fuzz-smoke"

test-unit: $(UNIT_BINS)
	$(Q)python3 tests/run.py --unit $(UNIT_BINS)

test-boot: examples test-images
	$(Q)python3 tests/run.py --boot

# The nested real host (tests/nested/): KVM's Hyper-V and QEMU's VMBus server inside TCG QEMU. Its
# outer guest is built once into $(BUILD)/nested (tests/nested/build-rig.sh, cached by a stamp), after
# the rebuilt QEMU with the hvrt-test device that it also packs (tests/qemu/build-qemu.sh, cached in
# $(BUILD)/qemu: some 3 minutes the first time). docs/testing.md.
.PHONY: test-nested
test-nested: examples test-images
	$(Q)python3 tests/run.py --nested --nested-dir $(BUILD)/nested --qemu-dir $(BUILD)/qemu

bench: examples test-images $(BUILD)/bench/floor-gen2.img $(BUILD)/bench/floor.elf $(BUILD)/bench/ring_bench \
       $(BUILD)/bench/vmbus_ctl_bench $(BUILD)/bench/vmbus_chan_bench
	$(Q)python3 tests/boot/bench.py --build $(BUILD)
	$(Q)python3 tests/bench/ring_bench.py $(BUILD)/bench/ring_bench
	$(Q)python3 tests/bench/vmbus_ctl_bench.py $(BUILD)/bench/vmbus_ctl_bench
	$(Q)python3 tests/nested/connect_bench.py
	$(Q)python3 tests/nested/chan_bench.py --build $(BUILD)/nested --qemu-dir $(BUILD)/qemu \
		--image $(BUILD)/tests/images/chanbench/chanbench.elf --sim $(BUILD)/bench/vmbus_chan_bench

# The ring benchmark (tests/bench/ring_bench.c, run under callgrind): vmbus/ring.c with the library's own
# flags less newlib's headers, so the same -Os code, but hosted: its memcpy is glibc's. No sanitizers.
RING_BENCH_CFLAGS = $(filter-out -nostdinc -isystem $(NEWLIB)/include $(GCC_INCLUDE),$(LIB_CFLAGS))
$(BUILD)/bench/ring_bench: tests/bench/ring_bench.c vmbus/ring.c vmbus/ring.h vmbus/vmbus_defs.h $(FLAGS_STAMP) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	@echo "  HOSTCC  $@"
	$(Q)$(CC) $(RING_BENCH_CFLAGS) -c vmbus/ring.c -o $@-ring.o
	$(Q)$(CC) -std=c11 -Os -g -Wall -Wextra -Werror -I. -Iinclude tests/bench/ring_bench.c $@-ring.o -o $@

# Control messages through the simulated VMBus host (tests/bench/vmbus_ctl_bench.c): the guest's hv/ and
# vmbus/ with the simulator, hosted, at -O2 without sanitizers (its CPU time and callgrind's counts are
# the measurement); the sim's checks stay on, so it links cmocka for them.
VMBUS_CTL_BENCH_SRCS = $(sort $(wildcard hv/*.c)) $(sort $(wildcard vmbus/*.c)) arch/x86_64/console.c \
                       arch/x86_64/fmt.c tests/hostsim/cpu_sim.c tests/hostsim/hv_sim.c tests/hostsim/irq_sim.c \
                       tests/hostsim/runtime_sim.c tests/hostsim/vmbus_sim.c tests/bench/vmbus_ctl_bench.c
$(BUILD)/bench/vmbus_ctl_bench: $(VMBUS_CTL_BENCH_SRCS) $(HOST_HEADERS) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	@echo "  HOSTCC  $@"
	$(Q)$(HOST_CC) -std=c11 -O2 -g -Wall -Wextra -Werror -DHVRT_HOSTED -D_DEFAULT_SOURCE -I. -Iinclude \
		$(VMBUS_CTL_BENCH_SRCS) -lcmocka -o $@

# Packets through the simulated host's echo device (tests/bench/vmbus_chan_bench.c), built the same way, with
# the nested guest image's workloads (tests/nested/chanbench/workloads.h) so that both run the same loops.
VMBUS_CHAN_BENCH_SRCS = $(filter-out tests/bench/vmbus_ctl_bench.c,$(VMBUS_CTL_BENCH_SRCS)) tests/bench/vmbus_chan_bench.c
$(BUILD)/bench/vmbus_chan_bench: $(VMBUS_CHAN_BENCH_SRCS) tests/nested/chanbench/workloads.h $(HOST_HEADERS) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	@echo "  HOSTCC  $@"
	$(Q)$(HOST_CC) -std=c11 -O2 -g -Wall -Wextra -Werror -DHVRT_HOSTED -D_DEFAULT_SOURCE -I. -Iinclude \
		$(VMBUS_CHAN_BENCH_SRCS) -lcmocka -o $@

# Floors for the boot-time benchmark: the same boot paths with an image that
# prints one line and exits, and nothing of hvrt in it.
$(BUILD)/bench/floor.o: tests/boot/floor/floor_efi.c $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(Q)$(CC) -std=c11 -O2 -Wall -Wextra -Werror -ffreestanding -fno-stack-protector -fpic -fshort-wchar \
		-mno-red-zone -DGNU_EFI_USE_MS_ABI -I$(EFI_INC) -I$(EFI_INC)/x86_64 -c $< -o $@
$(BUILD)/bench/floor.efi: $(BUILD)/bench/floor.o
	$(Q)$(LD) -shared -Bsymbolic -nostdlib -znocombreloc -z defs -T $(EFI_LDS) $(EFI_CRT0) $< \
		$(EFI_LIBS) -o $(BUILD)/bench/floor.so
	$(Q)$(OBJCOPY) -j .text -j .sdata -j .data -j .rodata -j .dynamic -j .dynsym -j .rel -j .rela \
		-j .rel.* -j .rela.* -j .reloc --strip-all --target efi-app-x86_64 --subsystem=10 \
		$(BUILD)/bench/floor.so $@
$(BUILD)/bench/floor.elf: tests/boot/floor/floor_multiboot.S $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(Q)as --32 $< -o $(BUILD)/bench/floor_mb.o
	$(Q)$(LD) -m elf_i386 -static -nostdlib -Ttext=0x100000 -e floor_entry --build-id=none \
		$(BUILD)/bench/floor_mb.o -o $@
$(BUILD)/bench/floor-gen2.img: $(BUILD)/bench/floor.efi
	$(Q)sh tools/mkgptimg.sh $< $@
