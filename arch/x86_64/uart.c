/*
 * 16550 UART driver (polled transmit only).
 */
#include <errno.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/uart.h"

enum {
	UART_THR = 0, /* transmit holding (DLAB=0) */
	UART_DLL = 0, /* divisor low (DLAB=1) */
	UART_IER = 1,
	UART_DLM = 1,
	UART_FCR = 2,
	UART_LCR = 3,
	UART_MCR = 4,
	UART_LSR = 5,
	UART_SCR = 7,
};

#define LSR_THRE 0x20
#define LCR_DLAB 0x80
#define LCR_8N1 0x03

/*
 * A transmitter that never drains (a host that stopped reading the pipe)
 * must not hang the guest: after this many polls the byte is dropped.
 */
#define UART_TX_SPIN_LIMIT 100000

/*
 * uart_init - probe and program a 16550
 * @u:    state to fill
 * @port: I/O base (UART_COM1)
 * Return: 0, or -ENODEV when no UART answers (writes are then dropped).
 */
int uart_init(struct uart *u, uint16_t port)
{
	u->port = port;
	u->present = false;

	/* The scratch register holds what was written only when a UART is there. */
	cpu_outb(port + UART_SCR, 0x5a);
	if (cpu_inb(port + UART_SCR) != 0x5a)
		return -ENODEV;
	cpu_outb(port + UART_SCR, 0xa5);
	if (cpu_inb(port + UART_SCR) != 0xa5)
		return -ENODEV;

	cpu_outb(port + UART_IER, 0x00);
	cpu_outb(port + UART_LCR, LCR_DLAB);
	cpu_outb(port + UART_DLL, 1); /* 115200 baud */
	cpu_outb(port + UART_DLM, 0);
	cpu_outb(port + UART_LCR, LCR_8N1);
	cpu_outb(port + UART_FCR, 0x07); /* enable and clear FIFOs */
	cpu_outb(port + UART_MCR, 0x03); /* DTR, RTS */
	u->present = true;
	return 0;
}

static void uart_put(const struct uart *u, char c)
{
	for (unsigned spins = 0; spins < UART_TX_SPIN_LIMIT; spins++) {
		if (cpu_inb(u->port + UART_LSR) & LSR_THRE) {
			cpu_outb(u->port + UART_THR, (uint8_t)c);
			return;
		}
		cpu_pause();
	}
}

void uart_write(void *uart, const char *buf, size_t len)
{
	const struct uart *u = uart;

	if (!u->present)
		return;
	for (size_t i = 0; i < len; i++) {
		if (buf[i] == '\n')
			uart_put(u, '\r');
		uart_put(u, buf[i]);
	}
}
