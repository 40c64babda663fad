/*  args.c - the command line, checked, its mistakes said alike (see args.h) */
#include "args.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daisy/version.h"

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

int
cli_getopt(const char *prog, int argc, char **argv, const char *shorts,
           const struct option *longs, int *longindex)
{
    char *name = argv[0];
    argv[0] = (char *)prog;
    int c = getopt_long(argc, argv, shorts, longs, longindex);
    argv[0] = name;
    if (c != '?' && c != ':')
        return c;
    fprintf(stderr, "Try '%s --help' for more information.\n", prog);
    return '?';
}

static bool
port_ok(const char *port)
{
    char *end;
    errno = 0;
    unsigned long n = strtoul(port, &end, 10);
    return *port >= '0' && *port <= '9' && !*end && errno == 0 && n >= 1 && n <= 65535;
}

//  A transport libzmq knows by name (whether this build has it or not, it
//  says so when binding); any other scheme is a typo such as "tpc://".
static bool
transport_known(const char *ep, size_t len)
{
    static const char *const known[] = {"tcp", "ipc", "inproc", "pgm", "epgm", "tipc",
                                        "vmci", "norm", "udp", "ws", "wss"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strlen(known[i]) == len && !strncmp(ep, known[i], len))
            return true;
    return false;
}

int
cli_endpoint(const char *prog, const char *opt, const char *ep)
{
    //  A path or a bare host:port is a mistake here, not an endpoint that
    //  cannot be bound (libzmq says only "Invalid argument").
    const char *scheme_end = strstr(ep, "://");
    if (!scheme_end || scheme_end == ep) {
        cli_usage_error(prog, "%s: '%s' is not a ZeroMQ endpoint (tcp://HOST:PORT, "
                        "ipc://PATH)", opt, ep);
        return -1;
    }
    if (!transport_known(ep, (size_t)(scheme_end - ep))) {
        cli_usage_error(prog, "%s: '%s': unknown transport '%.*s' (tcp://HOST:PORT, "
                        "ipc://PATH)", opt, ep, (int)(scheme_end - ep), ep);
        return -1;
    }
    if (strncmp(ep, "tcp://", 6) != 0)
        return 0;
    const char *colon = strrchr(ep + 6, ':');
    if (!colon || colon == ep + 6) {
        cli_usage_error(prog, "%s: '%s' is not tcp://HOST:PORT", opt, ep);
        return -1;
    }
    const char *port = colon + 1;
    if (!strcmp(port, "*") || !strcmp(port, "!") || port_ok(port))
        return 0;
    cli_usage_error(prog, "%s: '%s': port '%s' is not 1 to 65535 (or * for any free port)",
                    opt, ep, port);
    return -1;
}

int
cli_connect_endpoint(const char *prog, const char *opt, const char *ep)
{
    if (strncmp(ep, "tcp://", 6) != 0)
        return 0;
    const char *host = ep + 6, *colon = strrchr(host, ':');
    if (!colon || colon == host || !port_ok(colon + 1)) {
        cli_usage_error(prog, "%s: '%s' is not tcp://HOST:PORT, PORT 1 to 65535", opt, ep);
        return -1;
    }
    char name[256];
    size_t len = (size_t)(colon - host);
    if (len >= sizeof name)
        return 0;
    memcpy(name, host, len);
    name[len] = '\0';
    if (len > 1 && name[0] == '[' && name[len - 1] == ']')     //  [::1]
        memmove(name, name + 1, len - 2), name[len - 2] = '\0';
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(name, NULL, &hints, &res);
    if (res)
        freeaddrinfo(res);
    if (rc != EAI_NONAME)
        return 0;
    cli_usage_error(prog, "%s: '%s': host '%s' is not known", opt, ep, name);
    return -1;
}

int
cli_usage_error(const char *prog, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, args);
    fprintf(stderr, "\nTry '%s --help' for more information.\n", prog);
    va_end(args);
    return 2;
}

int
cli_version(const char *prog)
{
    printf("%s %s\n", prog, DAISY_VERSION);
    return 0;
}

int
cli_stdout_done(const char *prog, int rc)
{
    errno = 0;
    bool failed = ferror(stdout);
    if (fflush(stdout) != 0)
        failed = true;
    if (!failed)
        return rc;
    fprintf(stderr, "%s: cannot write the output: %s\n", prog,
            errno ? strerror(errno) : "a write failed");
    return rc ? rc : 4;
}

int
cli_final_option(const char *prog, int c, const char *usage)
{
    if (c == 'V')
        return cli_version(prog);
    if (c != 'h')
        return 2;
    fputs(usage, stdout);
    return 0;
}

int
cli_readable(const char *prog, const char *opt, const char *path, bool dir)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | (dir ? O_DIRECTORY : 0));
    struct stat st;
    if (fd >= 0 && !dir && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        fd = -1;
        errno = EISDIR;
    }
    if (fd < 0) {
        fprintf(stderr, "%s: %s: cannot read '%s': %s\n", prog, opt, path, strerror(errno));
        return -1;
    }
    close(fd);
    return 0;
}
