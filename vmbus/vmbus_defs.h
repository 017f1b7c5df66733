/*
 * VMBus wire formats: channel messages (carried in SynIC messages), ring
 * buffer control pages, packets in the rings, the monitor page.
 *
 * Numbers and layouts are from ../shared/docs/hyperv-protocol-facts.md
 * section 2 ("facts"; Linux hyperv.h, OpenVMM vmbus_core, MSVM, FreeBSD,
 * DPDK, QEMU vmbus-proto.h). Every layout is packed, and checked here
 * against the size and the offsets the facts give. Message offsets include
 * the 8-byte header.
 */
#ifndef HVRT_VMBUS_DEFS_H
#define HVRT_VMBUS_DEFS_H

#include <stddef.h>
#include <stdint.h>

/* --- fixed identifiers (facts 2.1) --- */
#define VMBUS_MESSAGE_SINT 2u
#define VMBUS_MESSAGE_CONNECTION 1u    /* every message up to 4.1 */
#define VMBUS_MESSAGE_CONNECTION_5 4u  /* INITIATE_CONTACT at >= 5.0 */
#define VMBUS_EVENT_CONNECTION 2u      /* signal target of offers without a connection id (0.13) */
#define VMBUS_MESSAGE_TYPE 1u          /* HvPostMessage message_type */
#define VMBUS_MESSAGE_MAX 240u
#define VMBUS_RELID_MAX 2047u          /* event flags per SINT: 2048, flag 0 is no channel */
#define VMBUS_VP_NO_INTERRUPTS 0xffffffffu

/* --- versions (facts 2.2): major << 16 | minor --- */
#define VMBUS_VERSION(major, minor) ((uint32_t)(major) << 16 | (uint32_t)(minor))
#define VMBUS_VERSION_0_13 VMBUS_VERSION(0, 13)
#define VMBUS_VERSION_1_1 VMBUS_VERSION(1, 1)
#define VMBUS_VERSION_2_4 VMBUS_VERSION(2, 4)
#define VMBUS_VERSION_3_0 VMBUS_VERSION(3, 0)
#define VMBUS_VERSION_4_0 VMBUS_VERSION(4, 0)
#define VMBUS_VERSION_4_1 VMBUS_VERSION(4, 1)
#define VMBUS_VERSION_5_0 VMBUS_VERSION(5, 0)
#define VMBUS_VERSION_5_1 VMBUS_VERSION(5, 1)
#define VMBUS_VERSION_5_2 VMBUS_VERSION(5, 2)
#define VMBUS_VERSION_5_3 VMBUS_VERSION(5, 3)

/* --- channel message types (facts 2.3) --- */
enum vmbus_msg_type {
	VMBUS_MSG_INVALID = 0,
	VMBUS_MSG_OFFERCHANNEL = 1,
	VMBUS_MSG_RESCIND_CHANNELOFFER = 2,
	VMBUS_MSG_REQUESTOFFERS = 3,
	VMBUS_MSG_ALLOFFERS_DELIVERED = 4,
	VMBUS_MSG_OPENCHANNEL = 5,
	VMBUS_MSG_OPENCHANNEL_RESULT = 6,
	VMBUS_MSG_CLOSECHANNEL = 7,
	VMBUS_MSG_GPADL_HEADER = 8,
	VMBUS_MSG_GPADL_BODY = 9,
	VMBUS_MSG_GPADL_CREATED = 10,
	VMBUS_MSG_GPADL_TEARDOWN = 11,
	VMBUS_MSG_GPADL_TORNDOWN = 12,
	VMBUS_MSG_RELID_RELEASED = 13,
	VMBUS_MSG_INITIATE_CONTACT = 14,
	VMBUS_MSG_VERSION_RESPONSE = 15,
	VMBUS_MSG_UNLOAD = 16,
	VMBUS_MSG_UNLOAD_RESPONSE = 17,
	VMBUS_MSG_TL_CONNECT_REQUEST = 21,
	VMBUS_MSG_MODIFYCHANNEL = 22,
	VMBUS_MSG_TL_CONNECT_RESULT = 23,
	VMBUS_MSG_MODIFYCHANNEL_RESPONSE = 24,
	VMBUS_MSG_COUNT = 25,
};

