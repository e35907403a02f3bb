// SPDX-License-Identifier: MIT
/*
 * ACPI fixed hardware (ACPI 6.4 section 4.8): the PM1a event and control
 * blocks, the PM timer, GPE0 and the PIIX-style reset control register.
 * This is what makes `vessel shutdown` (the power button) and a guest's
 * `poweroff` (S5) and `reboot` (FADT RESET_REG) work.
 *
 * There is no SMM: the machine is always in ACPI mode, SCI_EN reads 1 and
 * the FADT has no SMI_CMD port (section 4.8.2.5).  All registers are
 * guest-controlled input: any width and offset is accepted, nothing here
 * can fail the VMM, and odd accesses are only logged (rate-limited).
 */
#include "devices/acpi_pm.h"

#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "bus/bus.h"
#include "bus/host.h"
#include "util/component.h"
#include "util/log.h"
#include "util/util.h"

/* Enable bits the guest may set in PM1_EN (table 4.15). */
#define PM1_EN_WRITABLE 0x4721u
/* Status bits that can raise the SCI: the same positions in PM1_EN. */
#define PM1_SCI_EVENTS 0x0721u
/* PM1_CNT bits that are stored: BM_RLD and SLP_TYP (table 4.16). */
#define PM1_CNT_STORED (0x2u | ACPI_PM1_CNT_SLP_TYP_MASK)
/* The span of the PM register block, X86_PORT_ACPI_PM_BASE..GPE0+4. */
#define PM_BLOCK_LEN (X86_PORT_GPE0 + 4 - X86_PORT_ACPI_PM_BASE)

struct acpi_pm {
	pthread_mutex_t lock;
	const struct acpi_pm_ops *ops;
	void *opaque;

	uint16_t pm1_sts, pm1_en, pm1_cnt;
	uint16_t gpe0_sts, gpe0_en;
	uint8_t rcr;
	int sci_level;
	uint64_t tmr_start_ns; /* the timer counts from here (now_ns()) ... */
	uint64_t tmr_base;     /* ... starting at this tick count (0, or a restored one) */
	uint64_t tmr_last;     /* tick count when TMR_STS was last updated */

	struct ratelimit rl;
	uint64_t nr_pwrbtn, nr_poweroff, nr_reset, nr_sleep_ignored;
};

/* 64-bit tick count of the PM timer; the register shows the low 32 bits. */
static uint64_t acpi_pm_ticks(struct acpi_pm *pm)
{
	unsigned __int128 ns = now_ns() - pm->tmr_start_ns;

	return pm->tmr_base + (uint64_t)(ns * ACPI_PM_TIMER_HZ / 1000000000u);
}

/*
 * TMR_STS is set whenever bit 31 of the timer changes (section 4.8.3.3).
 * Without a host timer per VM this is evaluated when the guest looks at
 * PM1_STS or the timer; no OS relies on the timer-carry interrupt.
 */
static void acpi_pm_update_tmr(struct acpi_pm *pm, uint64_t ticks)
{
	if ((ticks >> 31) != (pm->tmr_last >> 31))
		pm->pm1_sts |= ACPI_PM1_TMR_STS;
	pm->tmr_last = ticks;
}

/* Recompute the SCI line; called with the lock held. */
static void acpi_pm_update_sci(struct acpi_pm *pm)
{
	int level = (pm->pm1_cnt & ACPI_PM1_CNT_SCI_EN) &&
		    ((pm->pm1_sts & pm->pm1_en & PM1_SCI_EVENTS) || (pm->gpe0_sts & pm->gpe0_en));

	if (level != pm->sci_level) {
		pm->sci_level = level;
		if (pm->ops->set_sci)
			pm->ops->set_sci(pm->opaque, level);
	}
}

static void acpi_pm_reset_locked(struct acpi_pm *pm)
{
	pm->pm1_sts = 0;
	pm->pm1_en = 0;
	pm->pm1_cnt = ACPI_PM1_CNT_SCI_EN;
	pm->gpe0_sts = 0;
	pm->gpe0_en = 0;
	pm->rcr = 0;
	pm->tmr_start_ns = now_ns();
	pm->tmr_base = 0;
	pm->tmr_last = 0;
	acpi_pm_update_sci(pm);
}

