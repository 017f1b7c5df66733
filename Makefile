# hvrt: build the runtime, its examples and their boot images; run the tests.
#
#   make                 libhvrt.a and every example's .efi, .elf, Gen1 ISO and Gen2 disk image
#   make run             boot an example in QEMU (EXAMPLE=hello GEN=2 ARGS="..."; with ARGS, Gen2
#                        goes through the UEFI shell to pass them)
#   make test            unit, QEMU boot and nested-host tests (the nested ones build tests/qemu's
#                        QEMU into build/qemu first: about 3.5 min once); ends with "N passed, N failed"
#   make bench           image sizes and boot time to main() beside a floor, VMBus ring, control message,
#                        connection and channel packet costs (docs/testing.md)
#   make APP=dir         build your own app from the C files in dir (see docs/build.md)
#
# Prerequisites install themselves on Debian 12 (tools/install-deps.sh).

BUILD       := build
EXAMPLES    := hello crash hvinfo lsvmbus
EXAMPLE     ?= hello
GEN         ?= 2
ARGS        ?=
V           ?= 0

Q := $(if $(filter 1,$(V)),,@)

CC          := gcc
LD          := ld
AR          := ar
OBJCOPY     := objcopy
STRIP       := strip

DEPS_STAMP  := $(BUILD)/.deps-installed
NEWLIB_DIR  := $(BUILD)/newlib
NEWLIB      := $(NEWLIB_DIR)/x86_64-elf
NEWLIB_STAMP:= $(NEWLIB_DIR)/.built
LIBC        := $(NEWLIB)/lib/libc.a $(NEWLIB)/lib/libm.a
# Recursive (=): on a fresh machine gcc appears only once tools/install-deps.sh has run.
GCC_INCLUDE = $(shell $(CC) -print-file-name=include)
LIBGCC      = $(shell $(CC) -print-libgcc-file-name)

EFI_INC     := /usr/include/efi
EFI_LDS     := /usr/lib/elf_x86_64_efi.lds
EFI_CRT0    := /usr/lib/crt0-efi-x86_64.o
EFI_LIBS    := /usr/lib/libgnuefi.a /usr/lib/libefi.a

# Every object: freestanding, no red zone (interrupts run on the same stack),
# position independent so one object links into the relocated EFI image and
# the fixed-address multiboot ELF, frame pointers for backtraces.
BASE_CFLAGS = -g -Wall -Wextra -Wmissing-prototypes \
               -ffreestanding -fno-stack-protector -mno-red-zone -fpie -fno-omit-frame-pointer \
               -fno-asynchronous-unwind-tables -ffunction-sections -fvisibility=hidden \
               -nostdinc -isystem $(NEWLIB)/include -isystem $(GCC_INCLUDE) -Iinclude
# The runtime itself never touches SSE state, so interrupt handlers need not save it.
LIB_CFLAGS  = $(BASE_CFLAGS) -Werror -std=c11 -Os -mgeneral-regs-only -I.
EFI_CFLAGS  = $(LIB_CFLAGS) -fshort-wchar -DGNU_EFI_USE_MS_ABI -I$(EFI_INC) -I$(EFI_INC)/x86_64
# Warnings stop the build of hvrt and its examples; a user's app (make APP=) only sees them.
APP_CFLAGS  = $(BASE_CFLAGS) -std=gnu11 -O2
ASFLAGS     := -fpie -I. -Iinclude

LIB_SRCS := $(wildcard arch/x86_64/*.c arch/x86_64/*.S boot/*.c boot/multiboot/*.c boot/multiboot/*.S libc-glue/*.c \
              hv/*.c vmbus/*.c)
EFI_SRCS := $(wildcard boot/efi/*.c boot/efi/*.S)
LIB_OBJS := $(patsubst %,$(BUILD)/obj/%.o,$(LIB_SRCS)) $(patsubst %,$(BUILD)/obj/%.o,$(EFI_SRCS))
LIBHVRT  := $(BUILD)/libhvrt.a

.PHONY: all lib examples run test test-unit test-boot bench clean distclean deps newlib
.DEFAULT_GOAL := all
.DELETE_ON_ERROR:

all: examples

deps: $(DEPS_STAMP)
$(DEPS_STAMP): tools/install-deps.sh
	$(Q)mkdir -p $(@D)
	$(Q)sh tools/install-deps.sh
	$(Q)touch $@

newlib: $(NEWLIB_STAMP)
$(NEWLIB_STAMP): libc-glue/build-newlib.sh | $(DEPS_STAMP)
	@echo "  NEWLIB  $(NEWLIB_DIR) (once, about a minute)"
	$(Q)sh libc-glue/build-newlib.sh $(NEWLIB_DIR)
	$(Q)touch $@

# Objects rebuild when the flags change: the stamp is rewritten only when they differ.
FLAGS_STAMP := $(BUILD)/.flags
FLAGS_NOW   := $(subst $(GCC_INCLUDE),GCC,$(LIB_CFLAGS) | $(EFI_CFLAGS) | $(APP_CFLAGS) | $(ASFLAGS))
$(shell mkdir -p $(BUILD); [ "$$(cat $(FLAGS_STAMP) 2>/dev/null)" = '$(FLAGS_NOW)' ] || echo '$(FLAGS_NOW)' > $(FLAGS_STAMP))

# Every object waits for newlib's headers; a header change rebuilds its users (-MMD).
$(BUILD)/obj/boot/efi/%.c.o: boot/efi/%.c $(NEWLIB_STAMP) $(FLAGS_STAMP)
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(EFI_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/%.c.o: %.c $(NEWLIB_STAMP) $(FLAGS_STAMP)
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(LIB_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/%.S.o: %.S $(DEPS_STAMP) $(FLAGS_STAMP)
	@mkdir -p $(@D)
	@echo "  AS      $<"
	$(Q)$(CC) $(ASFLAGS) -MMD -MP -c $< -o $@

lib: $(LIBHVRT)
$(LIBHVRT): $(LIB_OBJS)
	@echo "  AR      $@"
	$(Q)rm -f $@ && $(AR) rcs $@ $^

include mk/images.mk
include mk/tests.mk
include mk/fuzz.mk

-include $(shell find $(BUILD)/obj $(BUILD)/examples $(BUILD)/apps -name '*.d' 2>/dev/null)

clean:
	rm -rf $(BUILD)/obj $(BUILD)/examples $(BUILD)/apps $(BUILD)/tests $(BUILD)/bench $(LIBHVRT)

distclean:
	rm -rf $(BUILD)
