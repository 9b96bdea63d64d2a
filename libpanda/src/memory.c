/* Guest memory and registers as the host sees them. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

#define PAGE_SIZE 4096ull

PANDA_EXPORT panda_err panda_map_memory(panda_t *p, const char *name, uint64_t size,
                                        uint64_t addr)
{
    if (!p) return PANDA_ERR_ARG;
    if (!name) return panda_set_error(p, PANDA_ERR_ARG, "map_memory: NULL name");
    if (size == 0)
        return panda_set_error(p, PANDA_ERR_MAP, "map_memory('%s'): size is 0", name);
    if (addr % PAGE_SIZE)
        return panda_set_error(p, PANDA_ERR_MAP,
            "map_memory('%s'): address 0x%llx is not a multiple of the 4 KiB page size",
            name, (unsigned long long)addr);
    uint64_t rounded = (size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
    if (rounded < size || addr + rounded < addr)
        return panda_set_error(p, PANDA_ERR_MAP, "map_memory('%s'): range overflows", name);
    if (p->mapped_bytes + rounded > p->cfg.ram_size)
        return panda_set_error(p, PANDA_ERR_MAP,
            "map_memory('%s'): %llu bytes more would exceed the machine's memory (-m %llu bytes); raise mem=",
            name, (unsigned long long)rounded, (unsigned long long)p->cfg.ram_size);
    uc_err ue = uc_mem_map(p->uc, addr, rounded, UC_PROT_ALL);
    if (ue == UC_ERR_MAP)
        return panda_set_error(p, PANDA_ERR_MAP,
            "map_memory('%s'): 0x%llx..0x%llx overlaps memory already mapped", name,
            (unsigned long long)addr, (unsigned long long)(addr + rounded - 1));
    if (ue)
        return panda_set_error(p, PANDA_ERR_ENGINE, "map_memory('%s'): %s", name, uc_strerror(ue));
    p->mapped_bytes += rounded;
    return PANDA_OK;
}

static panda_err unmapped(panda_t *p, const char *what, uint64_t addr, size_t len)
{
    return panda_set_error(p, PANDA_ERR_UNMAPPED, "%s: 0x%llx..0x%llx is not mapped", what,
                           (unsigned long long)addr, (unsigned long long)(addr + len - 1));
}

PANDA_EXPORT panda_err panda_physical_memory_read(panda_t *p, hwaddr addr, void *buf, size_t len)
{
    if (!p) return PANDA_ERR_ARG;
    if (!buf && len) return panda_set_error(p, PANDA_ERR_ARG, "physical read: NULL buffer");
    if (len == 0) return PANDA_OK;
    if (uc_mem_read(p->uc, addr, buf, len)) return unmapped(p, "physical read", addr, len);
    return PANDA_OK;
}

PANDA_EXPORT panda_err panda_physical_memory_write(panda_t *p, hwaddr addr, const void *buf,
                                                   size_t len)
{
    if (!p) return PANDA_ERR_ARG;
    if (!buf && len) return panda_set_error(p, PANDA_ERR_ARG, "physical write: NULL buffer");
    if (len == 0) return PANDA_OK;
    if (uc_mem_write(p->uc, addr, buf, len)) return unmapped(p, "physical write", addr, len);
    return PANDA_OK;
}

/*
 * Host access through the guest's page tables, page by page, like a
 * debugger's: a page the guest may only read can still be written here.
 */
static panda_err virtual_rw(CPUState *cpu, target_ulong addr, void *buf, size_t len,
                            bool write)
{
    if (!cpu) return PANDA_ERR_ARG;
    panda_t *p = cpu->panda;
    if (!buf && len)
        return panda_set_error(p, PANDA_ERR_ARG, "virtual %s: NULL buffer", write ? "write" : "read");
    uint8_t *bytes = buf;
    while (len) {
        uint64_t pa;
        size_t chunk = PAGE_SIZE - (addr & (PAGE_SIZE - 1));
        if (chunk > len) chunk = len;
        if (uc_vmem_translate(p->uc, addr, UC_PROT_READ, &pa))
            return panda_set_error(p, PANDA_ERR_UNMAPPED,
                                   "virtual %s: 0x%llx has no translation",
                                   write ? "write" : "read", (unsigned long long)addr);
        uc_err ue = write ? uc_mem_write(p->uc, pa, bytes, chunk)
                          : uc_mem_read(p->uc, pa, bytes, chunk);
        if (ue)
            return unmapped(p, write ? "virtual write" : "virtual read", addr, chunk);
        addr += chunk;
        bytes += chunk;
        len -= chunk;
    }
    return PANDA_OK;
}

