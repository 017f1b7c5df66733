/*
 * CMOS RTC (MC146818) read-out. The RTC keeps UTC on Hyper-V and QEMU.
 */
#include <errno.h>
#include <stdbool.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/rtc.h"

enum {
	CMOS_INDEX = 0x70,
	CMOS_DATA = 0x71,
	RTC_SECONDS = 0x00,
	RTC_MINUTES = 0x02,
	RTC_HOURS = 0x04,
	RTC_DAY = 0x07,
	RTC_MONTH = 0x08,
	RTC_YEAR = 0x09,
	RTC_STATUS_A = 0x0a,
	RTC_STATUS_B = 0x0b,
};

#define STATUS_A_UPDATING 0x80
#define STATUS_B_24H 0x02
#define STATUS_B_BINARY 0x04
/* An update takes under 2 ms; polls are a bounded stand-in for time. */
#define RTC_UPDATE_SPIN_LIMIT 1000000u
#define RTC_READ_ATTEMPTS 5

static uint8_t cmos_read(uint8_t reg)
{
	cpu_outb(CMOS_INDEX, reg); /* bit 7 clear: NMIs stay enabled */
	return cpu_inb(CMOS_DATA);
}

struct raw_rtc {
	uint8_t sec, min, hour, day, mon, year, century;
};

static bool read_raw(uint8_t century_reg, struct raw_rtc *r)
{
	unsigned spins = 0;
	while (cmos_read(RTC_STATUS_A) & STATUS_A_UPDATING)
		if (++spins > RTC_UPDATE_SPIN_LIMIT)
			return false;
	r->sec = cmos_read(RTC_SECONDS);
	r->min = cmos_read(RTC_MINUTES);
	r->hour = cmos_read(RTC_HOURS);
	r->day = cmos_read(RTC_DAY);
	r->mon = cmos_read(RTC_MONTH);
	r->year = cmos_read(RTC_YEAR);
	r->century = century_reg ? cmos_read(century_reg) : 0;
	return true;
}

static unsigned from_bcd(uint8_t v, bool binary)
{
	return binary ? v : (unsigned)(v >> 4) * 10 + (v & 0x0f);
}

/*
 * rtc_read - read the date and time
 * @century_reg: CMOS index of the century (from the FADT), 0 for none (20xx)
 * @t:           result
 * Return: 0; -ENODEV when no RTC answers; -EIO when the readings never
 * settle or hold an impossible date.
 */
int rtc_read(uint8_t century_reg, struct rtc_time *t)
{
	struct raw_rtc a, b;
	int attempt;

	if (cmos_read(RTC_STATUS_B) == 0xff && cmos_read(RTC_STATUS_A) == 0xff)
		return -ENODEV;
	/* Index bit 7 is the NMI mask on port 0x70; the upper bank is not reached this way. */
	if (century_reg >= 0x80)
		century_reg = 0;
	/* Two identical readings in a row cannot straddle an update. */
	for (attempt = 0; attempt < RTC_READ_ATTEMPTS; attempt++) {
		if (!read_raw(century_reg, &a) || !read_raw(century_reg, &b))
			return -EIO;
		if (a.sec == b.sec && a.min == b.min && a.hour == b.hour && a.day == b.day &&
		    a.mon == b.mon && a.year == b.year && a.century == b.century)
			break;
	}
	if (attempt == RTC_READ_ATTEMPTS)
		return -EIO;

	uint8_t status_b = cmos_read(RTC_STATUS_B);
	bool binary = status_b & STATUS_B_BINARY;
	bool pm = !(status_b & STATUS_B_24H) && (a.hour & 0x80);
	unsigned hour = from_bcd(a.hour & 0x7f, binary);
	if (!(status_b & STATUS_B_24H))
		hour = hour % 12 + (pm ? 12 : 0);
	unsigned century = century_reg ? from_bcd(a.century, binary) : 20;

	t->second = from_bcd(a.sec, binary);
	t->minute = from_bcd(a.min, binary);
	t->hour = hour;
	t->day = from_bcd(a.day, binary);
	t->month = from_bcd(a.mon, binary);
	t->year = century * 100 + from_bcd(a.year, binary);
	return rtc_to_epoch(t) < 0 ? -EIO : 0;
}

/*
 * rtc_to_epoch - date to Unix time
 * Return: seconds since the epoch; -EINVAL for fields out of range or a date
 * before 1970 or after 9999.
 */
int64_t rtc_to_epoch(const struct rtc_time *t)
{
	static const unsigned days_in_month[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (t->year < 1970 || t->year > 9999 || t->month < 1 || t->month > 12 || t->day < 1 ||
	    t->hour > 23 || t->minute > 59 || t->second > 59)
		return -EINVAL;
	bool leap = (t->year % 4 == 0 && t->year % 100 != 0) || t->year % 400 == 0;
	unsigned month_days = days_in_month[t->month - 1] + (t->month == 2 && leap);
	if (t->day > month_days)
		return -EINVAL;

	/* Days from 1970-01-01 to the start of the year, then of the month. */
	int64_t y = t->year;
	int64_t days = (y - 1970) * 365 + ((y - 1969) / 4) - ((y - 1901) / 100) + ((y - 1601) / 400);
	for (unsigned m = 1; m < t->month; m++)
		days += days_in_month[m - 1] + (m == 2 && leap);
	days += t->day - 1;
	return ((days * 24 + t->hour) * 60 + t->minute) * 60 + t->second;
}
