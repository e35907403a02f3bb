// SPDX-License-Identifier: MIT
/*
 * MC146818A real-time clock and CMOS RAM (Motorola MC146818A datasheet;
 * register numbers and the update cycle as in its "Address Map" and
 * "Update Cycle" sections).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "devices/rtc.h"
#include "util/log.h"
#include "util/util.h"

#define NSEC 1000000000ll
/* UIP rises 244 us before the update cycle (datasheet, register A). */
#define RTC_UIP_NS 244000ll
/* Years the guest may set: 1970 to about 2223, so that the time in ns
 * fits an int64_t with room to spare. */
#define RTC_MAX_SEC 8000000000ll

struct rtc {
	pthread_mutex_t lock;
	uint8_t cmos[RTC_CMOS_SIZE];
	uint8_t index;

	int64_t offset_ns; /* guest time = host CLOCK_REALTIME + offset */
	bool frozen;	   /* register B SET: the clock does not update */
	int64_t frozen_sec;
	int64_t last_sec; /* second of the last update seen */
	int irq_level;

	/* Timer thread only (plus sync_pending under the lock). */
	int update_timer, periodic_timer;
	unsigned int periodic_rs;
	bool sync_pending;
	bool rearm; /* state loaded: armed timers follow the old clock, renew them */

	struct rtc_ops ops;
	void *opaque;
	struct rtc_stats stats;
	struct ratelimit rl;
};

static int64_t rtc_host_ns(struct rtc *r)
{
	struct timespec ts;

	if (r->ops.now)
		return (int64_t)r->ops.now(r->opaque);
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * NSEC + ts.tv_nsec;
}

static int64_t rtc_guest_ns(struct rtc *r)
{
	if (r->frozen)
		return r->frozen_sec * NSEC;
	return rtc_host_ns(r) + r->offset_ns;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b < 0);
}

static int64_t rtc_guest_sec(struct rtc *r)
{
	return floor_div(rtc_guest_ns(r), NSEC);
}

static bool rtc_binary(const struct rtc *r)
{
	return r->cmos[RTC_REG_B] & RTC_B_DM_BINARY;
}

