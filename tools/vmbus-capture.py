#!/usr/bin/env python3
"""Decode an hvrt VMBus capture (docs/capture.md): one line per record.

    python3 tools/vmbus-capture.py capture.pcapng
    python3 tools/vmbus-capture.py serial.log        # finds the BEGIN/END base64 block(s)
    python3 tools/vmbus-capture.py -x serial.log     # with a hex dump of every record
    python3 tools/vmbus-capture.py -o out.pcapng serial.log   # also save the pcapng (for Wireshark)

The input is a pcapng file, or any text holding one or more blocks
"-----BEGIN HVRT VMBUS CAPTURE-----" ... "-----END HVRT VMBUS CAPTURE-----"
(a whole serial log: other lines, and prefixes such as timestamps before the
base64, are ignored). Each record line gives the time in ms after the first
record and the absolute reference time (100 ns), the direction, the channel
(relid) and its class, and what the record holds: for control messages the
message type and its key fields, for ring packets the packet type, flags,
transaction id and length. A summary line ends each capture.

Class names come from vmbus/classes.def next to this script. A malformed
input ends the program with a message and exit status 1, never a traceback.
"""
import argparse
import base64
import os
import re
import struct
import sys
import uuid

BEGIN = "-----BEGIN HVRT VMBUS CAPTURE-----"
END = "-----END HVRT VMBUS CAPTURE-----"
LINE_CHARS = 76

SHB, IDB, ISB, EPB = 0x0A0D0D0A, 1, 5, 6
MAGIC = 0x1A2B3C4D
LINKTYPE_USER0 = 147
RECORD_VERSION = 1
RECORD_HEADER = 32
FLAG_TRUNCATED, FLAG_CLASS = 0x01, 0x02

DIRECTIONS = {0: "g->h", 1: "h->g"}
KIND_CONTROL, KIND_PACKET, KIND_NOTE, KIND_SIGNAL = 0, 1, 2, 3

# VMBus channel message numbers (facts 2.3).
MESSAGES = {
    0: "INVALID", 1: "OFFERCHANNEL", 2: "RESCIND_CHANNELOFFER", 3: "REQUESTOFFERS",
    4: "ALLOFFERS_DELIVERED", 5: "OPENCHANNEL", 6: "OPENCHANNEL_RESULT", 7: "CLOSECHANNEL",
    8: "GPADL_HEADER", 9: "GPADL_BODY", 10: "GPADL_CREATED", 11: "GPADL_TEARDOWN",
    12: "GPADL_TORNDOWN", 13: "RELID_RELEASED", 14: "INITIATE_CONTACT", 15: "VERSION_RESPONSE",
    16: "UNLOAD", 17: "UNLOAD_RESPONSE", 18: "OPEN_RESERVED_CHANNEL", 19: "CLOSE_RESERVED_CHANNEL",
    20: "CLOSE_RESERVED_RESPONSE", 21: "TL_CONNECT_REQUEST", 22: "MODIFYCHANNEL",
    23: "TL_CONNECT_RESULT", 24: "MODIFYCHANNEL_RESPONSE", 25: "MODIFY_CONNECTION",
    26: "MODIFY_CONNECTION_RESPONSE", 27: "PAUSE", 28: "PAUSE_RESPONSE", 29: "RESUME",
}

# Ring packet types (facts 2.9).
PACKETS = {
    0x0: "INVALID", 0x1: "SYNCH", 0x2: "ADD_XFER_PAGESET", 0x3: "RM_XFER_PAGESET",
    0x4: "ESTABLISH_GPADL", 0x5: "TEARDOWN_GPADL", 0x6: "DATA_INBAND", 0x7: "DATA_USING_XFER_PAGES",
    0x8: "DATA_USING_GPADL", 0x9: "DATA_USING_GPA_DIRECT", 0xA: "CANCEL_REQUEST", 0xB: "COMP",
    0xC: "DATA_USING_ADDITIONAL_PKT", 0xD: "ADDITIONAL_DATA",
}

