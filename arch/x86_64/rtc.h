/* CMOS real-time clock: the wall-clock time at boot. */
#ifndef HVRT_ARCH_RTC_H
#define HVRT_ARCH_RTC_H

#include <stdint.h>

struct rtc_time {
	unsigned year, month, day, hour, minute, second;
};

/* Reads the RTC; century_reg is the FADT CENTURY index or 0. Returns 0, -ENODEV or -EIO. */
int rtc_read(uint8_t century_reg, struct rtc_time *t);

/* Seconds since 1970-01-01 00:00:00 UTC, or -EINVAL for a date out of range. */
int64_t rtc_to_epoch(const struct rtc_time *t);

#endif
