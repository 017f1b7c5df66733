/*
 * hvrt: a freestanding runtime that boots one C application straight onto a
 * Hyper-V virtual machine. This is the one header an application includes.
 *
 * The standard C library (newlib) works as usual: printf goes to the console,
 * malloc to a heap sized from RAM, clock_gettime and nanosleep to the TSC and
 * LAPIC timer, exit() powers the VM off. See docs/api.md.
 */
#ifndef HVRT_H
#define HVRT_H

#include <hvrt/version.h>
#include <hvrt/boot.h>
#include <hvrt/log.h>
#include <hvrt/mem.h>
#include <hvrt/power.h>
#include <hvrt/system.h>
#include <hvrt/hv.h>
#include <hvrt/vmbus.h>
#include <hvrt/vmbus_capture.h>

#endif
