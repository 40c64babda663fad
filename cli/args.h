/*  args.h - numbers on the command line, checked

    atoi("abc") is 0 and atof("5s") is 5: a mistyped option would quietly
    become a default or a truncated value. These parse the whole text,
    check the range, and on a mistake print one line naming the program,
    the option and the value (the caller exits with status 2).
*/
#ifndef DAISY_CLI_ARGS_H
#define DAISY_CLI_ARGS_H

#include <stdint.h>

//  An integer in min..max. 0, or -1 after printing "PROG: OPT: ...".
int cli_uint(const char *prog, const char *opt, const char *text, uint32_t min, uint32_t max,
             uint32_t *out);
//  A finite number of seconds >= 0 (fractions allowed).
int cli_seconds(const char *prog, const char *opt, const char *text, double *out);

#endif