static uint8_t rtc_to_reg(const struct rtc *r, int v)
{
	if (rtc_binary(r))
		return (uint8_t)v;
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

static int rtc_from_reg(const struct rtc *r, uint8_t v)
{
	if (rtc_binary(r))
		return v;
	return (v >> 4) * 10 + (v & 0x0f);
}

static uint8_t rtc_encode_hours(const struct rtc *r, int h)
{
	uint8_t v;

	if (r->cmos[RTC_REG_B] & RTC_B_24H)
		return rtc_to_reg(r, h);
	/* 12-hour mode: 1-12, bit 7 set for PM. */
	v = rtc_to_reg(r, h % 12 == 0 ? 12 : h % 12);
	return h >= 12 ? (uint8_t)(v | 0x80) : v;
}

static int rtc_decode_hours(const struct rtc *r, uint8_t v)
{
	if (r->cmos[RTC_REG_B] & RTC_B_24H)
		return rtc_from_reg(r, v);
	return rtc_from_reg(r, v & 0x7f) % 12 + ((v & 0x80) ? 12 : 0);
}

static void rtc_tm(int64_t sec, struct tm *tm)
{
	time_t t = (time_t)sec;

	if (!gmtime_r(&t, tm))
		memset(tm, 0, sizeof(*tm));
}

/* The value of a clock register at guest time `sec`. */
static uint8_t rtc_time_reg(const struct rtc *r, uint8_t reg, int64_t sec)
{
	struct tm tm;

	rtc_tm(sec, &tm);
	switch (reg) {
	case RTC_SECONDS:
		return rtc_to_reg(r, tm.tm_sec);
	case RTC_MINUTES:
		return rtc_to_reg(r, tm.tm_min);
	case RTC_HOURS:
		return rtc_encode_hours(r, tm.tm_hour);
	case RTC_DAY_OF_WEEK:
		return rtc_to_reg(r, tm.tm_wday + 1); /* 1 = Sunday */
	case RTC_DAY_OF_MONTH:
		return rtc_to_reg(r, tm.tm_mday);
	case RTC_MONTH:
		return rtc_to_reg(r, tm.tm_mon + 1);
	case RTC_YEAR:
		return rtc_to_reg(r, (tm.tm_year + 1900) % 100);
	case RTC_CENTURY:
		return rtc_to_reg(r, (tm.tm_year + 1900) / 100);
	}
	return 0;
}

/* An alarm register matches if equal or "don't care" (0b11xxxxxx). */
static bool rtc_alarm_match(const struct rtc *r, int64_t sec)
{
	static const uint8_t pairs[3][2] = { { RTC_SECONDS_ALARM, RTC_SECONDS },
					     { RTC_MINUTES_ALARM, RTC_MINUTES },
					     { RTC_HOURS_ALARM, RTC_HOURS } };

	for (size_t i = 0; i < ARRAY_SIZE(pairs); i++) {
		uint8_t a = r->cmos[pairs[i][0]];

		if ((a & 0xc0) == 0xc0)
			continue;
		if (a != rtc_time_reg(r, pairs[i][1], sec))
			return false;
	}
	return true;
}

static void rtc_update_irq(struct rtc *r)
{
	uint8_t b = r->cmos[RTC_REG_B], c = r->cmos[RTC_REG_C];
	int level = ((c & RTC_C_PF) && (b & RTC_B_PIE)) || ((c & RTC_C_AF) && (b & RTC_B_AIE)) ||
		    ((c & RTC_C_UF) && (b & RTC_B_UIE));

	if (level)
		r->cmos[RTC_REG_C] |= RTC_C_IRQF;
	else
		r->cmos[RTC_REG_C] &= (uint8_t)~RTC_C_IRQF;
	if (level == r->irq_level)
		return;
	r->irq_level = level;
	if (level)
		r->stats.irqs++;
	if (r->ops.set_irq)
		r->ops.set_irq(r->opaque, level);
}

/*
 * Account for update cycles that happened since the last look: each one
 * sets UF, and AF if the alarm matches.  Called on every access and on
 * the update timer, so flags are right even with no timer running.
 */
static void rtc_catch_up(struct rtc *r)
{
	int64_t sec = rtc_guest_sec(r);

	if (sec == r->last_sec)
		return;
	r->last_sec = sec;
	if (r->frozen)
		return;
	r->cmos[RTC_REG_C] |= RTC_C_UF;
	if (rtc_alarm_match(r, sec))
		r->cmos[RTC_REG_C] |= RTC_C_AF;
}

/* --- timers (timer thread) --- */

static void rtc_sync_timers_locked(struct rtc *r);

static void rtc_update_tick(void *arg)
{
	struct rtc *r = arg;

	pthread_mutex_lock(&r->lock);
	r->update_timer = -1; /* one-shot: already gone */
	r->stats.update_ticks++;
	rtc_catch_up(r);
	rtc_update_irq(r);
	rtc_sync_timers_locked(r);
	pthread_mutex_unlock(&r->lock);
}

static void rtc_periodic_tick(void *arg)
{
	struct rtc *r = arg;

	pthread_mutex_lock(&r->lock);
	if (r->periodic_timer >= 0) {
		r->stats.periodic_ticks++;
		r->cmos[RTC_REG_C] |= RTC_C_PF;
		rtc_update_irq(r);
	}
	pthread_mutex_unlock(&r->lock);
}

/* Periodic interrupt rate for a 32.768 kHz time base (datasheet Table 5):
 * RS 3..15 give 8192 Hz down to 2 Hz; 1 and 2 repeat 256 and 128 Hz. */
static uint64_t rtc_period_ns(unsigned int rs)
{
	if (rs < 3)
		rs += 7;
	return (uint64_t)NSEC * (1ull << (rs - 1)) / 32768;
}

static void rtc_sync_timers_locked(struct rtc *r)
{
	uint8_t b = r->cmos[RTC_REG_B];
	unsigned int rs = r->cmos[RTC_REG_A] & 0x0f;
	bool want_update = !(b & RTC_B_SET) && (b & (RTC_B_UIE | RTC_B_AIE));
	bool want_periodic = (b & RTC_B_PIE) && rs;
	int id;

	if (!r->ops.timer_add)
		return;
	if (r->rearm) {
		r->rearm = false;
		if (r->update_timer >= 0)
			r->ops.timer_cancel(r->opaque, r->update_timer);
		if (r->periodic_timer >= 0)
			r->ops.timer_cancel(r->opaque, r->periodic_timer);
		r->update_timer = -1;
		r->periodic_timer = -1;
	}
	if (!want_update && r->update_timer >= 0) {
		r->ops.timer_cancel(r->opaque, r->update_timer);
		r->update_timer = -1;
	}
	if (want_update && r->update_timer < 0) {
		/* Just after the next second boundary of guest time. */
		int64_t ns = rtc_guest_ns(r);
		int64_t rem = NSEC - (ns - floor_div(ns, NSEC) * NSEC);

		id = r->ops.timer_add(r->opaque, (uint64_t)rem + 100000, 0, rtc_update_tick, r);
		if (id >= 0)
			r->update_timer = id;
		else
			log_warn("rtc: cannot arm the update timer: %s", strerror(-id));
	}
	if (r->periodic_timer >= 0 && (!want_periodic || rs != r->periodic_rs)) {
		r->ops.timer_cancel(r->opaque, r->periodic_timer);
		r->periodic_timer = -1;
	}
	if (want_periodic && r->periodic_timer < 0) {
		uint64_t p = rtc_period_ns(rs);

		id = r->ops.timer_add(r->opaque, p, p, rtc_periodic_tick, r);
		if (id >= 0) {
			r->periodic_timer = id;
			r->periodic_rs = rs;
		} else {
			log_warn("rtc: cannot arm the periodic timer: %s", strerror(-id));
		}
	}
}

static void rtc_sync_timers(void *arg)
{
	struct rtc *r = arg;

	pthread_mutex_lock(&r->lock);
	r->sync_pending = false;
	rtc_sync_timers_locked(r);
	pthread_mutex_unlock(&r->lock);
}

/* From a vCPU: let the timer thread reprogram (timers are its own). */
static void rtc_request_sync(struct rtc *r)
{
	if (!r->ops.schedule || r->sync_pending)
		return;
	if (r->ops.schedule(r->opaque, rtc_sync_timers, r) == 0)
		r->sync_pending = true;
}

/* --- registers --- */

static void rtc_set_time_reg(struct rtc *r, uint8_t reg, uint8_t val)
{
	int64_t cur = rtc_guest_sec(r), next;
	struct tm tm;
	int year;
	time_t t;

	rtc_tm(cur, &tm);
	year = tm.tm_year + 1900;
	switch (reg) {
	case RTC_SECONDS:
		tm.tm_sec = rtc_from_reg(r, val);
		break;
	case RTC_MINUTES:
		tm.tm_min = rtc_from_reg(r, val);
		break;
	case RTC_HOURS:
		tm.tm_hour = rtc_decode_hours(r, val);
		break;
	case RTC_DAY_OF_WEEK:
		return; /* derived from the date */
	case RTC_DAY_OF_MONTH:
		tm.tm_mday = rtc_from_reg(r, val);
		break;
	case RTC_MONTH:
		tm.tm_mon = rtc_from_reg(r, val) - 1;
		break;
	case RTC_YEAR:
		tm.tm_year = year / 100 * 100 + rtc_from_reg(r, val) - 1900;
		break;
	case RTC_CENTURY:
		tm.tm_year = rtc_from_reg(r, val) * 100 + year % 100 - 1900;
		break;
	}
	t = timegm(&tm);
	next = (int64_t)t;
	if (t == (time_t)-1 || next < 0 || next > RTC_MAX_SEC) {
		r->stats.guest_errors++;
		log_guest_err(&r->rl, "rtc: time register %#x = %#x out of range", reg, val);
		return;
	}
	if (r->frozen)
		r->frozen_sec = next;
	else
		r->offset_ns += (next - cur) * NSEC;
	r->last_sec = next; /* setting the clock is not an update cycle */
}

static void rtc_write_b(struct rtc *r, uint8_t val)
{
	bool set = val & RTC_B_SET;

	if (set && !r->frozen) {
		/* SET: stop updating so the guest can load new values. */
		r->frozen_sec = rtc_guest_sec(r);
		r->frozen = true;
		val &= (uint8_t)~RTC_B_UIE; /* SET clears UIE */
	} else if (!set && r->frozen) {
		/* The clock runs again from the loaded time, with the next
		 * update one second from now. */
		r->offset_ns = r->frozen_sec * NSEC - rtc_host_ns(r);
		r->frozen = false;
		r->last_sec = r->frozen_sec;
	} else if (set) {
		val &= (uint8_t)~RTC_B_UIE;
	}
	r->cmos[RTC_REG_B] = val;
	rtc_update_irq(r);
	rtc_request_sync(r);
}

static uint8_t rtc_read_reg(struct rtc *r, uint8_t reg)
{
	uint8_t val;
	int64_t ns;

	switch (reg) {
	case RTC_SECONDS:
	case RTC_MINUTES:
	case RTC_HOURS:
	case RTC_DAY_OF_WEEK:
	case RTC_DAY_OF_MONTH:
	case RTC_MONTH:
	case RTC_YEAR:
	case RTC_CENTURY:
		rtc_catch_up(r);
		return rtc_time_reg(r, reg, rtc_guest_sec(r));
	case RTC_REG_A:
		val = r->cmos[RTC_REG_A] & 0x7f;
		ns = rtc_guest_ns(r);
		if (!r->frozen && ns - floor_div(ns, NSEC) * NSEC >= NSEC - RTC_UIP_NS)
			val |= RTC_A_UIP;
		return val;
	case RTC_REG_C:
		/* Reading C clears the flags and the interrupt. */
		rtc_catch_up(r);
		val = r->cmos[RTC_REG_C];
		r->cmos[RTC_REG_C] = 0;
		rtc_update_irq(r);
		return val;
	case RTC_REG_D:
		return RTC_D_VRT; /* battery good */
	default:
		return r->cmos[reg];
	}
}

static void rtc_write_reg(struct rtc *r, uint8_t reg, uint8_t val)
{
	switch (reg) {
	case RTC_SECONDS:
	case RTC_MINUTES:
	case RTC_HOURS:
	case RTC_DAY_OF_WEEK:
	case RTC_DAY_OF_MONTH:
	case RTC_MONTH:
	case RTC_YEAR:
	case RTC_CENTURY:
		rtc_set_time_reg(r, reg, val);
		break;
	case RTC_REG_A:
		r->cmos[RTC_REG_A] = val & 0x7f; /* UIP is read-only */
		rtc_request_sync(r);
		break;
	case RTC_REG_B:
		rtc_write_b(r, val);
		break;
	case RTC_REG_C:
	case RTC_REG_D:
		r->stats.guest_errors++;
		log_guest_err(&r->rl, "rtc: write %#x to read-only register %#x", val, reg);
		break;
	default:
		r->cmos[reg] = val;
		break;
	}
}

uint8_t rtc_cmos_read(struct rtc *r, uint8_t reg)
{
	uint8_t v;

	pthread_mutex_lock(&r->lock);
	v = rtc_read_reg(r, reg & 0x7f);
	pthread_mutex_unlock(&r->lock);
	return v;
}

void rtc_cmos_write(struct rtc *r, uint8_t reg, uint8_t val)
{
	pthread_mutex_lock(&r->lock);
	rtc_write_reg(r, reg & 0x7f, val);
	pthread_mutex_unlock(&r->lock);
}

static void rtc_bus_read(void *opaque, uint64_t offset, void *data, unsigned int len)
{
	struct rtc *r = opaque;
	uint8_t v = 0xff;

	/* Port 0x70 is write-only; 0x71 reads the indexed register. */
	if (offset == 1) {
		pthread_mutex_lock(&r->lock);
		v = rtc_read_reg(r, r->index);
		pthread_mutex_unlock(&r->lock);
	}
	memset(data, 0xff, len);
	*(uint8_t *)data = v;
}

static void rtc_bus_write(void *opaque, uint64_t offset, const void *data, unsigned int len)
{
	struct rtc *r = opaque;
	uint8_t v = *(const uint8_t *)data;

	pthread_mutex_lock(&r->lock);
	if (offset == 0)
		r->index = v & 0x7f; /* bit 7: NMI mask, not modelled */
	else
		rtc_write_reg(r, r->index, v);
	pthread_mutex_unlock(&r->lock);
}

const struct bus_ops rtc_bus_ops = {
	.read = rtc_bus_read,
	.write = rtc_bus_write,
};

static void rtc_regs_default(struct rtc *r)
{
	/* What a PC BIOS leaves: 32.768 kHz divider, 1024 Hz rate, BCD, 24h. */
	r->cmos[RTC_REG_A] = 0x26;
	r->cmos[RTC_REG_B] = RTC_B_24H;
	r->cmos[RTC_REG_C] = 0;
	r->cmos[RTC_REG_D] = RTC_D_VRT;
}

void rtc_reset(struct rtc *r)
{
	pthread_mutex_lock(&r->lock);
	if (r->frozen) {
		r->offset_ns = r->frozen_sec * NSEC - rtc_host_ns(r);
		r->frozen = false;
	}
	r->index = 0;
	rtc_regs_default(r);
	r->last_sec = rtc_guest_sec(r);
	rtc_update_irq(r);
	rtc_request_sync(r);
	pthread_mutex_unlock(&r->lock);
}

void rtc_set_memory(struct rtc *r, uint64_t ram_below_4g, uint64_t ram_above_4g)
{
	uint64_t ext_kb = ram_below_4g > MiB ? (ram_below_4g - MiB) / KiB : 0;
	uint64_t high = ram_above_4g / (64 * KiB);

	pthread_mutex_lock(&r->lock);
	ext_kb = MIN(ext_kb, 0xffffull);
	high = MIN(high, 0xffffffull);
	r->cmos[0x15] = 0x80; /* 640 KiB of base memory */
	r->cmos[0x16] = 0x02;
	r->cmos[0x17] = r->cmos[0x30] = (uint8_t)ext_kb;
	r->cmos[0x18] = r->cmos[0x31] = (uint8_t)(ext_kb >> 8);
	r->cmos[0x5b] = (uint8_t)high;
	r->cmos[0x5c] = (uint8_t)(high >> 8);
	r->cmos[0x5d] = (uint8_t)(high >> 16);
	pthread_mutex_unlock(&r->lock);
}

void rtc_get_stats(struct rtc *r, struct rtc_stats *st)
{
	pthread_mutex_lock(&r->lock);
	*st = r->stats;
	pthread_mutex_unlock(&r->lock);
}

/* --- save/restore --- */

#define RTC_STATE_TAG STREAM_TAG('R', 'T', 'C', 'S')
#define RTC_STATE_VERSION 1
/* Guest seconds a state may carry: the settable range plus decades of
 * running past its end, still well inside an int64_t of ns. */
#define RTC_STATE_MAX_SEC (RTC_MAX_SEC + RTC_MAX_SEC / 8)

/* The RTC as it travels in the stream (version 1, in this order). */
struct rtc_state {
	uint8_t cmos[RTC_CMOS_SIZE];
	uint8_t index;
	int64_t guest_ns; /* the guest's clock when saved */
	uint8_t frozen;
	int64_t frozen_sec;
	int64_t last_sec;
	uint8_t irq_level;
};

int rtc_save(struct rtc *r, struct stream *s, struct error *err)
{
	struct stream_section sec;
	struct rtc_state st;

	memset(&st, 0, sizeof(st));
	pthread_mutex_lock(&r->lock);
	memcpy(st.cmos, r->cmos, sizeof(st.cmos));
	st.index = r->index;
	st.guest_ns = rtc_guest_ns(r);
	st.frozen = r->frozen;
	st.frozen_sec = r->frozen_sec;
	st.last_sec = r->last_sec;
	st.irq_level = (uint8_t)r->irq_level;
	pthread_mutex_unlock(&r->lock);

	stream_section_begin(s, &sec, RTC_STATE_TAG, RTC_STATE_VERSION);
	stream_put_bytes(s, st.cmos, sizeof(st.cmos));
	stream_put_u8(s, st.index);
	stream_put_u64(s, (uint64_t)st.guest_ns);
	stream_put_u8(s, st.frozen);
	stream_put_u64(s, (uint64_t)st.frozen_sec);
	stream_put_u64(s, (uint64_t)st.last_sec);
	stream_put_u8(s, st.irq_level);
	stream_section_end(s, &sec);
	if (stream_error(s))
		return error_setf(err, stream_error(s), "rtc state: %s", error_msg(&s->err));
	return 0;
}

static bool rtc_sec_ok(int64_t sec)
{
	return sec >= 0 && sec <= RTC_STATE_MAX_SEC;
}

/* Everything the model itself would never produce is refused. */
static int rtc_state_check(const struct rtc_state *st, struct stream *s)
{
	static const uint8_t clock_regs[] = { RTC_SECONDS,     RTC_MINUTES,	 RTC_HOURS,
					      RTC_DAY_OF_WEEK, RTC_DAY_OF_MONTH, RTC_MONTH,
					      RTC_YEAR,	       RTC_CENTURY };
	uint8_t a = st->cmos[RTC_REG_A], b = st->cmos[RTC_REG_B], c = st->cmos[RTC_REG_C];
	int level = ((c & RTC_C_PF) && (b & RTC_B_PIE)) || ((c & RTC_C_AF) && (b & RTC_B_AIE)) ||
		    ((c & RTC_C_UF) && (b & RTC_B_UIE));

	if (st->index >= RTC_CMOS_SIZE)
		return stream_fail(s, -EINVAL, "rtc state: index %#x past the CMOS", st->index);
	/* The clock registers are computed from the guest time, never stored. */
	for (size_t i = 0; i < ARRAY_SIZE(clock_regs); i++)
		if (st->cmos[clock_regs[i]])
			return stream_fail(s, -EINVAL, "rtc state: stored clock register %#x",
					   clock_regs[i]);
	if (a & RTC_A_UIP)
		return stream_fail(s, -EINVAL, "rtc state: register A %#x with UIP stored", a);
	if (st->frozen > 1 || !!(b & RTC_B_SET) != st->frozen)
		return stream_fail(s, -EINVAL, "rtc state: register B %#x with frozen flag %u", b,
				   st->frozen);
	if ((b & RTC_B_SET) && (b & RTC_B_UIE))
		return stream_fail(s, -EINVAL, "rtc state: register B %#x: SET with UIE", b);
	if ((c & 0x0f) || !!(c & RTC_C_IRQF) != level)
		return stream_fail(s, -EINVAL, "rtc state: register C %#x with register B %#x", c,
				   b);
	if (st->cmos[RTC_REG_D] != RTC_D_VRT)
		return stream_fail(s, -EINVAL, "rtc state: register D %#x", st->cmos[RTC_REG_D]);
	if (st->irq_level != level)
		return stream_fail(s, -EINVAL, "rtc state: IRQ level %u with register C %#x",
				   st->irq_level, c);
	if (st->guest_ns < 0 || st->guest_ns / NSEC > RTC_STATE_MAX_SEC)
		return stream_fail(s, -EINVAL, "rtc state: guest time %lld ns out of range",
				   (long long)st->guest_ns);
	if (!rtc_sec_ok(st->frozen_sec) || !rtc_sec_ok(st->last_sec))
		return stream_fail(s, -EINVAL,
				   "rtc state: second %lld (frozen) or %lld (last update) out "
				   "of range",
				   (long long)st->frozen_sec, (long long)st->last_sec);
	if (st->frozen && st->guest_ns != st->frozen_sec * NSEC)
		return stream_fail(s, -EINVAL,
				   "rtc state: a frozen clock at %lld ns, not at its second %lld",
				   (long long)st->guest_ns, (long long)st->frozen_sec);
	return 0;
}

int rtc_load(struct rtc *r, struct stream *s, struct error *err)
{
	struct stream_section sec;
	struct rtc_state st;
	uint32_t ver;

	ver = stream_section_open(s, &sec, RTC_STATE_TAG);
	if (ver && ver != RTC_STATE_VERSION)
		stream_fail(s, -EPROTO, "rtc state version %u is not supported", ver);
	if (stream_error(s))
		return error_setf(err, stream_error(s), "%s", error_msg(&s->err));
	stream_get_bytes(s, st.cmos, sizeof(st.cmos));
	st.index = stream_get_u8(s);
	st.guest_ns = (int64_t)stream_get_u64(s);
	st.frozen = stream_get_u8(s);
	st.frozen_sec = (int64_t)stream_get_u64(s);
	st.last_sec = (int64_t)stream_get_u64(s);
	st.irq_level = stream_get_u8(s);
	stream_section_close(s, &sec);
	if (!stream_error(s))
		rtc_state_check(&st, s);
	if (stream_error(s))
		return error_setf(err, stream_error(s), "%s", error_msg(&s->err));

	pthread_mutex_lock(&r->lock);
	memcpy(r->cmos, st.cmos, sizeof(r->cmos));
	r->index = st.index;
	/* The guest's clock goes on from where it was, on this host's clock. */
	r->offset_ns = st.guest_ns - rtc_host_ns(r);
	r->frozen = st.frozen;
	r->frozen_sec = st.frozen_sec;
	r->last_sec = st.last_sec;
	/* IRQ 8 follows the restored registers B and C (level checked above). */
	rtc_update_irq(r);
	/* As after a write of A and B: the timer thread renews the timers. */
	r->rearm = true;
	rtc_request_sync(r);
	pthread_mutex_unlock(&r->lock);
	return 0;
}

int rtc_new(const struct rtc_ops *ops, void *opaque, struct rtc **out)
{
	struct rtc *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	pthread_mutex_init(&r->lock, NULL);
	if (ops)
		r->ops = *ops;
	if (!r->ops.timer_add || !r->ops.timer_cancel || !r->ops.schedule) {
		r->ops.timer_add = NULL;
		r->ops.schedule = NULL;
	}
	r->opaque = opaque;
	r->update_timer = -1;
	r->periodic_timer = -1;
	r->rl = (struct ratelimit)RATELIMIT_INIT;
	rtc_regs_default(r);
	r->last_sec = rtc_guest_sec(r);
	*out = r;
	return 0;
}

void rtc_free(struct rtc *r)
{
	if (!r)
		return;
	if (r->update_timer >= 0)
		r->ops.timer_cancel(r->opaque, r->update_timer);
	if (r->periodic_timer >= 0)
		r->ops.timer_cancel(r->opaque, r->periodic_timer);
	pthread_mutex_destroy(&r->lock);
	free(r);
}