struct vmbus_msg_header {
	uint32_t type;
	uint32_t padding;
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_msg_header) == 8, "facts 2.3: 8-byte header");

/* A GUID as it is on the wire (facts 2.11: u32, u16, u16 little-endian, then 8 bytes). */
struct vmbus_guid {
	uint8_t bytes[16];
} __attribute__((packed));

/* OFFERCHANNEL (1): 196 bytes; pre-WIN7 hosts send 190 (no dedicated_interrupt, connection_id). */
struct vmbus_msg_offer {
	struct vmbus_msg_header header;
	struct vmbus_guid if_type;
	struct vmbus_guid if_instance;
	uint64_t reserved1;
	uint64_t reserved2;
	uint16_t flags;
	uint16_t mmio_megabytes;
	uint8_t user_def[120];
	uint16_t sub_channel_index;
	uint16_t mmio_megabytes_optional;
	uint32_t child_relid;
	uint8_t monitor_id;
	uint8_t monitor_allocated; /* bit 0 */
	uint16_t dedicated_interrupt; /* bit 0 */
	uint32_t connection_id;
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_msg_offer) == 196, "facts 2.4: OFFERCHANNEL is 196 bytes");
_Static_assert(offsetof(struct vmbus_msg_offer, if_type) == 8, "facts 2.4: if_type @8");
_Static_assert(offsetof(struct vmbus_msg_offer, if_instance) == 24, "facts 2.4: if_instance @24");
_Static_assert(offsetof(struct vmbus_msg_offer, flags) == 56, "facts 2.4: chn_flags @56");
_Static_assert(offsetof(struct vmbus_msg_offer, mmio_megabytes) == 58, "facts 2.4: mmio_megabytes @58");
_Static_assert(offsetof(struct vmbus_msg_offer, user_def) == 60, "facts 2.4: user_def @60");
_Static_assert(offsetof(struct vmbus_msg_offer, sub_channel_index) == 180, "facts 2.4: sub_channel_index @180");
_Static_assert(offsetof(struct vmbus_msg_offer, child_relid) == 184, "facts 2.4: child_relid @184");
_Static_assert(offsetof(struct vmbus_msg_offer, monitor_id) == 188, "facts 2.4: monitorid @188");
_Static_assert(offsetof(struct vmbus_msg_offer, monitor_allocated) == 189, "facts 2.4: monitor_allocated @189");
_Static_assert(offsetof(struct vmbus_msg_offer, dedicated_interrupt) == 190, "facts 2.4: dedicated_interrupt @190");
_Static_assert(offsetof(struct vmbus_msg_offer, connection_id) == 192, "facts 2.4: connection_id @192");
#define VMBUS_OFFER_SIZE_V1 190u /* 0.13: the last two fields are missing */

/* Offer flags (chn_flags, facts 2.4) */
#define VMBUS_OFFER_FLAG_ENUMERATE_DEVICE 0x0001u
#define VMBUS_OFFER_FLAG_NAMED_PIPE 0x0010u
#define VMBUS_OFFER_FLAG_TLNPI_PROVIDER 0x2000u

/* RESCIND_CHANNELOFFER (2), RELID_RELEASED (13), CLOSECHANNEL (7): a relid, 12 bytes. */
struct vmbus_msg_relid {
	struct vmbus_msg_header header;
	uint32_t child_relid;
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_msg_relid) == 12, "facts 2.4: RESCIND/CLOSECHANNEL/RELID_RELEASED are 12 bytes");

