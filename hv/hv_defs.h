/*
 * Hyper-V guest interface: CPUID leaves, synthetic MSRs, hypercall codes and
 * the structures the hypervisor and the guest share.
 *
 * Numbers and layouts are from ../shared/docs/hyperv-protocol-facts.md
 * section 1 (TLFS, Linux hvgdk_mini.h, OpenVMM hvdef); every shared layout is
 * checked here against the sizes and offsets given there.
 */
#ifndef HVRT_HV_DEFS_H
#define HVRT_HV_DEFS_H

#include <stddef.h>
#include <stdint.h>

/* CPUID */
#define HV_CPUID_VENDOR 0x40000000u
#define HV_CPUID_INTERFACE 0x40000001u
#define HV_CPUID_VERSION 0x40000002u
#define HV_CPUID_FEATURES 0x40000003u
#define HV_CPUID_RECOMMENDATIONS 0x40000004u
#define HV_CPUID_LIMITS 0x40000005u
#define HV_CPUID_HW_FEATURES 0x40000006u
#define HV_CPUID_ISOLATION 0x4000000cu

#define HV_INTERFACE_HV1 0x31237648u /* "Hv#1" */

/* 0x40000003 EAX: MSRs the partition may use */
#define HV_PRIV_VP_RUNTIME (1u << 0)
#define HV_PRIV_TIME_REF_COUNT (1u << 1)
#define HV_PRIV_SYNIC (1u << 2)
#define HV_PRIV_STIMERS (1u << 3)
#define HV_PRIV_APIC_MSRS (1u << 4)
#define HV_PRIV_HYPERCALL (1u << 5)
#define HV_PRIV_VP_INDEX (1u << 6)
#define HV_PRIV_RESET (1u << 7)
#define HV_PRIV_REFERENCE_TSC (1u << 9)
#define HV_PRIV_FREQUENCY_MSRS (1u << 11)
/* 0x40000003 EBX: hypercalls the partition may make */
#define HV_PRIV_POST_MESSAGES (1u << 4)
#define HV_PRIV_SIGNAL_EVENTS (1u << 5)
/* 0x40000003 EDX */
#define HV_FEATURE_FREQUENCY_MSRS (1u << 8)
#define HV_FEATURE_CRASH_MSRS (1u << 10)
#define HV_FEATURE_STIMER_DIRECT (1u << 19)
/* 0x40000004 EAX */
#define HV_RECOMMEND_RESET_MSR (1u << 4)
#define HV_RECOMMEND_AUTO_EOI_DEPRECATED (1u << 9)

/* Synthetic MSRs */
#define HV_MSR_GUEST_OS_ID 0x40000000u
#define HV_MSR_HYPERCALL 0x40000001u
#define HV_MSR_VP_INDEX 0x40000002u
#define HV_MSR_RESET 0x40000003u
#define HV_MSR_TIME_REF_COUNT 0x40000020u
#define HV_MSR_REFERENCE_TSC 0x40000021u
#define HV_MSR_TSC_FREQUENCY 0x40000022u
#define HV_MSR_APIC_FREQUENCY 0x40000023u
#define HV_MSR_EOI 0x40000070u
#define HV_MSR_SCONTROL 0x40000080u
#define HV_MSR_SVERSION 0x40000081u
#define HV_MSR_SIEFP 0x40000082u
#define HV_MSR_SIMP 0x40000083u
#define HV_MSR_EOM 0x40000084u
#define HV_MSR_SINT0 0x40000090u
#define HV_MSR_STIMER0_CONFIG 0x400000b0u
#define HV_MSR_STIMER0_COUNT 0x400000b1u
#define HV_MSR_CRASH_P0 0x40000100u
#define HV_MSR_CRASH_CTL 0x40000105u

#define HV_MSR_ENABLE 1ull             /* bit 0 of HYPERCALL, REFERENCE_TSC, SIMP, SIEFP, SCONTROL */
#define HV_MSR_HYPERCALL_LOCKED (1ull << 1)
#define HV_MSR_PAGE_MASK (~0xfffull)   /* 63:12: the page's GPA */

#define HV_SINT_VECTOR_MASK 0xffull
#define HV_SINT_MASKED (1ull << 16)
#define HV_SINT_AUTO_EOI (1ull << 17)
#define HV_SINT_COUNT 16u
#define HV_SINT_VECTOR_MIN 0x10u

#define HV_STIMER_COUNT_MAX 4u
#define HV_STIMER_ENABLE (1ull << 0)
#define HV_STIMER_PERIODIC (1ull << 1)
#define HV_STIMER_AUTO_ENABLE (1ull << 3) /* writing a non-zero COUNT sets enable */
#define HV_STIMER_SINT_SHIFT 16

#define HV_CRASH_CTL_NOTIFY (1ull << 63)
#define HV_CRASH_CTL_MESSAGE (1ull << 62)

