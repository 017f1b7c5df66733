/*
 * A simulated VMBus host (the server side) for the hosted unit tests of the
 * guest's vmbus/ layer, on top of the simulated Hyper-V of hv_sim.h.
 *
 * It takes the guest's channel messages from hv_sim's PostMessage
 * connections, answers in the SynIC message slot, keeps GPADLs and channels,
 * serves both ring buffers of every open channel with its own host-side ring
 * code (it never includes or calls vmbus/ring.c: a bug the two shared would
 * hide), runs devices (a test's callback, or the built-in echo device), and
 * injects faults on demand. All of its state is one struct vmbus_sim; it
 * keeps no globals.
 *
 * It is meant to be as strict as the real hosts: what the guest gets wrong
 * that a host would refuse is refused the same way (no answer, a failure
 * status, INVALID_CONNECTION_ID), and anything only a broken guest would do
 * is recorded as a violation (enum vmbus_sim_rule, with a text) that fails
 * the test at vmbus_sim_stop(). A test that provokes one checks it was
 * recorded and clears it. Every value the guest gives is bounded before use,
 * so a guest bug cannot crash the sim (the unit tests run under ASan).
 *
 * Sources: ../shared/docs/hyperv-protocol-facts.md section 2 ("facts 2.x";
 * Linux, OpenVMM, MSVM, FreeBSD, QEMU), QEMU 7.2's VMBus server as
 * ../shared/docs/test-hosts.md sections 2 and 3 measured it ("QEMU"), and
 * OpenVMM's vmbus_core protocol.rs ("OVMM", Microsoft's own host code) for
 * the Hyper-V preset's connection numbers.
 *
 * What it models, rule by rule
 *
 * SynIC transport
 *  - guest -> host: HvPostMessage on message connection 1 (facts 2.1), on
 *    connection 4 for INITIATE_CONTACT >= 5.0 when cfg.connection4 (Hyper-V;
 *    QEMU never registers 4, so the guest's post gets
 *    HV_STATUS_INVALID_CONNECTION_ID from hv_sim, test-hosts.md 2), and after
 *    a 5.x VERSION_RESPONSE on the connection id it returned
 *    (cfg.msg_connection_id; OVMM and MSVM: 0x800074). The post's
 *    message_type must be 1 (facts 2.1; MSVM, iPXE and Linux pass 1).
 *  - host -> guest: hv_sim_post(sim, SINT, 1, ...). SynIC message type 1
 *    is what VMBus messages carry (facts 1.7: "VMBus control messages arrive
 *    with message_type 1", MSVM fails fast on anything else; iPXE
 *    VMBUS_MESSAGE_TYPE 1); HvMessageTypeNone (0) means an empty slot and is
 *    never sent. The SINT is 2, or the msg_sint a >= 5.0 contact chose
 *    (honoured: OVMM honours it on connection 4). Answers wait in a host
 *    outbox when hv_sim's SINT queue is full and go out as it drains.
 *  - host -> guest events: >= 2.4 the channel's relid in the event flags of
 *    the same SINT the messages use (hv_sim_set_event; Linux takes both on
 *    SINT2); < 2.4 the relid bit in the host->guest half of the interrupt
 *    page plus event flag 0 (facts 2.7). None when open.target_vp is
 *    0xFFFFFFFF (>= 2.4, "no interrupts", facts 2.1).
 *  - guest -> host signals: HvSignalEvent on the offer's connection_id (hv_sim
 *    checks the call; an id the sim never offered, or whose channel is gone,
 *    gets INVALID_CONNECTION_ID), on event connection 2 (registered always:
 *    QEMU answers 0 there, test-hosts.md 2), or for a monitor-allocated
 *    channel the bit (monitor_id % 32) of trigger_group[monitor_id / 32]
 *    .pending in the child->parent monitor page (page 2), which the host
 *    test-and-clears after every hypercall, whenever time moves and when the
 *    guest halts (hv_sim's observer). Below 2.4 a signal also makes the host
 *    test-and-clear the guest->host half of the interrupt page: each relid bit
 *    found signals that channel (facts 2.7: pre-WIN8 non-dedicated channels).
 *
 * Message rules (every guest message; a break is a violation)
 *  - at least the 8-byte header, header padding 0, a guest->host type known
 *    for the negotiated version; sizes exact: REQUESTOFFERS 8, OPENCHANNEL
 *    148, CLOSECHANNEL 12, GPADL_TEARDOWN 16, RELID_RELEASED 12,
 *    INITIATE_CONTACT 40, UNLOAD 8, MODIFYCHANNEL 16 (>= 4.1), TL_CONNECT_
 *    REQUEST 40 (56 allowed >= 5.2), GPADL_HEADER 20 + min(range_buflen, 216),
 *    GPADL_BODY 16 + 8n (facts 2.4, 2.6). A message shorter than its type is
 *    dropped unanswered (OVMM and QEMU refuse to parse it); a longer one is
 *    processed, as both hosts do, and still a violation.
 *  - a type newer than the negotiated version (MODIFYCHANNEL < 4.1,
 *    TL_CONNECT_REQUEST < 4.0; facts 2.3's minimum versions), a host->guest
 *    type, the reserved-channel messages 18/19 and unknown types: violations.
 *  - after contact every message must come on the connection the version
 *    says (1, or the returned id >= 5.0); INITIATE_CONTACT on 4 for >= 5.0 and
 *    on 1 below (facts 2.1, docs/design.md "post versions >= 5.0 on message
 *    connection 4"; MSVM's 6.0 on 1 is legal on OVMM but not what hvrt does).
 *  - before a successful contact only INITIATE_CONTACT and UNLOAD are taken;
 *    the rest is dropped (violation "before contact").
 *
 * Connection (facts 2.2, 2.4, 2.5)
 *  - INITIATE_CONTACT resets the whole bus in any state (QEMU): channels
 *    closed, GPADLs forgotten (counted in reset_open / reset_gpadls),
 *    rescinded channels released. Then: an unknown version value is a
 *    violation and refused; a known one above cfg.highest_version or listed
 *    in cfg.refused gets version_supported 0 (QEMU: 5.x on connection 1).
 *    For an accepted one: target_vcpu (>= 3.0) must be the sim's VP index;
 *    below 5.0 the interrupt page must be a live, page-aligned guest page
 *    (required below 2.4, 0 or valid from 2.4); from 5.0 msg_sint must be a
 *    SINT 1..15 the guest has unmasked, msg_vtl 0, the reserved u16 and
 *    feature_flags (6.0 only) 0; both monitor pages live guest pages, page
 *    aligned, distinct from each other and from the interrupt page.
 *  - VERSION_RESPONSE: cfg.version_response_size bytes (Hyper-V 16; QEMU 12:
 *    its struct declares only version_supported and connection_state after the
 *    8-byte header, padded to 4 - derived from vmbus-proto.h, not measured);
 *    @12 holds cfg.msg_connection_id for >= 5.0 and, with
 *    cfg.version_response_version (OVMM), the accepted version below 5.0.
 *  - REQUESTOFFERS only once per connection; it gets one OFFERCHANNEL per
 *    device in cfg.offer_order, then ALLOFFERS_DELIVERED. Devices added
 *    later are offered at once (hot-add). Offers are cfg.offer_size bytes
 *    (Hyper-V 196; QEMU 200, its unpacked struct), cfg.offer_size_v1 at 0.13
 *    (Hyper-V 190: no dedicated flag or connection id, facts 2.4; QEMU 200).
 *    connection_id = cfg.conn_id_base + relid, plus SINT << 12 with
 *    cfg.conn_id_sint (QEMU 16 + relid; OVMM ConnectionId::new: relid |
 *    sint << 12 | vtl << 16). Relids start at 1 (QEMU), up to cfg.max_relid.
 *  - UNLOAD in any state resets the bus (QEMU) and gets UNLOAD_RESPONSE unless
 *    0.13 was negotiated (facts 2.3: UNLOAD_RESPONSE is 1.1+).
 *  - MODIFYCHANNEL (>= 4.1): an open channel, a valid VP; answered with
 *    MODIFYCHANNEL_RESPONSE status 0 from 5.3 (facts 2.3).
 *  - TL_CONNECT_REQUEST (>= 4.0): refused, TL_CONNECT_RESULT status
 *    0xC0000236 (OVMM STATUS_CONNECTION_REFUSED) from 4.1; no hvsock here.
 *
 * GPADLs (facts 2.4, 2.6)
 *  - GPADL_HEADER: for an offered relid (QEMU does not check; Hyper-V does:
 *    strict), a handle not in use (QEMU drops a duplicate unanswered: here
 *    also a violation), range_count >= 1, range_buflen a multiple of 8 of at
 *    least 16, the header's bytes a whole number of u64 not past range_buflen.
 *    Bodies: a GPADL still receiving, 1 to 28 PFNs, never past range_buflen.
 *    Once range_buflen bytes arrived the ranges are parsed: byte_offset <
 *    4096, byte_count > 0, ceil((offset + count) / 4096) PFNs each, ending
 *    exactly at range_buflen; every PFN a live guest page (hv_sim_is_ram).
 *    Then GPADL_CREATED: status 0, or cfg.gpadl_fail_status for a GPADL that
 *    broke a rule or a fault; a failed GPADL is forgotten.
 *  - cfg.gpadl_simple_only (QEMU): a header that is not one range, offset 0,
 *    byte_count = pages x 4096 is dropped unanswered (test-hosts.md 2): a
 *    host limit, not a violation (counted in vs->dropped).
 *  - GPADL_TEARDOWN: a complete GPADL, with its own child_relid (strict);
 *    never the ring GPADL of an open channel (violation, no answer);
 *    answered with GPADL_TORNDOWN. A GPADL of a rescinded channel is torn
 *    down normally.
 *  - the host holds the GPADL's pages: hvrt_page_free of one before its
 *    TORNDOWN is a violation (through hv_sim's page user); the host then
 *    stops touching them (the channel on them is dead).
 *
 * Channels (facts 2.4-2.8)
 *  - OPENCHANNEL: an offered relid, not open; a rescinded one gets a failure
 *    status (a race the guest cannot avoid). The ring GPADL complete, owned
 *    by the same relid (Hyper-V; QEMU does not check), made of page-aligned
 *    whole pages; downstream_page_offset leaves each ring >= cfg.ring_min_pages
 *    pages (QEMU: 2); target_vp (>= 2.4) the VP index or 0xFFFFFFFF; both
 *    rings' indices inside the data area and multiples of 8. Answer:
 *    OPENCHANNEL_RESULT with open_id, status 0 or cfg.open_fail_status (QEMU
 *    1; Hyper-V preset OVMM's STATUS_UNSUCCESSFUL 0x8000FFFF). The host sets
 *    feature bit 0 on the host->guest ring (QEMU).
 *  - CLOSECHANNEL: an open channel; no reply (QEMU, facts 2.4). The ring
 *    GPADL stays until torn down.
 *  - vmbus_sim_rescind(): RESCIND_CHANNELOFFER; the host stops serving the
 *    rings at once. The guest must close it (if open), tear its GPADLs down
 *    and send RELID_RELEASED; RELID_RELEASED without a rescind, or with the
 *    channel open or GPADLs left, is a violation. Then the relid is free.
 *
 * Rings, host side
 *  - guest -> host (the host consumes): read only when signalled (and not
 *    stalled). write_index must stay inside the data area, a multiple of 8,
 *    and never take back data; read_index and interrupt_mask are the host's
 *    (the guest writing them is a violation). Each packet: len8 >= 2,
 *    2 <= offset8 <= len8, len8 * 8 + 8 bytes available, type 6, 9 or 0xB
 *    (QEMU's recv_peek takes no others and stalls), the trailer = start
 *    index << 32 (facts 2.8); a bad descriptor or index is a violation and
 *    the host stops serving that channel. GPA-direct (9): reserved 0,
 *    range_count >= 1, each range {len > 0, offset < 4096,
 *    ceil((offset + len) / 4096) PFNs} inside the descriptor area, which the
 *    ranges fill exactly (both of Linux's encodings, facts 2.9); the bytes
 *    named must be live guest memory. A completion (0xB) must answer a
 *    host packet that asked for one (flag bit 0), by trans_id.
 *  - after a batch the host publishes read_index once and signals the guest
 *    if it set pending_send_sz and free space went from <= it to > it
 *    (facts 2.8). cfg.space_bugs (QEMU preset) copies QEMU's two bugs
 *    (test-hosts.md 3): free space equal to pending_send_sz counts as "was
 *    not blocked", and a batch that empties the ring signals nothing.
 *  - host -> guest (the host produces): a packet is the 16-byte descriptor,
 *    the payload padded to 8 and the trailer start << 32 (0 with QEMU, which
 *    writes none: cfg.host_trailers, test-hosts.md 3); never filling the
 *    ring (free > size needed). The guest's read_index must stay in the data
 *    area, a multiple of 8, never past the host's write_index; write_index
 *    and pending_send_sz are the host's. The host signals only when the ring
 *    went empty -> non-empty and the guest's interrupt_mask is clear. What
 *    does not fit waits in a per-channel backlog, the host writes
 *    pending_send_sz = the bytes it needs and reads no further guest packets
 *    until the backlog is written (back-pressure both ways).
 *  - signals: a guest signal is needed when the guest->host ring went
 *    non-empty since the host last drained it, or when the guest freed the
 *    space the host asked for; any other is unneeded. More unneeded signals
 *    than cfg.unneeded_signals + packets * cfg.unneeded_signals_pct / 100
 *    on a channel is a violation at vmbus_sim_stop/check (facts 2.8: extra
 *    signals cost exits). When the guest halts with packets in a ring it
 *    never signalled, or having freed the host's pending_send_sz without
 *    signalling, that is a violation: the host would never look.
 *
 * Devices
 *  - a test adds devices (class, instance, sub-channel index, monitor id,
 *    dedicated interrupt, user_def, MMIO sizes, flags) before or after
 *    contact; a device's packet callback sees every checked guest packet and
 *    answers with vmbus_sim_send().
 *  - the echo device (class 6876d3a1-2c5e-4f0b-9d47-68767274e001,
 *    vmbus/classes.def HVRT_ECHO): in-band (6) comes back in-band with the
 *    same trans_id and payload (offset8 * 8 to len8 * 8, padding included),
 *    or as a completion (0xB) when flag bit 0 asked for one; GPA-direct (9)
 *    gets struct vmbus_sim_echo_gpa the same way (a completion only when
 *    asked for); completions are taken silently.
 *
 * Faults (struct vmbus_sim_faults, and the calls below)
 *  - versions refused (cfg.refused), VERSION_RESPONSE with a failed
 *    connection_state, no answer of chosen host message types, every answer
 *    late by a reference time (hv_sim_at wakes a halted guest), the next n
 *    GPADLs or opens refused with the configured status, the next n
 *    host->guest interrupts lost, spurious interrupts (vmbus_sim_spurious),
 *    a stalled host (vmbus_sim_stall), rescind (vmbus_sim_rescind), lying
 *    packets and indices (vmbus_sim_send_desc/_raw, vmbus_sim_set_write_index),
 *    completions nobody asked for (vmbus_sim_send), a full message queue
 *    (hv_sim's fault.post_busy: INSUFFICIENT_BUFFERS for n posts), any host
 *    message rewritten on its way out (vs->edit).
 *
 * Records
 *  - every control message and ring packet both ways, and every signal, go
 *    through one function that calls vs->trace (a capture can be attached)
 *    and logs control messages (type, size, time, relid, gpadl) in order.
 *
 * Limits
 *  - Hyper-V's own offer values are not in the sources: the preset takes
 *    OVMM's (connection ids, status codes) and leaves is_dedicated_interrupt
 *    0; the monitor id and allocation are the test's choice per device.
 *  - one VP (hv_sim's); version 6.0 (feature flags, OpenChannel2, client id)
 *    is not modelled and is refused as unknown; no hvsock, reserved channels,
 *    transfer pages, sub-channel requests or MMIO; the monitor pages are
 *    only polled (the host writes no latency, parameter or trigger state
 *    into them); the host processes a guest message at the instant of the
 *    PostMessage call and serves a ring at the instant of the signal (a
 *    slow host is the answer_delay fault), so races inside the host cannot
 *    be produced; guest buffers handed to the host must come from
 *    hvrt_page_alloc (hv_sim's RAM).
 */
