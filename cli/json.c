/*  json.c - the little JSON the programs write by hand

    Plans of millions of blocks are printed line by line; building a jansson
    tree per block would cost more than computing the block, so the
    programs write these few shapes directly.
*/
#include "cli.h"

void
cli_json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

static void
json_ints(FILE *out, int n, const int64_t *v)
{
    fputc('[', out);
    for (int i = 0; i < n; i++)
        fprintf(out, i ? ", %lld" : "%lld", (long long)v[i]);
    fputc(']', out);
}

void
cli_json_roi(FILE *out, const daisy_roi_t *roi)
{
    fputs("{\"offset\": ", out);
    json_ints(out, roi->dims, roi->offset);
    fputs(", \"shape\": ", out);
    json_ints(out, roi->dims, roi->shape);
    fputc('}', out);
}
