/*
 * Unit tests for arch/x86_64/uart.c, the polled 16550 driver, against a
 * simulated UART that records every port access.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/uart.h"

#define MAX_ACCESSES 4096

struct access {
	bool out;
	uint16_t port;
	uint8_t value;
};

struct sim_uart {
	uint16_t base;
	bool absent;          /* the bus floats: reads give 0xff, writes vanish */
	bool never_ready;     /* LSR never shows THRE */
	unsigned busy_polls;  /* LSR polls before THRE shows, per byte */
	unsigned busy_left;
	uint8_t scratch;
	bool scratch_stuck;   /* writes to the scratch register do not stick */
	uint8_t lcr;
	char tx[1024];        /* bytes written to THR with DLAB clear */
	size_t tx_len;
	struct access log[MAX_ACCESSES];
	size_t log_len;
	unsigned long lsr_reads;
};

static struct sim_uart sim;

static void record(bool out, uint16_t port, uint8_t value)
{
	if (sim.log_len < MAX_ACCESSES)
		sim.log[sim.log_len++] = (struct access){ out, port, value };
}

static uint32_t uart_in(void *ctx, uint16_t port, unsigned size)
{
	struct sim_uart *u = ctx;

	assert_int_equal(size, 1);
	if (port < u->base || port > u->base + 7)
		fail_msg("in from port 0x%x, not the UART's", port);
	if (u->absent) {
		record(false, port, 0xff);
		return 0xff;
	}
	uint8_t v = 0;
	switch (port - u->base) {
	case 5: /* LSR */
		u->lsr_reads++;
		if (u->never_ready) {
			v = 0x00;
		} else if (u->busy_left) {
			u->busy_left--;
			v = 0x00;
		} else {
			v = 0x60; /* THRE | TEMT */
		}
		return v; /* not recorded: polls would flood the log */
	case 7:
		v = u->scratch;
		break;
	case 3:
		v = u->lcr;
		break;
	}
	record(false, port, v);
	return v;
}

static void uart_out(void *ctx, uint16_t port, unsigned size, uint32_t value)
{
	struct sim_uart *u = ctx;

	assert_int_equal(size, 1);
	if (port < u->base || port > u->base + 7)
		fail_msg("out 0x%x to port 0x%x, not the UART's", value, port);
	record(true, port, (uint8_t)value);
	if (u->absent)
		return;
	switch (port - u->base) {
	case 0:
		if (!(u->lcr & 0x80)) {
			if (u->never_ready || u->busy_left)
				fail_msg("byte 0x%02x written while the transmitter is busy", value);
			assert_true(u->tx_len < sizeof(u->tx));
			u->tx[u->tx_len++] = (char)value;
			u->busy_left = u->busy_polls;
		}
		break;
	case 3:
		u->lcr = (uint8_t)value;
		break;
	case 7:
		if (!u->scratch_stuck)
			u->scratch = (uint8_t)value;
		break;
	}
}

static int setup(void **state)
{
	(void)state;
	memset(&sim, 0, sizeof(sim));
	sim.base = UART_COM1;
	static const struct cpu_sim_ops ops = { .ctx = &sim, .port_in = uart_in, .port_out = uart_out };
	cpu_sim_install(&ops);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	cpu_sim_install(NULL);
	return 0;
}

/* Init probes the scratch register, then programs 115200 8N1 with FIFOs, DTR and RTS, in this order. */
static void test_init_programs_8n1(void **state)
{
	struct uart u;
	static const struct access want[] = {
		{ true, 0x3ff, 0x5a },  { false, 0x3ff, 0x5a }, /* scratch probe */
		{ true, 0x3ff, 0xa5 },  { false, 0x3ff, 0xa5 },
		{ true, 0x3f9, 0x00 },  /* IER: no interrupts */
		{ true, 0x3fb, 0x80 },  /* LCR: DLAB */
		{ true, 0x3f8, 0x01 },  /* DLL: divisor 1 = 115200 */
		{ true, 0x3f9, 0x00 },  /* DLM */
		{ true, 0x3fb, 0x03 },  /* LCR: 8N1, DLAB clear */
		{ true, 0x3fa, 0x07 },  /* FCR: enable and clear FIFOs */
		{ true, 0x3fc, 0x03 },  /* MCR: DTR, RTS */
	};

	(void)state;
	assert_int_equal(uart_init(&u, UART_COM1), 0);
	assert_true(u.present);
	assert_int_equal(u.port, UART_COM1);
	for (size_t i = 0; i < sim.log_len && i < sizeof(want) / sizeof(want[0]); i++)
		if (sim.log[i].out != want[i].out || sim.log[i].port != want[i].port ||
		    sim.log[i].value != want[i].value)
			fail_msg("access %zu: %s 0x%x = 0x%02x, expected %s 0x%x = 0x%02x", i,
				 sim.log[i].out ? "out" : "in", sim.log[i].port, sim.log[i].value,
				 want[i].out ? "out" : "in", want[i].port, want[i].value);
	assert_int_equal(sim.log_len, sizeof(want) / sizeof(want[0]));
	assert_int_equal(sim.tx_len, 0); /* the divisor write is not data */
}