#ifndef HVRT_HOSTSIM_VMBUS_SIM_H
#define HVRT_HOSTSIM_VMBUS_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tests/hostsim/hv_sim.h"
#include "vmbus/vmbus_defs.h"

#define VMBUS_SIM_CHANNELS 48u        /* devices at once (hv_sim has 64 connections) */
#define VMBUS_SIM_GPADLS 1024u        /* GPADLs at once; more get a failure status */
#define VMBUS_SIM_OUTBOX 256u         /* host messages waiting for the SINT queue */
#define VMBUS_SIM_BACKLOG 64u         /* host packets waiting for ring space, per channel */
#define VMBUS_SIM_WANTED 64u          /* completions the host waits for, per channel */
#define VMBUS_SIM_VIOLATIONS 64u      /* violations kept with their text (all are counted) */
#define VMBUS_SIM_PACKET_MAX 65536u   /* largest payload vmbus_sim_send and its lying forms take */

/* The echo device's class (vmbus/classes.def, HVRT_ECHO). */
#define VMBUS_SIM_ECHO_CLASS "6876d3a1-2c5e-4f0b-9d47-68767274e001"

/*
 * The echo protocol for GPA-direct packets (the guest's tests use it): the
 * echo device reads every byte the request's ranges name, in range order,
 * and answers a completion (type 0xB) with the request's trans_id and this
 * payload. FNV-1a 64: start 0xcbf29ce484222325, per byte xor then multiply
 * by 0x100000001b3.
 */
