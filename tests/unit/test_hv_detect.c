/*
 * Unit tests for hv/detect.c and hv/names.c: finding Hyper-V from CPUID
 * alone, the fields and the name it fills in, and the names of bits, status
 * codes and clock sources.
 *
 * Pinned down:
 *  - the nested host (KVM's Hyper-V emulation) is found, every CPUID field
 *    lands where the TLFS puts it, leaves above the maximum are never read,
 *    and no MSR is touched;
 *  - version fields (build, major.minor, service pack, branch, number) and
 *    the name with and without a version;
 *  - the isolation leaf 0x4000000C and the hardware-features leaf only when
 *    the maximum leaf reaches them;
 *  - KVM, TCG and bare metal are "no Hyper-V", with the vendor in the name;
 *    a "Microsoft Hv" vendor without "Hv#1" or with a maximum leaf below
 *    0x40000005 is not Hyper-V either; another vendor offering "Hv#1" is;
 *  - an unprintable vendor string is made printable;
 *  - bit, status and clock-source names.
 */
#include <stdio.h>

#include "tests/unit/hv_fixture.h"

static void assert_no_msr(void)
{
	assert_int_equal(sim.msr_count, 0);
}

/* The nested host: every field from its leaf, nothing above 0x40000005 read (the sim fails on that). */
static void test_nested_host(void **state)
{
	(void)state;
	cfg.phys_bits = 0x80 | 48; /* bit 7 is not part of the field */
	cfg.max_lps = 16;
	cfg.max_irq_vectors = 0x2c;
	cfg.power = 0x1e0;
	start();
	struct hvrt_host *h = hv_host_mut();
	memset(h, 0xa5, sizeof(*h)); /* detection starts from zero */
	assert_true(hv_detect(h));
	assert_ptr_equal(hvrt_host(), h);
	assert_true(h->hypervisor);
	assert_true(h->hyperv);
	assert_string_equal(h->vendor, "Microsoft Hv");
	assert_int_equal(h->max_leaf, 0x40000005);
	assert_int_equal(h->interface, 0x31237648);
	assert_int_equal(h->build, 0);
	assert_int_equal(h->version_major, 0);
	assert_int_equal(h->version_minor, 0);
	assert_int_equal(h->privileges, 0x0000003000000a7full);
	assert_int_equal(h->power_features, 0x1e0);
	assert_int_equal(h->features, 0x108);
	assert_int_equal(h->recommendations, 0x28);
	assert_int_equal(h->spin_retries, 0xffffffffu);
	assert_int_equal(h->phys_addr_bits, 48);
	assert_int_equal(h->max_vps, 1024);
	assert_int_equal(h->max_lps, 16);
	assert_int_equal(h->max_irq_vectors, 0x2c);
	assert_int_equal(h->host_hw_features, 0);
	assert_false(h->isolation_leaf);
	assert_string_equal(h->name, "Hyper-V interface (Microsoft Hv, no version)");
	/* nothing set up yet */
	assert_false(h->hypercalls);
	assert_false(h->synic);
	assert_int_equal(h->clock, HVRT_CLOCK_TSC);
	assert_int_equal(h->guest_os_id, 0);
	assert_no_msr();
	assert_int_equal(loglen, 0);
}

/* Version leaf 0x40000002: build, major 31:16, minor 15:0, service pack, branch 31:24 and number 23:0. */
static void test_version_fields(void **state)
{
	(void)state;
	cfg.build = 20348;
	cfg.version = 0x000a0002u;
	cfg.service_pack = 3;
	cfg.service = 0x05123456u;
	start();
	struct hvrt_host *h = detect();
	assert_int_equal(h->build, 20348);
	assert_int_equal(h->version_major, 10);
	assert_int_equal(h->version_minor, 2);
	assert_int_equal(h->service_pack, 3);
	assert_int_equal(h->service_branch, 5);
	assert_int_equal(h->service_number, 0x123456);
	assert_string_equal(h->name, "Hyper-V 10.2 build 20348 (Microsoft Hv)");

	/* a version without a build is still a version */
	teardown(NULL);
	setup(NULL);
	cfg.version = 0x00060003u;
	start();
	h = detect();
	assert_string_equal(h->name, "Hyper-V 6.3 build 0 (Microsoft Hv)");
	assert_no_msr();
}

