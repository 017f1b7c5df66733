/*
 * Unit tests for arch/x86_64/rtc.c: date to Unix time, and reading the CMOS
 * clock through a simulated MC146818 behind ports 0x70/0x71.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/rtc.h"

/* ---- rtc_to_epoch ---- */

static int64_t epoch(unsigned y, unsigned mo, unsigned d, unsigned h, unsigned mi, unsigned s)
{
	struct rtc_time t = { .year = y, .month = mo, .day = d, .hour = h, .minute = mi, .second = s };
	return rtc_to_epoch(&t);
}

/* Known instants, leap days included. */
static void test_epoch_known(void **state)
{
	(void)state;
	assert_int_equal(epoch(1970, 1, 1, 0, 0, 0), 0);
	assert_int_equal(epoch(1970, 1, 1, 0, 0, 1), 1);
	assert_int_equal(epoch(1970, 12, 31, 23, 59, 59), 31535999);
	assert_int_equal(epoch(1972, 2, 29, 0, 0, 0), 68169600);
	assert_int_equal(epoch(1972, 3, 1, 0, 0, 0), 68256000);
	assert_int_equal(epoch(2000, 1, 1, 0, 0, 0), 946684800);
	assert_int_equal(epoch(2000, 2, 29, 0, 0, 0), 951782400);
	assert_int_equal(epoch(2000, 3, 1, 0, 0, 0), 951868800);
	assert_int_equal(epoch(2000, 12, 31, 0, 0, 0), 978220800);
	assert_int_equal(epoch(2024, 2, 29, 12, 34, 56), 1709210096);
	assert_int_equal(epoch(2038, 1, 19, 3, 14, 8), 2147483648LL);
	assert_int_equal(epoch(2100, 2, 28, 23, 59, 59), 4107542399LL);
	assert_int_equal(epoch(2100, 3, 1, 0, 0, 0), 4107542400LL);
	assert_int_equal(epoch(9999, 12, 31, 23, 59, 59), 253402300799LL);
}

/* Agrees with the host's timegm() on the first of every month and a spread of other days. */
static void test_epoch_against_timegm(void **state)
{
	(void)state;
	for (unsigned y = 1970; y <= 9999; y += (y < 2200 ? 1 : 97)) {
		for (unsigned m = 1; m <= 12; m++) {
			unsigned d = 1 + (y * 7 + m * 3) % 28;
			struct tm tm = { .tm_year = (int)y - 1900, .tm_mon = (int)m - 1, .tm_mday = (int)d,
					 .tm_hour = (int)(y % 24), .tm_min = (int)(m * 4), .tm_sec = (int)(d * 2) };
			int64_t want = (int64_t)timegm(&tm);
			int64_t got = epoch(y, m, d, y % 24, m * 4, d * 2);
			if (got != want)
				fail_msg("%04u-%02u-%02u: %lld, timegm says %lld", y, m, d, (long long)got,
					 (long long)want);
		}
	}
}

/* Impossible dates and dates outside 1970..9999 are -EINVAL. */
static void test_epoch_rejects(void **state)
{
	(void)state;
	assert_int_equal(epoch(2023, 2, 29, 0, 0, 0), -EINVAL);
	assert_int_equal(epoch(2100, 2, 29, 0, 0, 0), -EINVAL);
	assert_int_equal(epoch(1900 + 200, 2, 29, 12, 0, 0), -EINVAL);
	assert_int_equal(epoch(2024, 2, 30, 0, 0, 0), -EINVAL);
	assert_int_equal(epoch(2024, 4, 31, 0, 0, 0), -EINVAL);
	assert_int_equal(epoch(2024, 1, 32, 0, 0, 0), -EINVAL);
	assert_int_equal(epoch(2024, 13, 1, 0, 0, 0), -EINVAL);
	assert_int_equal(epoch(2024, 0, 1, 0, 0, 0), -EINVAL);
	assert_int_equal(epoch(2024, 1, 0, 0, 0, 0), -EINVAL);
	assert_int_equal(epoch(2024, 1, 1, 24, 0, 0), -EINVAL);
	assert_int_equal(epoch(2024, 1, 1, 0, 60, 0), -EINVAL);
	assert_int_equal(epoch(2024, 1, 1, 0, 0, 60), -EINVAL);
	assert_int_equal(epoch(1969, 12, 31, 23, 59, 59), -EINVAL);
	assert_int_equal(epoch(10000, 1, 1, 0, 0, 0), -EINVAL);
	assert_int_equal(epoch(0, 0, 0, 0, 0, 0), -EINVAL);
	assert_int_equal(epoch(0xffffffffu, 1, 1, 0, 0, 0), -EINVAL);
	assert_int_equal(epoch(2024, 0xffffffffu, 1, 0, 0, 0), -EINVAL);
	/* the last valid values of each field */
	assert_true(epoch(2024, 12, 31, 23, 59, 59) > 0);
	assert_true(epoch(2000, 2, 29, 23, 59, 59) > 0);
}

