/*
 * What a channel's on_packet does with what it receives (its sink): keep it
 * for the check (a queue), check it against a stream of echoes, or against
 * the device's unprompted SEND packets; and on_rescind. The callbacks run
 * from hvrt_poll(): an error there is recorded for the check to report.
 */
#include "chantest.h"

#include <stdarg.h>

struct chan_rx rxs[NCHAN];

/* sink_reset - forgets what a channel received and sets what its on_packet does next */
void sink_reset(unsigned idx, enum sink_mode mode)
{
	struct chan_rx *rx = &rxs[idx];

	rx->idx = idx;
	rx->mode = mode;
	rx->packets = 0;
	rx->head = rx->count = rx->overflow = 0;
	rx->stream = NULL;
	rx->seq_size = 0;
	rx->next_seq = rx->expect = 0;
	rx->bytes = 0;
	rx->errors = 0;
	rx->error[0] = 0;
}

/* rx_error - a receive-side error, from a callback: counted, the first kept for the check to print */
__attribute__((format(printf, 2, 3))) static void rx_error(struct chan_rx *rx, const char *fmt, ...)
{
	va_list ap;

	if (rx->errors++)
		return;
	va_start(ap, fmt);
	vsnprintf(rx->error, sizeof(rx->error), fmt, ap);
	va_end(ap);
}

/*
 * sink_stream - checks one echoed stream packet
 * The next sequence number's id, the type its request asked for, the length
 * (VMBus carries none: the sender's padding to 8 comes back, zero), every
 * byte.
 */
static void sink_stream(struct chan_rx *rx, const struct hvrt_packet *pkt)
{
	struct stream_pkt p;
	uint32_t seq = rx->next_seq;

	if (seq >= rx->expect) {
		rx_error(rx, "a packet past the %" PRIu32 " expected: type %u id %#" PRIx64, rx->expect, pkt->type,
			 pkt->trans_id);
		return;
	}
	stream_packet(rx->stream, rx->idx, seq, &p);
	rx->next_seq++;
	uint32_t padded = round8(p.len);
	const uint8_t *got = pkt->payload;
	unsigned want_type = p.want_completion ? PKT_COMPLETION : PKT_INBAND;
	if (pkt->trans_id != p.id) {
		rx_error(rx, "seq %" PRIu32 ": id %#" PRIx64 " (want %#" PRIx64 ")", seq, pkt->trans_id, p.id);
	} else if (pkt->type != want_type || pkt->flags != 0) {
		rx_error(rx, "seq %" PRIu32 ": type %u flags %#x (want %u, 0)", seq, pkt->type, pkt->flags, want_type);
	} else if (pkt->payload_len != padded) {
		rx_error(rx, "seq %" PRIu32 ": %" PRIu32 " bytes (want %" PRIu32 " padded to %" PRIu32 ")", seq,
			 pkt->payload_len, p.len, padded);
	} else if (memcmp(got, p.data, p.len) != 0) {
		uint32_t at = first_difference(got, p.data, p.len);
		rx_error(rx, "seq %" PRIu32 ": byte %" PRIu32 " of %" PRIu32 " is %#x (want %#x)", seq, at, p.len, got[at],
			 p.data[at]);
	} else {
		for (uint32_t i = p.len; i < padded; i++) {
			if (got[i]) {
				rx_error(rx, "seq %" PRIu32 ": padding byte %" PRIu32 " is %#x", seq, i, got[i]);
				break;
			}
		}
	}
	rx->bytes += p.len;
}

/*
 * seq_packet_error - why a packet is not the device's SEND packet seq of size bytes
 * That one is in-band, id seq, payload {u32 magic, u32 seq, byte i =
 * seq * 31 + i}. Return: NULL if it is, else the reason (a static buffer).
 */
