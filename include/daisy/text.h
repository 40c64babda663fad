/*  daisy/text.h - text that people read and peers decode

    What a block's command writes on stderr ends up in the run's summary,
    its progress feed and the worker's messages to the broker. It may be
    any bytes: Latin-1 from an old tool, a terminal's escape sequences, a
    NUL. The wire carries text as msgpack str, which peers decode as UTF-8,
    and a terminal obeys escapes, so such text is cleaned first: a byte
    that does not start a well-formed UTF-8 character becomes '?'.
*/
#ifndef DAISY_TEXT_H
#define DAISY_TEXT_H

#include "daisy/export.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

//  Bytes of the well-formed UTF-8 character at p (of n bytes left): 1 to
//  4, or 0 where none starts (a stray continuation byte, an overlong
//  form, a surrogate, past U+10FFFF, or cut short). n must be > 0.
DAISY_EXPORT size_t daisy_utf8_char(const unsigned char *p, size_t n);

//  Copy the n bytes at in to out (of outsize > 0 bytes) as one line to
//  show: each byte that starts no well-formed character, and each control
//  character (tab aside), becomes '?'. Stops before a character that
//  would not fit, so none is cut; always NUL-terminated. Returns the
//  bytes written, the NUL aside.
DAISY_EXPORT size_t daisy_text_clean(char *out, size_t outsize, const char *in, size_t n);

#ifdef __cplusplus
}
#endif

#endif