CONNECTION_STATES = {0: "ok", 1: "failed: low resources", 2: "failed: unknown"}


class Malformed(Exception):
    """The input is not a capture this tool can read; the message says why."""


def load_classes():
    """{wire-order GUID bytes: name} from vmbus/classes.def; empty (with a warning) if it cannot be read."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "vmbus", "classes.def")
    classes = {}
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        print("vmbus-capture: warning: no class names (%s)" % e, file=sys.stderr)
        return classes
    for m in re.finditer(r'VMBUS_CLASS\(\s*\w+\s*,\s*"([0-9a-fA-F-]{36})"\s*,\s*"([^"]*)"\s*\)', text):
        classes[uuid.UUID(m.group(1)).bytes_le] = m.group(2)
    return classes


def guid_str(b):
    """A GUID from its wire bytes (facts 2.11: u32, u16, u16 little-endian, then 8 bytes)."""
    return str(uuid.UUID(bytes_le=bytes(b)))


def version_str(v):
    return "%d.%d" % (v >> 16, v & 0xFFFF)


# --- reading the input ---

def extract_blocks(text, name):
    """The base64 blocks of a console log, decoded; [] if there are none."""
    blocks = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if BEGIN not in lines[i]:
            i += 1
            continue
        start = i + 1
        tokens = []  # (line number, token)
        i += 1
        while i < len(lines) and END not in lines[i] and BEGIN not in lines[i]:
            words = lines[i].split()
            if words:
                tokens.append((i + 1, words[-1]))
            i += 1
        if i >= len(lines) or BEGIN in lines[i]:
            raise Malformed("%s: the capture block starting on line %d has no %s line" % (name, start, END))
        i += 1
        data = []
        for n, (lineno, tok) in enumerate(tokens):
            last = n == len(tokens) - 1
            ok = re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", tok) and len(tok) % 4 == 0 and \
                (len(tok) == LINE_CHARS or (last and 0 < len(tok) <= LINE_CHARS))
            if not ok:
                # Another line printed into the middle of the block (a log message, say).
                print("vmbus-capture: warning: %s line %d is not base64 of the capture; skipped" % (name, lineno),
                      file=sys.stderr)
                continue
            data.append(tok)
        try:
            blocks.append(base64.b64decode("".join(data), validate=True))
        except ValueError as e:
            raise Malformed("%s: the capture block starting on line %d is not valid base64 (%s)" % (name, start, e))
    return blocks


def read_input(path):
    """A list of pcapng files (bytes) found in the input."""
    try:
        if path == "-":
            raw = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as f:
                raw = f.read()
    except OSError as e:
        raise Malformed("cannot read %s: %s" % (path, e.strerror or e))
    name = "<stdin>" if path == "-" else path
    if raw[:4] == struct.pack("<I", SHB):
        return [raw]
    blocks = extract_blocks(raw.decode("utf-8", "replace"), name)
    if not blocks:
        raise Malformed("%s: neither a pcapng file (wrong magic %s) nor a log holding a %s block"
                        % (name, raw[:4].hex() or "(empty)", BEGIN))
    return blocks


# --- pcapng ---

def parse_options(body, off, order, what):
    """{code: [values]} of an option list starting at off, up to the end of body."""
    opts = {}
    while off + 4 <= len(body):
        code, length = struct.unpack_from(order + "HH", body, off)
        off += 4
        if code == 0:
            break
        if off + length > len(body):
            raise Malformed("%s: option %d runs past the end of its block" % (what, code))
        opts.setdefault(code, []).append(body[off:off + length])
        off += (length + 3) & ~3
    return opts


def opt_u64(opts, code, order):
    v = opts.get(code)
    if not v or len(v[0]) != 8:
        return None
    return struct.unpack(order + "Q", v[0])[0]


def to_100ns(ts, tsresol):
    """A timestamp in the interface's units (if_tsresol) as 100 ns units."""
    if tsresol == 7:
        return ts
    if tsresol & 0x80:
        return ts * 10**7 // (1 << (tsresol & 0x7F))
    if tsresol < 7:
        return ts * 10**(7 - tsresol)
    return ts // 10**(tsresol - 7)


