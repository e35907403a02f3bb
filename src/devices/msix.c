// SPDX-License-Identifier: MIT
/*
 * Generic MSI-X: capability, vector table, pending bits, and delivery
 * through KVM GSI routing + irqfd.  See msix.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "devices/msix.h"
#include "devices/pci.h"
#include "kvm/kvm.h"
#include "util/evloop.h"
#include "util/log.h"

int msix_init(struct msix *m, struct pci_dev *d, unsigned int nr, int bar, uint32_t table_off,
	      uint32_t pba_off, struct irq_router *irq, int vm_fd)
{
	uint8_t body[10];
	uint16_t ctrl = (uint16_t)(nr - 1);
	uint32_t t = table_off | (uint32_t)bar, p = pba_off | (uint32_t)bar;
	const uint8_t wmask[2] = { 0x00, 0xc0 }; /* enable, function mask */
	int off;

	if (nr == 0 || nr > MSIX_MAX_VECTORS || (table_off & 7) || (pba_off & 7) || bar < 0 ||
	    bar >= PCI_NUM_BARS)
		return -EINVAL;
	memset(m, 0, sizeof(*m));
	m->v = calloc(nr, sizeof(*m->v));
	m->pba = calloc((nr + 63) / 64, sizeof(uint64_t));
	if (!m->v || !m->pba) {
		free(m->v);
		free(m->pba);
		return -ENOMEM;
	}
	m->pci = d;
	m->irq = irq;
	m->vm_fd = vm_fd;
	m->nr = nr;
	for (unsigned int i = 0; i < nr; i++) {
		m->v[i].ctrl = MSIX_VECTOR_MASKED; /* masked at reset (6.8.2.9) */
		m->v[i].gsi = -1;
		m->v[i].efd = -1;
	}
	memcpy(body, &ctrl, 2);
	memcpy(body + 2, &t, 4);
	memcpy(body + 6, &p, 4);
	off = pci_dev_add_cap(d, PCI_CAP_ID_MSIX, body, 12);
	if (off < 0) {
		free(m->v);
		free(m->pba);
		return off;
	}
	m->cap = (uint8_t)off;
	pci_dev_set_wmask(d, m->cap + 2, wmask, 2);
	pthread_mutex_init(&m->lock, NULL);
	return 0;
}

static void irqfd_unbind(struct msix *m, struct msix_irqfd *s);

static void vector_unroute(struct msix *m, struct msix_vector *v)
{
	/* KVM lets go of the eventfds bound to the GSI before it is reused. */
	for (struct msix_irqfd *s = m->irqfds; s; s = s->next)
		if (v->gsi >= 0 && s->gsi == v->gsi)
			irqfd_unbind(m, s);
	if (v->efd >= 0) {
		if (m->vm_fd >= 0 && v->gsi >= 0)
			kvm_irqfd(m->vm_fd, v->efd, (uint32_t)v->gsi, -1, true);
		close(v->efd);
		v->efd = -1;
	}
	if (v->gsi >= 0 && m->irq)
		irq_msi_free(m->irq, (uint32_t)v->gsi);
	v->gsi = -1;
}

void msix_destroy(struct msix *m)
{
	if (!m->v)
		return;
	for (unsigned int i = 0; i < m->nr; i++)
		vector_unroute(m, &m->v[i]);
	free(m->v);
	free(m->pba);
	m->v = NULL;
	pthread_mutex_destroy(&m->lock);
}

/*
 * Point the vector's GSI at its current address/data.  Allocates the GSI
 * and irqfd on first use.  On failure the vector still works through
 * KVM_SIGNAL_MSI (slower: an ioctl per interrupt).
 */
static void vector_route(struct msix *m, struct msix_vector *v)
{
	uint64_t addr = ((uint64_t)v->addr_hi << 32) | v->addr_lo;
	int ret;

	v->route_stale = false;
	if (m->vm_fd < 0 || !m->irq)
		return;
	if (v->gsi < 0) {
		ret = irq_msi_alloc(m->irq);
		if (ret < 0)
			goto fail;
		v->gsi = ret;
	}
	ret = irq_msi_set(m->irq, (uint32_t)v->gsi, addr, v->data);
	if (ret < 0)
		goto fail;
	if (v->efd < 0) {
		v->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (v->efd < 0) {
			ret = -errno;
			goto fail;
		}
		ret = kvm_irqfd(m->vm_fd, v->efd, (uint32_t)v->gsi, -1, false);
		if (ret < 0) {
			close(v->efd);
			v->efd = -1;
			goto fail;
		}
	}
	return;
fail:
	log_warn("%s: MSI-X route: %s; using KVM_SIGNAL_MSI", m->pci ? m->pci->name : "msix",
		 strerror(-ret));
	vector_unroute(m, v);
}