struct vmbus_sim_echo_gpa {
	uint64_t fnv1a64; /* of all the bytes */
	uint32_t bytes;   /* how many */
	uint32_t ranges;  /* the request's range_count */
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_sim_echo_gpa) == 16, "echo GPA answer is 16 bytes");
#define VMBUS_SIM_FNV_BASIS 0xcbf29ce484222325ull
#define VMBUS_SIM_FNV_PRIME 0x100000001b3ull

/* What a violation broke. */
enum vmbus_sim_rule {
	VMBUS_SIM_RULE_MESSAGE,    /* SynIC message type, header, size, a type the guest may not send */
	VMBUS_SIM_RULE_CONNECTION, /* posted to the wrong connection */
	VMBUS_SIM_RULE_ORDER,      /* before contact, REQUESTOFFERS twice */
	VMBUS_SIM_RULE_VERSION,    /* unknown version, a message newer than the negotiated version */
	VMBUS_SIM_RULE_CONTACT,    /* INITIATE_CONTACT fields */
	VMBUS_SIM_RULE_RELID,      /* a relid never offered (or released) */
	VMBUS_SIM_RULE_GPADL,      /* GPADL header, body, teardown */
	VMBUS_SIM_RULE_OPEN,       /* OPENCHANNEL, CLOSECHANNEL, MODIFYCHANNEL */
	VMBUS_SIM_RULE_RING,       /* ring indices and host-owned fields */
	VMBUS_SIM_RULE_PACKET,     /* descriptors, types, trailers, ranges, completions */
	VMBUS_SIM_RULE_SIGNAL,     /* missing signals, too many unneeded ones */
	VMBUS_SIM_RULE_MEMORY,     /* not live guest memory, or freed while the host holds it */
	VMBUS_SIM_RULE_RESCIND,    /* RELID_RELEASED rules */
	VMBUS_SIM_RULE_COUNT
};