/* Leaf 0x4000000C: paravisor bit and isolation type 3:0; leaf 6 read too, as the maximum covers it. */
static void test_isolation_leaf(void **state)
{
	(void)state;
	hv_sim_config_isolation(&cfg, 0x1, 0x2 | 1u << 5 | 0x2fu << 6);
	cfg.hw_features = 0x20b;
	start();
	struct hvrt_host *h = detect();
	assert_int_equal(h->max_leaf, 0x4000000c);
	assert_true(h->isolation_leaf);
	assert_int_equal(h->isolation_config, 1);
	assert_int_equal(h->isolation_type, 2); /* SNP; the boundary bits are not the type */
	assert_int_equal(h->host_hw_features, 0x20b);

	/* a maximum of 0x40000006: leaf 6, but no isolation leaf (the sim fails if 0xC is read) */
	teardown(NULL);
	setup(NULL);
	cfg.max_leaf = 0x40000006;
	cfg.hw_features = 0x7;
	start();
	h = detect();
	assert_int_equal(h->host_hw_features, 0x7);
	assert_false(h->isolation_leaf);
	assert_int_equal(h->isolation_type, 0);
}

static void check_not_hyperv(enum hv_sim_vendor vendor, const char *vendor_id, const char *name)
{
	hv_sim_config_vendor(&cfg, vendor);
	start();
	struct hvrt_host *h = hv_host_mut();
	assert_false(hv_detect(h));
	assert_false(h->hyperv);
	assert_true(h->hypervisor == (vendor != HV_SIM_VENDOR_NONE));
	assert_string_equal(h->vendor, vendor_id);
	assert_string_equal(h->name, name);
	assert_int_equal(h->privileges, 0);
	assert_no_msr();
}

static void test_kvm(void **state)
{
	(void)state;
	check_not_hyperv(HV_SIM_VENDOR_KVM, "KVMKVMKVM", "no Hyper-V (hypervisor \"KVMKVMKVM\")");
	assert_int_equal(hv_host_mut()->max_leaf, 0x40000001);
	assert_int_equal(hv_host_mut()->interface, 0x01007afb);
}

static void test_tcg(void **state)
{
	(void)state;
	check_not_hyperv(HV_SIM_VENDOR_TCG, "TCGTCGTCGTCG", "no Hyper-V (hypervisor \"TCGTCGTCGTCG\")");
	assert_int_equal(hv_host_mut()->interface, 0);
}

/* Bare metal: bit 31 clear, so the hypervisor leaves (Hyper-V look-alikes in the sim) are never believed. */
static void test_no_hypervisor(void **state)
{
	(void)state;
	check_not_hyperv(HV_SIM_VENDOR_NONE, "", "no hypervisor");
	assert_int_equal(hv_host_mut()->max_leaf, 0);
}

/* "Microsoft Hv" without the "Hv#1" interface, or with fewer leaves than the TLFS promises with it. */
static void test_nonconforming_hyperv(void **state)
{
	(void)state;
	cfg.interface = 0x31235356; /* "VS#1" */
	start();
	struct hvrt_host *h = hv_host_mut();
	assert_false(hv_detect(h));
	assert_true(h->hypervisor);
	assert_int_equal(h->interface, 0x31235356);
	assert_string_equal(h->name, "no Hyper-V (hypervisor \"Microsoft Hv\")");

	teardown(NULL);
	setup(NULL);
	cfg.max_leaf = 0x40000004;
	start();
	assert_false(hv_detect(h));
	assert_int_equal(h->interface, 0x31237648);
	assert_false(h->hyperv);

	/* only the vendor leaf: 0x40000001 is not read (the sim fails if it is) */
	teardown(NULL);
	setup(NULL);
	cfg.max_leaf = 0x40000000;
	start();
	assert_false(hv_detect(h));
	assert_int_equal(h->interface, 0);
	assert_no_msr();
}

/* Another hypervisor offering the Hyper-V interface is Hyper-V; its vendor is in the name. */
static void test_other_vendor_with_hv1(void **state)
{
	(void)state;
	memcpy(cfg.vendor_id, "XenVMMXenVMM", 13);
	start();
	struct hvrt_host *h = detect();
	assert_string_equal(h->vendor, "XenVMMXenVMM");
	assert_string_equal(h->name, "Hyper-V interface (XenVMMXenVMM, no version)");
}

