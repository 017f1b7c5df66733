/* 16550 UART, the console every Hyper-V VM has (COM1 is a named pipe on the host). */
#ifndef HVRT_ARCH_UART_H
#define HVRT_ARCH_UART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UART_COM1 0x3f8

struct uart {
	uint16_t port;
	bool present;
};

/* Probes and programs the UART at port for 115200 8N1; returns 0 or -ENODEV. */
int uart_init(struct uart *u, uint16_t port);

/* Writes len bytes, "\n" as "\r\n". A sink for console_add_sink(). */
void uart_write(void *uart, const char *buf, size_t len);

#endif
