/*  keygen.c - `daisy keygen NAME`: a CurveZMQ key pair for broker or worker

    Writes czmq certificates, the format every czmq tool reads: NAME holds
    the public key (hand it out: to workers as --broker-key, or into the
    broker's --curve-allow directory), NAME_secret both keys (keep it to
    the one process that owns it; written readable by its owner only).
*/
#include <czmq.h>
#include <sys/stat.h>

#include "cli.h"

static const char *usage =
    "Usage: daisy keygen NAME\n"
    "\n"
    "Write a CurveZMQ key pair as czmq certificates: NAME (public key) and\n"
    "NAME_secret (public and secret key, mode 0600).\n"
    "\n"
    "  broker:   daisy keygen broker\n"
    "            daisy-broker --curve-secret broker_secret --curve-allow workers/ ...\n"
    "  worker:   daisy keygen node7 && cp node7 workers/   (on the broker's side)\n"
    "            daisy-worker --curve-secret node7_secret --broker-key broker ...\n"
    "  monitor:  daisy monitor --broker-key broker tcp://host:5556\n";

int
cli_keygen(int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs(usage, stdout);
        return EXIT_OK;
    }
    if (argc != 2 || argv[1][0] == '-') {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    if (!zsys_has_curve()) {
        fprintf(stderr, "daisy keygen: this libzmq was built without CurveZMQ\n");
        return EXIT_INTERNAL;
    }
    const char *name = argv[1];
    zcert_t *cert = zcert_new();
    zcert_set_meta(cert, "name", "%s", name);
    mode_t old = umask(077);
    int rc = cert ? zcert_save(cert, name) : -1;
    umask(old);
    if (rc == 0)
        chmod(name, 0644);   //  the public half may be read by anyone
    zcert_destroy(&cert);
    if (rc != 0) {
        fprintf(stderr, "daisy keygen: cannot write '%s' and '%s_secret'\n", name, name);
        return EXIT_INTERNAL;
    }
    printf("wrote %s (public key) and %s_secret (secret key)\n", name, name);
    return EXIT_OK;
}