void acpi_pm_reset(struct acpi_pm *pm)
{
	pthread_mutex_lock(&pm->lock);
	acpi_pm_reset_locked(pm);
	pthread_mutex_unlock(&pm->lock);
}

static uint32_t load_le(const void *data, unsigned int len)
{
	const uint8_t *p = data;
	uint32_t v = 0;

	for (unsigned int i = 0; i < len && i < 4; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

static void store_le(void *data, unsigned int len, uint32_t v)
{
	uint8_t *p = data;

	for (unsigned int i = 0; i < len; i++)
		p[i] = i < 4 ? (uint8_t)(v >> (8 * i)) : 0xff;
}

/*
 * The event blocks (PM1 EVT, GPE0) are a 16-bit status register followed
 * by a 16-bit enable register; accesses may be of any width at any offset
 * within the 4 bytes.  Status bits are write-1-to-clear (4.8.1).
 */
static void evt_write(uint16_t *sts, uint16_t *en, uint16_t en_mask, unsigned int off, uint32_t val,
		      unsigned int len)
{
	uint32_t mask = (len >= 4 ? 0xffffffffu : (1u << (8 * len)) - 1) << (8 * off);

	val <<= 8 * off;
	*sts &= (uint16_t) ~(val & mask);
	mask = (mask >> 16) & en_mask;
	*en = (uint16_t)((*en & ~mask) | ((val >> 16) & mask));
}

static void acpi_pm_cnt_write(struct acpi_pm *pm, unsigned int off, uint32_t val, unsigned int len,
			      bool *poweroff)
{
	uint32_t mask = (len >= 2 ? 0xffffu : 0xffu) << (8 * off);
	uint16_t v;

	val = (val << (8 * off)) & mask;
	v = (uint16_t)((pm->pm1_cnt & ~mask) | val);
	pm->pm1_cnt = (v & PM1_CNT_STORED) | ACPI_PM1_CNT_SCI_EN;
	if (!(val & ACPI_PM1_CNT_SLP_EN))
		return;

	unsigned int typ = (v & ACPI_PM1_CNT_SLP_TYP_MASK) >> ACPI_PM1_CNT_SLP_TYP_SHIFT;

	if (typ == X86_ACPI_SLP_TYP_S5) {
		*poweroff = true;
		return;
	}
	/*
	 * Only _S5 is in the DSDT, so a guest asking for another state is
	 * confused; act as if it woke up at once (WAK_STS, section 4.8.3.2.1)
	 * so it does not wait forever.
	 */
	pm->nr_sleep_ignored++;
	pm->pm1_sts |= ACPI_PM1_WAK_STS;
	log_guest_err(&pm->rl, "acpi-pm: sleep type %u is not supported, ignored", typ);
}

void acpi_pm_pio_read(struct acpi_pm *pm, uint16_t port, void *data, unsigned int len)
{
	uint32_t v = 0xffffffffu;

	if (len > 4) {
		store_le(data, len, v);
		return;
	}
	pthread_mutex_lock(&pm->lock);
	if (port >= X86_PORT_PM1A_EVT && port + len <= X86_PORT_PM1A_EVT + 4) {
		acpi_pm_update_tmr(pm, acpi_pm_ticks(pm));
		acpi_pm_update_sci(pm);
		v = (pm->pm1_sts | (uint32_t)pm->pm1_en << 16) >> (8 * (port - X86_PORT_PM1A_EVT));
	} else if (port >= X86_PORT_PM1A_CNT && port + len <= X86_PORT_PM1A_CNT + 2) {
		v = pm->pm1_cnt >> (8 * (port - X86_PORT_PM1A_CNT));
	} else if (port >= X86_PORT_PM_TMR && port + len <= X86_PORT_PM_TMR + 4) {
		uint64_t ticks = acpi_pm_ticks(pm);

		acpi_pm_update_tmr(pm, ticks);
		acpi_pm_update_sci(pm);
		v = (uint32_t)ticks >> (8 * (port - X86_PORT_PM_TMR));
	} else if (port >= X86_PORT_GPE0 && port + len <= X86_PORT_GPE0 + 4) {
		v = (pm->gpe0_sts | (uint32_t)pm->gpe0_en << 16) >> (8 * (port - X86_PORT_GPE0));
	} else if (port == X86_PORT_RESET && len == 1) {
		v = pm->rcr;
	}
	pthread_mutex_unlock(&pm->lock);
	store_le(data, len, v);
}

void acpi_pm_pio_write(struct acpi_pm *pm, uint16_t port, const void *data, unsigned int len)
{
	uint32_t v = load_le(data, len);
	bool poweroff = false, reset = false;

	if (len > 4 || len == 0)
		return;
	pthread_mutex_lock(&pm->lock);
	if (port >= X86_PORT_PM1A_EVT && port + len <= X86_PORT_PM1A_EVT + 4) {
		evt_write(&pm->pm1_sts, &pm->pm1_en, PM1_EN_WRITABLE, port - X86_PORT_PM1A_EVT, v,
			  len);
	} else if (port >= X86_PORT_PM1A_CNT && port + len <= X86_PORT_PM1A_CNT + 2) {
		acpi_pm_cnt_write(pm, port - X86_PORT_PM1A_CNT, v, len, &poweroff);
	} else if (port >= X86_PORT_GPE0 && port + len <= X86_PORT_GPE0 + 4) {
		evt_write(&pm->gpe0_sts, &pm->gpe0_en, 0xffff, port - X86_PORT_GPE0, v, len);
	} else if (port == X86_PORT_RESET && len == 1) {
		/* PIIX4 RCR: SYS_RST selects hard reset, RST_CPU triggers it. */
		pm->rcr = v & (ACPI_RCR_SYS_RST | 0x8);
		reset = v & ACPI_RCR_RST_CPU;
	} else if (!(port >= X86_PORT_PM_TMR && port + len <= X86_PORT_PM_TMR + 4)) {
		/* The timer is read-only; anything else is a hole. */
		log_guest_err(&pm->rl, "acpi-pm: %u-byte write to port 0x%x ignored", len, port);
	}
	acpi_pm_update_sci(pm);
	if (poweroff)
		pm->nr_poweroff++;
	if (reset)
		pm->nr_reset++;
	pthread_mutex_unlock(&pm->lock);

	/* Outside the lock: these take the machine lock and kick vCPU threads. */
	if (poweroff && pm->ops->poweroff)
		pm->ops->poweroff(pm->opaque);
	if (reset && pm->ops->reset)
		pm->ops->reset(pm->opaque);
}

int acpi_pm_power_button(struct acpi_pm *pm)
{
	bool enabled;

	pthread_mutex_lock(&pm->lock);
	pm->nr_pwrbtn++;
	pm->pm1_sts |= ACPI_PM1_PWRBTN_STS;
	enabled = pm->pm1_en & ACPI_PM1_PWRBTN_EN;
	acpi_pm_update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
	return enabled ? 0 : -EAGAIN;
}

bool acpi_pm_power_button_enabled(struct acpi_pm *pm)
{
	bool enabled;

	pthread_mutex_lock(&pm->lock);
	enabled = pm->pm1_en & ACPI_PM1_PWRBTN_EN;
	pthread_mutex_unlock(&pm->lock);
	return enabled;
}

int acpi_pm_raise_gpe(struct acpi_pm *pm, unsigned int gpe)
{
	if (gpe >= 16)
		return -EINVAL;
	pthread_mutex_lock(&pm->lock);
	pm->gpe0_sts |= (uint16_t)(1u << gpe);
	acpi_pm_update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
	return 0;
}

void acpi_pm_save(struct acpi_pm *pm, struct acpi_pm_state *st)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&pm->lock);
	acpi_pm_update_tmr(pm, acpi_pm_ticks(pm));
	st->pm1_sts = pm->pm1_sts;
	st->pm1_en = pm->pm1_en;
	st->pm1_cnt = pm->pm1_cnt;
	st->gpe0_sts = pm->gpe0_sts;
	st->gpe0_en = pm->gpe0_en;
	st->rcr = pm->rcr;
	st->tmr_ticks = pm->tmr_last;
	pthread_mutex_unlock(&pm->lock);
}

