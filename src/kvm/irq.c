// SPDX-License-Identifier: MIT
/*
 * GSI routing table (api.rst 4.52 KVM_SET_GSI_ROUTING).  KVM_SET_GSI_ROUTING
 * replaces the whole table, so we keep the routes KVM_CREATE_IRQCHIP set up
 * by default (GSI 0-15 to both the master/slave PIC and the IOAPIC pin of
 * the same number, GSI 16-23 to the IOAPIC) and add MSI routes from GSI 24.
 * Legacy devices raise ISA IRQ n with KVM_IRQ_LINE n; only IRQ0 lands on a
 * different IOAPIC pin (2), as on PC chipsets.
 */
#include "kvm/kvm.h"
#include "util/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

static int irq_router_commit(struct irq_router *r)
{
	int ret;

	do {
		ret = ioctl(r->vm_fd, KVM_SET_GSI_ROUTING, r->table);
	} while (ret < 0 && errno == EINTR);
	return ret < 0 ? -errno : 0;
}

static void irq_route_add(struct irq_router *r, const struct kvm_irq_routing_entry *e)
{
	r->table->entries[r->table->nr++] = *e;
}

int irq_router_init(struct irq_router *r, int vm_fd)
{
	memset(r, 0, sizeof(*r));
	r->vm_fd = vm_fd;
	pthread_mutex_init(&r->lock, NULL);
	r->table = calloc(1, sizeof(*r->table) + IRQ_ROUTE_MAX * sizeof(r->table->entries[0]));
	if (!r->table)
		return -ENOMEM;
	for (uint32_t gsi = 0; gsi < IRQ_GSI_MSI_BASE; gsi++) {
		struct kvm_irq_routing_entry e = { .gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP };

		if (gsi < 16 && gsi != 2) {
			/* GSI 2 is the cascade: the PIC never sees it. */
			e.u.irqchip.irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER
						      : KVM_IRQCHIP_PIC_SLAVE;
			e.u.irqchip.pin = gsi % 8;
			irq_route_add(r, &e);
		}
		/*
		 * ISA IRQ0 (the PIT, which KVM injects on GSI 0) is wired to
		 * IOAPIC pin 2 on PCs; the MADT says so with an interrupt
		 * source override (ACPI 6.4 5.2.12.5), so GSI 2 has no pin.
		 */
		if (gsi != 2) {
			e.u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
			e.u.irqchip.pin = gsi == 0 ? 2 : gsi;
			irq_route_add(r, &e);
		}
		r->gsi_used[gsi / 64] |= 1ull << (gsi % 64);
	}
	r->next_gsi = IRQ_GSI_MSI_BASE;
	return irq_router_commit(r);
}

void irq_router_destroy(struct irq_router *r)
{
	free(r->table);
	r->table = NULL;
	pthread_mutex_destroy(&r->lock);
}

int irq_msi_alloc(struct irq_router *r)
{
	int gsi = -ENOSPC;

	pthread_mutex_lock(&r->lock);
	for (uint32_t g = IRQ_GSI_MSI_BASE; g < IRQ_ROUTE_MAX; g++) {
		if (!(r->gsi_used[g / 64] & (1ull << (g % 64)))) {
			r->gsi_used[g / 64] |= 1ull << (g % 64);
			gsi = (int)g;
			break;
		}
	}
	pthread_mutex_unlock(&r->lock);
	return gsi;
}

static int irq_find(struct irq_router *r, uint32_t gsi)
{
	for (uint32_t i = 0; i < r->table->nr; i++)
		if (r->table->entries[i].gsi == gsi &&
		    r->table->entries[i].type == KVM_IRQ_ROUTING_MSI)
			return (int)i;
	return -1;
}

int irq_msi_set(struct irq_router *r, uint32_t gsi, uint64_t addr, uint32_t data)
{
	struct kvm_irq_routing_entry e = {
		.gsi = gsi,
		.type = KVM_IRQ_ROUTING_MSI,
		.u.msi = { .address_lo = (uint32_t)addr, .address_hi = (uint32_t)(addr >> 32),
			   .data = data },
	};
	int i, ret;

	if (gsi < IRQ_GSI_MSI_BASE || gsi >= IRQ_ROUTE_MAX)
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	i = irq_find(r, gsi);
	if (i >= 0) {
		if (!memcmp(&r->table->entries[i], &e, sizeof(e))) {
			pthread_mutex_unlock(&r->lock);
			return 0;	/* unchanged: skip the ioctl */
		}
		r->table->entries[i] = e;
	} else if (r->table->nr < IRQ_ROUTE_MAX) {
		irq_route_add(r, &e);
	} else {
		pthread_mutex_unlock(&r->lock);
		return -ENOSPC;
	}
	ret = irq_router_commit(r);
	pthread_mutex_unlock(&r->lock);
	return ret;
}

void irq_msi_free(struct irq_router *r, uint32_t gsi)
{
	int i;

	if (gsi < IRQ_GSI_MSI_BASE || gsi >= IRQ_ROUTE_MAX)
		return;
	pthread_mutex_lock(&r->lock);
	i = irq_find(r, gsi);
	if (i >= 0) {
		r->table->entries[i] = r->table->entries[--r->table->nr];
		irq_router_commit(r);
	}
	r->gsi_used[gsi / 64] &= ~(1ull << (gsi % 64));
	pthread_mutex_unlock(&r->lock);
}