/* OPENCHANNEL (5): 148 bytes. */
struct vmbus_msg_open {
	struct vmbus_msg_header header;
	uint32_t child_relid;
	uint32_t open_id;
	uint32_t ring_gpadl;
	uint32_t target_vp;
	uint32_t downstream_page_offset;
	uint8_t user_data[120];
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_msg_open) == 148, "facts 2.4: OPENCHANNEL is 148 bytes");
_Static_assert(offsetof(struct vmbus_msg_open, ring_gpadl) == 16, "facts 2.4: ringbuffer_gpadlhandle @16");
_Static_assert(offsetof(struct vmbus_msg_open, target_vp) == 20, "facts 2.4: target_vp @20");
_Static_assert(offsetof(struct vmbus_msg_open, downstream_page_offset) == 24, "facts 2.4: page offset @24");
_Static_assert(offsetof(struct vmbus_msg_open, user_data) == 28, "facts 2.4: userdata @28");
#define VMBUS_OPEN_USER_DATA_MAX 120u

/* OPENCHANNEL_RESULT (6): 20 bytes. */
struct vmbus_msg_open_result {
	struct vmbus_msg_header header;
	uint32_t child_relid;
	uint32_t open_id;
	uint32_t status;
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_msg_open_result) == 20, "facts 2.4: OPENCHANNEL_RESULT is 20 bytes");

/* One GPADL range: byte count, offset into the first page, then the page numbers. */
struct vmbus_gpa_range {
	uint32_t byte_count;
	uint32_t byte_offset;
	uint64_t pfn[];
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_gpa_range) == 8, "facts 2.4: range header is 8 bytes before its PFNs");

/* GPADL_HEADER (8): 20 bytes, then the ranges (only what fits in 240 bytes). */
struct vmbus_msg_gpadl_header {
	struct vmbus_msg_header header;
	uint32_t child_relid;
	uint32_t gpadl;
	uint16_t range_buflen;
	uint16_t range_count;
	struct vmbus_gpa_range range[];
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_msg_gpadl_header) == 20, "facts 2.4: GPADL_HEADER ranges @20");
_Static_assert(offsetof(struct vmbus_msg_gpadl_header, range_buflen) == 16, "facts 2.4: range_buflen @16");

/* GPADL_BODY (9): 16 bytes, then PFNs. */
struct vmbus_msg_gpadl_body {
	struct vmbus_msg_header header;
	uint32_t msg_number;
	uint32_t gpadl;
	uint64_t pfn[];
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_msg_gpadl_body) == 16, "facts 2.4: GPADL_BODY pfn @16");

/* PFNs per message (facts 2.6): 26 in a header (one range), 28 in a body. */
#define VMBUS_GPADL_HEADER_PFNS ((VMBUS_MESSAGE_MAX - sizeof(struct vmbus_msg_gpadl_header) - \
				  sizeof(struct vmbus_gpa_range)) / 8)
#define VMBUS_GPADL_BODY_PFNS ((VMBUS_MESSAGE_MAX - sizeof(struct vmbus_msg_gpadl_body)) / 8)
_Static_assert(VMBUS_GPADL_HEADER_PFNS == 26, "facts 2.6: 26 PFNs in a GPADL_HEADER");
_Static_assert(VMBUS_GPADL_BODY_PFNS == 28, "facts 2.6: 28 PFNs in a GPADL_BODY");

/* GPADL_CREATED (10): 20 bytes. */
struct vmbus_msg_gpadl_created {
	struct vmbus_msg_header header;
	uint32_t child_relid;
	uint32_t gpadl;
	uint32_t status;
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_msg_gpadl_created) == 20, "facts 2.4: GPADL_CREATED is 20 bytes");

/* GPADL_TEARDOWN (11): 16 bytes. */
struct vmbus_msg_gpadl_teardown {
	struct vmbus_msg_header header;
	uint32_t child_relid;
	uint32_t gpadl;
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_msg_gpadl_teardown) == 16, "facts 2.4: GPADL_TEARDOWN is 16 bytes");