static void vector_fire(struct msix *m, struct msix_vector *v)
{
	uint64_t one = 1;

	if (v->route_stale || (v->gsi < 0 && m->vm_fd >= 0))
		vector_route(m, v);
	m->sent++;
	if (m->vm_fd < 0)
		return;
	if (v->efd >= 0) {
		if (write(v->efd, &one, sizeof(one)) == sizeof(one))
			return;
	}
	if (kvm_signal_msi(m->vm_fd, ((uint64_t)v->addr_hi << 32) | v->addr_lo, v->data) < 0)
		m->failed++;
}

static bool vector_masked(struct msix *m, unsigned int i)
{
	return m->masked || (m->v[i].ctrl & MSIX_VECTOR_MASKED);
}

/* ---- eventfds from outside (msix_irqfd), all under m->lock ---------- */

static void irqfd_unbind(struct msix *m, struct msix_irqfd *s)
{
	if (s->gsi < 0)
		return;
	if (m->vm_fd >= 0)
		kvm_irqfd(m->vm_fd, s->fd, (uint32_t)s->gsi, -1, true);
	s->gsi = -1;
	/* What was signalled meanwhile reaches the owner's handler. */
	if (s->loop)
		evloop_mod(s->loop, s->fd, EPOLLIN);
}

/* Bind s to its vector's GSI if the vector can be delivered, else unbind. */
static void irqfd_update(struct msix *m, struct msix_irqfd *s)
{
	int gsi = -1, ret;

	if (s->vector >= 0 && (unsigned int)s->vector < m->nr && m->enabled && m->vm_fd >= 0 &&
	    m->irq && !vector_masked(m, (unsigned int)s->vector)) {
		struct msix_vector *v = &m->v[s->vector];

		if (v->gsi < 0 || v->route_stale)
			vector_route(m, v);
		gsi = v->gsi;
	}
	if (gsi == s->gsi)
		return;
	irqfd_unbind(m, s);
	if (gsi < 0)
		return;
	/*
	 * The loop lets go first, so only KVM reads fd from here on; a signal
	 * in between is not lost: KVM_IRQFD injects at once for an eventfd
	 * that is already readable.
	 */
	if (s->loop)
		evloop_mod(s->loop, s->fd, 0);
	ret = kvm_irqfd(m->vm_fd, s->fd, (uint32_t)gsi, -1, false);
	if (ret < 0) {
		log_warn("%s: irqfd for vector %d: %s; interrupts go through the VMM",
			 m->pci ? m->pci->name : "msix", s->vector, strerror(-ret));
		if (s->loop)
			evloop_mod(s->loop, s->fd, EPOLLIN);
		return;
	}
	s->gsi = gsi;
	m->irqfd_binds++;
}

static void irqfd_update_all(struct msix *m)
{
	for (struct msix_irqfd *s = m->irqfds; s; s = s->next)
		irqfd_update(m, s);
}

void msix_irqfd_attach(struct msix *m, struct msix_irqfd *s, int vector)
{
	pthread_mutex_lock(&m->lock);
	if (!s->attached) {
		s->gsi = -1;
		s->attached = true;
		s->next = m->irqfds;
		m->irqfds = s;
	}
	s->vector = vector;
	irqfd_update(m, s);
	pthread_mutex_unlock(&m->lock);
}

void msix_irqfd_detach(struct msix *m, struct msix_irqfd *s)
{
	pthread_mutex_lock(&m->lock);
	if (s->attached) {
		irqfd_unbind(m, s);
		for (struct msix_irqfd **p = &m->irqfds; *p; p = &(*p)->next) {
			if (*p == s) {
				*p = s->next;
				break;
			}
		}
		s->attached = false;
		s->vector = -1;
	}
	pthread_mutex_unlock(&m->lock);
}

/* Deliver what became deliverable after an unmask. */
static void fire_pending(struct msix *m)
{
	if (!m->enabled || m->masked)
		return;
	for (unsigned int i = 0; i < m->nr; i++) {
		uint64_t bit = 1ull << (i % 64);

		if ((m->pba[i / 64] & bit) && !vector_masked(m, i)) {
			m->pba[i / 64] &= ~bit;
			vector_fire(m, &m->v[i]);
		}
	}
}

