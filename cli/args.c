/*  args.c - numbers on the command line, checked (see args.h) */
#include "args.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int
cli_uint(const char *prog, const char *opt, const char *text, uint32_t min, uint32_t max,
         uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || end == text || *end || *text == '-' || *text == '+' || *text == ' '
        || v < min || v > max) {
        fprintf(stderr, "%s: %s: '%s' is not an integer from %u to %u\n", prog, opt, text, min,
                max);
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

int
cli_seconds(const char *prog, const char *opt, const char *text, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !isfinite(v) || v < 0 || v > 1e9) {
        fprintf(stderr, "%s: %s: '%s' is not a number of seconds (0 or more)\n", prog, opt, text);
        return -1;
    }
    *out = v;
    return 0;
}
