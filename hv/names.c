/*
 * Names for the Hyper-V bits and status codes, for hvinfo and error messages.
 * Arrays of characters, not of pointers: each pointer would cost the EFI
 * image a relocation entry.
 * From ../shared/docs/hyperv-protocol-facts.md sections 1.2 and 1.5.
 */
#include <stddef.h>

#include <hvrt/hv.h>

static const char privilege_msr_names[32][36] = {
	[0] = "VP_RUNTIME",          [1] = "TIME_REF_COUNT",      [2] = "SynIC",
	[3] = "synthetic timers",    [4] = "APIC MSRs, VP assist", [5] = "hypercall MSRs",
	[6] = "VP_INDEX",            [7] = "RESET",               [8] = "statistics pages",
	[9] = "reference TSC page",  [10] = "guest idle",         [11] = "frequency MSRs",
	[12] = "debug MSRs",         [13] = "re-enlightenment",   [14] = "root scheduler",
	[15] = "TSC invariant control",
};

static const char privilege_call_names[32][36] = {
	[0] = "CreatePartitions",    [1] = "AccessPartitionId",   [2] = "AccessMemoryPool",
	[3] = "AdjustMessageBuffers", [4] = "PostMessages",       [5] = "SignalEvents",
	[6] = "CreatePort",          [7] = "ConnectPort",         [8] = "AccessStats",
	[11] = "Debugging",          [12] = "CpuManagement",      [13] = "ConfigureProfiler",
	[14] = "VP exit tracing",    [15] = "extended GVA flush",  [16] = "AccessVsm",
	[17] = "AccessVpRegisters",  [19] = "fast hypercall output", [20] = "extended hypercalls",
	[21] = "StartVirtualProcessor", [22] = "Isolation",
};

static const char feature_names[32][36] = {
	[0] = "MWAIT (deprecated)",  [1] = "guest debugging",     [2] = "performance monitor",
	[3] = "CPU dynamic partitioning", [4] = "XMM fast hypercall input", [5] = "guest idle state",
	[6] = "hypervisor sleep state", [7] = "NUMA distance query", [8] = "frequency MSRs",
	[10] = "crash MSRs",         [11] = "debug MSRs",         [14] = "extended GVA flush",
	[15] = "XMM fast hypercall output", [17] = "SINT polling",  [18] = "hypercall MSR lock",
	[19] = "direct synthetic timers",
};

static const char recommendation_names[32][36] = {
	[0] = "hypercall for address-space switch", [1] = "hypercall for local TLB flush",
	[2] = "hypercall for remote TLB flush", [3] = "APIC MSRs for EOI/ICR/TPR",
	[4] = "RESET MSR for reset",  [5] = "relaxed timing",    [6] = "DMA remapping",
	[7] = "interrupt remapping", [8] = "x2APIC MSRs",        [9] = "AutoEOI deprecated",
	[10] = "synthetic cluster IPI", [11] = "sparse VP set hypercalls", [12] = "nested hypervisor",
	[13] = "INT for MBEC syscalls", [14] = "enlightened VMCS", [15] = "synced timeline",
	[17] = "direct local flush entire", [18] = "no non-architectural core sharing",
};

const char *hvrt_hv_bit_name(enum hvrt_hv_bits group, unsigned bit)
{
	const char *name = NULL;

	if (bit >= 32)
		return NULL;
	switch (group) {
	case HVRT_HV_PRIVILEGES_MSRS:
		name = privilege_msr_names[bit];
		break;
	case HVRT_HV_PRIVILEGES_CALLS:
		name = privilege_call_names[bit];
		break;
	case HVRT_HV_FEATURES:
		name = feature_names[bit];
		break;
	case HVRT_HV_RECOMMENDATIONS:
		name = recommendation_names[bit];
		break;
	}
	return name && name[0] ? name : NULL;
}

static const struct {
	uint16_t status;
	char name[44];
} status_names[] = {
	{ 0x00, "HV_STATUS_SUCCESS" },
	{ 0x02, "HV_STATUS_INVALID_HYPERCALL_CODE" },
	{ 0x03, "HV_STATUS_INVALID_HYPERCALL_INPUT" },
	{ 0x04, "HV_STATUS_INVALID_ALIGNMENT" },
	{ 0x05, "HV_STATUS_INVALID_PARAMETER" },
	{ 0x06, "HV_STATUS_ACCESS_DENIED" },
	{ 0x07, "HV_STATUS_INVALID_PARTITION_STATE" },
	{ 0x08, "HV_STATUS_OPERATION_DENIED" },
	{ 0x09, "HV_STATUS_UNKNOWN_PROPERTY" },
	{ 0x0a, "HV_STATUS_PROPERTY_VALUE_OUT_OF_RANGE" },
	{ 0x0b, "HV_STATUS_INSUFFICIENT_MEMORY" },
	{ 0x0c, "HV_STATUS_PARTITION_TOO_DEEP" },
	{ 0x0d, "HV_STATUS_INVALID_PARTITION_ID" },
	{ 0x0e, "HV_STATUS_INVALID_VP_INDEX" },
	{ 0x10, "HV_STATUS_NOT_FOUND" },
	{ 0x11, "HV_STATUS_INVALID_PORT_ID" },
	{ 0x12, "HV_STATUS_INVALID_CONNECTION_ID" },
	{ 0x13, "HV_STATUS_INSUFFICIENT_BUFFERS" },
	{ 0x14, "HV_STATUS_NOT_ACKNOWLEDGED" },
	{ 0x15, "HV_STATUS_INVALID_VP_STATE" },
	{ 0x16, "HV_STATUS_ACKNOWLEDGED" },
	{ 0x17, "HV_STATUS_INVALID_SAVE_RESTORE_STATE" },
	{ 0x18, "HV_STATUS_INVALID_SYNIC_STATE" },
	{ 0x19, "HV_STATUS_OBJECT_IN_USE" },
	{ 0x1a, "HV_STATUS_INVALID_PROXIMITY_DOMAIN_INFO" },
	{ 0x1b, "HV_STATUS_NO_DATA" },
	{ 0x1c, "HV_STATUS_INACTIVE" },
	{ 0x1d, "HV_STATUS_NO_RESOURCES" },
	{ 0x1e, "HV_STATUS_FEATURE_UNAVAILABLE" },
	{ 0x1f, "HV_STATUS_PARTIAL_PACKET" },
	{ 0x20, "HV_STATUS_PROCESSOR_FEATURE_NOT_SUPPORTED" },
	{ 0x33, "HV_STATUS_INSUFFICIENT_BUFFER" },
	{ 0x41, "HV_STATUS_INVALID_LP_INDEX" },
	{ 0x50, "HV_STATUS_INVALID_REGISTER_VALUE" },
	{ 0x51, "HV_STATUS_INVALID_VTL_STATE" },
	{ 0x71, "HV_STATUS_OPERATION_FAILED" },
	{ 0x78, "HV_STATUS_TIMEOUT" },
	{ 0x79, "HV_STATUS_CALL_PENDING" },
	{ 0x86, "HV_STATUS_VTL_ALREADY_ENABLED" },
	{ 0x87, "HV_STATUS_UNKNOWN_REGISTER_NAME" },
};

const char *hvrt_hv_status_name(uint16_t status)
{
	for (size_t i = 0; i < sizeof(status_names) / sizeof(status_names[0]); i++)
		if (status_names[i].status == status)
			return status_names[i].name;
	return NULL;
}
