/*
 * UEFI entry (GNU-EFI): gather what only boot services can tell, exit boot
 * services, move to a stack hvrt owns, and start the runtime.
 *
 * Everything that must outlive ExitBootServices (boot info, the memory map,
 * the stack) lives in one EfiLoaderData allocation, which the memory map then
 * reports as in use. The firmware's stack is in boot-services memory that
 * hvrt hands out afterwards, hence the switch.
 */
#include <errno.h>

#include <efi.h>
#include <efilib.h>

#include <hvrt/log.h>

#include "arch/x86_64/power.h"
#include "arch/x86_64/tsc.h"
#include "boot/bootinfo.h"
#include "boot/start.h"

#define EFI_STACK_SIZE (64 * 1024)
/* Room for descriptors the map gains between sizing it and the final call. */
#define EFI_MAP_SLACK_DESCRIPTORS 32
#define EFI_EXIT_ATTEMPTS 4

/* The one EfiLoaderData block: everything hvrt keeps from the firmware. */
struct efi_handover {
	struct hvrt_boot_info bi;
	struct boot_raw_map raw;
	EFI_RUNTIME_SERVICES *rt;
	int cmdline_error;    /* reported once the console is hvrt's */
	int load_options_binary;
	UINTN map_capacity;
	unsigned char *map;   /* follows the struct, before the stack */
	unsigned char *stack_lo, *stack_hi;
};

static void efi_puts(EFI_SYSTEM_TABLE *st, CHAR16 *s)
{
	uefi_call_wrapper(st->ConOut->OutputString, 2, st->ConOut, s);
}

static int guid_equal(const EFI_GUID *a, const EFI_GUID *b)
{
	const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
	for (unsigned i = 0; i < sizeof(EFI_GUID); i++)
		if (x[i] != y[i])
			return 0;
	return 1;
}

static uint64_t find_rsdp(EFI_SYSTEM_TABLE *st)
{
	EFI_GUID acpi20 = ACPI_20_TABLE_GUID, acpi10 = ACPI_TABLE_GUID;
	uint64_t v1 = 0;

	for (UINTN i = 0; i < st->NumberOfTableEntries; i++) {
		EFI_CONFIGURATION_TABLE *t = &st->ConfigurationTable[i];
		if (guid_equal(&t->VendorGuid, &acpi20))
			return (uint64_t)(uintptr_t)t->VendorTable;
		if (guid_equal(&t->VendorGuid, &acpi10))
			v1 = (uint64_t)(uintptr_t)t->VendorTable;
	}
	return v1;
}

static void find_framebuffer(EFI_SYSTEM_TABLE *st, struct hvrt_framebuffer *fb)
{
	EFI_GUID gop_guid = EFI_GRAPHICS_OUTPUT_PROTOCOL_GUID;
	EFI_GRAPHICS_OUTPUT_PROTOCOL *gop = NULL;

	if (uefi_call_wrapper(st->BootServices->LocateProtocol, 3, &gop_guid, NULL, (void **)&gop) != EFI_SUCCESS ||
	    !gop || !gop->Mode || !gop->Mode->Info)
		return;
	EFI_GRAPHICS_OUTPUT_MODE_INFORMATION *info = gop->Mode->Info;
	/* Only direct 32-bit pixel formats can be drawn without boot services. */
	if (info->PixelFormat != PixelBlueGreenRedReserved8BitPerColor &&
	    info->PixelFormat != PixelRedGreenBlueReserved8BitPerColor)
		return;
	*fb = (struct hvrt_framebuffer){
		.base = gop->Mode->FrameBufferBase,
		.size = gop->Mode->FrameBufferSize,
		.width = info->HorizontalResolution,
		.height = info->VerticalResolution,
		.stride = info->PixelsPerScanLine,
		.format = info->PixelFormat == PixelBlueGreenRedReserved8BitPerColor ? 0 : 1,
	};
}

/*
 * Load options are whatever the boot entry or shell put there: a UCS-2 command
 * line from the EFI shell, or opaque bytes from a boot manager entry. Only
 * printable text is taken as a command line.
 */
