/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The test guest's C entry: reads the Multiboot info (command line, memory
 * map), maps RAM above 4 GiB, builds the WlEnv over RAM from 4 MiB up and
 * runs the workload on the boot CPU.  Prints nothing but the workload's
 * own characters, or one error line when it cannot start.
 */
#include "balloon.h"
#include "guest.h"
#include "workload.h"

#define MB_BOOT_MAGIC       0x2badb002
#define MBI_MEMORY          (1u << 0)
#define MBI_CMDLINE         (1u << 2)
#define MBI_MMAP            (1u << 6)
#define MMAP_AVAILABLE      1

#define GIB                 (1ULL << 30)
#define PTE_P               0x001ULL
#define PTE_W               0x002ULL
#define PTE_PS              0x080ULL

typedef struct MultibootInfo {
    uint32_t flags;
    uint32_t mem_lower;     /* KiB below 1 MiB */
    uint32_t mem_upper;     /* KiB above 1 MiB */
    uint32_t boot_device;
    uint32_t cmdline;
    uint32_t mods_count;
    uint32_t mods_addr;
    uint32_t syms[4];
    uint32_t mmap_length;
    uint32_t mmap_addr;
} MultibootInfo;

typedef struct __attribute__((packed)) MultibootMmapEntry {
    uint32_t size;          /* of the rest of the entry */
    uint64_t addr;
    uint64_t len;
    uint32_t type;
} MultibootMmapEntry;

/* The boot CPU's workload progress: in RAM, so it migrates with the guest. */
static WlState wl_state __attribute__((aligned(4096)));
static char cmdline[WL_CMDLINE_MAX];
static WlEnv env;
/* The device drivers' state and rings (balloon.c); identity-mapped, so gpa = address. */
static uint8_t drv_area[WL_DRV_SIZE] __attribute__((aligned(4096)));

static void puts_err(const char *a, const char *b)
{
    static const char prefix[] = "kvmig-guest: ";
    size_t la = 0, lb = 0;

    while (a[la]) {
        la++;
    }
    while (b[lb]) {
        lb++;
    }
    serial_write(prefix, sizeof(prefix) - 1);
    serial_write(a, la);
    serial_write(b, lb);
    serial_write("\n", 1);
}

static void env_write(WlEnv *e, const char *buf, size_t len)
{
    serial_write(buf, len);
}

static uint64_t env_now_ns(WlEnv *e)
{
    return clock_ns();
}

static bool env_poll(WlEnv *e)
{
    wl_balloon_poll_timed(e);
    return true;
}

static bool env_sleep_until(WlEnv *e, uint64_t deadline_ns)
{
    if (!deadline_ns) {
        /*
         * One HLT: kvmig (no irqchip) resumes us after a kick, e.g. a
         * balloon config change, and the caller polls; elsewhere nothing
         * wakes a CPU halted with interrupts off, as before.
         */
        __asm__ volatile("cli; hlt" ::: "memory");
        return true;
    }
    while (clock_ns() < deadline_ns) {
        wl_balloon_poll_timed(e);
        cpu_relax();
    }
    return true;
}

static uint32_t env_mmio_read32(WlEnv *e, uint64_t gpa)
{
    return *(volatile uint32_t *)(uintptr_t)gpa;
}

static void env_mmio_write32(WlEnv *e, uint64_t gpa, uint32_t v)
{
    *(volatile uint32_t *)(uintptr_t)gpa = v;
}

/* Insert [start, end) into the sorted region list, merging neighbours. */
static void add_region(uint64_t start, uint64_t end)
{
    int i, j;

    start = (start + WL_PAGE_SIZE - 1) & ~(WL_PAGE_SIZE - 1);
    end &= ~(WL_PAGE_SIZE - 1);
    if (start >= end) {
        return;
    }
    for (i = 0; i < env.nr_regions; i++) {
        WlRegion *r = &env.regions[i];

        if (end >= r->gpa && start <= r->gpa + r->size) {
            /* Touches or overlaps r: grow r, then absorb what follows. */
            uint64_t s = start < r->gpa ? start : r->gpa;
            uint64_t e = end > r->gpa + r->size ? end : r->gpa + r->size;

            r->gpa = s;
            r->size = e - s;
            while (i + 1 < env.nr_regions &&
                   env.regions[i + 1].gpa <= r->gpa + r->size) {
                WlRegion *n = &env.regions[i + 1];

                if (n->gpa + n->size > r->gpa + r->size) {
                    r->size = n->gpa + n->size - r->gpa;
                }
                for (j = i + 1; j + 1 < env.nr_regions; j++) {
                    env.regions[j] = env.regions[j + 1];
                }
                env.nr_regions--;
            }
            return;
        }
        if (end < r->gpa) {
            break;
        }
    }
    if (env.nr_regions == WL_MAX_REGIONS) {
        puts_err("too many RAM regions, ignoring some", "");
        return;
    }
    for (j = env.nr_regions; j > i; j--) {
        env.regions[j] = env.regions[j - 1];
    }
    env.regions[i].gpa = start;
    env.regions[i].size = end - start;
    env.nr_regions++;
}