def parse_pcapng(data):
    """(records, statistics) of a pcapng file; records are dicts in file order."""
    if len(data) < 12:
        raise Malformed("truncated: %d bytes is no pcapng file" % len(data))
    if struct.unpack_from("<I", data, 0)[0] != SHB:
        raise Malformed("wrong magic: the file starts with %s, not a Section Header Block" % data[:4].hex())
    order = None
    interfaces = []
    records = []
    stats = {}
    off = 0
    index = 0
    while off < len(data):
        if len(data) - off < 12:
            raise Malformed("truncated block at offset %d: %d bytes left" % (off, len(data) - off))
        btype = struct.unpack_from("<I", data, off)[0]
        if btype == SHB:
            magic = struct.unpack_from("<I", data, off + 8)[0]
            if magic == MAGIC:
                order = "<"
            elif magic == 0x4D3C2B1A:
                order = ">"
            else:
                raise Malformed("wrong byte-order magic 0x%08x in the section header at offset %d" % (magic, off))
            interfaces = []
        elif order is None:
            raise Malformed("the file does not start with a Section Header Block")
        length = struct.unpack_from(order + "I", data, off + 4)[0]
        what = "block %d (type 0x%x) at offset %d" % (index, btype, off)
        if length < 12 or length % 4:
            raise Malformed("%s: bad length %d" % (what, length))
        if off + length > len(data):
            raise Malformed("truncated: %s claims %d bytes, %d are left" % (what, length, len(data) - off))
        if struct.unpack_from(order + "I", data, off + length - 4)[0] != length:
            raise Malformed("%s: the length at its end (%d) differs from the one at its start (%d)"
                            % (what, struct.unpack_from(order + "I", data, off + length - 4)[0], length))
        body = data[off + 8:off + length - 4]
        if btype == SHB:
            if len(body) < 16:
                raise Malformed("%s: a section header needs 28 bytes" % what)
            major = struct.unpack_from(order + "H", body, 4)[0]
            if major != 1:
                raise Malformed("%s: pcapng version %d is not supported" % (what, major))
        elif btype == IDB:
            if len(body) < 8:
                raise Malformed("%s: an interface description needs 20 bytes" % what)
            linktype, _, snaplen = struct.unpack_from(order + "HHI", body, 0)
            opts = parse_options(body, 8, order, what)
            tsresol = opts.get(9, [b"\x06"])[0]
            interfaces.append({"linktype": linktype, "snaplen": snaplen,
                               "tsresol": tsresol[0] if tsresol else 6,
                               "name": opts.get(2, [b""])[0].decode("utf-8", "replace")})
        elif btype == EPB:
            if len(body) < 20:
                raise Malformed("%s: a packet block needs 32 bytes" % what)
            ifid, ts_hi, ts_lo, caplen, origlen = struct.unpack_from(order + "IIIII", body, 0)
            if ifid >= len(interfaces):
                raise Malformed("%s: interface %d was never described" % (what, ifid))
            iface = interfaces[ifid]
            if iface["linktype"] != LINKTYPE_USER0:
                raise Malformed("%s: link type %d, not an hvrt VMBus capture (LINKTYPE_USER0, 147)"
                                % (what, iface["linktype"]))
            if 20 + caplen > len(body):
                raise Malformed("%s: captured length %d runs past the block" % (what, caplen))
            if caplen > origlen:
                raise Malformed("%s: captured length %d above the original length %d" % (what, caplen, origlen))
            records.append(parse_record(body[20:20 + caplen], origlen,
                                        to_100ns(ts_hi << 32 | ts_lo, iface["tsresol"]), what))
        elif btype == ISB:
            if len(body) < 12:
                raise Malformed("%s: an interface statistics block needs 24 bytes" % what)
            opts = parse_options(body, 12, order, what)
            for code, key in ((4, "recv"), (5, "drop")):
                v = opt_u64(opts, code, order)
                if v is not None:
                    stats[key] = stats.get(key, 0) + v
        off += length
        index += 1
    return records, stats


