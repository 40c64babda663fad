/*  error.c - one-line error messages for library callers

    Errors are values, not output: libdaisy fills a caller's buffer and lets
    the program choose whether and where to print. Prefixing lets an inner
    function report "key 'fit': unknown value" and an outer one add the file
    and task without either knowing about the other.
*/
#include "daisy/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

//  err's message from fmt and ap, of the given kind.
static int
set_kind(daisy_error_t *err, daisy_error_kind_t kind, const char *fmt, va_list ap)
{
    if (!err)
        return -1;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    err->kind = kind;
    return -1;
}

int
daisy_error_set(daisy_error_t *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_kind(err, DAISY_ERROR_SYSTEM, fmt, ap);
    va_end(ap);
    return -1;
}

int
daisy_error_input(daisy_error_t *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_kind(err, DAISY_ERROR_INPUT, fmt, ap);
    va_end(ap);
    return -1;
}

int
daisy_error_prefix(daisy_error_t *err, const char *fmt, ...)
{
    if (!err)
        return -1;
    char prefix[DAISY_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    //  Room for both parts; the result is cut to the buffer afterwards.
    char joined[2 * DAISY_ERROR_MAX + 2];
    snprintf(joined, sizeof joined, "%s: %s", prefix, err->msg);
    memcpy(err->msg, joined, sizeof err->msg - 1);
    err->msg[sizeof err->msg - 1] = '\0';
    return -1;
}
