/* Local APIC (x2APIC when the CPU has it) and its timer; legacy PIC masked. */
#ifndef HVRT_ARCH_LAPIC_H
#define HVRT_ARCH_LAPIC_H

#include <stdbool.h>
#include <stdint.h>

/* The timer's input clock as the hypervisor states it (Hyper-V APIC_FREQUENCY): lapic_init then skips calibrating. */
void lapic_set_bus_frequency(uint64_t hz);

/* Masks the 8259 PICs, enables the LAPIC, calibrates its timer. Returns 0 or -ENODEV. */
int lapic_init(void);
bool lapic_x2apic(void);
uint64_t lapic_timer_hz(void);
void lapic_eoi(void);

/* Raises the timer interrupt once, when the TSC reaches tsc_deadline. False: no usable timer. */
bool lapic_timer_arm(uint64_t tsc_deadline);

/* Sleeps (halting) until the TSC reaches deadline, using the LAPIC timer to wake up. */
void lapic_sleep_until(uint64_t tsc_deadline);

#endif