void msix_table_read(struct msix *m, uint64_t off, void *data, unsigned int len)
{
	unsigned int i = (unsigned int)(off / MSIX_ENTRY_SIZE), o = off % MSIX_ENTRY_SIZE;
	uint32_t ent[4];

	memset(data, 0xff, len);
	if (off >= msix_table_bytes(m->nr) || o + len > MSIX_ENTRY_SIZE || (len != 4 && len != 8))
		return;
	pthread_mutex_lock(&m->lock);
	ent[0] = m->v[i].addr_lo;
	ent[1] = m->v[i].addr_hi;
	ent[2] = m->v[i].data;
	ent[3] = m->v[i].ctrl;
	memcpy(data, (uint8_t *)ent + o, len);
	pthread_mutex_unlock(&m->lock);
}

void msix_table_write(struct msix *m, uint64_t off, const void *data, unsigned int len)
{
	unsigned int i = (unsigned int)(off / MSIX_ENTRY_SIZE), o = off % MSIX_ENTRY_SIZE;
	struct msix_vector *v;
	uint32_t ent[4];
	bool was_masked;

	/* Section 6.8.2: DWORD or aligned QWORD accesses only. */
	if (off >= msix_table_bytes(m->nr) || o + len > MSIX_ENTRY_SIZE || (len != 4 && len != 8) ||
	    (o & (len - 1)))
		return;
	pthread_mutex_lock(&m->lock);
	v = &m->v[i];
	was_masked = vector_masked(m, i);
	ent[0] = v->addr_lo;
	ent[1] = v->addr_hi;
	ent[2] = v->data;
	ent[3] = v->ctrl;
	memcpy((uint8_t *)ent + o, data, len);
	if (ent[0] != v->addr_lo || ent[1] != v->addr_hi || ent[2] != v->data)
		v->route_stale = true;
	v->addr_lo = ent[0] & ~3u; /* bits 1:0 are reserved zero */
	v->addr_hi = ent[1];
	v->data = ent[2];
	v->ctrl = ent[3] & MSIX_VECTOR_MASKED;
	/* Re-route an unmasked vector now so the next irqfd write is right. */
	if (v->route_stale && m->enabled && !vector_masked(m, i) && v->gsi >= 0)
		vector_route(m, v);
	if (was_masked && !vector_masked(m, i))
		fire_pending(m);
	irqfd_update_all(m);
	pthread_mutex_unlock(&m->lock);
}

void msix_pba_read(struct msix *m, uint64_t off, void *data, unsigned int len)
{
	memset(data, 0, len);
	if (off + len > msix_pba_bytes(m->nr) || len > 8)
		return;
	pthread_mutex_lock(&m->lock);
	memcpy(data, (uint8_t *)m->pba + off, len);
	pthread_mutex_unlock(&m->lock);
}

void msix_config_write(struct msix *m, uint32_t off, uint32_t val, unsigned int len)
{
	uint16_t ctrl;

	if (off + len <= (uint32_t)m->cap + 2 || off >= (uint32_t)m->cap + 4)
		return;
	ctrl = (uint16_t)(pci_cfg_read32(m->pci, m->cap) >> 16);
	pthread_mutex_lock(&m->lock);
	m->enabled = ctrl & MSIX_CTRL_ENABLE;
	m->masked = ctrl & MSIX_CTRL_MASKALL;
	fire_pending(m);
	irqfd_update_all(m);
	pthread_mutex_unlock(&m->lock);
}

bool msix_enabled(struct msix *m)
{
	bool en;

	pthread_mutex_lock(&m->lock);
	en = m->enabled;
	pthread_mutex_unlock(&m->lock);
	return en;
}

int msix_notify(struct msix *m, unsigned int vector)
{
	int ret = 0;

	pthread_mutex_lock(&m->lock);
	if (!m->enabled || vector >= m->nr) {
		ret = -EINVAL;
	} else if (vector_masked(m, vector)) {
		m->pba[vector / 64] |= 1ull << (vector % 64);
		m->pended++;
	} else {
		vector_fire(m, &m->v[vector]);
	}
	pthread_mutex_unlock(&m->lock);
	return ret;
}