/* ---- simulated CMOS ---- */

struct cmos {
	uint8_t reg[128];
	uint8_t index;
	unsigned reads[128];   /* data reads per register */
	unsigned uip_reads;    /* status A reads that still report an update in progress */
	bool uip_forever;
	unsigned tick_reads;   /* seconds reads after which the seconds register advances */
	bool tick_forever;
	unsigned long accesses;
};

static struct cmos cmos;

static uint32_t cmos_in(void *ctx, uint16_t port, unsigned size)
{
	struct cmos *c = ctx;

	c->accesses++;
	if (port != 0x71 || size != 1)
		fail_msg("unexpected in%u from port 0x%x", size, port);
	uint8_t r = c->index;
	uint8_t v = c->reg[r];
	c->reads[r]++;
	if (r == 0x0a) {
		if (c->uip_forever) {
			v |= 0x80;
		} else if (c->uip_reads) {
			c->uip_reads--;
			v |= 0x80;
		}
	}
	if (r == 0x00 && (c->tick_forever || c->tick_reads)) {
		if (c->tick_reads)
			c->tick_reads--;
		c->reg[0] = (uint8_t)((c->reg[0] + 1) % 60); /* binary mode in the tests that tick */
	}
	return v;
}

static void cmos_out(void *ctx, uint16_t port, unsigned size, uint32_t value)
{
	struct cmos *c = ctx;

	c->accesses++;
	if (port != 0x70 || size != 1)
		fail_msg("unexpected out%u of 0x%x to port 0x%x", size, value, port);
	if (value & 0x80)
		fail_msg("CMOS index 0x%x disables NMIs", value);
	c->index = (uint8_t)value;
}

/* A clock at 2024-02-29 12:34:56 in BCD, 24-hour mode. */
static int setup(void **state)
{
	(void)state;
	memset(&cmos, 0, sizeof(cmos));
	cmos.reg[0x00] = 0x56;
	cmos.reg[0x02] = 0x34;
	cmos.reg[0x04] = 0x12;
	cmos.reg[0x06] = 0x05; /* day of week: unused */
	cmos.reg[0x07] = 0x29;
	cmos.reg[0x08] = 0x02;
	cmos.reg[0x09] = 0x24;
	cmos.reg[0x0a] = 0x26;
	cmos.reg[0x0b] = 0x02;
	cmos.reg[0x32] = 0x20;
	static const struct cpu_sim_ops ops = { .ctx = &cmos, .port_in = cmos_in, .port_out = cmos_out };
	cpu_sim_install(&ops);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	cpu_sim_install(NULL);
	return 0;
}

static void assert_time(const struct rtc_time *t, unsigned y, unsigned mo, unsigned d, unsigned h,
			unsigned mi, unsigned s)
{
	if (t->year != y || t->month != mo || t->day != d || t->hour != h || t->minute != mi || t->second != s)
		fail_msg("read %04u-%02u-%02u %02u:%02u:%02u, expected %04u-%02u-%02u %02u:%02u:%02u", t->year,
			 t->month, t->day, t->hour, t->minute, t->second, y, mo, d, h, mi, s);
}