/* Clip an available range to [WL_RAM_START, mapped limit) and add it. */
static void add_ram(uint64_t addr, uint64_t len)
{
    uint64_t end = addr + len < addr ? UINT64_MAX : addr + len;
    uint64_t limit = (uint64_t)GUEST_MAX_GIB * GIB;

    if (addr < WL_RAM_START) {
        addr = WL_RAM_START;
    }
    if (end > limit) {
        end = limit;
    }
    if (addr < end) {
        add_region(addr, end);
    }
}

/* Identity-map [4 GiB, top) with 2 MiB pages; boot.S mapped below. */
static void map_high_ram(uint64_t top)
{
    uint64_t gibs = (top + GIB - 1) / GIB;

    if (gibs > GUEST_MAX_GIB) {
        puts_err("RAM above 128 GiB is not used", "");
        gibs = GUEST_MAX_GIB;
    }
    for (uint64_t g = 4; g < gibs; g++) {
        for (uint64_t i = 0; i < 512; i++) {
            boot_pd[g][i] = (g * GIB + (i << 21)) | PTE_P | PTE_W | PTE_PS;
        }
        boot_pdpt[g] = (uint64_t)(uintptr_t)boot_pd[g] | PTE_P | PTE_W;
    }
    __asm__ volatile("mov %%cr3, %%rax; mov %%rax, %%cr3" ::: "rax", "memory");
}

static void read_memory_map(const MultibootInfo *mbi)
{
    uint64_t top = 0;

    if (mbi->flags & MBI_MMAP) {
        uint64_t p = mbi->mmap_addr, end = p + mbi->mmap_length;

        while (p + sizeof(MultibootMmapEntry) <= end) {
            const MultibootMmapEntry *e =
                (const MultibootMmapEntry *)(uintptr_t)p;

            if (e->type == MMAP_AVAILABLE && e->len) {
                if (e->addr + e->len > top) {
                    top = e->addr + e->len;
                }
            }
            p += (uint64_t)e->size + 4;
        }
        map_high_ram(top);
        for (p = mbi->mmap_addr; p + sizeof(MultibootMmapEntry) <= end;) {
            const MultibootMmapEntry *e =
                (const MultibootMmapEntry *)(uintptr_t)p;

            if (e->type == MMAP_AVAILABLE) {
                add_ram(e->addr, e->len);
            }
            p += (uint64_t)e->size + 4;
        }
    } else if (mbi->flags & MBI_MEMORY) {
        add_ram(1ULL << 20, (uint64_t)mbi->mem_upper << 10);
    }
}

static void read_cmdline(const MultibootInfo *mbi)
{
    const char *s;
    size_t i;

    cmdline[0] = '\0';
    if (!(mbi->flags & MBI_CMDLINE) || !mbi->cmdline) {
        return;
    }
    s = (const char *)(uintptr_t)mbi->cmdline;
    for (i = 0; i + 1 < sizeof(cmdline) && s[i]; i++) {
        cmdline[i] = s[i];
    }
    cmdline[i] = '\0';
}

void guest_main(uint32_t magic, uint32_t info);

void guest_main(uint32_t magic, uint32_t info)
{
    const MultibootInfo *mbi = (const MultibootInfo *)(uintptr_t)info;
    char err[128];
    uint8_t *mem;

    serial_init();
    if (magic != MB_BOOT_MAGIC) {
        puts_err("not started by a Multiboot loader", "");
        cpu_halt_forever();
    }
    read_cmdline(mbi);
    read_memory_map(mbi);
    if (!wl_parse_cmdline(cmdline, &env.cfg, err, sizeof(err))) {
        puts_err("bad command line: ", err);
        cpu_halt_forever();
    }
    if (!env.nr_regions && env.cfg.kind != WL_IDLE) {
        puts_err("no RAM above 4 MiB", "");
    }
    clock_init();

    /* Guest-physical 0 is the identity mapping's 0: hide that from the optimiser. */
    __asm__("" : "=r"(mem) : "0"((uintptr_t)0));
    env.mem = mem;
    env.cpu_index = 0;
    env.nr_cpus = 1;
    env.state = &wl_state;
    env.write = env_write;
    env.now_ns = env_now_ns;
    env.poll = env_poll;
    env.sleep_until = env_sleep_until;
    env.mmio_read32 = env_mmio_read32;
    env.mmio_write32 = env_mmio_write32;
    env.drv_gpa = (uintptr_t)drv_area;

    wl_run(&env);
    cpu_halt_forever();
}