enum vmbus_sim_order {
	VMBUS_SIM_ORDER_ADDED,   /* offers in the order the devices were added */
	VMBUS_SIM_ORDER_RELID,   /* by relid, lowest first */
	VMBUS_SIM_ORDER_REVERSE, /* by relid, highest first */
};

#define VMBUS_SIM_REFUSED_MAX 10u

struct vmbus_sim_config {
	const char *name;                  /* in violation texts */
	uint32_t highest_version;
	uint32_t refused[VMBUS_SIM_REFUSED_MAX]; /* versions answered 0 although known and not too new */
	unsigned nrefused;
	bool connection4;                  /* connection 4 takes INITIATE_CONTACT >= 5.0 */
	uint32_t msg_connection_id;        /* returned for >= 5.0 and used afterwards */
	uint32_t conn_id_base;             /* offer connection_id = base + relid ... */
	bool conn_id_sint;                 /* ... | message SINT << 12 (OVMM) */
	bool dedicated_default;            /* is_dedicated_interrupt of vmbus_sim_device_init's devices */
	unsigned offer_size;               /* OFFERCHANNEL bytes, >= 1.1 */
	unsigned offer_size_v1;            /* at 0.13 */
	unsigned version_response_size;    /* 12 (QEMU) or 16 */
	bool version_response_version;     /* < 5.0: the accepted version @12 (OVMM) */
	uint32_t open_fail_status;         /* OPENCHANNEL_RESULT status of a refused open */
	uint32_t gpadl_fail_status;        /* GPADL_CREATED status of a refused GPADL */
	bool gpadl_simple_only;            /* QEMU: other than one page-aligned range: dropped unanswered */
	bool host_trailers;                /* the host writes packet trailers (QEMU: no, they read 0) */
	bool space_bugs;                   /* QEMU's two pending_send_sz bugs (test-hosts.md 3) */
	unsigned ring_min_pages;           /* pages each ring needs, control page included */
	uint32_t max_relid;
	enum vmbus_sim_order offer_order;
	unsigned unneeded_signals;         /* unneeded signals a channel may make ... */
	unsigned unneeded_signals_pct;     /* ... plus this percentage of its packets */
};