void acpi_pm_load(struct acpi_pm *pm, const struct acpi_pm_state *st)
{
	pthread_mutex_lock(&pm->lock);
	pm->pm1_sts = st->pm1_sts;
	pm->pm1_en = st->pm1_en & PM1_EN_WRITABLE;
	pm->pm1_cnt = (st->pm1_cnt & PM1_CNT_STORED) | ACPI_PM1_CNT_SCI_EN;
	pm->gpe0_sts = st->gpe0_sts;
	pm->gpe0_en = st->gpe0_en;
	pm->rcr = st->rcr & (ACPI_RCR_SYS_RST | 0x8);
	/* The timer goes on counting from the saved ticks. */
	pm->tmr_start_ns = now_ns();
	pm->tmr_base = st->tmr_ticks;
	pm->tmr_last = st->tmr_ticks;
	acpi_pm_update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
}

/* --- save/restore as a stream section --- */

#define ACPI_PM_STATE_TAG STREAM_TAG('A', 'C', 'P', 'M')
#define ACPI_PM_STATE_VERSION 1
/* PM1_STS bits the model sets: TMR_STS, PWRBTN_STS, WAK_STS. */
#define PM1_STS_SET (ACPI_PM1_TMR_STS | ACPI_PM1_PWRBTN_STS | ACPI_PM1_WAK_STS)
#define RCR_STORED (ACPI_RCR_SYS_RST | 0x8)

