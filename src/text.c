/*  text.c - well-formed UTF-8, and lines cleaned for showing

    One UTF-8 decoder for the whole library: the wire codec checks every
    str it decodes with it and cleans the text it encodes, and a block's
    command's last stderr line is cleaned with it before it becomes an
    error (see daisy/text.h for why). The checks are those of RFC 3629:
    no overlong forms, no surrogates, nothing past U+10FFFF.
*/
#include "daisy/text.h"

#include <stdbool.h>

size_t
daisy_utf8_char(const unsigned char *p, size_t n)
{
    if (p[0] < 0x80)
        return 1;
    size_t len = p[0] >= 0xc2 && p[0] <= 0xdf ? 2 : p[0] >= 0xe0 && p[0] <= 0xef ? 3
               : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : 0;
    if (len == 0 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f)
        || (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] > 0x8f))
        return 0;
    return len;
}

size_t
daisy_text_clean(char *out, size_t outsize, const char *in, size_t n)
{
    const unsigned char *u = (const unsigned char *)in;
    size_t at = 0, used = 0;
    while (at < n) {
        size_t len = daisy_utf8_char(u + at, n - at);
        bool control = len == 1 && ((u[at] < 0x20 && u[at] != '\t') || u[at] == 0x7f);
        size_t put = len == 0 || control ? 1 : len;
        if (used + put >= outsize)
            break;
        if (len == 0 || control)
            out[used] = '?';
        else
            for (size_t i = 0; i < len; i++)
                out[used + i] = in[at + i];
        used += put;
        at += len ? len : 1;
    }
    out[used] = '\0';
    return used;
}
