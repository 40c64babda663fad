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

int
daisy_error_set(daisy_error_t *err, const char *fmt, ...)
{
    if (!err)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
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