/* The registers as they travel in the stream (version 1, in this order). */
struct acpi_pm_stream_state {
	uint16_t pm1_sts, pm1_en, pm1_cnt;
	uint16_t gpe0_sts, gpe0_en;
	uint8_t rcr;
	uint8_t sci_level;
	uint64_t tmr_ticks; /* the 64-bit timer count; the register is its low 32 bits */
	uint64_t tmr_last;  /* the count when TMR_STS was last brought up to date */
};

int acpi_pm_save_state(struct acpi_pm *pm, struct stream *s, struct error *err)
{
	struct acpi_pm_stream_state st;
	struct stream_section sec;

	memset(&st, 0, sizeof(st));
	/* Nothing changes here: a carry of bit 31 still due is seen by the
	 * destination's first look, from tmr_last. */
	pthread_mutex_lock(&pm->lock);
	st.pm1_sts = pm->pm1_sts;
	st.pm1_en = pm->pm1_en;
	st.pm1_cnt = pm->pm1_cnt;
	st.gpe0_sts = pm->gpe0_sts;
	st.gpe0_en = pm->gpe0_en;
	st.rcr = pm->rcr;
	st.sci_level = (uint8_t)pm->sci_level;
	st.tmr_ticks = acpi_pm_ticks(pm);
	st.tmr_last = pm->tmr_last;
	pthread_mutex_unlock(&pm->lock);

	stream_section_begin(s, &sec, ACPI_PM_STATE_TAG, ACPI_PM_STATE_VERSION);
	stream_put_u16(s, st.pm1_sts);
	stream_put_u16(s, st.pm1_en);
	stream_put_u16(s, st.pm1_cnt);
	stream_put_u16(s, st.gpe0_sts);
	stream_put_u16(s, st.gpe0_en);
	stream_put_u8(s, st.rcr);
	stream_put_u8(s, st.sci_level);
	stream_put_u64(s, st.tmr_ticks);
	stream_put_u64(s, st.tmr_last);
	stream_section_end(s, &sec);
	if (stream_error(s))
		return error_setf(err, stream_error(s), "acpi-pm state: %s", error_msg(&s->err));
	return 0;
}

/* Everything the model itself would never produce is refused. */
static int acpi_pm_state_check(const struct acpi_pm_stream_state *st, struct stream *s)
{
	int level = (st->pm1_sts & st->pm1_en & PM1_SCI_EVENTS) || (st->gpe0_sts & st->gpe0_en);

	if (st->pm1_sts & ~PM1_STS_SET)
		return stream_fail(s, -EINVAL, "acpi-pm state: PM1_STS %#x has bits never set",
				   st->pm1_sts);
	if (st->pm1_en & ~PM1_EN_WRITABLE)
		return stream_fail(s, -EINVAL, "acpi-pm state: PM1_EN %#x has reserved bits set",
				   st->pm1_en);
	/* SCI_EN always reads 1 (no SMM); SLP_EN is write-only. */
	if ((st->pm1_cnt & ~(PM1_CNT_STORED | ACPI_PM1_CNT_SCI_EN)) ||
	    !(st->pm1_cnt & ACPI_PM1_CNT_SCI_EN))
		return stream_fail(s, -EINVAL, "acpi-pm state: PM1_CNT %#x is not a stored value",
				   st->pm1_cnt);
	if (st->rcr & ~RCR_STORED)
		return stream_fail(s, -EINVAL, "acpi-pm state: reset control %#x", st->rcr);
	if (st->sci_level != level)
		return stream_fail(s, -EINVAL,
				   "acpi-pm state: SCI level %u with PM1 %#x/%#x, GPE0 "
				   "%#x/%#x",
				   st->sci_level, st->pm1_sts, st->pm1_en, st->gpe0_sts,
				   st->gpe0_en);
	if (st->tmr_last > st->tmr_ticks)
		return stream_fail(s, -EINVAL, "acpi-pm state: timer at %llu, last looked at %llu",
				   (unsigned long long)st->tmr_ticks,
				   (unsigned long long)st->tmr_last);
	return 0;
}

