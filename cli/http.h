/*  http.h - the live view: a web page over a broker's progress feed

    http_start() subscribes to a progress feed (the broker's --publish
    endpoint, or its own through inproc://) and serves, with libmicrohttpd,
    the page (static files from the www directory) and its live updates
    as server-sent events. See http.c for the design.
*/
#ifndef DAISY_CLI_HTTP_H
#define DAISY_CLI_HTTP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct http http_t;

typedef struct {
    const char *listen;         //  ADDR:PORT ("127.0.0.1:8080", "[::1]:0", "localhost:8080")
    bool public;                //  allow an address other hosts can reach
    const char *feed;           //  the progress feed to subscribe to
    const char *broker_key;     //  the broker's public key file (CurveZMQ), or NULL
} http_options_t;

//  Start serving; NULL with a message in err (naming the option and value
//  at fault). *exposed is set when the address is not loopback (the
//  caller warns).
//  *bad_option tells a wrong --http (exit 2) from a port that cannot be
//  served, busy or forbidden (exit 4, as an endpoint --bind cannot bind).
http_t *http_start(const http_options_t *options, bool *exposed, bool *bad_option, char *err,
                   size_t errsize);
//  "http://ADDR:PORT/" as bound (a port 0 replaced by the kernel's).
const char *http_url(const http_t *self);
//  Stop: first waits up to linger_ms for the end of the run to reach the
//  feed and the pages that are open, so that they show the final state.
void http_stop(http_t **self_p, int linger_ms);
//  http_start() for a program: prints the error, the warning for an
//  exposed address, and "PROG: live view on URL" on stderr. NULL with
//  *status the exit status to end with.
http_t *http_open(const char *prog, const http_options_t *options, int *status);

//  The options' help text, the same in every program.
#define HTTP_USAGE \
    "  --http ADDR:PORT      serve a live view of the run in a web browser at\n" \
    "                        http://ADDR:PORT/ (loopback only, e.g. 127.0.0.1:8080;\n" \
    "                        port 0: any free port, printed)\n" \
    "  --http-public         allow --http on an address other hosts can reach (no\n" \
    "                        TLS, no password: anyone who reaches it sees the run)\n"
//  How long a program waits at its end for open pages to get the end of
//  the run.
#define HTTP_LINGER_MS 2000

#endif