/* Control characters and bytes above 0x7e become '?'; a NUL ends the string. */
static void test_unprintable_vendor(void **state)
{
	(void)state;
	hv_sim_config_vendor(&cfg, HV_SIM_VENDOR_KVM);
	memcpy(cfg.vendor_id, "Ab\x01\x7f\x80\xffxyz\0zz", 13);
	start();
	struct hvrt_host *h = hv_host_mut();
	assert_false(hv_detect(h));
	assert_string_equal(h->vendor, "Ab????xyz");
	for (int i = 0; i < 12 && h->vendor[i]; i++)
		assert_true(h->vendor[i] >= 0x20 && h->vendor[i] <= 0x7e);
}

/* The MSR and call privileges of the nested host all have names; unpublished bits do not. */
static void test_bit_names(void **state)
{
	(void)state;
	assert_string_equal(hvrt_hv_bit_name(HVRT_HV_PRIVILEGES_MSRS, 1), "TIME_REF_COUNT");
	assert_string_equal(hvrt_hv_bit_name(HVRT_HV_PRIVILEGES_MSRS, 2), "SynIC");
	assert_string_equal(hvrt_hv_bit_name(HVRT_HV_PRIVILEGES_MSRS, 9), "reference TSC page");
	assert_string_equal(hvrt_hv_bit_name(HVRT_HV_PRIVILEGES_MSRS, 15), "TSC invariant control");
	assert_null(hvrt_hv_bit_name(HVRT_HV_PRIVILEGES_MSRS, 16));
	assert_string_equal(hvrt_hv_bit_name(HVRT_HV_PRIVILEGES_CALLS, 4), "PostMessages");
	assert_string_equal(hvrt_hv_bit_name(HVRT_HV_PRIVILEGES_CALLS, 5), "SignalEvents");
	assert_string_equal(hvrt_hv_bit_name(HVRT_HV_PRIVILEGES_CALLS, 22), "Isolation");
	assert_null(hvrt_hv_bit_name(HVRT_HV_PRIVILEGES_CALLS, 9));
	assert_null(hvrt_hv_bit_name(HVRT_HV_PRIVILEGES_CALLS, 18));
	assert_string_equal(hvrt_hv_bit_name(HVRT_HV_FEATURES, 8), "frequency MSRs");
	assert_string_equal(hvrt_hv_bit_name(HVRT_HV_FEATURES, 10), "crash MSRs");
	assert_string_equal(hvrt_hv_bit_name(HVRT_HV_FEATURES, 19), "direct synthetic timers");
	assert_null(hvrt_hv_bit_name(HVRT_HV_FEATURES, 9));
	assert_string_equal(hvrt_hv_bit_name(HVRT_HV_RECOMMENDATIONS, 4), "RESET MSR for reset");
	assert_string_equal(hvrt_hv_bit_name(HVRT_HV_RECOMMENDATIONS, 9), "AutoEOI deprecated");
	assert_null(hvrt_hv_bit_name(HVRT_HV_RECOMMENDATIONS, 16));
	assert_null(hvrt_hv_bit_name(HVRT_HV_RECOMMENDATIONS, 31));
	assert_null(hvrt_hv_bit_name(HVRT_HV_FEATURES, 32));
	assert_null(hvrt_hv_bit_name(HVRT_HV_FEATURES, 1000));
	assert_null(hvrt_hv_bit_name((enum hvrt_hv_bits)7, 0));

	for (unsigned bit = 0; bit < 32; bit++) {
		if ((0x00000a7fu >> bit) & 1)
			assert_non_null(hvrt_hv_bit_name(HVRT_HV_PRIVILEGES_MSRS, bit));
		if ((0x30u >> bit) & 1)
			assert_non_null(hvrt_hv_bit_name(HVRT_HV_PRIVILEGES_CALLS, bit));
		if ((0x108u >> bit) & 1)
			assert_non_null(hvrt_hv_bit_name(HVRT_HV_FEATURES, bit));
	}
}