/* GPADL_TORNDOWN (12): 12 bytes. */
struct vmbus_msg_gpadl_torndown {
	struct vmbus_msg_header header;
	uint32_t gpadl;
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_msg_gpadl_torndown) == 12, "facts 2.4: GPADL_TORNDOWN is 12 bytes");

/* INITIATE_CONTACT (14): 40 bytes. Below 5.0 @16 is the interrupt page GPA. */
struct vmbus_msg_initiate_contact {
	struct vmbus_msg_header header;
	uint32_t version;
	uint32_t target_vcpu;
	union {
		uint64_t interrupt_page;
		struct {
			uint8_t msg_sint;
			uint8_t msg_vtl;
			uint16_t reserved;
			uint32_t feature_flags;
		} __attribute__((packed));
	};
	uint64_t monitor_page1;
	uint64_t monitor_page2;
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_msg_initiate_contact) == 40, "facts 2.4: INITIATE_CONTACT is 40 bytes");
_Static_assert(offsetof(struct vmbus_msg_initiate_contact, target_vcpu) == 12, "facts 2.4: target_vcpu @12");
_Static_assert(offsetof(struct vmbus_msg_initiate_contact, interrupt_page) == 16, "facts 2.4: interrupt page @16");
_Static_assert(offsetof(struct vmbus_msg_initiate_contact, msg_sint) == 16, "facts 2.4: msg_sint @16");
_Static_assert(offsetof(struct vmbus_msg_initiate_contact, feature_flags) == 20, "facts 2.4: feature_flags @20");
_Static_assert(offsetof(struct vmbus_msg_initiate_contact, monitor_page1) == 24, "facts 2.4: monitor_page1 @24");
_Static_assert(offsetof(struct vmbus_msg_initiate_contact, monitor_page2) == 32, "facts 2.4: monitor_page2 @32");

/* VERSION_RESPONSE (15): 16 bytes. */
struct vmbus_msg_version_response {
	struct vmbus_msg_header header;
	uint8_t version_supported;
	uint8_t connection_state;
	uint16_t padding;
	uint32_t msg_connection_id; /* >= 5.0 */
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_msg_version_response) == 16, "facts 2.4: VERSION_RESPONSE is 16 bytes");
/* QEMU 7.2 sends only the first 12 bytes (test-hosts.md 2: "declares only the first two fields"). */
#define VMBUS_VERSION_RESPONSE_MIN 12u

/* MODIFYCHANNEL (22) and MODIFYCHANNEL_RESPONSE (24): 16 bytes. */
struct vmbus_msg_modify_channel {
	struct vmbus_msg_header header;
	uint32_t child_relid;
	uint32_t target_vp; /* the response: status */
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_msg_modify_channel) == 16, "facts 2.4: MODIFYCHANNEL is 16 bytes");

/* --- ring buffers (facts 2.8) --- */

/* The control page at the start of each ring; the data area follows it. */
struct vmbus_ring_control {
	uint32_t write_index;     /* byte offset into the data area, owned by the producer */
	uint32_t read_index;      /* owned by the consumer */
	uint32_t interrupt_mask;  /* set by the consumer: do not signal me */
	uint32_t pending_send_sz; /* set by the producer: signal me when this much is free */
	uint32_t reserved1[12];
	uint32_t feature_bits;    /* bit 0: pending_send_sz is honoured */
	uint8_t reserved2[4028];
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_ring_control) == 4096, "facts 2.8: the control page is 4 KiB");
_Static_assert(offsetof(struct vmbus_ring_control, interrupt_mask) == 8, "facts 2.8: interrupt_mask @8");
_Static_assert(offsetof(struct vmbus_ring_control, pending_send_sz) == 12, "facts 2.8: pending_send_sz @12");
_Static_assert(offsetof(struct vmbus_ring_control, feature_bits) == 64, "facts 2.8: feature_bits @64");
#define VMBUS_RING_FEATURE_PENDING_SEND_SZ 0x1u

