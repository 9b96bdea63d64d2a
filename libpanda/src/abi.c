/* The library's identity and the names of its codes: the ABI's tables,
 * made from the lists in panda/types.h (PANDA_ERRORS) and
 * panda/callbacks.h (PANDA_CALLBACKS) so they cannot drift from the enums. */
#include <stddef.h>

#include "internal.h"

static const char *const error_names[PANDA_ERR_COUNT] = {
#define ERROR_NAME(ENUMERATOR, message, exception) [PANDA_##ENUMERATOR] = message,
    PANDA_ERRORS(ERROR_NAME)
#undef ERROR_NAME
};

PANDA_EXPORT void panda_version(uint32_t *major, uint32_t *minor)
{
    if (major) *major = PANDA_API_MAJOR;
    if (minor) *minor = PANDA_API_MINOR;
}


PANDA_EXPORT const char *panda_strerror(panda_err err)
{
    if ((unsigned)err >= PANDA_ERR_COUNT) return "unknown error code";
    return error_names[err];
}

static const char *const cb_names[PANDA_CB_LAST] = {
#define CB_NAME(number, ENUMERATOR, name, ret, params) [PANDA_CB_##ENUMERATOR] = #name,
    PANDA_CALLBACKS(CB_NAME)
#undef CB_NAME
};

PANDA_EXPORT const char *panda_cb_name(panda_cb_type type)
{
    return (unsigned)type < PANDA_CB_LAST ? cb_names[type] : NULL;
}
