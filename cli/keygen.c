/*  keygen.c - `daisy keygen NAME`: a CurveZMQ key pair for broker or worker

    Writes czmq certificates, the format every czmq tool reads: NAME holds
    the public key (hand it out: to workers as --broker-key, or into the
    broker's --curve-allow directory), NAME_secret both keys (keep it to
    the one process that owns it; written readable by its owner only).
    An existing pair is kept unless --force: a new key locks out every
    worker and monitor that was given the old one.
*/
#include <czmq.h>
#include <errno.h>
#include <sys/stat.h>

#include "args.h"
#include "cli.h"

#define P "daisy keygen"

static const char *usage =
    "Usage: daisy keygen [--force] NAME\n"
    "\n"
    "Write a CurveZMQ key pair as czmq certificates: NAME (public key) and\n"
    "NAME_secret (public and secret key, mode 0600).\n"
    "\n"
    "  --force       overwrite an existing NAME and NAME_secret (workers and\n"
    "                monitors given the old public key are then refused)\n"
    "  -h, --help    show this help\n"
    "      --version show the version\n"
    "\n"
    "  broker:   daisy keygen broker\n"
    "            daisy-broker --curve-secret broker_secret --curve-allow workers/ ...\n"
    "  worker:   daisy keygen node7 && cp node7 workers/   (on the broker's side)\n"
    "            daisy-worker --curve-secret node7_secret --broker-key broker ...\n"
    "  monitor:  daisy monitor --broker-key broker tcp://host:5556\n"
    "\n"
    "Exit status: 0 written, 1 NAME or NAME_secret exists (nothing written),\n"
    "2 bad command line, 4 the files could not be written.\n";

//  0 when neither half of the pair exists, else 1 having named it.
static int
refuse_existing(const char *name)
{
    char secret[4096];
    snprintf(secret, sizeof secret, "%s_secret", name);
    const char *found = access(name, F_OK) == 0 ? name : access(secret, F_OK) == 0 ? secret : NULL;
    if (!found)
        return 0;
    fprintf(stderr, P ": '%s' exists; nothing written (--force overwrites the pair, and "
            "workers and monitors given the old public key are then refused)\n", found);
    return EXIT_FAILED;
}

//  Whether `path` holds the key `key` as `field` ("public-key" or
//  "secret-key"). zcert_save() checks neither its writes nor its fclose:
//  on a full disk it returns 0 and leaves empty files.
static bool
holds_key(const char *path, const char *field, const char *key)
{
    zconfig_t *config = zconfig_load(path);
    char where[32];
    snprintf(where, sizeof where, "curve/%s", field);
    const char *found = config ? zconfig_get(config, where, NULL) : NULL;
    bool same = found && strcmp(found, key) == 0;
    zconfig_destroy(&config);
    return same;
}

//  Both files read back as written, else -1 with neither left behind:
//  an empty NAME would pass for a key until a worker is refused.
static int
check_pair(zcert_t *cert, const char *name, const char *secret, int error)
{
    if (holds_key(name, "public-key", zcert_public_txt(cert))
        && holds_key(secret, "secret-key", zcert_secret_txt(cert)))
        return 0;
    unlink(name);
    unlink(secret);
    fprintf(stderr, P ": cannot write '%s' and '%s': %s\n", name, secret,
            error ? strerror(error) : "they do not read back as written");
    return -1;
}

//  NAME and NAME_secret, the secret one readable by its owner only, even
//  where --force replaces a pair someone had made readable to all.
static int
write_pair(const char *name)
{
    zcert_t *cert = zcert_new();
    if (!cert) {
        fprintf(stderr, P ": cannot make a key pair (out of memory?)\n");
        return EXIT_INTERNAL;
    }
    zcert_set_meta(cert, "name", "%s", name);
    char secret[4096];
    snprintf(secret, sizeof secret, "%s_secret", name);
    unlink(name);       //  (--force) files made anew: an old mode or link stays behind
    unlink(secret);
    mode_t old = umask(077);
    errno = 0;
    int rc = zcert_save(cert, name);
    int error = errno;
    umask(old);
    if (rc != 0) {
        zcert_destroy(&cert);
        fprintf(stderr, P ": cannot write '%s' and '%s_secret': %s\n", name, name,
                strerror(error));
        return EXIT_INTERNAL;
    }
    chmod(name, 0644);   //  the public half may be read by anyone
    rc = check_pair(cert, name, secret, error);
    zcert_destroy(&cert);
    if (rc != 0)
        return EXIT_INTERNAL;
    printf("wrote %s (public key) and %s_secret (secret key)\n", name, name);
    return EXIT_OK;
}

int
cli_keygen(int argc, char **argv)
{
    static const struct option options[] = {
        {"force", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    bool force = false;
    int c;
    while ((c = cli_getopt(P, argc, argv, "h", options, NULL)) != -1) {
        if (c == 'f')
            force = true;
        else
            return cli_final_option(P, c, usage);
    }
    if (optind != argc - 1)
        return cli_usage_error(P, "expected one NAME (the key pair is written to NAME and "
                               "NAME_secret)");
    //  '' and 'dir/' name no file: the pair would be '_secret' and ''.
    const char *base = strrchr(argv[optind], '/');
    if (!*(base ? base + 1 : argv[optind]))
        return cli_usage_error(P, "NAME '%s' is not a file name", argv[optind]);
    if (!zsys_has_curve()) {
        fprintf(stderr, P ": this libzmq was built without CurveZMQ\n");
        return EXIT_INTERNAL;
    }
    const char *name = argv[optind];
    int rc = force ? 0 : refuse_existing(name);
    return rc ? rc : write_pair(name);
}