/* Hypercall input value (RCX) and result (RAX) */
#define HV_CALL_FAST (1ull << 16)
#define HV_CALL_VARHEAD_SHIFT 17
#define HV_CALL_REP_COUNT_SHIFT 32
#define HV_CALL_REP_START_SHIFT 48
#define HV_CALL_REP_MAX 0xfffu
#define HV_RESULT_STATUS(r) ((uint16_t)((r)&0xffff))
#define HV_RESULT_REPS_DONE(r) ((uint32_t)(((r) >> 32) & 0xfff))

#define HVCALL_POST_MESSAGE 0x005cu
#define HVCALL_SIGNAL_EVENT 0x005du

/* HV_STATUS values the runtime reacts to; hv_status_name() knows them all. */
#define HV_STATUS_SUCCESS 0x0000u
#define HV_STATUS_INVALID_HYPERCALL_CODE 0x0002u
#define HV_STATUS_INVALID_HYPERCALL_INPUT 0x0003u
#define HV_STATUS_INVALID_ALIGNMENT 0x0004u
#define HV_STATUS_INVALID_PARAMETER 0x0005u
#define HV_STATUS_ACCESS_DENIED 0x0006u
#define HV_STATUS_INSUFFICIENT_MEMORY 0x000bu
#define HV_STATUS_INVALID_CONNECTION_ID 0x0012u
#define HV_STATUS_INSUFFICIENT_BUFFERS 0x0013u

/* Guest OS ID, open-source encoding (TLFS): see docs/hv.md for the value chosen. */
#define HV_GUEST_OS_ID_OPEN_SOURCE (1ull << 63)
#define HV_GUEST_OS_TYPE_SHIFT 56
#define HV_GUEST_OS_ID_SHIFT 48
#define HV_GUEST_OS_VERSION_SHIFT 16

/* HvCallPostMessage input: 256 bytes, 8-byte aligned, within one page. */
#define HV_MESSAGE_PAYLOAD_MAX 240u
struct hv_post_message_input {
	uint32_t connection_id;
	uint32_t reserved;
	uint32_t message_type;
	uint32_t payload_size;
	uint8_t payload[HV_MESSAGE_PAYLOAD_MAX];
} __attribute__((packed, aligned(8)));
_Static_assert(sizeof(struct hv_post_message_input) == 256, "facts 1.5: post message input is 256 bytes");
_Static_assert(offsetof(struct hv_post_message_input, message_type) == 8, "facts 1.5: message_type @8");
_Static_assert(offsetof(struct hv_post_message_input, payload) == 16, "facts 1.5: payload @16");

/* One 256-byte SynIC message slot (SIMP holds one per SINT). */
#define HV_MESSAGE_TYPE_NONE 0u
#define HV_MESSAGE_TYPE_TIMER_EXPIRED 0x80000010u
#define HV_MESSAGE_FLAG_PENDING 0x01u
struct hv_message {
	uint32_t message_type;
	uint8_t payload_size;
	uint8_t message_flags;
	uint16_t reserved;
	uint64_t originator;
	uint8_t payload[HV_MESSAGE_PAYLOAD_MAX];
} __attribute__((packed));
_Static_assert(sizeof(struct hv_message) == 256, "facts 1.7: a message slot is 256 bytes");
_Static_assert(offsetof(struct hv_message, payload_size) == 4, "facts 1.7: payload_size @4");
_Static_assert(offsetof(struct hv_message, message_flags) == 5, "facts 1.7: message_flags @5");
_Static_assert(offsetof(struct hv_message, originator) == 8, "facts 1.7: originator @8");
_Static_assert(offsetof(struct hv_message, payload) == 16, "facts 1.7: payload @16");

/* Payload of HV_MESSAGE_TYPE_TIMER_EXPIRED. */
struct hv_timer_message_payload {
	uint32_t timer_index;
	uint32_t reserved;
	uint64_t expiration_time;
	uint64_t delivery_time;
} __attribute__((packed));
_Static_assert(sizeof(struct hv_timer_message_payload) == 24, "facts 1.7: timer payload is 24 bytes");
_Static_assert(offsetof(struct hv_timer_message_payload, expiration_time) == 8, "facts 1.7: expiration @8");
_Static_assert(offsetof(struct hv_timer_message_payload, delivery_time) == 16, "facts 1.7: delivery @16");

/* The event-flags page: 16 SINTs x 2048 flags. */
#define HV_EVENT_FLAGS_BYTES 256u
#define HV_EVENT_FLAGS_COUNT (HV_EVENT_FLAGS_BYTES * 8u)

/* Reference TSC page (first 24 bytes; the rest of the 4 KiB page is reserved). */
struct hv_reference_tsc_page {
	volatile uint32_t tsc_sequence;
	uint32_t reserved;
	volatile uint64_t tsc_scale;
	volatile int64_t tsc_offset;
} __attribute__((packed));
_Static_assert(sizeof(struct hv_reference_tsc_page) == 24, "facts 1.6: sequence, reserved, scale, offset");
_Static_assert(offsetof(struct hv_reference_tsc_page, tsc_scale) == 8, "facts 1.6: tsc_scale @8");
_Static_assert(offsetof(struct hv_reference_tsc_page, tsc_offset) == 16, "facts 1.6: tsc_offset @16");

#endif