/* QEMU 7.2 (test-hosts.md 2-3): 4.0, no connection 4, 200-byte offers, connection 16 + relid, dedicated. */
void vmbus_sim_config_qemu(struct vmbus_sim_config *cfg);
/* Hyper-V (WS2022-like, 5.3): connection 4 and 0x800074, 196-byte offers, OVMM connection ids. */
void vmbus_sim_config_hyperv(struct vmbus_sim_config *cfg);

/* Faults on demand: set them any time; counts go down as they are used. */
struct vmbus_sim_faults {
	uint8_t contact_state;    /* non-zero: an accepted version answered with this connection_state, not connected */
	uint32_t drop_answers;    /* bit n: host messages of type n are never sent */
	uint64_t answer_delay;    /* every host message this much later (100 ns) */
	unsigned gpadl_fail;      /* the next n complete GPADLs get cfg.gpadl_fail_status */
	unsigned open_fail;       /* the next n good opens get cfg.open_fail_status */
	unsigned lost_interrupts; /* the next n host -> guest signals are not raised (the data is there) */
};

/* A guest packet, checked, as the host copied it out of the ring. */
struct vmbus_sim_range {
	uint32_t len, offset;
	unsigned npfn;
	const uint64_t *pfn;
};

struct vmbus_sim_packet {
	struct vmbus_packet_desc desc;
	const uint8_t *data;         /* the whole packet, descriptor first: len bytes */
	uint32_t len;                /* len8 * 8 */
	uint32_t payload_offset;     /* offset8 * 8 */
	unsigned nranges;            /* GPA-direct: its ranges */
	const struct vmbus_sim_range *ranges;
	bool answered_request;       /* a completion that matched a host request */
};