/* Every status of the facts table (section 1.5), by value; nothing for the gaps. */
static void test_status_names(void **state)
{
	static const struct {
		uint16_t status;
		const char *name;
	} table[] = {
		{ 0x00, "SUCCESS" },
		{ 0x02, "INVALID_HYPERCALL_CODE" },
		{ 0x03, "INVALID_HYPERCALL_INPUT" },
		{ 0x04, "INVALID_ALIGNMENT" },
		{ 0x05, "INVALID_PARAMETER" },
		{ 0x06, "ACCESS_DENIED" },
		{ 0x07, "INVALID_PARTITION_STATE" },
		{ 0x08, "OPERATION_DENIED" },
		{ 0x09, "UNKNOWN_PROPERTY" },
		{ 0x0a, "PROPERTY_VALUE_OUT_OF_RANGE" },
		{ 0x0b, "INSUFFICIENT_MEMORY" },
		{ 0x0c, "PARTITION_TOO_DEEP" },
		{ 0x0d, "INVALID_PARTITION_ID" },
		{ 0x0e, "INVALID_VP_INDEX" },
		{ 0x10, "NOT_FOUND" },
		{ 0x11, "INVALID_PORT_ID" },
		{ 0x12, "INVALID_CONNECTION_ID" },
		{ 0x13, "INSUFFICIENT_BUFFERS" },
		{ 0x14, "NOT_ACKNOWLEDGED" },
		{ 0x15, "INVALID_VP_STATE" },
		{ 0x16, "ACKNOWLEDGED" },
		{ 0x17, "INVALID_SAVE_RESTORE_STATE" },
		{ 0x18, "INVALID_SYNIC_STATE" },
		{ 0x19, "OBJECT_IN_USE" },
		{ 0x1a, "INVALID_PROXIMITY_DOMAIN_INFO" },
		{ 0x1b, "NO_DATA" },
		{ 0x1c, "INACTIVE" },
		{ 0x1d, "NO_RESOURCES" },
		{ 0x1e, "FEATURE_UNAVAILABLE" },
		{ 0x1f, "PARTIAL_PACKET" },
		{ 0x20, "PROCESSOR_FEATURE_NOT_SUPPORTED" },
		{ 0x33, "INSUFFICIENT_BUFFER" },
		{ 0x41, "INVALID_LP_INDEX" },
		{ 0x50, "INVALID_REGISTER_VALUE" },
		{ 0x51, "INVALID_VTL_STATE" },
		{ 0x71, "OPERATION_FAILED" },
		{ 0x78, "TIMEOUT" },
		{ 0x79, "CALL_PENDING" },
		{ 0x86, "VTL_ALREADY_ENABLED" },
		{ 0x87, "UNKNOWN_REGISTER_NAME" },
	};
	char want[64];
	(void)state;

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		const char *got = hvrt_hv_status_name(table[i].status);
		snprintf(want, sizeof(want), "HV_STATUS_%s", table[i].name);
		if (!got || strcmp(got, want) != 0)
			fail_msg("status 0x%x: got %s, want %s", table[i].status, got ? got : "NULL", want);
	}
	static const uint16_t unknown[] = { 0x01, 0x0f, 0x21, 0x32, 0x34, 0x7a, 0x88, 0xffff };
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		assert_null(hvrt_hv_status_name(unknown[i]));
}

static void test_clock_source_names(void **state)
{
	(void)state;
	assert_string_equal(hvrt_clock_source_name(HVRT_CLOCK_TSC), "TSC");
	assert_string_equal(hvrt_clock_source_name(HVRT_CLOCK_TIME_REF_COUNT), "Hyper-V TIME_REF_COUNT");
	assert_string_equal(hvrt_clock_source_name(HVRT_CLOCK_REFERENCE_TSC), "Hyper-V reference TSC page");
	assert_string_equal(hvrt_clock_source_name(3), "unknown");
	assert_string_equal(hvrt_clock_source_name(0xffffffffu), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_nested_host),
		T(test_version_fields),
		T(test_isolation_leaf),
		T(test_kvm),
		T(test_tcg),
		T(test_no_hypervisor),
		T(test_nonconforming_hyperv),
		T(test_other_vendor_with_hv1),
		T(test_unprintable_vendor),
		T(test_bit_names),
		T(test_status_names),
		T(test_clock_source_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
