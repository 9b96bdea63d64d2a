/* The arch descriptor's generic side: lookups, and what the ABI reports. */
#include <string.h>

#include "internal.h"

const panda_cpu_model *arch_cpu_model(const char *name)
{
    for (uint32_t i = 0; i < panda_arch.ncpu_models; i++)
        if (!strcmp(panda_arch.cpu_models[i].name, name)) return &panda_arch.cpu_models[i];
    return NULL;
}

PANDA_EXPORT const char *panda_arch_name(void) { return panda_arch.name; }

PANDA_EXPORT panda_err panda_arch_info(panda_arch_facts *out, size_t size)
{
    if (!out || size < sizeof(*out)) return PANDA_ERR_ARG;
    memset(out, 0, size);
    out->struct_size = sizeof(*out);
    out->bits = panda_arch.bits;
    out->register_size = panda_arch.bits / 8;
    out->big_endian = panda_arch.big_endian;
    out->ncpu_models = panda_arch.ncpu_models;
    out->nregs = (uint32_t)panda_arch.nregs;
    out->name = panda_arch.name;
    out->default_machine = panda_arch.default_machine;
    out->hypercall = panda_arch.hypercall;
    return PANDA_OK;
}

PANDA_EXPORT const char *panda_cpu_model_name(uint32_t i)
{
    return i < panda_arch.ncpu_models ? panda_arch.cpu_models[i].name : NULL;
}
