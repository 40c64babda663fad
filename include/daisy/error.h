/*  daisy/error.h - error reports for libdaisy

    Library functions never print. A function that can fail takes a
    `daisy_error_t *` (which may be NULL) and fills it with one line of text
    that names what is at fault (file, task, field, value), then returns -1
    or NULL. Programs decide what to do with the message.
*/
#ifndef DAISY_ERROR_H
#define DAISY_ERROR_H

#include "daisy/export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DAISY_ERROR_MAX 512

//  What an error is, for a program that maps errors to exit statuses:
//  most are failures of the system (memory, a system call, a full disk);
//  some are in what the caller was given to work with, which a user can
//  mend (markers recorded for another pipeline, or damaged).
typedef enum {
    DAISY_ERROR_SYSTEM = 0,
    DAISY_ERROR_INPUT = 1,
} daisy_error_kind_t;

typedef struct {
    char msg[DAISY_ERROR_MAX];
    daisy_error_kind_t kind;     //  DAISY_ERROR_SYSTEM unless set otherwise
} daisy_error_t;

//  Fill err (if not NULL) with a formatted message. Returns -1 so that
//  callers can write `return daisy_error_set(err, ...);`.
DAISY_EXPORT int daisy_error_set(daisy_error_t *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

//  daisy_error_set, and the error is of kind DAISY_ERROR_INPUT. Returns -1.
DAISY_EXPORT int daisy_error_input(daisy_error_t *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

//  Prefix the message already in err with a formatted context, keeping the
//  original text after ": ". Returns -1.
DAISY_EXPORT int daisy_error_prefix(daisy_error_t *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#ifdef __cplusplus
}
#endif
#endif