PANDA_EXPORT panda_err panda_virtual_memory_read(CPUState *cpu, target_ulong addr, void *buf,
                                                 size_t len)
{
    return virtual_rw(cpu, addr, buf, len, false);
}

PANDA_EXPORT panda_err panda_virtual_memory_write(CPUState *cpu, target_ulong addr,
                                                  const void *buf, size_t len)
{
    return virtual_rw(cpu, addr, (void *)buf, len, true);
}

PANDA_EXPORT panda_err panda_virt_to_phys(CPUState *cpu, target_ulong addr, hwaddr *out)
{
    if (!cpu) return PANDA_ERR_ARG;
    if (!out) return panda_set_error(cpu->panda, PANDA_ERR_ARG, "virt_to_phys: NULL result pointer");
    uint64_t pa;
    if (uc_vmem_translate(cpu->panda->uc, addr, UC_PROT_READ, &pa))
        return panda_set_error(cpu->panda, PANDA_ERR_UNMAPPED,
                               "virt_to_phys: 0x%llx has no translation", (unsigned long long)addr);
    *out = pa;
    return PANDA_OK;
}

/* ---- registers --------------------------------------------------------- */

PANDA_EXPORT int panda_reg_count(void) { return panda_arch.nregs; }

PANDA_EXPORT const char *panda_reg_name(int id)
{
    return id >= 0 && id < panda_arch.nregs ? panda_arch.regs[id].name : NULL;
}

PANDA_EXPORT int panda_reg_id(const char *name)
{
    if (!name) return -1;
    if (!strcasecmp(name, "pc")) {
        for (int i = 0; i < panda_arch.nregs; i++)
            if (panda_arch.regs[i].uc_id == panda_arch.pc_reg) return i;
    }
    for (int i = 0; i < panda_arch.nregs; i++)
        if (!strcasecmp(name, panda_arch.regs[i].name)) return i;
    return -1;
}

PANDA_EXPORT panda_err panda_reg_read(CPUState *cpu, int id, uint64_t *value)
{
    if (!cpu) return PANDA_ERR_ARG;
    if (!value) return panda_set_error(cpu->panda, PANDA_ERR_ARG, "reg_read: NULL result pointer");
    if (id < 0 || id >= panda_arch.nregs)
        return panda_set_error(cpu->panda, PANDA_ERR_REGISTER, "no register with id %d", id);
    uint64_t v = 0; /* the engine writes only the register's width */
    uc_err ue = uc_reg_read(cpu->panda->uc, panda_arch.regs[id].uc_id, &v);
    if (ue)
        return panda_set_error(cpu->panda, PANDA_ERR_ENGINE, "reading %s: %s",
                               panda_arch.regs[id].name, uc_strerror(ue));
    *value = v;
    return PANDA_OK;
}

PANDA_EXPORT panda_err panda_reg_write(CPUState *cpu, int id, uint64_t value)
{
    if (!cpu) return PANDA_ERR_ARG;
    if (id < 0 || id >= panda_arch.nregs)
        return panda_set_error(cpu->panda, PANDA_ERR_REGISTER, "no register with id %d", id);
    uc_err ue = uc_reg_write(cpu->panda->uc, panda_arch.regs[id].uc_id, &value);
    if (ue)
        return panda_set_error(cpu->panda, PANDA_ERR_REGISTER, "writing %s: %s",
                               panda_arch.regs[id].name, uc_strerror(ue));
    return PANDA_OK;
}

PANDA_EXPORT target_ulong panda_current_pc(CPUState *cpu)
{
    uint64_t pc = 0;
    /* 0 if the engine cannot say (it always can for its pc register) */
    if (cpu && uc_reg_read(cpu->panda->uc, panda_arch.pc_reg, &pc)) pc = 0;
    return pc;
}

/* ---- for the library's own readers (hooks, system calls) ---------------- */

size_t memory_peek(panda_t *p, uint64_t addr, void *buf, size_t len)
{
    uint8_t *bytes = buf;
    size_t done = 0;
    while (done < len) {
        uint64_t pa;
        size_t chunk = PAGE_SIZE - (addr & (PAGE_SIZE - 1));
        if (chunk > len - done) chunk = len - done;
        if (uc_vmem_translate(p->uc, addr, UC_PROT_READ, &pa) ||
            uc_mem_read(p->uc, pa, bytes + done, chunk))
            break;
        addr += chunk;
        done += chunk;
    }
    return done;
}
