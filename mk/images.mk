# Linking apps into boot images: hvrt.efi (Gen2), .elf (multiboot, Gen1), a
# BIOS-bootable GRUB ISO (Gen1) and a GPT disk with an EFI system partition
# (Gen2). No root, loop devices or mounts: mtools and sgdisk work on files.

# An app's objects: one per source, in its image's folder (sources of one app have different names).
app_objs = $(foreach s,$(2),$(1)/$(notdir $(s:.c=.o)))

# $(call app_object,OBJECT,SOURCE,EXTRA_CFLAGS)
define app_object
$(1): $(2) $$(NEWLIB_STAMP) $$(FLAGS_STAMP)
	@mkdir -p $$(@D)
	@echo "  CC      $(2)"
	$$(Q)$$(CC) $$(APP_CFLAGS) $(3) -MMD -MP -c $(2) -o $$@
endef

# $(call app_rules,NAME,OUTDIR,SOURCES,EXTRA_CFLAGS): SOURCES are one or more .c files, each
# compiled to its own object (and dependency file: the Makefile reads only some folders' .d files,
# so each app reads its own), all of them linked into each image.
define app_rules
$(foreach s,$(3),$(eval $(call app_object,$(call app_objs,$(2),$(s)),$(s),$(4))))
-include $(patsubst %.o,%.d,$(call app_objs,$(2),$(3)))

# GNU-EFI's start-up code applies only R_X86_64_RELATIVE relocations: -z defs
# turns a missing symbol into a link error instead of a jump into nowhere.
$(2)/$(1).so: $(call app_objs,$(2),$(3)) $$(LIBHVRT) $$(LIBC) mk/images.mk
	@echo "  LD      $$@"
	$$(Q)$$(LD) -shared -Bsymbolic -nostdlib -znocombreloc -z noexecstack -z defs --gc-sections --exclude-libs ALL -T $$(EFI_LDS) \
		$$(EFI_CRT0) $(call app_objs,$(2),$(3)) --start-group $$(LIBHVRT) $$(LIBC) $$(LIBGCC) $$(EFI_LIBS) --end-group \
		-o $$@
	$$(Q)! readelf -r $$@ | grep -q JUMP_SLOT || { echo "$$@: unresolved PLT relocations" >&2; rm -f $$@; exit 1; }

$(2)/$(1).efi: $(2)/$(1).so
	@echo "  EFI     $$@"
	$$(Q)$$(OBJCOPY) -j .text -j .sdata -j .data -j .rodata -j .dynamic -j .dynsym -j .rel \
		-j .rela -j .rel.* -j .rela.* -j .reloc --strip-all --target efi-app-x86_64 --subsystem=10 $$< $$@

$(2)/$(1).elf: $(call app_objs,$(2),$(3)) $$(LIBHVRT) $$(LIBC) linker.ld mk/images.mk
	@echo "  LD      $$@"
	$$(Q)$$(LD) -static -nostdlib -z max-page-size=0x1000 -z noexecstack --no-warn-rwx-segments --gc-sections --build-id=none -T linker.ld \
		-u multiboot_entry $(call app_objs,$(2),$(3)) \
		--start-group $$(LIBHVRT) $$(LIBC) $$(LIBGCC) --end-group -o $$@.full
	$$(Q)$$(STRIP) -o $$@ $$@.full

$(2)/$(1)-gen1.iso: $(2)/$(1).elf
	@echo "  ISO     $$@"
	$$(Q)sh tools/mkiso.sh $$< $$@

$(2)/$(1)-gen2.img: $(2)/$(1).efi
	@echo "  IMG     $$@"
	$$(Q)sh tools/mkgptimg.sh $$< $$@
endef

EXAMPLE_OUT = $(BUILD)/examples/$(1)
, := ,
$(foreach e,$(EXAMPLES),$(eval $(call app_rules,$(e),$(call EXAMPLE_OUT,$(e)),examples/$(e)/main.c,-Werror)))

EXAMPLE_IMAGES := $(foreach e,$(EXAMPLES),$(addprefix $(call EXAMPLE_OUT,$(e))/$(e),.efi .elf -gen1.iso -gen2.img))
examples: $(LIBHVRT) $(EXAMPLE_IMAGES)

# Test images: apps that also use the runtime's internal headers (-I.), built like the examples
# from every .c file in their folder.
TEST_IMAGES    := hvtest vmbustest chanbench chantest
TEST_IMAGE_OUT  = $(BUILD)/tests/images/$(1)
TEST_IMAGE_SRCS = $(sort $(wildcard tests/nested/$(1)/*.c))
$(foreach t,$(TEST_IMAGES),$(eval $(call app_rules,$(t),$(call TEST_IMAGE_OUT,$(t)),$(call TEST_IMAGE_SRCS,$(t)),-Werror -I.)))
TEST_IMAGE_FILES := $(foreach t,$(TEST_IMAGES),$(addprefix $(call TEST_IMAGE_OUT,$(t))/$(t),.efi .elf -gen2.img))
.PHONY: test-images
test-images: $(LIBHVRT) $(TEST_IMAGE_FILES)

# make APP=path/to/dir: the app's single main.c (or APP_SRC=file.c) gives build/apps/NAME/NAME.*
ifneq ($(APP),)
APP_NAME := $(notdir $(patsubst %/,%,$(APP)))
APP_SRC ?= $(APP)/main.c
$(eval $(call app_rules,$(APP_NAME),$(BUILD)/apps/$(APP_NAME),$(APP_SRC)))
all: $(addprefix $(BUILD)/apps/$(APP_NAME)/$(APP_NAME),.efi .elf -gen1.iso -gen2.img)
endif

# make run: serial on this terminal; QEMU exits when the app does.
OVMF := /usr/share/ovmf/OVMF.fd
# Gen2 with ARGS: the UEFI shell runs the .efi from a FAT folder with that command line (after
# its 5-second countdown); without ARGS, OVMF boots the GPT disk image as Hyper-V would.
RUN_ESP = $(BUILD)/run-esp
run: examples
ifeq ($(GEN),1)
	qemu-system-x86_64 -nodefaults -machine pc -accel tcg -m 128 -display none -serial stdio \
		-device isa-debug-exit,iobase=0xf4,iosize=1 -no-reboot \
		-kernel $(call EXAMPLE_OUT,$(EXAMPLE))/$(EXAMPLE).elf $(if $(ARGS),-append "$(ARGS)") ; \
		s=$$?; echo "QEMU exit $$s (app exit status $$(( s >> 1 )))"; [ $$s = 1 ]
else
	@rm -rf $(RUN_ESP) && mkdir -p $(RUN_ESP)
	@cp $(call EXAMPLE_OUT,$(EXAMPLE))/$(EXAMPLE).efi $(RUN_ESP)/
	@printf 'fs0:\\%s.efi %s\r\n' "$(EXAMPLE)" "$(ARGS)" > $(RUN_ESP)/startup.nsh
	qemu-system-x86_64 -nodefaults -machine q35 -accel tcg -m 256 -bios $(OVMF) -display none \
		-serial stdio -device isa-debug-exit,iobase=0xf4,iosize=1 -no-reboot \
		$(if $(ARGS),-drive file=fat:rw:$(RUN_ESP)$(,)format=raw$(,)if=ide, \
		-drive file=$(call EXAMPLE_OUT,$(EXAMPLE))/$(EXAMPLE)-gen2.img$(,)format=raw$(,)if=ide$(,)snapshot=on) ; \
		s=$$?; echo "QEMU exit $$s (app exit status $$(( s >> 1 )))"; [ $$s = 1 ]
endif