struct vmbus_sim;

/* A device's host side: one checked guest packet. Answer with vmbus_sim_send(). */
typedef void (*vmbus_sim_packet_fn)(void *ctx, struct vmbus_sim *vs, uint32_t relid, const struct vmbus_sim_packet *pkt);

enum vmbus_sim_event {
	VMBUS_SIM_OPENED,
	VMBUS_SIM_CLOSED,   /* CLOSECHANNEL, or a bus reset with the channel open */
	VMBUS_SIM_RELEASED, /* RELID_RELEASED after a rescind */
};
typedef void (*vmbus_sim_event_fn)(void *ctx, struct vmbus_sim *vs, uint32_t relid, enum vmbus_sim_event ev);

struct vmbus_sim_device {
	struct vmbus_guid class_id, instance_id;
	uint16_t sub_channel_index;
	uint16_t flags;                 /* chn_flags */
	uint16_t mmio_megabytes, mmio_megabytes_optional;
	uint8_t user_def[120];
	bool monitor_allocated;
	uint8_t monitor_id;             /* 0..127 */
	bool dedicated_interrupt;
	uint32_t relid;                 /* 0: the lowest free */
	uint32_t connection_id;         /* 0: by the config's rule */
	bool echo;                      /* the built-in echo device */
	vmbus_sim_packet_fn packet;     /* else this; neither: packets are taken and dropped */
	vmbus_sim_event_fn event;
	void *ctx;
};

/* Parses "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" into the wire layout (facts 2.11). */
bool vmbus_sim_guid(const char *text, struct vmbus_guid *guid);

/* Ring state as the host keeps it (one direction). */
struct vmbus_sim_ring {
	volatile struct vmbus_ring_control *control;
	uint64_t *pfn;        /* data pages (the control page's PFN is not here) */
	uint32_t pages;       /* data pages */
	uint32_t size;        /* data bytes */
};

struct vmbus_sim_backlog {
	uint8_t *bytes;       /* descriptor, payload, padding: a multiple of 8 */
	uint32_t len;
};

struct vmbus_sim_channel {
	bool used;
	uint32_t relid, connection_id;
	unsigned seq;                   /* order of adding */
	struct vmbus_sim_device dev;
	bool offered;                   /* OFFERCHANNEL sent in this connection */
	bool rescinded;                 /* RESCIND sent, RELID_RELEASED not yet */
	bool open;
	bool broken;                    /* a ring violation: the host serves it no more */
	bool stalled;                   /* vmbus_sim_stall */
	uint32_t open_id, ring_gpadl, target_vp, page_offset;
	uint8_t user_data[120];         /* of the open */
	struct vmbus_sim_ring out, in;  /* guest -> host, host -> guest */
	uint32_t out_read;              /* host's read index */
	uint32_t out_published;         /* ... as the control page has it (after each batch) */
	uint32_t out_seen_write;        /* guest's write index when last looked at */
	bool out_signalled;             /* a signal came for the data now in the ring */
	uint32_t in_write;              /* host's write index (published) */
	uint32_t in_seen_read;          /* guest's read index when last looked at */
	uint32_t in_pending;            /* pending_send_sz the host wrote (0: none) */
	struct vmbus_sim_backlog backlog[VMBUS_SIM_BACKLOG];
	unsigned nbacklog;
	uint64_t wanted[VMBUS_SIM_WANTED]; /* trans_ids of host packets that asked for a completion */
	unsigned nwanted;
	/* counters (kept over the channel's life, across reconnects) */
	uint64_t packets_in, packets_out, bytes_in, bytes_out;
	unsigned signals;               /* guest -> host signals for this channel */
	unsigned unneeded_signals, space_signals, monitor_signals;
	unsigned events, events_lost, events_spurious, events_suppressed;
	unsigned opens, closes, completions;
	bool signals_flagged;           /* the unneeded-signal violation was recorded */
};

/* A GPADL as the host holds it. */
struct vmbus_sim_gpadl {
	uint32_t handle, child_relid;
	bool complete;                  /* all PFNs arrived (and GPADL_CREATED status 0 sent) */
	bool gone;                      /* the guest freed one of its pages: the host no longer touches it */
	uint16_t range_buflen, range_count;
	uint8_t *buf;                   /* range_buflen bytes as they arrive */
	uint32_t have;
	unsigned bodies;
	uint64_t *pfn;                  /* every PFN, in order (complete) */
	unsigned npfn;
	struct {
		uint32_t bytes, offset;
		unsigned first, count;  /* into pfn[] */
	} *range;
	uint64_t time;                  /* when the header came */
};