/* Another base port is honoured. */
static void test_init_other_port(void **state)
{
	struct uart u;

	(void)state;
	sim.base = 0x2f8;
	assert_int_equal(uart_init(&u, 0x2f8), 0);
	assert_int_equal(u.port, 0x2f8);
	uart_write(&u, "ok", 2);
	assert_int_equal(sim.tx_len, 2);
	assert_memory_equal(sim.tx, "ok", 2);
}

/* No UART: -ENODEV, nothing programmed, and writes are dropped without touching a port. */
static void test_absent(void **state)
{
	struct uart u;

	(void)state;
	sim.absent = true;
	assert_int_equal(uart_init(&u, UART_COM1), -ENODEV);
	assert_false(u.present);
	assert_int_equal(sim.log_len, 2); /* the first probe write and its read-back */
	size_t before = sim.log_len;
	uart_write(&u, "hello\n", 6);
	assert_int_equal(sim.log_len, before);
	assert_int_equal(sim.lsr_reads, 0);
}

/* A scratch register that reads back one fixed value (a bus latch, say) is no UART either. */
static void test_scratch_stuck(void **state)
{
	struct uart u;

	(void)state;
	sim.scratch_stuck = true;
	sim.scratch = 0x5a; /* passes the first probe, not the second */
	assert_int_equal(uart_init(&u, UART_COM1), -ENODEV);
	assert_false(u.present);
	assert_int_equal(sim.log_len, 4); /* two probes, nothing programmed */
	uart_write(&u, "x\n", 2);
	assert_int_equal(sim.log_len, 4);
	assert_int_equal(sim.tx_len, 0);
}

/* "\n" goes out as "\r\n"; other bytes, "\r" and NUL included, unchanged. */
static void test_newline_translation(void **state)
{
	struct uart u;

	(void)state;
	assert_int_equal(uart_init(&u, UART_COM1), 0);
	uart_write(&u, "a\nb\r\n\n", 6);
	assert_int_equal(sim.tx_len, 9);
	assert_memory_equal(sim.tx, "a\r\nb\r\r\n\r\n", 9);
	sim.tx_len = 0;
	uart_write(&u, "x\0y", 3);
	assert_int_equal(sim.tx_len, 3);
	assert_memory_equal(sim.tx, "x\0y", 3);
	sim.tx_len = 0;
	uart_write(&u, "", 0);
	assert_int_equal(sim.tx_len, 0);
}

/* Each byte waits for THRE before it is written. */
static void test_waits_for_transmitter(void **state)
{
	struct uart u;

	(void)state;
	assert_int_equal(uart_init(&u, UART_COM1), 0);
	sim.busy_polls = 50;
	uart_write(&u, "slow\n", 5);
	assert_int_equal(sim.tx_len, 6);
	assert_memory_equal(sim.tx, "slow\r\n", 6);
	assert_true(sim.lsr_reads >= 5 * 50);
}

/* A transmitter that never drains: every byte is dropped after a bounded wait; no hang. */
static void test_stuck_transmitter(void **state)
{
	struct uart u;

	(void)state;
	assert_int_equal(uart_init(&u, UART_COM1), 0);
	sim.never_ready = true;
	uart_write(&u, "ab\n", 3);
	assert_int_equal(sim.tx_len, 0);
	/* bounded: some polls per byte ("\n" is two bytes), far from forever */
	assert_true(sim.lsr_reads >= 4);
	assert_true(sim.lsr_reads <= 4ul * 10000000);
	/* once it drains, output resumes */
	sim.never_ready = false;
	uart_write(&u, "ok", 2);
	assert_int_equal(sim.tx_len, 2);
	assert_memory_equal(sim.tx, "ok", 2);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_init_programs_8n1),
		T(test_init_other_port),
		T(test_absent),
		T(test_scratch_stuck),
		T(test_newline_translation),
		T(test_waits_for_transmitter),
		T(test_stuck_transmitter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
