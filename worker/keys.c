/*  keys.c - CurveZMQ keys for the worker, from czmq certificate files

    With CurveZMQ the worker needs its own key pair and the broker's
    public key. Both come from the certificate files czmq writes (the
    broker side uses czmq), read here without czmq: a `name = "Z85"` line
    is all that is needed. The public key is derived from the secret one.
    The socket options that use the keys, and the monitor that tells a
    refused key from an unreachable broker, are in io.c.
*/
#include "worker_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

//  Find `name = "Z85"` in a czmq certificate file and decode it.
static int
cert_key(const char *path, const char *name, uint8_t key[32], daisy_error_t *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return daisy_error_set(err, "cannot read key file %s: %s", path, strerror(errno));
    char line[512];
    size_t len = strlen(name);
    int rc = daisy_error_set(err, "key file %s has no valid %s", path, name);
    while (fgets(line, sizeof line, f)) {
        char *p = line + strspn(line, " \t");
        if (strncmp(p, name, len) != 0)
            continue;
        p += len;
        p += strspn(p, " \t");
        if (*p++ != '=')
            continue;
        p += strspn(p, " \t\"");
        char z85[41];
        size_t n = strcspn(p, "\" \t\r\n");
        if (n != 40)
            continue;
        memcpy(z85, p, 40);
        z85[40] = '\0';
        if (zmq_z85_decode(key, z85)) {
            rc = 0;
            break;
        }
    }
    fclose(f);
    return rc;
}

int
worker_load_keys(daisy_worker_t *self, const char *secret, const char *broker,
                 daisy_error_t *err)
{
    if (!secret && !broker)
        return 0;
    if (!secret || !broker)
        return daisy_error_set(err, "CurveZMQ needs both this worker's secret key "
                                    "file and the broker's public key file");
    if (!zmq_has("curve"))
        return daisy_error_set(err, "this libzmq was built without CurveZMQ");
    if (cert_key(secret, "secret-key", self->secret_key, err) < 0
        || cert_key(broker, "public-key", self->server_key, err) < 0)
        return -1;
    //  The public key is derived rather than read: one less thing to mismatch.
    char z85_secret[41], z85_public[41];
    zmq_z85_encode(z85_secret, self->secret_key, 32);
    if (zmq_curve_public(z85_public, z85_secret) != 0
        || !zmq_z85_decode(self->public_key, z85_public))
        return daisy_error_set(err, "cannot derive the public key from %s", secret);
    self->curve = true;
    return 0;
}