static void take_load_options(struct efi_handover *h, const EFI_LOADED_IMAGE *li)
{
	const CHAR16 *opt = li->LoadOptions;
	UINTN chars = li->LoadOptionsSize / sizeof(CHAR16);
	char *out = h->bi.cmdline;
	UINTN n = 0;

	out[0] = '\0';
	if (!opt || chars == 0)
		return;
	for (; n < chars && opt[n] != 0; n++) {
		CHAR16 c = opt[n];
		if ((c < 0x20 || c > 0x7e) && c != '\t') {
			h->load_options_binary = 1;
			out[0] = '\0';
			return;
		}
		if (n == HVRT_CMDLINE_MAX) {
			h->cmdline_error = -E2BIG;
			out[0] = '\0';
			return;
		}
		out[n] = (char)c;
	}
	out[n] = '\0';
}

/* The firmware power-off, for hvrt_poweroff's last resort; ctx is the runtime services table. */
static void efi_power_off(void *ctx, int status)
{
	EFI_RUNTIME_SERVICES *rs = ctx;
	uefi_call_wrapper(rs->ResetSystem, 4, EfiResetShutdown, status ? EFI_ABORTED : EFI_SUCCESS, 0, NULL);
}

/*
 * Before ExitBootServices: say why on the firmware's console and on COM1,
 * then stop the VM with the panic status rather than return into a boot
 * menu nobody watches.
 */
static __attribute__((noreturn)) void efi_fail(EFI_SYSTEM_TABLE *st, CHAR16 *message, const char *what)
{
	efi_puts(st, message);
	boot_console_init(HVRT_BOOT_UEFI);
	power_set_firmware_off(efi_power_off, st->RuntimeServices);
	boot_fail(what, -EIO);
}

/* Runs on hvrt's own stack, after ExitBootServices. */
static __attribute__((noreturn, used)) void efi_after_exit(struct efi_handover *h, UINTN map_size, UINTN desc_size)
{
	boot_console_init(HVRT_BOOT_UEFI);
	power_set_firmware_off(efi_power_off, h->rt);
	if (h->load_options_binary)
		hvrt_log(HVRT_LOG_INFO, "boot", "load options are not a text command line; ignored");
	if (h->cmdline_error) {
		hvrt_log(HVRT_LOG_ERROR, "boot", "the command line is longer than the limit of %u bytes",
			 HVRT_CMDLINE_MAX);
		boot_fail("command line", h->cmdline_error);
	}
	int err = bootinfo_parse_efi_map(&h->bi, h->map, map_size, desc_size);
	if (err)
		boot_fail("UEFI memory map", err);
	h->raw = (struct boot_raw_map){ .data = h->map, .size = map_size, .desc_size = desc_size };
	hvrt_start(&h->bi, &h->raw, (uint64_t)(uintptr_t)h->stack_lo, (uint64_t)(uintptr_t)h->stack_hi);
}

static __attribute__((noreturn)) void switch_stack(struct efi_handover *h, UINTN map_size, UINTN desc_size)
{
	/* UEFI does not promise interrupts off after ExitBootServices; the firmware's handlers are gone. */
	__asm__ volatile("cli\n\t"
			 "movq %0, %%rsp\n\t"
			 "xorl %%ebp, %%ebp\n\t"
			 "call efi_after_exit\n\t"
			 "ud2"
			 :
			 : "r"(h->stack_hi), "D"(h), "S"(map_size), "d"(desc_size)
			 : "memory");
	__builtin_unreachable();
}

/*
 * Not EFIAPI: GNU-EFI's crt0 receives the firmware's Microsoft-ABI arguments
 * and calls efi_main with the System V convention. Calls into the firmware
 * are ms_abi (GNU_EFI_USE_MS_ABI).
 */
EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *st);

/* boot/efi/reloc.S: must stay in the image (see there). */
extern const char efi_reloc_block[];

/*
 * efi_main - GNU-EFI's entry
 * @image: this image's handle
 * @st:    the system table
 * Return: an EFI error only when hvrt cannot start; otherwise it never returns.
 */
EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *st)
{
	EFI_BOOT_SERVICES *bs = st->BootServices;
	EFI_GUID li_guid = LOADED_IMAGE_PROTOCOL;
	EFI_LOADED_IMAGE *li = NULL;
	EFI_STATUS status;

	__asm__ volatile("" ::"r"(efi_reloc_block));
	tsc_mark_start();
	status = uefi_call_wrapper(bs->HandleProtocol, 3, image, &li_guid, (void **)&li);
	if (status != EFI_SUCCESS || !li)
		efi_fail(st, L"hvrt: no loaded-image protocol; cannot start\r\n", "no UEFI loaded-image protocol");

	/* Size the map, with slack for the allocation below and whatever else changes. */
	UINTN map_size = 0, map_key, desc_size = 0;
	UINT32 desc_version;
	status = uefi_call_wrapper(bs->GetMemoryMap, 5, &map_size, NULL, &map_key, &desc_size, &desc_version);
	if (status != EFI_BUFFER_TOO_SMALL || map_size == 0)
		efi_fail(st, L"hvrt: the firmware gives no memory map; cannot start\r\n", "UEFI GetMemoryMap failed");
	if (desc_size < EFI_MEMORY_DESCRIPTOR_SIZE)
		desc_size = EFI_MEMORY_DESCRIPTOR_SIZE;
	UINTN map_capacity = map_size + EFI_MAP_SLACK_DESCRIPTORS * desc_size;

	UINTN head = (sizeof(struct efi_handover) + 15) & ~(UINTN)15;
	/* A spare page below the stack: hvrt_start leaves it unmapped to catch overflows. */
	UINTN total = head + ((map_capacity + 15) & ~(UINTN)15) + EFI_PAGE_SIZE + EFI_STACK_SIZE;
	EFI_PHYSICAL_ADDRESS block = 0;
	status = uefi_call_wrapper(bs->AllocatePages, 4, AllocateAnyPages, EfiLoaderData,
				   EFI_SIZE_TO_PAGES(total), &block);
	if (status != EFI_SUCCESS)
		efi_fail(st, L"hvrt: cannot allocate boot memory; cannot start\r\n", "UEFI AllocatePages failed");
	struct efi_handover *h = (struct efi_handover *)(uintptr_t)block;
	bs->SetMem(h, sizeof(*h), 0);
	h->map = (unsigned char *)h + head;
	h->map_capacity = map_capacity;
	h->stack_lo = (unsigned char *)(uintptr_t)block + EFI_SIZE_TO_PAGES(total) * EFI_PAGE_SIZE - EFI_STACK_SIZE;
	h->stack_hi = h->stack_lo + EFI_STACK_SIZE;
	h->rt = st->RuntimeServices;
	h->bi.path = HVRT_BOOT_UEFI;
	h->bi.acpi_rsdp = find_rsdp(st);
	h->bi.image_base = (uint64_t)(uintptr_t)li->ImageBase;
	h->bi.image_end = h->bi.image_base + li->ImageSize;
	h->bi.efi_system_table = (uint64_t)(uintptr_t)st;
	find_framebuffer(st, &h->bi.fb);
	take_load_options(h, li);

	/*
	 * ExitBootServices fails with EFI_INVALID_PARAMETER when the map changed
	 * since GetMemoryMap (a timer event may allocate): fetch it again, with
	 * no allocation in between, and retry.
	 */
	int tried_exit = 0;
	for (int attempt = 0; attempt < EFI_EXIT_ATTEMPTS; attempt++) {
		map_size = h->map_capacity;
		status = uefi_call_wrapper(bs->GetMemoryMap, 5, &map_size, (EFI_MEMORY_DESCRIPTOR *)h->map,
					   &map_key, &desc_size, &desc_version);
		if (status != EFI_SUCCESS)
			break;
		tried_exit = 1;
		status = uefi_call_wrapper(bs->ExitBootServices, 2, image, map_key);
		if (status == EFI_SUCCESS)
			switch_stack(h, map_size, desc_size);
	}
	if (!tried_exit)
		efi_fail(st, L"hvrt: GetMemoryMap failed; cannot start\r\n", "UEFI GetMemoryMap failed");
	/*
	 * After a failed ExitBootServices only GetMemoryMap may be called: the
	 * firmware may be half shut down. Report on COM1 and stop.
	 */
	boot_console_init(HVRT_BOOT_UEFI);
	boot_fail("ExitBootServices failed", -EIO);
}
