/* Error text (base.h). */
#include <stdarg.h>
#include <stdio.h>

#include "base.h"

panda_err err_set(panda_errbuf *e, panda_err err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    return err;
}

panda_err err_nomem(panda_errbuf *e, const char *what)
{
    return err_set(e, PANDA_ERR_NOMEM, "out of memory: %s", what);
}