/* One control message, either way. */
struct vmbus_sim_msg {
	bool to_guest;
	uint32_t type, size;
	uint32_t connection;            /* guest messages: the connection it was posted to */
	uint64_t time;
	uint32_t relid, gpadl;          /* when the type carries them, else 0 */
};

struct vmbus_sim_violation {
	enum vmbus_sim_rule rule;
	uint64_t time;
	char text[200];
};

/* What passes through the trace hook. */
enum vmbus_sim_dir { VMBUS_SIM_TO_HOST, VMBUS_SIM_TO_GUEST };
enum vmbus_sim_kind {
	VMBUS_SIM_TRACE_MESSAGE, /* a channel message (bytes: from its header) */
	VMBUS_SIM_TRACE_PACKET,  /* a ring packet without its trailer (relid: its channel) */
	VMBUS_SIM_TRACE_SIGNAL,  /* a signal (bytes NULL; relid 0 when no channel took it) */
};

struct vmbus_sim_outmsg {
	uint64_t due;
	unsigned sint;
	uint32_t len;
	uint8_t bytes[VMBUS_MESSAGE_MAX];
};

struct vmbus_sim {
	uint32_t magic;
	struct hv_sim *sim;
	struct vmbus_sim_config cfg;
	struct vmbus_sim_faults fault;
	uint32_t vp_index;              /* the only valid target VP (hv_sim's), besides 0xFFFFFFFF */

	/* capture hook: every message, packet and signal, both ways */
	void (*trace)(void *ctx, unsigned dir, unsigned kind, uint32_t relid, const void *bytes, size_t len);
	void *trace_ctx;
	/*
	 * A lying host (added for the guest's tests, test_vmbus_offers.c): sees
	 * every host -> guest channel message as it is queued and may rewrite it
	 * in place, up to VMBUS_MESSAGE_MAX bytes (*len may change). The log and
	 * the trace see the message as rewritten, as the guest does; the host's
	 * own state keeps what it meant to send.
	 */
	void (*edit)(void *ctx, struct vmbus_sim *vs, uint8_t *msg, uint32_t *len);
	void *edit_ctx;

	/* connection */
	bool connected;
	uint32_t version;               /* negotiated (0: none) */
	unsigned sint;                  /* where messages and events go */
	uint32_t msg_conn;              /* where the guest posts */
	uint64_t interrupt_page, monitor_page1, monitor_page2; /* GPAs (0: none or unusable) */
	bool offers_requested, offers_delivered;
	unsigned contacts, unloads, resets;
	unsigned reset_open, reset_gpadls; /* channels open and GPADLs held when a reset dropped them */

	struct vmbus_sim_channel ch[VMBUS_SIM_CHANNELS];
	unsigned seq;
	uint32_t registered[HV_SIM_CONNECTIONS]; /* event connection ids registered with hv_sim */
	unsigned nregistered;
	unsigned releases;
	uint32_t last_released;
	unsigned stray_signals;         /* signals no channel took */
	bool stray_flagged;

	struct vmbus_sim_gpadl *gpadl;
	unsigned ngpadl, gpadl_cap;

	struct vmbus_sim_outmsg *outbox;
	unsigned nout;
	bool timer_armed;

	unsigned dropped;               /* messages the host dropped unanswered as a real one would (no violation) */

	struct vmbus_sim_msg *log;
	size_t nlog, log_cap;

	struct vmbus_sim_violation violation[VMBUS_SIM_VIOLATIONS];
	unsigned nviolations;           /* all, also those past VMBUS_SIM_VIOLATIONS */
	unsigned by_rule[VMBUS_SIM_RULE_COUNT];

	bool in_host;                   /* serving a ring (re-entry guard) */
};

/*
 * Starts the host on an hv_sim that is running (cfg NULL: Hyper-V).
 * Registers connections 1, 2 and (cfg.connection4) 4 and msg_connection_id,
 * and takes hv_sim's observer and page user.
 */
void vmbus_sim_start(struct vmbus_sim *vs, struct hv_sim *sim, const struct vmbus_sim_config *cfg);
/*
 * Checks the signal counts, prints every violation, frees everything and
 * lets go of hv_sim (call it before hv_sim_stop). Returns the number of
 * violations: the caller fails the test on non-zero once hv_sim is stopped.
 * Leaks (vmbus_sim_gpadls, vmbus_sim_open_channels) are for the test to judge.
 */
unsigned vmbus_sim_stop(struct vmbus_sim *vs);
/* The signal-count rule now; returns the number of violations so far. */
unsigned vmbus_sim_check(struct vmbus_sim *vs);