int acpi_pm_load_state(struct acpi_pm *pm, struct stream *s, struct error *err)
{
	struct acpi_pm_stream_state st;
	struct stream_section sec;
	uint32_t ver;

	ver = stream_section_open(s, &sec, ACPI_PM_STATE_TAG);
	if (ver && ver != ACPI_PM_STATE_VERSION)
		stream_fail(s, -EPROTO, "acpi-pm state version %u is not supported", ver);
	if (stream_error(s))
		return error_setf(err, stream_error(s), "%s", error_msg(&s->err));
	st.pm1_sts = stream_get_u16(s);
	st.pm1_en = stream_get_u16(s);
	st.pm1_cnt = stream_get_u16(s);
	st.gpe0_sts = stream_get_u16(s);
	st.gpe0_en = stream_get_u16(s);
	st.rcr = stream_get_u8(s);
	st.sci_level = stream_get_u8(s);
	st.tmr_ticks = stream_get_u64(s);
	st.tmr_last = stream_get_u64(s);
	stream_section_close(s, &sec);
	if (!stream_error(s))
		acpi_pm_state_check(&st, s);
	if (stream_error(s))
		return error_setf(err, stream_error(s), "%s", error_msg(&s->err));

	pthread_mutex_lock(&pm->lock);
	pm->pm1_sts = st.pm1_sts;
	pm->pm1_en = st.pm1_en;
	pm->pm1_cnt = st.pm1_cnt;
	pm->gpe0_sts = st.gpe0_sts;
	pm->gpe0_en = st.gpe0_en;
	pm->rcr = st.rcr;
	/* The timer goes on counting from the saved value. */
	pm->tmr_start_ns = now_ns();
	pm->tmr_base = st.tmr_ticks;
	pm->tmr_last = st.tmr_last;
	/* The SCI follows the restored registers (the level checked above). */
	acpi_pm_update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
	return 0;
}

int acpi_pm_new(const struct acpi_pm_ops *ops, void *opaque, struct acpi_pm **out)
{
	struct acpi_pm *pm = calloc(1, sizeof(*pm));

	if (!pm)
		return -ENOMEM;
	pthread_mutex_init(&pm->lock, NULL);
	pm->ops = ops;
	pm->opaque = opaque;
	pm->rl = (struct ratelimit)RATELIMIT_INIT;
	/* Power-on values; the SCI starts low, so no callback fires here. */
	acpi_pm_reset_locked(pm);
	*out = pm;
	return 0;
}

void acpi_pm_free(struct acpi_pm *pm)
{
	if (!pm)
		return;
	pthread_mutex_destroy(&pm->lock);
	free(pm);
}

/* Glue to the machine (bus/host.h): bus ranges, the SCI line, requests. */

static void host_pm_set_sci(void *opaque, int level)
{
	dev_host_irq_line(opaque, X86_IRQ_SCI, level);
}

static void host_pm_poweroff(void *opaque)
{
	log_info("acpi-pm: guest powered off (S5)");
	dev_host_request(opaque, DEV_HOST_POWEROFF);
}

static void host_pm_reset(void *opaque)
{
	log_info("acpi-pm: guest reset through port 0x%x", X86_PORT_RESET);
	dev_host_request(opaque, DEV_HOST_RESET);
}

static const struct acpi_pm_ops host_pm_ops = {
	.set_sci = host_pm_set_sci,
	.poweroff = host_pm_poweroff,
	.reset = host_pm_reset,
};

