#!/usr/bin/env python3
"""Writes the hand-made seed inputs of the libFuzzer targets into tests/fuzz/seeds/NAME/.

    python3 tests/fuzz/make_seeds.py            # rewrites every seed

The layouts are the ones the top comments of tests/fuzz/fuzz_vmbus_ring.c and
fuzz_vmbus_messages.c describe; the opcode numbers below follow their enum op
(keep them in step). Seeds only need to be good starting points: any input is
valid, and libFuzzer mutates from there.
"""
import os
import struct
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))

# --- wire formats (vmbus/vmbus_defs.h) ---

FUZZ_CLASS = "66757a7a-7666-4d62-8000-000000000001"  # fuzz_vmbus_messages.c: probed by its driver
ECHO_CLASS = "6876d3a1-2c5e-4f0b-9d47-68767274e001"


def guid(text):
    return uuid.UUID(text).bytes_le  # facts 2.11: u32, u16, u16 little-endian, then 8 bytes


def desc(ptype, offset8, len8, flags=0, trans_id=0):
    return struct.pack("<HHHHQ", ptype, offset8, len8, flags, trans_id)


def inband(payload, trans_id=1, flags=0, trailer_at=None):
    """An in-band packet as a host writes it: descriptor, payload padded to 8, trailer."""
    padded = payload + b"\0" * (-len(payload) % 8)
    body = desc(6, 2, (16 + len(padded)) // 8, flags, trans_id) + padded
    return body + struct.pack("<Q", (trailer_at or 0) << 32)


def offer(relid, class_id=FUZZ_CLASS, instance="11111111-2222-3333-4444-555555555555", sub=0, monitor=None,
          connection_id=None):
    m = struct.pack("<II", 1, 0) + guid(class_id) + guid(instance) + struct.pack("<QQHH", 0, 0, 0, 0)
    m += bytes(120) + struct.pack("<HHI", sub, 0, relid)
    m += struct.pack("<BBHI", monitor or 0, 1 if monitor is not None else 0, 0,
                     connection_id if connection_id is not None else 16 + relid)
    assert len(m) == 196
    return m


# --- fuzz_vmbus_ring ---

R_PEEK, R_READ, R_COMMIT, R_HAS_DATA, R_DRAIN, R_WRITE_SPACE, R_WRITE, R_HOST_RX_WRITE_INDEX, \
    R_HOST_TX_READ_INDEX, R_HOST_TX_WRITE_INDEX, R_HOST_POKE, R_HOST_PACKET, R_HOST_FIELD, R_MASK, R_PENDING, \
    R_REINIT = range(16)


def ring_input(rx_pages, tx_pages, rx, tx, data, ops=b""):
    """rx, tx: (write_index, read_index, interrupt_mask, pending_send_sz, feature_bits)."""
    head = struct.pack("<BB", (rx_pages - 1) | (tx_pages - 1) << 2, 0)
    head += struct.pack("<5I", *rx) + struct.pack("<5I", *tx)
    return head + struct.pack("<H", len(data)) + data + ops


def ring_write(pieces, fill=0x41):
    """OP_WRITE: count, fill, then each piece's length (< 0xf0 in one byte, else 0xf0 and a u16)."""
    b = bytes([R_WRITE, len(pieces), fill])
    for n in pieces:
        b += struct.pack("<B", n) if n < 0xf0 else struct.pack("<BH", 0xf0, n)
    return b


def ring_seeds():
    size = 2 * 4096
    two = inband(b"ping1234", 7, trailer_at=0) + inband(b"pong", 8, trailer_at=32)
    ops = bytes([R_PEEK]) + struct.pack("<H", 64) + bytes([R_READ]) + struct.pack("<H", 64) + bytes([R_COMMIT])
    ops += bytes([R_DRAIN]) + ring_write([16, 8]) + bytes([R_WRITE_SPACE])
    yield "inband-packets", ring_input(2, 2, (len(two), 0, 0, 0, 1), (0, 0, 0, 0, 1), two, ops)

    # A packet that wraps: the host writes it (OP_HOST_PACKET, well-formed) 16 bytes before the end of the
    # data area, where both indices are; the guest's own write wraps too.
    host_pkt = bytes([R_HOST_PACKET, 1, 2]) + desc(6, 0, 0, 1, 9) + b"wrapping payload"
    yield "wrapping-packet", ring_input(2, 2, (size - 16, size - 16, 0, 0, 1), (size - 8, size - 8, 0, 0, 1), b"",
                                        host_pkt + bytes([R_DRAIN]) + ring_write([40]) + bytes([R_WRITE_SPACE]))

    # A descriptor that ends 8 bytes before the end: the payload straddles it.
    host_pkt = bytes([R_HOST_PACKET, 1, 2]) + desc(6, 0, 0, 0, 10) + b"straddling bytes"
    yield "straddling-payload", ring_input(2, 2, (size - 24, size - 24, 0, 0, 1), (0, 0, 0, 0, 1), b"",
                                           host_pkt + bytes([R_READ]) + struct.pack("<H", 64) + bytes([R_DRAIN]))

    # The writer asked for room: reading the packets crosses pending_send_sz.
    yield "pending-send", ring_input(2, 2, (len(two), 0, 0, size - 40, 1), (0, 0, 0, 0, 1), two,
                                     bytes([R_READ]) + struct.pack("<H", 64) + bytes([R_COMMIT, R_DRAIN]))

    # A lying descriptor (offset8 past len8) and a lying write index.
    bad = desc(6, 5, 3) + bytes(16)
    yield "bad-descriptor", ring_input(1, 1, (32, 0, 0, 0, 1), (0, 4096 + 8, 0, 0, 1), bad,
                                       bytes([R_READ]) + struct.pack("<H", 64) + bytes([R_HOST_RX_WRITE_INDEX, 0])
                                       + struct.pack("<I", 12) + bytes([R_DRAIN]) + ring_write([8]))


# --- fuzz_vmbus_messages ---

(M_MSG, M_MSG_RAW, M_MSG_LYING, M_PACKET_RAW, M_PACKET_DESC, M_PACKET, M_WRITE_INDEX, M_EVENT, M_SPURIOUS,
 M_RING_FIELD, M_EDIT, M_DROP, M_RESCIND, M_ADVANCE, M_SEND, M_REQUEST, M_GPADL, M_TEARDOWN, M_CLOSE_OPEN, M_RECV,
 M_WAIT_WRITABLE, M_SEND_GPA, M_SET_VP, M_MSG_LATER, M_INT_PAGE, M_SUBCHANNEL) = range(26)
EXT = 0x40  # config bit 6: an extended config byte follows
CAP_3_0, CAP_2_4, CAP_1_1, CAP_0_13, CAP_5_0, CAP_4_1, CAP_4_0 = range(1, 8)  # ext bits 0-2: version_cap[]
EXT_MONITOR, EXT_LIES, EXT_CAPTURE = 8, 16, 32
NO_POLL = 0x80
ECHO_RELID = 1


def msg(message, poll=True):
    """OP_MSG: the type as one byte, the length, then the message after its first 4 bytes."""
    t = struct.unpack_from("<I", message)[0]
    assert t < 256 and len(message) <= 240
    return bytes([M_MSG | (0 if poll else NO_POLL), t, len(message)]) + message[4:]


def msg_later(delay_100us, message):
    """OP_MSG_LATER: OP_MSG's message, delivered delay_100us * 100 us of reference time later."""
    t = struct.unpack_from("<I", message)[0]
    return bytes([M_MSG_LATER]) + struct.pack("<HBB", delay_100us, t, len(message)) + message[4:]


def messages_seeds():
    qemu, hyperv = b"\x00", b"\x01"
    yield "offerchannel", qemu + msg(offer(5)) + bytes([M_SEND, 8, 0])
    yield "offerchannel-subchannel", qemu + msg(offer(5)) + msg(offer(6, sub=1, monitor=3))
    # GPADL_CREATED: handles count from the ring GPADL (0); 1 is the next one the guest makes. Queued
    # before the guest's create, so its wait finds the forged answer first.
    created = struct.pack("<IIIII", 10, 0, ECHO_RELID, 1, 0xc0000001)
    yield "gpadl-created", qemu + msg(created, poll=False) + bytes([M_GPADL, 0, M_TEARDOWN, 0])
    yield "gpadl-created-stray", hyperv + msg(struct.pack("<IIIII", 10, 0, ECHO_RELID, 0, 0))
    torndown = struct.pack("<III", 12, 0, 0)
    yield "gpadl-torndown-ring", qemu + msg(torndown) + bytes([M_CLOSE_OPEN, M_CLOSE_OPEN])
    rescind = struct.pack("<III", 2, 0, ECHO_RELID)
    yield "rescind", qemu + msg(rescind) + bytes([M_SEND, 8, 1, M_CLOSE_OPEN])
    yield "rescind-offered", qemu + msg(offer(5)) + msg(struct.pack("<III", 2, 0, 5))
    yield "open-result-forged", qemu + bytes([M_CLOSE_OPEN]) + msg(struct.pack("<IIIII", 6, 0, ECHO_RELID,
                                                                                ECHO_RELID, 1), poll=False) \
        + bytes([M_CLOSE_OPEN])
    # Packets in the host -> guest ring: raw (no trailer: 32 bytes make a 24-byte packet and its trailer),
    # well-formed, with a completion wanted, and a completion for a request.
    yield "packet-inband", qemu + bytes([M_PACKET_RAW]) + struct.pack("<H", 32) + inband(b"hostdata", 3)
    yield "packet-completion-wanted", hyperv + bytes([M_PACKET, 6, 1]) + struct.pack("<Q", 77) + b"\x04ping"
    yield "packet-desc-lying", qemu + bytes([M_PACKET_DESC]) + desc(6, 9, 3, 0, 5) + b"\x01" + bytes(8)
    yield "request", qemu + bytes([M_REQUEST, 16, 64])
    yield "write-index", qemu + bytes([M_WRITE_INDEX]) + struct.pack("<I", 12)
    yield "lying-payload-size", qemu + bytes([M_MSG_LYING]) + struct.pack("<IBBB", 1, 250, 0, 12) \
        + struct.pack("<III", 2, 0, ECHO_RELID)
    yield "events", qemu + bytes([M_EVENT]) + struct.pack("<H", ECHO_RELID) + bytes([M_EVENT]) \
        + struct.pack("<H", 2047) + bytes([M_SPURIOUS])
    yield "edit-open-result", qemu + bytes([M_EDIT, 6, 16]) + struct.pack("<I", 1) + b"\x00" + bytes([M_CLOSE_OPEN,
                                                                                                  M_CLOSE_OPEN])
    yield "polled-recv", b"\x04" + bytes([M_PACKET_RAW]) + struct.pack("<H", 32) + inband(b"polled!!", 3) \
        + bytes([M_RECV, 2])
    yield "send-gpa", hyperv + bytes([M_SEND_GPA, 100, M_SET_VP, 1])
    # An offer of the harness's class: its driver opens it, and forged answers come during its waits (the
    # simulated host knows no relid 5): GPADL_CREATED for the next handle, then OPENCHANNEL_RESULT.
    yield "offer-probe-answered", qemu + msg_later(10, struct.pack("<IIIII", 10, 0, 5, 1, 0)) \
        + msg_later(20, struct.pack("<IIIII", 6, 0, 5, 5, 0)) + msg(offer(5)) \
        + msg(struct.pack("<III", 2, 0, 5))
    # Older versions: events through the interrupt page (< 2.4), no UNLOAD (< 3.0), 190-byte offers (0.13).
    yield "version-2.4-interrupt-page", bytes([EXT, CAP_2_4]) + bytes([M_SEND, 8, 1, M_INT_PAGE]) \
        + struct.pack("<H", ECHO_RELID) + bytes([M_INT_PAGE]) + struct.pack("<H", 0)
    yield "version-0.13", bytes([EXT, CAP_0_13]) + bytes([M_REQUEST, 8, 8]) + msg(offer(9)[:190])
    yield "version-3.0-hyperv", bytes([EXT | 1, CAP_3_0]) + bytes([M_SEND, 8, 1])
    # Lies from the first message on: VERSION_RESPONSE rewritten (connection_state 1), and a forged
    # VERSION_RESPONSE 0.5 ms after the first contact.
    version = struct.pack("<IIBBHI", 15, 0, 1, 0, 0, 0)
    yield "preconnect-version-lies", bytes([EXT | 1, EXT_LIES]) + bytes([15, 9]) + struct.pack("<I", 1) + b"\0" \
        + b"\0" + struct.pack("<I", 0) + struct.pack("<HBB", 5, 15, len(version)) + version[4:] \
        + bytes([M_SEND, 8, 0])
    yield "preconnect-offer-rewritten", bytes([EXT, EXT_LIES]) + bytes([1, 184]) + struct.pack("<I", 4000) \
        + b"\0" + b"\0" + struct.pack("<I", 0) + struct.pack("<HBB", 0, 0, 0)
    yield "monitor-echo", bytes([EXT | 1, EXT_MONITOR]) + bytes([M_SEND, 8, 1, M_REQUEST, 8, 8])
    yield "capture", bytes([EXT, EXT_CAPTURE]) + msg(offer(5)) + bytes([M_PACKET_RAW]) + struct.pack("<H", 32) \
        + inband(b"captured", 3) + bytes([M_SEND, 8, 1])
    # A sub-channel of the echo device (its class and instance, index 1), opened with forged answers, then
    # the primary closed (its open sub-channels first) and rescinded with on_rescind closing (config bit 7).
    echo_instance = "6876d3a1-2c5e-4f0b-9d47-000000000001"
    yield "subchannel", bytes([0x80]) + msg(offer(7, ECHO_CLASS, echo_instance, sub=1)) \
        + msg_later(10, struct.pack("<IIIII", 10, 0, 7, 1, 0)) + msg_later(20, struct.pack("<IIIII", 6, 0, 7, 7, 0)) \
        + bytes([M_SUBCHANNEL, 1, M_CLOSE_OPEN, M_CLOSE_OPEN]) + msg(struct.pack("<III", 2, 0, ECHO_RELID))
    # The second device (config bit 5), opened by the driver at connect, then rescinded.
    yield "driver-device", bytes([0x20]) + msg(struct.pack("<III", 2, 0, 2)) + bytes([M_SEND, 4, 0])


def write(name, seeds):
    d = os.path.join(HERE, "seeds", name)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.remove(os.path.join(d, f))
    for seed_name, data in seeds:
        with open(os.path.join(d, seed_name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    write("vmbus_ring", ring_seeds())
    write("vmbus_messages", messages_seeds())