/* Violations so far of rule (-1: all); forgets them all. */
unsigned vmbus_sim_violations(const struct vmbus_sim *vs, int rule);
void vmbus_sim_clear_violations(struct vmbus_sim *vs);
/* Prints the recorded violations (cmocka print_error). */
void vmbus_sim_print_violations(const struct vmbus_sim *vs);

/* Devices: fills dev with the class, the instance and the preset's defaults. */
void vmbus_sim_device_init(const struct vmbus_sim *vs, struct vmbus_sim_device *dev, const char *class_guid,
			   const char *instance_guid);
/* Adds a device (offered at once when offers were delivered already); returns its relid. */
uint32_t vmbus_sim_add_device(struct vmbus_sim *vs, const struct vmbus_sim_device *dev);
/* An echo device with instance ...0001, ...0002 by n. */
uint32_t vmbus_sim_add_echo(struct vmbus_sim *vs, unsigned n);
/* RESCIND_CHANNELOFFER (a device not offered yet just goes away). */
void vmbus_sim_rescind(struct vmbus_sim *vs, uint32_t relid);
/* Stops (true) or resumes reading the channel's guest -> host ring. */
void vmbus_sim_stall(struct vmbus_sim *vs, uint32_t relid, bool stalled);

/*
 * Host -> guest packet: descriptor {type, offset8 2, len8, flags, trans_id},
 * payload, padding, trailer; waits in the backlog when the ring is full.
 * Returns 0, -ENOTCONN (not open), -ENOSPC (backlog full), -EMSGSIZE (could
 * never fit).
 */
int vmbus_sim_send(struct vmbus_sim *vs, uint32_t relid, uint16_t type, uint16_t flags, uint64_t trans_id,
		   const void *payload, size_t len);
/*
 * A lying packet: desc as given (any len8/offset8/type), then payload padded
 * to 8 and the trailer; written now or -EAGAIN.
 */
int vmbus_sim_send_desc(struct vmbus_sim *vs, uint32_t relid, const struct vmbus_packet_desc *desc,
			const void *payload, size_t len);
/* Raw bytes at the write index (no trailer), the index moved by len rounded up to 8; -EAGAIN when full. */
int vmbus_sim_send_raw(struct vmbus_sim *vs, uint32_t relid, const void *bytes, size_t len);
/* Publishes any write index (past the data, not a multiple of 8) and signals. */
void vmbus_sim_set_write_index(struct vmbus_sim *vs, uint32_t relid, uint32_t value);
/* Sets the channel's event flag with no new data (a spurious interrupt). */
bool vmbus_sim_spurious(struct vmbus_sim *vs, uint32_t relid);
/* Reads len bytes at off within a checked range of the packet being handled. */
bool vmbus_sim_range_read(const struct vmbus_sim *vs, const struct vmbus_sim_range *r, uint32_t off, void *buf,
			  uint32_t len);

/* Queries. */
const struct vmbus_sim_channel *vmbus_sim_channel(const struct vmbus_sim *vs, uint32_t relid);
const struct vmbus_sim_gpadl *vmbus_sim_find_gpadl(const struct vmbus_sim *vs, uint32_t handle);
unsigned vmbus_sim_gpadls(const struct vmbus_sim *vs);        /* GPADLs held (complete or not) */
unsigned vmbus_sim_gpadl_pages(const struct vmbus_sim *vs);   /* PFNs of the complete ones */
unsigned vmbus_sim_open_channels(const struct vmbus_sim *vs);
unsigned vmbus_sim_count(const struct vmbus_sim *vs, uint32_t type); /* control messages of type, either way */
const struct vmbus_sim_msg *vmbus_sim_log(const struct vmbus_sim *vs, size_t *count);
/* Host messages still waiting (delayed, or the SINT queue full). */
unsigned vmbus_sim_outbox(const struct vmbus_sim *vs);

/*
 * For cmocka tests: fail unless the guest broke rule (then forget every
 * violation), or fail if it broke any. Both print what was recorded.
 */
#define vmbus_sim_expect_violation(vs, rule)                                                     \
	do {                                                                                     \
		if (vmbus_sim_violations((vs), (rule)) == 0) {                                   \
			vmbus_sim_print_violations(vs);                                          \
			fail_msg("expected a violation of rule %d", (rule));                     \
		}                                                                                \
		vmbus_sim_clear_violations(vs);                                                  \
	} while (0)

#define vmbus_sim_expect_clean(vs)                                                               \
	do {                                                                                     \
		if (vmbus_sim_violations((vs), -1)) {                                            \
			vmbus_sim_print_violations(vs);                                          \
			fail_msg("unexpected violations of the host's rules");                   \
		}                                                                                \
	} while (0)

#endif