const char *seq_packet_error(const struct hvrt_packet *pkt, uint32_t seq, uint32_t size)
{
	static char why[160];
	const uint8_t *p = pkt->payload;
	uint32_t word[2];

	if (pkt->type != PKT_INBAND || pkt->trans_id != seq || pkt->flags != 0) {
		snprintf(why, sizeof(why), "seq %" PRIu32 ": type %u id %#" PRIx64 " flags %#x (want 6, %#" PRIx32 ", 0)",
			 seq, pkt->type, pkt->trans_id, pkt->flags, seq);
		return why;
	}
	if (pkt->payload_len != round8(size)) {
		snprintf(why, sizeof(why), "seq %" PRIu32 ": %" PRIu32 " bytes (want %" PRIu32 ")", seq, pkt->payload_len,
			 round8(size));
		return why;
	}
	memcpy(word, p, 8);
	if (word[0] != CTL_MAGIC || word[1] != seq) {
		snprintf(why, sizeof(why), "seq %" PRIu32 ": header %#" PRIx32 " %" PRIu32, seq, word[0], word[1]);
		return why;
	}
	for (uint32_t i = 8; i < size; i++) {
		if (p[i] != (uint8_t)(seq * 31 + i)) {
			snprintf(why, sizeof(why), "seq %" PRIu32 ": byte %" PRIu32 " is %#x (want %#x)", seq, i, p[i],
				 (uint8_t)(seq * 31 + i));
			return why;
		}
	}
	return NULL;
}

/* sink_seq - checks a SEND packet against the next sequence number */
static void sink_seq(struct chan_rx *rx, const struct hvrt_packet *pkt)
{
	uint32_t seq = rx->next_seq++;
	const char *why;

	if (seq >= rx->expect)
		rx_error(rx, "a packet past the %" PRIu32 " expected: id %#" PRIx64, rx->expect, pkt->trans_id);
	else if ((why = seq_packet_error(pkt, seq, rx->seq_size)) != NULL)
		rx_error(rx, "%s", why);
	rx->bytes += rx->seq_size;
}

/* seq_done - wait_until: a SEND sink (ctx) has every packet, or gave up with an error */
bool seq_done(void *ctx)
{
	const struct chan_rx *rx = ctx;

	return rx->next_seq >= rx->expect || rx->errors;
}

/* sink_queue - keeps a packet for the check (its payload copied: pkt is valid only in the callback) */
static void sink_queue(struct chan_rx *rx, const struct hvrt_packet *pkt)
{
	if (rx->count == QUEUE_LEN || pkt->payload_len > MAX_PACKET) {
		rx->overflow++;
		return;
	}
	struct rx_entry *e = &rx->queue[(rx->head + rx->count) % QUEUE_LEN];
	e->type = pkt->type;
	e->flags = pkt->flags;
	e->trans_id = pkt->trans_id;
	e->len = pkt->payload_len;
	memcpy(e->data, pkt->payload, pkt->payload_len);
	rx->count++;
}

/* queue_nonempty - wait_until: a queue sink (ctx) holds a packet */
static bool queue_nonempty(void *ctx)
{
	return ((struct chan_rx *)ctx)->count != 0;
}

/*
 * next_packet - the next packet a queue sink kept, waiting for it
 * Return: the entry (valid until the sink takes QUEUE_LEN more) or NULL.
 */
const struct rx_entry *next_packet(unsigned idx, unsigned timeout_ms)
{
	struct chan_rx *rx = &rxs[idx];

	if (!wait_until(queue_nonempty, rx, timeout_ms))
		return NULL;
	const struct rx_entry *e = &rx->queue[rx->head];
	rx->head = (rx->head + 1) % QUEUE_LEN;
	rx->count--;
	return e;
}

/* on_packet - every channel's: ctx is its struct chan_rx, whose mode says what to do */
void on_packet(struct hvrt_channel *ch, const struct hvrt_packet *pkt, void *ctx)
{
	struct chan_rx *rx = ctx;

	rx->packets++;
	if (ch != chans[rx->idx]) {
		rx_error(rx, "on_packet for channel %u got another channel", rx->idx);
		return;
	}
	switch (rx->mode) {
	case SINK_QUEUE:
		sink_queue(rx, pkt);
		break;
	case SINK_STREAM:
		sink_stream(rx, pkt);
		break;
	case SINK_SEQ:
		sink_seq(rx, pkt);
		break;
	}
}

/* on_rescind - every channel's: counts, and checks it is told the right channel and context */
void on_rescind(struct hvrt_channel *ch, void *ctx)
{
	struct chan_rx *rx = ctx;

	rx->rescinds++;
	rx->rescind_args_ok = ch == chans[rx->idx];
}