def parse_record(pkt, origlen, time, what):
    if len(pkt) < RECORD_HEADER:
        raise Malformed("%s: %d bytes of packet data, less than the %d-byte record header"
                        % (what, len(pkt), RECORD_HEADER))
    version, direction, kind, flags, relid = struct.unpack_from("<BBBBI", pkt, 0)
    if version != RECORD_VERSION:
        raise Malformed("%s: record header version %d (this tool reads %d)" % (what, version, RECORD_VERSION))
    orig, seq = struct.unpack_from("<II", pkt, 24)
    if origlen != orig + RECORD_HEADER:
        raise Malformed("%s: original length %d does not match the record header's %d + %d"
                        % (what, origlen, orig, RECORD_HEADER))
    return {"time": time, "direction": direction, "kind": kind, "flags": flags, "relid": relid,
            "class": pkt[8:24] if flags & FLAG_CLASS else None, "orig_len": orig, "seq": seq,
            "data": pkt[RECORD_HEADER:]}


# --- describing records ---

class Fields:
    """Little-endian reads from a captured message that may have been cut short."""

    def __init__(self, data):
        self.data = data
        self.short = False

    def get(self, fmt, off):
        size = struct.calcsize("<" + fmt)
        if off + size > len(self.data):
            self.short = True
            return None
        return struct.unpack_from("<" + fmt, self.data, off)[0]

    def bytes(self, off, n):
        if off + n > len(self.data):
            self.short = True
            return None
        return self.data[off:off + n]


