/* SPDX-License-Identifier: MIT */
/*
 * guest.h - the tiny runtime of vessel's freestanding test guests.
 *
 * Everything a test guest needs: port and MMIO access, a polled 16550
 * console with printf, PASS/FAIL through the isa-debug-exit port, the
 * boot information (PVH start info or Linux zero page), command line
 * options, IDT and interrupts, LAPIC/IOAPIC/PIT, ACPI and MP tables,
 * PCI configuration space and SMP bring-up.  See tests/guests/README.md.
 *
 * All of this runs at CPL0, which PVM hosts emulate at about 2 us per
 * instruction: keep loops short.
 */
#ifndef GUEST_H
#define GUEST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int64_t s64;

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define PACKED __attribute__((packed))
#define NORETURN __attribute__((noreturn))
#define PRINTF(a, b) __attribute__((format(printf, a, b)))

#define MAX_CPUS 64
#define KiB (1024ul)
#define MiB (1024ul * 1024)
#define GiB (1024ul * 1024 * 1024)

/* ---- port I/O and MMIO ---------------------------------------------- */
static inline void outb(u16 port, u8 v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outw(u16 port, u16 v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outl(u16 port, u32 v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}
static inline u8 inb(u16 port)
{
	u8 v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline u16 inw(u16 port)
{
	u16 v;
	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline u32 inl(u16 port)
{
	u32 v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline u32 mmio_read32(u64 addr)
{
	return *(volatile u32 *)addr;
}
static inline void mmio_write32(u64 addr, u32 v)
{
	*(volatile u32 *)addr = v;
}
/* A pointer to a physical (identity-mapped) address that GCC cannot see
 * through, so that low constant addresses do not trip -Warray-bounds. */
static inline void *phys(u64 addr)
{
	__asm__("" : "+r"(addr));
	return (void *)addr;
}
static inline void cpu_relax(void)
{
	__asm__ volatile("pause" ::: "memory");
}
static inline void irq_enable(void)
{
	__asm__ volatile("sti" ::: "memory");
}
static inline void irq_disable(void)
{
	__asm__ volatile("cli" ::: "memory");
}
/* sti;hlt: the sti shadow makes the pair atomic (SDM vol. 2B, STI). */
static inline void irq_wait(void)
{
	__asm__ volatile("sti; hlt; cli" ::: "memory");
}
static inline u64 rdtsc(void)
{
	u32 lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((u64)hi << 32) | lo;
}
static inline u64 rdmsr(u32 msr)
{
	u32 lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((u64)hi << 32) | lo;
}
static inline void wrmsr(u32 msr, u64 v)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((u32)v), "d"((u32)(v >> 32)));
}
static inline u64 read_cr3(void)
{
	u64 v;
	__asm__ volatile("mov %%cr3, %0" : "=r"(v));
	return v;
}

struct cpuid_regs {
	u32 eax, ebx, ecx, edx;
};
/* CPUID faults at CPL3 on PVM hosts: only call it from CPL0. */
static inline struct cpuid_regs cpuid(u32 leaf, u32 subleaf)
{
	struct cpuid_regs r;
	__asm__ volatile("cpuid"
			 : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx)
			 : "a"(leaf), "c"(subleaf));
	return r;
}

/* ---- libc bits (lib/string.c) ---------------------------------------- */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strstr(const char *h, const char *n);
u64 str_to_u64(const char *s, const char **end);

/* ---- console (lib/console.c): COM1 16550A, polled ---------------------- */
#define COM1 0x3f8
void console_init(void);
void console_putc(char c);
void console_write(const char *s, size_t n);
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) PRINTF(3, 4);
int printf(const char *fmt, ...) PRINTF(1, 2);

/* ---- exit (lib/exit.c): isa-debug-exit at 0xf4 -------------------------
 * A 32-bit write of v makes the VMM exit with status (v << 1) | 1: PASS
 * writes 0 (status 1), FAIL writes 1 (status 3).
 */
#define DEBUG_EXIT_PORT 0xf4
#define EXIT_PASS 0
#define EXIT_FAIL 1
NORETURN void guest_exit(u32 code);
NORETURN void pass(void);
NORETURN void fail(const char *fmt, ...) PRINTF(1, 2);
NORETURN void halt_forever(void);
/* FAILs with the printf-style message if cond is false. */
#define check(cond, ...)                   \
	do {                               \
		if (!(cond))               \
			fail(__VA_ARGS__); \
	} while (0)

/* ---- boot information (lib/boot.c) ------------------------------------ */
enum boot_proto { BOOT_PVH = 1, BOOT_LINUX = 2 };

#define E820_RAM 1
#define E820_RESERVED 2
#define E820_ACPI 3
#define E820_NVS 4
#define E820_UNUSABLE 5

struct mem_region {
	u64 addr, size;
	u32 type;
};

#define MAX_MEM_REGIONS 128
#define CMDLINE_MAX 2048

struct boot_info {
	enum boot_proto proto;
	int entry_bits; /* 32: PVH or code32_start; 64: startup_64 */
	u64 info_paddr; /* hvm_start_info or boot_params */
	char cmdline[CMDLINE_MAX];
	u64 cmdline_paddr;
	struct mem_region mem[MAX_MEM_REGIONS];
	int nr_mem;
	u64 rsdp_paddr; /* 0 if the boot info had none */
	/* PVH */
	u32 pvh_magic, pvh_version, pvh_flags, pvh_nr_modules;
	u64 pvh_modlist_paddr;
	/* Linux */
	u8 zero_page[4096]; /* copy of struct boot_params */
};

extern struct boot_info boot;
const char *e820_type_name(u32 type);
u64 mem_ram_total(void);
/* Checks boot.mem (lib/memmap.c): sorted, no overlaps, low RAM, RAM at
 * 1 MiB, holes, total against expect_mem_mb; FAILs on the first problem. */
void memmap_check(void);

/* The guest's own entry point, called on the BSP after the runtime set up
 * the console, the GDT/IDT and copied the boot information. */
void guest_main(void);

/* ---- command line options (lib/boot.c): key=value words ---------------- */
/* Copies the value of key into buf; returns false if key is absent. */
bool opt_str(const char *key, char *buf, size_t size);
u64 opt_u64(const char *key, u64 def);
bool opt_has(const char *key);

/* ---- CPU tables and interrupts (lib/idt.c) ----------------------------- */
#define SEL_KCODE 0x08
#define SEL_KDATA 0x10
#define SEL_KCODE32 0x18
#define SEL_UDATA 0x23
#define SEL_UCODE 0x2b
#define SEL_TSS 0x30

struct regs {
	u64 r15, r14, r13, r12, r11, r10, r9, r8;
	u64 rbp, rdi, rsi, rdx, rcx, rbx, rax;
	u64 vector, error;
	u64 rip, cs, rflags, rsp, ss;
};
typedef void (*irq_handler_t)(struct regs *r);

void idt_load(void); /* also called by each AP */
void irq_set_handler(u8 vector, irq_handler_t h);
/* Make vector callable from CPL3 (an interrupt gate with DPL 3). */
void idt_set_user(u8 vector);
/* Runs fn(arg) at CPL3 on stack [stack, stack+size) and returns what fn
 * returns: fn returns into a stub whose HLT faults (#GP at CPL3), and the
 * #GP path unwinds to user_call's caller.  A handler may also end a user
 * call early with user_resume(value).  Vector USER_RETURN_VECTOR is a
 * DPL 3 gate that does the same for `int $0x80` with the value in RAX,
 * but PVM hosts raise #UD for INT n at CPL3, so the stub does not use it. */
#define USER_RETURN_VECTOR 0x80
u64 user_call(u64 (*fn)(u64), u64 arg, void *stack, size_t size);
NORETURN void user_resume(u64 value);
void tss_set_rsp0(u64 rsp0);

/* ---- time (lib/apic.c) ------------------------------------------------- */
void pit_delay_us(u32 us); /* PIT channel 0, polled */
void tsc_calibrate(void);
extern u64 tsc_khz;
void udelay(u64 us);
u64 uptime_us(void);

/* ---- LAPIC (xAPIC MMIO) and IOAPIC (lib/apic.c) ------------------------ */
#define LAPIC_BASE 0xfee00000ull
#define LAPIC_ID 0x20
#define LAPIC_VER 0x30
#define LAPIC_TPR 0x80
#define LAPIC_EOI 0xb0
#define LAPIC_SVR 0xf0
#define LAPIC_ESR 0x280
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define LAPIC_LVT_ERR 0x370
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_CUR 0x390
#define LAPIC_TIMER_DIV 0x3e0

#define IOAPIC_BASE_DEFAULT 0xfec00000ull

u32 lapic_read(u32 reg);
void lapic_write(u32 reg, u32 v);
u32 lapic_id(void);
void lapic_enable(void);
void lapic_eoi(void);
/* Periodic timer on vector, initial count count, divide by 16. */
void lapic_timer_periodic(u8 vector, u32 count);
void lapic_timer_stop(void);
void pic_disable(void);

u32 ioapic_read(u64 base, u32 reg);
void ioapic_write(u64 base, u32 reg, u32 v);
/* Program the redirection entry of gsi (through the IOAPIC the MADT names
 * for it) to vector on the LAPIC dest, fixed delivery, physical mode. */
void ioapic_route(u32 gsi, u8 vector, u8 dest, bool level, bool active_low);
void ioapic_mask(u32 gsi);
/* ISA IRQ -> GSI and polarity/trigger from the MADT overrides. */
u32 isa_irq_to_gsi(u8 irq, bool *level, bool *active_low);

/* ---- ACPI (lib/acpi.c), ACPI 6.x section 5.2 ----------------------------- */
struct acpi_header {
	char sig[4];
	u32 length;
	u8 revision, checksum;
	char oem_id[6], oem_table_id[8];
	u32 oem_revision, creator_id, creator_revision;
} PACKED;

struct acpi_gas {
	u8 space, bit_width, bit_offset, access_size;
	u64 address;
} PACKED;

u8 checksum8(const void *p, size_t n);
/* RSDP from the boot info, else the EBDA and 0xE0000-0xFFFFF scan;
 * checksums verified (ACPI 6.4 section 5.2.5). NULL if none. */
const void *acpi_rsdp(void);
/* Returns the index-th table with signature sig ("FACP", "APIC", ...)
 * with a verified checksum, or NULL.  "DSDT" is found through the FADT. */
const struct acpi_header *acpi_find(const char *sig, int index);
/* Calls fn for each table of the XSDT (or RSDT). Returns the count. */
int acpi_for_each(void (*fn)(const struct acpi_header *t, void *ctx), void *ctx);

struct madt_info {
	int nr_cpus; /* enabled LAPIC/x2APIC entries */
	u32 apic_ids[MAX_CPUS];
	int nr_ioapics;
	u64 ioapic_addr[8];
	u32 ioapic_gsi_base[8];
	u8 ioapic_id[8];
	int nr_overrides;
	struct {
		u8 irq;
		u32 gsi;
		u16 flags;
	} overrides[16];
	u64 lapic_addr;
	u32 flags;
};
/* Parses the MADT (ACPI 6.4 section 5.2.12); false if there is none. */
bool madt_parse(struct madt_info *m);
extern struct madt_info madt; /* filled by the runtime at start */
extern bool have_madt;

/* ACPI S5 through PM1a_CNT (ACPI 6.4 sections 4.8.3.2.1, 7.4.2); returns
 * only on failure, with the reason in buf. */
void acpi_poweroff(char *why, size_t size);
/* FADT RESET_REG if supported (ACPI 6.4 section 4.8.3.6), else i8042. */
NORETURN void acpi_reset(void);
NORETURN void i8042_reset(void);
/* Reads SLP_TYPa/b of \_S5 from the DSDT AML. */
bool acpi_s5(u8 *typa, u8 *typb);

struct mcfg_entry {
	u64 base;
	u16 segment;
	u8 bus_start, bus_end;
	u32 reserved;
} PACKED;
const struct mcfg_entry *mcfg_find(int segment);

/* ---- MP table (lib/acpi.c), Intel MP spec 1.4 chapter 4 ------------------ */
struct mp_info {
	u64 fp_addr, table_addr;
	u8 spec_rev;
	int nr_cpus;
	u8 apic_ids[MAX_CPUS];
	int bsp_index;
	int nr_ioapics;
	u32 lapic_addr;
};
/* false (and why) if no valid floating pointer / configuration table. */
bool mptable_parse(struct mp_info *mp, char *why, size_t size);

/* ---- PCI (lib/pci.c), PCI local bus 3.0 section 3.2.2.3.2 ---------------- */
u32 pci_cf8_read32(u8 bus, u8 dev, u8 fn, u16 reg);
void pci_cf8_write32(u8 bus, u8 dev, u8 fn, u16 reg, u32 v);
/* ECAM (PCIe base spec section 7.2.2): 0 base means "use MCFG". */
u32 pci_ecam_read32(u64 base, u8 bus, u8 dev, u8 fn, u16 reg);
const char *pci_class_name(u8 cls, u8 sub);

/* ---- SMP (lib/smp.c) ------------------------------------------------------ */
struct cpu_info {
	volatile u32 apic_id;
	volatile u32 online;
	volatile u64 data[8]; /* for the test's own use */
};
extern struct cpu_info cpus[MAX_CPUS];
extern volatile u32 cpus_online; /* BSP included */
/* Starts every AP the MADT lists (else broadcasts INIT-SIPI-SIPI) through
 * a real-mode trampoline at 0x8000 (SDM vol. 3A section 8.4.4.1); each AP
 * records its APIC ID, runs fn(index) if fn is set, then halts.  Returns
 * the number of CPUs online, BSP included, after waiting for expect APs
 * (0: as many as the MADT lists) or timeout_ms. */
int smp_start(void (*fn)(int idx), int expect, u32 timeout_ms);
/* Waits until every started AP has returned from fn. */
bool smp_wait_done(u32 timeout_ms);
int this_cpu(void);

#endif