/* Packet types (facts 2.9) */
enum vmbus_packet_type {
	VMBUS_PACKET_INVALID = 0x0,
	VMBUS_PACKET_SYNCH = 0x1,
	VMBUS_PACKET_ADD_XFER_PAGESET = 0x2,
	VMBUS_PACKET_RM_XFER_PAGESET = 0x3,
	VMBUS_PACKET_ESTABLISH_GPADL = 0x4,
	VMBUS_PACKET_TEARDOWN_GPADL = 0x5,
	VMBUS_PACKET_DATA_INBAND = 0x6,
	VMBUS_PACKET_DATA_XFER_PAGES = 0x7,
	VMBUS_PACKET_DATA_GPADL = 0x8,
	VMBUS_PACKET_DATA_GPA_DIRECT = 0x9,
	VMBUS_PACKET_CANCEL_REQUEST = 0xa,
	VMBUS_PACKET_COMPLETION = 0xb,
	VMBUS_PACKET_DATA_ADDITIONAL = 0xc,
	VMBUS_PACKET_ADDITIONAL_DATA = 0xd,
};
#define VMBUS_PACKET_FLAG_COMPLETION_REQUESTED 0x1u

/* Every packet starts with this descriptor; lengths are in 8-byte units. */
struct vmbus_packet_desc {
	uint16_t type;
	uint16_t offset8; /* payload offset from the packet start */
	uint16_t len8;    /* packet length without the trailer */
	uint16_t flags;
	uint64_t trans_id;
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_packet_desc) == 16, "facts 2.8: the descriptor is 16 bytes");
_Static_assert(offsetof(struct vmbus_packet_desc, trans_id) == 8, "facts 2.8: trans_id @8");
#define VMBUS_PACKET_TRAILER 8u

/* GPA-direct packet (type 9): descriptor, reserved, range count, then ranges; payload at offset8. */
struct vmbus_packet_gpa_direct {
	struct vmbus_packet_desc desc;
	uint32_t reserved;
	uint32_t range_count;
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_packet_gpa_direct) == 24, "facts 2.9: GPA-direct ranges @24");

/* Transfer-page packet (type 7): ranges point into a registered buffer. */
struct vmbus_packet_xfer_pages {
	struct vmbus_packet_desc desc;
	uint16_t pageset_id;
	uint8_t sender_owns_set;
	uint8_t reserved;
	uint32_t range_count;
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_packet_xfer_pages) == 24, "facts 2.9: transfer-page ranges @24");

struct vmbus_xfer_range {
	uint32_t byte_count;
	uint32_t byte_offset;
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_xfer_range) == 8, "facts 2.9: a transfer-page range is 8 bytes");

/* --- monitor page (facts 2.7) --- */
struct vmbus_monitor_page {
	uint32_t trigger_state;
	uint32_t reserved1;
	struct {
		uint32_t pending;
		uint32_t armed;
	} __attribute__((packed)) trigger_group[4];
	uint8_t reserved2[24];
	int32_t next_check_time[4][32];
	uint16_t latency[4][32];
	uint64_t reserved3[32];
	struct {
		uint32_t connection_id;
		uint16_t flag_number;
		uint16_t reserved;
	} __attribute__((packed)) parameter[4][32];
	uint8_t reserved4[1984];
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_monitor_page) == 4096, "facts 2.7: the monitor page is 4 KiB");
_Static_assert(offsetof(struct vmbus_monitor_page, trigger_group) == 8, "facts 2.7: trigger_group @8");
_Static_assert(offsetof(struct vmbus_monitor_page, next_check_time) == 64, "facts 2.7: next_checktime @64");
_Static_assert(offsetof(struct vmbus_monitor_page, latency) == 576, "facts 2.7: latency @576");
_Static_assert(offsetof(struct vmbus_monitor_page, parameter) == 1088, "facts 2.7: parameter @1088");
#define VMBUS_MONITOR_ID_MAX 127u

/* The interrupt page (< 2.4): first half host -> guest bits, second half guest -> host. */
#define VMBUS_INTERRUPT_PAGE_HALF 2048u

#endif