static void pm_block_read(void *opaque, uint64_t off, void *data, unsigned int len)
{
	acpi_pm_pio_read(opaque, (uint16_t)(X86_PORT_ACPI_PM_BASE + off), data, len);
}

static void pm_block_write(void *opaque, uint64_t off, const void *data, unsigned int len)
{
	acpi_pm_pio_write(opaque, (uint16_t)(X86_PORT_ACPI_PM_BASE + off), data, len);
}

static const struct bus_ops pm_block_ops = { .read = pm_block_read, .write = pm_block_write };

static void pm_rcr_read(void *opaque, uint64_t off, void *data, unsigned int len)
{
	acpi_pm_pio_read(opaque, (uint16_t)(X86_PORT_RESET + off), data, len);
}

static void pm_rcr_write(void *opaque, uint64_t off, const void *data, unsigned int len)
{
	acpi_pm_pio_write(opaque, (uint16_t)(X86_PORT_RESET + off), data, len);
}

static const struct bus_ops pm_rcr_ops = { .read = pm_rcr_read, .write = pm_rcr_write };

static int pm_dev_reset(void *opaque)
{
	acpi_pm_reset(opaque);
	return 0;
}

static void pm_dev_stats(void *opaque, struct json_object *obj)
{
	struct acpi_pm *pm = opaque;

	pthread_mutex_lock(&pm->lock);
	json_object_object_add(obj, "power_button_presses", json_object_new_int64(pm->nr_pwrbtn));
	json_object_object_add(obj, "poweroff_requests", json_object_new_int64(pm->nr_poweroff));
	json_object_object_add(obj, "reset_requests", json_object_new_int64(pm->nr_reset));
	json_object_object_add(obj, "sleep_ignored", json_object_new_int64(pm->nr_sleep_ignored));
	json_object_object_add(obj, "guest_errors", json_object_new_int64(pm->rl.events));
	pthread_mutex_unlock(&pm->lock);
}

static void pm_dev_destroy(void *opaque)
{
	acpi_pm_free(opaque);
}

static int pm_dev_save(void *opaque, struct stream *s, struct error *err)
{
	return acpi_pm_save_state(opaque, s, err);
}

static int pm_dev_load(void *opaque, struct stream *s, struct error *err)
{
	return acpi_pm_load_state(opaque, s, err);
}

static const struct component_ops pm_dev_ops = {
	.reset = pm_dev_reset,
	.save = pm_dev_save,
	.load = pm_dev_load,
	.stats = pm_dev_stats,
	.destroy = pm_dev_destroy,
};

int acpi_pm_create(struct dev_host *host, struct acpi_pm **out)
{
	bool own_rcr = true;
	struct acpi_pm *pm;
	int ret;

	ret = acpi_pm_new(&host_pm_ops, host, &pm);
	if (ret)
		return ret;
	ret = bus_register(host->pio, X86_PORT_ACPI_PM_BASE, PM_BLOCK_LEN, &pm_block_ops, pm);
	if (ret) {
		log_err("acpi-pm: cannot claim ports 0x%x-0x%x: %s", X86_PORT_ACPI_PM_BASE,
			X86_PORT_ACPI_PM_BASE + PM_BLOCK_LEN - 1, strerror(-ret));
		acpi_pm_free(pm);
		return ret;
	}
	/*
	 * 0xCF9 sits inside the 0xCF8 dword of the PCI configuration
	 * mechanism.  If the PCI host bridge already claimed 0xCF8-0xCFB, it
	 * forwards byte accesses of 0xCF9 through acpi_pm_pio_*() instead.
	 */
	ret = bus_register(host->pio, X86_PORT_RESET, 1, &pm_rcr_ops, pm);
	if (ret == -EEXIST) {
		log_debug("acpi-pm: port 0x%x is claimed by the PCI host bridge", X86_PORT_RESET);
		own_rcr = false;
	} else if (ret) {
		goto err_block;
	}
	ret = components_add(host->components, "acpi-pm", &pm_dev_ops, pm, NULL);
	if (ret)
		goto err_rcr;
	*out = pm;
	return 0;

err_rcr:
	if (own_rcr)
		bus_unregister(host->pio, X86_PORT_RESET);
err_block:
	bus_unregister(host->pio, X86_PORT_ACPI_PM_BASE);
	acpi_pm_free(pm);
	return ret;
}