/* BCD, 24-hour, no century register: 20xx, and the century register is not touched. */
static void test_read_bcd(void **state)
{
	struct rtc_time t;

	(void)state;
	assert_int_equal(rtc_read(0, &t), 0);
	assert_time(&t, 2024, 2, 29, 12, 34, 56);
	assert_int_equal(rtc_to_epoch(&t), 1709210096);
	assert_int_equal(cmos.reads[0x32], 0);
	assert_int_equal(cmos.reads[0x00], 2); /* two matching readings suffice */
}

/* Status B bit 2: binary values. */
static void test_read_binary(void **state)
{
	struct rtc_time t;

	(void)state;
	cmos.reg[0x0b] = 0x06;
	cmos.reg[0x00] = 59;
	cmos.reg[0x02] = 58;
	cmos.reg[0x04] = 23;
	cmos.reg[0x07] = 31;
	cmos.reg[0x08] = 12;
	cmos.reg[0x09] = 99;
	assert_int_equal(rtc_read(0, &t), 0);
	assert_time(&t, 2099, 12, 31, 23, 58, 59);
}

/* Status B bit 1 clear: 12-hour clock, bit 7 of the hour is PM; 12 AM is 0 and 12 PM is 12. */
static void test_read_12_hour(void **state)
{
	static const struct {
		uint8_t bcd, binary, want;
	} cases[] = {
		{ 0x12, 12, 0 },          /* 12 AM: midnight */
		{ 0x01, 1, 1 },
		{ 0x11, 11, 11 },
		{ 0x92, 0x80 | 12, 12 },  /* 12 PM: noon */
		{ 0x81, 0x80 | 1, 13 },
		{ 0x91, 0x80 | 11, 23 },
	};
	struct rtc_time t;

	(void)state;
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cmos.reg[0x0b] = 0x00; /* BCD, 12-hour */
		cmos.reg[0x04] = cases[i].bcd;
		assert_int_equal(rtc_read(0, &t), 0);
		if (t.hour != cases[i].want)
			fail_msg("BCD hour register 0x%02x read as %u, expected %u", cases[i].bcd, t.hour,
				 cases[i].want);
		cmos.reg[0x0b] = 0x04; /* binary, 12-hour */
		cmos.reg[0x00] = 56;
		cmos.reg[0x02] = 34;
		cmos.reg[0x07] = 29;
		cmos.reg[0x08] = 2;
		cmos.reg[0x09] = 24;
		cmos.reg[0x04] = cases[i].binary;
		assert_int_equal(rtc_read(0, &t), 0);
		if (t.hour != cases[i].want)
			fail_msg("binary hour register 0x%02x read as %u, expected %u", cases[i].binary, t.hour,
				 cases[i].want);
		assert_time(&t, 2024, 2, 29, cases[i].want, 34, 56);
		setup(NULL);
	}
}

/* The century register from the FADT gives the first two digits, in the clock's encoding. */
static void test_read_century(void **state)
{
	struct rtc_time t;

	(void)state;
	cmos.reg[0x32] = 0x19;
	cmos.reg[0x09] = 0x99;
	cmos.reg[0x08] = 0x12;
	cmos.reg[0x07] = 0x31;
	assert_int_equal(rtc_read(0x32, &t), 0);
	assert_time(&t, 1999, 12, 31, 12, 34, 56);
	assert_true(cmos.reads[0x32] >= 2);

	cmos.reg[0x32] = 0x21;
	cmos.reg[0x09] = 0x00;
	assert_int_equal(rtc_read(0x32, &t), 0);
	assert_time(&t, 2100, 12, 31, 12, 34, 56);

	/* binary */
	cmos.reg[0x0b] = 0x06;
	cmos.reg[0x48] = 20; /* another index, as a FADT may name */
	cmos.reg[0x09] = 38;
	cmos.reg[0x08] = 1;
	cmos.reg[0x07] = 19;
	cmos.reg[0x04] = 3;
	cmos.reg[0x02] = 14;
	cmos.reg[0x00] = 8;
	assert_int_equal(rtc_read(0x48, &t), 0);
	assert_time(&t, 2038, 1, 19, 3, 14, 8);
	assert_int_equal(rtc_to_epoch(&t), 2147483648LL);
}

