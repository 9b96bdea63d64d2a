/* The machines this build has (machine.h); -M picks one by name. */
#include <string.h>

#include "internal.h"

extern const panda_machine_ops machine_pc_ops, machine_configurable_ops;

const panda_machine_ops *const panda_machines[] = {
    &machine_pc_ops,
    &machine_configurable_ops,
    NULL,
};

const panda_machine_ops *panda_machine_find(const char *name)
{
    for (size_t i = 0; panda_machines[i]; i++)
        if (!strcmp(panda_machines[i]->name, name)) return panda_machines[i];
    return NULL;
}