void msix_reset(struct msix *m)
{
	pthread_mutex_lock(&m->lock);
	for (unsigned int i = 0; i < m->nr; i++) {
		m->v[i].addr_lo = m->v[i].addr_hi = m->v[i].data = 0;
		m->v[i].ctrl = MSIX_VECTOR_MASKED;
		m->v[i].route_stale = true;
	}
	memset(m->pba, 0, msix_pba_bytes(m->nr));
	m->enabled = m->masked = false;
	irqfd_update_all(m);
	pthread_mutex_unlock(&m->lock);
	/* Message Control lives in config space, owned by the PCI layer. */
	pthread_mutex_lock(&m->pci->cfg_lock);
	m->pci->cfg[m->cap + 3] &= (uint8_t)~0xc0;
	pthread_mutex_unlock(&m->pci->cfg_lock);
}

#define MSIX_STATE_TAG STREAM_TAG('M', 'S', 'I', 'X')
#define MSIX_STATE_VERSION 1

void msix_save(struct msix *m, struct stream *s)
{
	struct stream_section sec;

	stream_section_begin(s, &sec, MSIX_STATE_TAG, MSIX_STATE_VERSION);
	pthread_mutex_lock(&m->lock);
	stream_put_u32(s, m->nr);
	for (unsigned int i = 0; i < m->nr; i++) {
		stream_put_u32(s, m->v[i].addr_lo);
		stream_put_u32(s, m->v[i].addr_hi);
		stream_put_u32(s, m->v[i].data);
		stream_put_u32(s, m->v[i].ctrl);
	}
	for (unsigned int i = 0; i < (m->nr + 63) / 64; i++)
		stream_put_u64(s, m->pba[i]);
	pthread_mutex_unlock(&m->lock);
	stream_section_end(s, &sec);
}

int msix_load(struct msix *m, struct stream *s)
{
	unsigned int words = (m->nr + 63) / 64;
	struct stream_section sec;
	struct msix_vector *v;
	uint64_t *pba;
	uint32_t ver, nr;
	uint16_t ctrl;

	ver = stream_section_open(s, &sec, MSIX_STATE_TAG);
	if (ver && ver != MSIX_STATE_VERSION)
		return stream_fail(s, -EPROTO, "MSI-X state version %u is not supported", ver);
	nr = stream_get_u32(s);
	if (!stream_error(s) && nr != m->nr)
		return stream_fail(s, -EINVAL, "MSI-X state has %u vectors, this device %u", nr,
				   m->nr);
	if (stream_error(s))
		return stream_error(s);
	v = calloc(m->nr, sizeof(*v));
	pba = calloc(words, sizeof(*pba));
	if (!v || !pba) {
		free(v);
		free(pba);
		return stream_fail(s, -ENOMEM, "MSI-X state: out of memory");
	}
	for (unsigned int i = 0; i < m->nr; i++) {
		v[i].addr_lo = stream_get_u32(s);
		v[i].addr_hi = stream_get_u32(s);
		v[i].data = stream_get_u32(s);
		v[i].ctrl = stream_get_u32(s);
		if (!stream_error(s) && ((v[i].addr_lo & 3) || (v[i].ctrl & ~MSIX_VECTOR_MASKED)))
			stream_fail(s, -EINVAL, "MSI-X state: vector %u has reserved bits set", i);
	}
	for (unsigned int i = 0; i < words; i++)
		pba[i] = stream_get_u64(s);
	/* Bits past the last vector are reserved (6.8.2.10). */
	if (!stream_error(s) && m->nr % 64 && (pba[words - 1] >> (m->nr % 64)))
		stream_fail(s, -EINVAL, "MSI-X state: pending bits past vector %u", m->nr - 1);
	stream_section_close(s, &sec);
	if (stream_error(s)) {
		free(v);
		free(pba);
		return stream_error(s);
	}
	ctrl = (uint16_t)(pci_cfg_read32(m->pci, m->cap) >> 16);
	pthread_mutex_lock(&m->lock);
	for (unsigned int i = 0; i < m->nr; i++) {
		m->v[i].addr_lo = v[i].addr_lo;
		m->v[i].addr_hi = v[i].addr_hi;
		m->v[i].data = v[i].data;
		m->v[i].ctrl = v[i].ctrl;
		m->v[i].route_stale = true;
	}
	memcpy(m->pba, pba, words * sizeof(*pba));
	m->enabled = ctrl & MSIX_CTRL_ENABLE;
	m->masked = ctrl & MSIX_CTRL_MASKALL;
	/* Unmasked vectors get their routes now: irqfds may follow them. */
	for (unsigned int i = 0; m->enabled && i < m->nr; i++)
		if (!vector_masked(m, i))
			vector_route(m, &m->v[i]);
	fire_pending(m);
	irqfd_update_all(m);
	pthread_mutex_unlock(&m->lock);
	free(v);
	free(pba);
	return 0;
}