/* An update in progress is waited out before reading. */
static void test_read_waits_for_update(void **state)
{
	struct rtc_time t;

	(void)state;
	cmos.uip_reads = 3;
	assert_int_equal(rtc_read(0, &t), 0);
	assert_time(&t, 2024, 2, 29, 12, 34, 56);
	assert_int_equal(cmos.uip_reads, 0);
	/* 3 busy polls, then one per reading, plus the presence check's */
	assert_true(cmos.reads[0x0a] >= 5);
}

/* Readings that differ (the clock ticked in between) are retried until two agree. */
static void test_read_retries_on_change(void **state)
{
	struct rtc_time t;

	(void)state;
	cmos.reg[0x0b] = 0x06; /* binary */
	cmos.reg[0x00] = 30;
	cmos.reg[0x02] = 34;
	cmos.reg[0x04] = 12;
	cmos.reg[0x07] = 29;
	cmos.reg[0x08] = 2;
	cmos.reg[0x09] = 24;
	cmos.tick_reads = 2; /* reads see 30, 31: differ; then 32, 32 */
	assert_int_equal(rtc_read(0, &t), 0);
	assert_time(&t, 2024, 2, 29, 12, 34, 32);
	assert_int_equal(cmos.reads[0x00], 4);
}

/* A clock that never reads the same twice: -EIO after a bounded number of attempts. */
static void test_read_never_settles(void **state)
{
	struct rtc_time t;

	(void)state;
	cmos.reg[0x0b] = 0x06;
	cmos.reg[0x00] = 0;
	cmos.reg[0x07] = 1;
	cmos.reg[0x08] = 1;
	cmos.tick_forever = true;
	assert_int_equal(rtc_read(0, &t), -EIO);
	assert_true(cmos.reads[0x00] >= 4 && cmos.reads[0x00] <= 40);
}

/* No RTC: the bus floats to 0xff. */
static void test_read_absent(void **state)
{
	struct rtc_time t;

	(void)state;
	memset(cmos.reg, 0xff, sizeof(cmos.reg));
	assert_int_equal(rtc_read(0, &t), -ENODEV);
	assert_int_equal(rtc_read(0x32, &t), -ENODEV);
	assert_true(cmos.accesses < 100);
}

/* An update flag that never clears: -EIO, after a bounded wait. */
static void test_read_uip_stuck(void **state)
{
	struct rtc_time t;

	(void)state;
	cmos.uip_forever = true;
	assert_int_equal(rtc_read(0, &t), -EIO);
	assert_true(cmos.reads[0x0a] < 10000000);
	assert_int_equal(cmos.reads[0x00], 0);
}

/* Register contents that are no date (month 13, Feb 30, hour 25) are -EIO. */
static void test_read_impossible_date(void **state)
{
	struct rtc_time t;

	(void)state;
	cmos.reg[0x08] = 0x13;
	assert_int_equal(rtc_read(0, &t), -EIO);
	setup(NULL);
	cmos.reg[0x07] = 0x30;
	assert_int_equal(rtc_read(0, &t), -EIO);
	setup(NULL);
	cmos.reg[0x04] = 0x25;
	assert_int_equal(rtc_read(0, &t), -EIO);
	setup(NULL);
	cmos.reg[0x07] = 0x00;
	assert_int_equal(rtc_read(0, &t), -EIO);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_epoch_known),
		cmocka_unit_test(test_epoch_against_timegm),
		cmocka_unit_test(test_epoch_rejects),
		T(test_read_bcd),
		T(test_read_binary),
		T(test_read_12_hour),
		T(test_read_century),
		T(test_read_waits_for_update),
		T(test_read_retries_on_change),
		T(test_read_never_settles),
		T(test_read_absent),
		T(test_read_uip_stuck),
		T(test_read_impossible_date),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