def describe_control(d, classes, state):
    f = Fields(d)
    msgtype = f.get("I", 0)
    if msgtype is None:
        return "control (%d bytes, no message header)" % len(d)
    name = MESSAGES.get(msgtype, "unknown message")
    parts = ["%s (%d)" % (name, msgtype)]

    def add(label, fmt, off, style="%d"):
        v = f.get(fmt, off)
        if v is not None:
            parts.append(("%s " + style) % (label, v))
        return v

    def add_guid(label, off):
        b = f.bytes(off, 16)
        if b is not None:
            parts.append("%s %s" % (label, classes.get(bytes(b), guid_str(b))))

    if msgtype == 1:  # OFFERCHANNEL
        add_guid("class", 8)
        b = f.bytes(24, 16)
        if b is not None:
            parts.append("instance %s" % guid_str(b))
        add("child_relid", "I", 184)
        add("sub_channel", "H", 180)
        add("flags", "H", 56, "0x%x")
        mon = f.get("B", 189)
        if mon is not None:
            parts.append("monitor %s" % (f.get("B", 188) if mon & 1 else "none"))
        if len(d) >= 196:
            add("dedicated_interrupt", "H", 190)
            add("connection_id", "I", 192, "0x%x")
    elif msgtype in (2, 7, 13):  # RESCIND, CLOSECHANNEL, RELID_RELEASED
        add("child_relid", "I", 8)
    elif msgtype == 5:  # OPENCHANNEL
        add("child_relid", "I", 8)
        add("openid", "I", 12)
        add("gpadl", "I", 16, "0x%x")
        add("target_vp", "I", 20)
        add("downstream_page_offset", "I", 24)
    elif msgtype == 6:  # OPENCHANNEL_RESULT
        add("child_relid", "I", 8)
        add("openid", "I", 12)
        add("status", "I", 16, "0x%x")
    elif msgtype == 8:  # GPADL_HEADER
        add("child_relid", "I", 8)
        add("gpadl", "I", 12, "0x%x")
        buflen = add("range_buflen", "H", 16)
        add("rangecount", "H", 18)
        add("byte_count", "I", 20)
        add("byte_offset", "I", 24)
        if len(d) > 28:
            parts.append("pfns here %d" % ((len(d) - 28) // 8))
        if buflen is not None and buflen >= 8:
            parts.append("pfns in all %d" % ((buflen - 8) // 8))
    elif msgtype == 9:  # GPADL_BODY
        add("msgnumber", "I", 8)
        add("gpadl", "I", 12, "0x%x")
        parts.append("pfns %d" % (max(len(d) - 16, 0) // 8))
    elif msgtype == 10:  # GPADL_CREATED
        add("child_relid", "I", 8)
        add("gpadl", "I", 12, "0x%x")
        add("status", "I", 16, "0x%x")
    elif msgtype == 11:  # GPADL_TEARDOWN
        add("child_relid", "I", 8)
        add("gpadl", "I", 12, "0x%x")
    elif msgtype == 12:  # GPADL_TORNDOWN
        add("gpadl", "I", 8, "0x%x")
    elif msgtype == 14:  # INITIATE_CONTACT
        v = f.get("I", 8)
        if v is not None:
            state["requested"] = v
            parts.append("version %s (0x%08x)" % (version_str(v), v))
        add("target_vcpu", "I", 12)
        if v is not None and v >= 0x50000:
            add("msg_sint", "B", 16)
            add("msg_vtl", "B", 17)
            add("feature_flags", "I", 20, "0x%x")
        else:
            add("interrupt_page", "Q", 16, "0x%x")
        add("monitor_page1", "Q", 24, "0x%x")
        add("monitor_page2", "Q", 32, "0x%x")
    elif msgtype == 15:  # VERSION_RESPONSE
        ok = f.get("B", 8)
        if ok is not None:
            asked = state.get("requested")
            parts.append("version_supported %d (%s%s)" % (ok, "accepted" if ok else "refused",
                                                           " " + version_str(asked) if asked is not None else ""))
        cs = f.get("B", 9)
        if cs is not None:
            parts.append("connection_state %d (%s)" % (cs, CONNECTION_STATES.get(cs, "?")))
        add("msg_connection_id", "I", 12)
        if len(d) >= 20:
            add("supported_features", "I", 16, "0x%x")
    elif msgtype == 18:  # OPEN_RESERVED_CHANNEL
        add("child_relid", "I", 8)
        add("target_vp", "I", 12)
        add("target_sint", "I", 16)
        add("gpadl", "I", 20, "0x%x")
        add("downstream_page_offset", "I", 24)
    elif msgtype in (21, 23):  # TL_CONNECT_REQUEST / RESULT
        b = f.bytes(8, 16)
        if b is not None:
            parts.append("endpoint %s" % guid_str(b))
        b = f.bytes(24, 16)
        if b is not None:
            parts.append("service %s" % guid_str(b))
        if msgtype == 23:
            add("status", "i", 40)
    elif msgtype == 22:  # MODIFYCHANNEL
        add("child_relid", "I", 8)
        add("target_vp", "I", 12)
    elif msgtype == 24:  # MODIFYCHANNEL_RESPONSE
        add("child_relid", "I", 8)
        add("status", "I", 12, "0x%x")
    if f.short:
        parts.append("(short: %d bytes)" % len(d))
    return "control " + " ".join(parts)


def describe_packet(d):
    f = Fields(d)
    ptype, off8, len8, flags, trans = (f.get("H", 0), f.get("H", 2), f.get("H", 4), f.get("H", 6), f.get("Q", 8))
    if trans is None:
        return "packet (%d bytes, no descriptor)" % len(d)
    parts = ["%s (%d)" % (PACKETS.get(ptype, "unknown type"), ptype),
             "flags 0x%x%s" % (flags, " (completion requested)" if flags & 1 else ""),
             "trans_id 0x%x" % trans,
             "len %d" % (len8 * 8)]
    if off8 * 8 <= len8 * 8:
        parts.append("payload %d at %d" % (len8 * 8 - off8 * 8, off8 * 8))
    else:
        parts.append("bad offset8 %d beyond len8 %d" % (off8, len8))
    if ptype == 0x9:
        n = f.get("I", 20)
        if n is not None:
            parts.append("ranges %d" % n)
    elif ptype == 0x7:
        ps, n = f.get("H", 16), f.get("I", 20)
        if n is not None:
            parts.append("pageset %d ranges %d" % (ps, n))
    return "packet " + " ".join(parts)


def describe(r, classes, state):
    d = r["data"]
    kind = r["kind"]
    if kind == KIND_CONTROL:
        text = describe_control(d, classes, state)
    elif kind == KIND_PACKET:
        text = describe_packet(d)
    elif kind == KIND_NOTE:
        text = "note: " + d.decode("utf-8", "replace")
    elif kind == KIND_SIGNAL:
        text = "signal"
        if len(d) >= 4:
            text += " connection_id 0x%x" % struct.unpack_from("<I", d, 0)[0]
    else:
        text = "kind %d (%d bytes)" % (kind, len(d))
    if r["flags"] & FLAG_TRUNCATED:
        text += " [captured %d of %d bytes]" % (len(d), r["orig_len"])
    return text


def hexdump(data):
    out = []
    for i in range(0, len(data), 16):
        chunk = data[i:i + 16]
        hx = " ".join("%02x" % b for b in chunk)
        asc = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        out.append("        %04x  %-47s  %s" % (i, hx, asc))
    return out


def print_capture(records, stats, classes, hexd):
    state = {}
    t0 = records[0]["time"] if records else 0
    for r in records:
        cls = "-"
        if r["class"] is not None:
            cls = classes.get(bytes(r["class"]), guid_str(r["class"]))
        print("%-6s %+10.3f ms  t=%-12d %-4s  relid %-4d %-20s %s" % (
            "#%d" % r["seq"], (r["time"] - t0) / 10000.0, r["time"],
            DIRECTIONS.get(r["direction"], "dir%d" % r["direction"]),
            r["relid"], cls, describe(r, classes, state)))
        if hexd:
            for line in hexdump(r["data"]):
                print(line)
    recv = stats.get("recv")
    truncated = sum(1 for r in records if r["flags"] & FLAG_TRUNCATED)
    print("%d records, %d dropped%s, %d truncated" % (
        len(records), stats.get("drop", 0), " (of %d recorded)" % recv if recv is not None else "", truncated))


def main():
    ap = argparse.ArgumentParser(description="Decode an hvrt VMBus capture (pcapng, or a console log with the "
                                             "base64 block).")
    ap.add_argument("file", help="pcapng file or console log; - for standard input")
    ap.add_argument("-x", "--hex", action="store_true", help="hex dump of each record's captured bytes")
    ap.add_argument("-o", "--output", help="also write the (last) pcapng found to this file")
    args = ap.parse_args()
    try:
        files = read_input(args.file)
        classes = load_classes()
        parsed = [parse_pcapng(data) for data in files]
        if args.output:
            try:
                with open(args.output, "wb") as f:
                    f.write(files[-1])
            except OSError as e:
                raise Malformed("cannot write %s: %s" % (args.output, e.strerror or e))
    except Malformed as e:
        print("vmbus-capture: error: %s" % e, file=sys.stderr)
        return 1
    for i, (records, stats) in enumerate(parsed):
        if len(parsed) > 1:
            print("== capture %d of %d" % (i + 1, len(parsed)))
        print_capture(records, stats, classes, args.hex)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:
        sys.exit(0)
