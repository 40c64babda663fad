/*  args.h - the command line, checked and its mistakes said alike

    atoi("abc") is 0 and atof("5s") is 5: a mistyped option would quietly
    become a default or a truncated value. These parse the whole text,
    check the range, and on a mistake print one line naming the program,
    the option and the value (the caller exits with status 2).

    Every program says a command-line mistake the same way: one line
    "PROG: what is wrong" on stderr, then "Try 'PROG --help' for more
    information.", exit status 2; PROG is what the user typed ("daisy
    run", "daisy-broker"), never a path.
*/
#ifndef DAISY_CLI_ARGS_H
#define DAISY_CLI_ARGS_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

//  An integer in min..max. 0, or -1 after printing "PROG: OPT: ...".
int cli_uint(const char *prog, const char *opt, const char *text, uint32_t min, uint32_t max,
             uint32_t *out);
//  An endpoint to bind: a tcp:// one's port must be 1..65535, * or ! (the
//  kernel's pick): libzmq would take 99999 as 34463 (modulo 2^16) and
//  serve where nobody looks. 0, or -1 after printing.
int cli_endpoint(const char *prog, const char *opt, const char *ep);
//  An endpoint to connect to: a tcp:// one's port must be 1..65535 and its
//  host known (a name the resolver says does not exist is a typo, and the
//  worker would retry it silently for ever; a resolver that cannot answer
//  now is let through). 0, or -1 after printing.
int cli_connect_endpoint(const char *prog, const char *opt, const char *ep);
//  A finite number of seconds >= 0 (fractions allowed).
int cli_seconds(const char *prog, const char *opt, const char *text, double *out);

//  getopt_long, its messages under PROG (getopt names argv[0], a path or
//  a bare subcommand) and followed by the --help hint; a mistake (an
//  unknown option, a missing or unexpected value) returns '?'.
int cli_getopt(const char *prog, int argc, char **argv, const char *shorts,
               const struct option *longs, int *longindex);

//  "PROG: WHAT" and the --help hint on stderr; returns 2 (bad command line).
int cli_usage_error(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

//  "PROG VERSION" on stdout; returns 0.
int cli_version(const char *prog);
//  `rc`, once what went to stdout has reached it; else, having said why,
//  4 (or `rc` when that already says a failure): a plan or a summary cut
//  short by a full disk must not pass for a whole one.
int cli_stdout_done(const char *prog, int rc);

//  The options that end parsing, shared by every program: 'h' (--help:
//  USAGE on stdout), 'V' (--version) and '?' (a mistake, said by
//  cli_getopt); the exit status to return.
int cli_final_option(const char *prog, int c, const char *usage);

//  0 when the file (or with `dir`, the directory) given to option OPT can
//  be read, else -1 after "PROG: OPT: cannot read 'PATH': reason".
int cli_readable(const char *prog, const char *opt, const char *path, bool dir);

#endif
