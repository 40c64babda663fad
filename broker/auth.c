/*  auth.c - CurveZMQ for the broker: keys, and our own ZAP handler

    The worker socket and the progress socket are CURVE servers with the
    broker's key pair. Who may connect is decided by a ZAP handler (a REP
    socket on inproc://zeromq.zap.01) that the broker polls itself rather
    than czmq's zauth actor, for two reasons: the two sockets need different
    rules (workers must hold a key from the allow-list directory; monitors
    only need to know the broker's public key), and a refused worker must be
    counted and reported, which an actor thread would hide. Keys are looked
    up in a zcertstore, which rereads the directory when it changes, so a
    worker key added during a run is accepted from then on.

    A peer that speaks clear text fails in the handshake, before any ZAP
    request, so the handler never hears of it: a socket monitor on the
    router reports those failures, also polled by the broker. Such a
    worker reconnects every few hundred milliseconds, so failed
    handshakes are logged once, then at most every CLEAR_LOG_MS with how
    many came in between.
*/
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include "broker_internal.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define WORKERS_DOMAIN "daisy-workers"
#define PROGRESS_DOMAIN "daisy-progress"
#define CLEAR_LOG_MS 10000

void
broker_log(daisy_broker_t *self, const char *fmt, ...)
{
    if (!self->opt.log)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    self->opt.log(self->opt.log_arg, line);
}

static bool
is_loopback(const char *endpoint)
{
    return !strncmp(endpoint, "ipc://", 6) || !strncmp(endpoint, "inproc://", 9)
        || !strncmp(endpoint, "tcp://127.", 10) || !strncmp(endpoint, "tcp://localhost:", 16)
        || !strncmp(endpoint, "tcp://[::1]:", 12);
}

//  Without keys: warn about endpoints that other hosts can reach.
static void
warn_clear_text(daisy_broker_t *self)
{
    if (!is_loopback(self->opt.bind))
        broker_log(self, "warning: serving workers on %s without CurveZMQ: anyone who can "
                   "reach it can take and release blocks (see --curve-secret)", self->opt.bind);
    if (self->opt.publish && !is_loopback(self->opt.publish))
        broker_log(self, "warning: publishing progress on %s without CurveZMQ",
                   self->opt.publish);
}

//  Failed handshakes on the router, to a PAIR socket of our own. Its
//  endpoint is new for each broker of the process: a broker made where the
//  last one was freed must not find the name still bound (libzmq closes
//  sockets in the background).
static int
watch_handshakes(daisy_broker_t *self, daisy_error_t *err)
{
    static atomic_uint made;
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "inproc://daisy-handshakes-%u",
             atomic_fetch_add(&made, 1));
    if (zmq_socket_monitor(zsock_resolve(self->router), endpoint,
                           ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                           | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0
        || !(self->handshakes = zsock_new_pair(endpoint)))
        return daisy_error_set(err, "cannot watch the workers' handshakes: %s",
                               zmq_strerror(zmq_errno()));
    return 0;
}

int
auth_setup(daisy_broker_t *self, daisy_error_t *err)
{
    if (!self->opt.curve_secret && !self->opt.curve_allow) {
        warn_clear_text(self);
        return 0;
    }
    if (!self->opt.curve_secret || !self->opt.curve_allow)
        return daisy_error_set(err, "CurveZMQ needs both the broker's secret key file and "
                               "the directory of allowed worker keys");
    if (!zsys_has_curve())
        return daisy_error_set(err, "this libzmq was built without CurveZMQ");
    zcert_t *cert = zcert_load(self->opt.curve_secret);
    if (!cert || !*zcert_secret_txt(cert) || !strcmp(zcert_secret_txt(cert),
                                                     "0000000000000000000000000000000000000000")) {
        zcert_destroy(&cert);
        return daisy_error_set(err, "cannot read a secret key from '%s' (written by "
                               "`daisy keygen NAME` as NAME_secret)", self->opt.curve_secret);
    }
    struct stat st;
    if (stat(self->opt.curve_allow, &st) != 0 || !S_ISDIR(st.st_mode)) {
        zcert_destroy(&cert);
        return daisy_error_set(err, "allowed keys directory '%s' does not exist",
                               self->opt.curve_allow);
    }
    self->allowed = zcertstore_new(self->opt.curve_allow);
    self->zap = zsock_new(ZMQ_REP);
    if (!self->allowed || !self->zap || zsock_bind(self->zap, ZAP_ENDPOINT) < 0) {
        zcert_destroy(&cert);
        zsock_destroy(&self->zap);      //  not ours to unbind
        return daisy_error_set(err, "cannot start the authentication handler on %s: %s "
                               "(one CurveZMQ broker at a time in a process)", ZAP_ENDPOINT,
                               zmq_strerror(zmq_errno()));
    }
    zcert_apply(cert, self->router);
    zsock_set_curve_server(self->router, 1);
    zsock_set_zap_domain(self->router, WORKERS_DOMAIN);
    if (self->pub) {
        zcert_apply(cert, self->pub);
        zsock_set_curve_server(self->pub, 1);
        zsock_set_zap_domain(self->pub, PROGRESS_DOMAIN);
    }
    zcert_destroy(&cert);
    return watch_handshakes(self, err);
}

//  A failed handshake on `endpoint`, logged once, then at most every
//  CLEAR_LOG_MS with how many came in between.
static void
log_handshake(daisy_broker_t *self, const char *endpoint, bool clear)
{
    int64_t now = zclock_mono();
    if (self->clear_logged_at && now - self->clear_logged_at < CLEAR_LOG_MS) {
        self->clear_hidden++;
        return;
    }
    char since[64] = "";
    if (self->clear_hidden)
        snprintf(since, sizeof since, " (and %llu more failed handshakes since)",
                 (unsigned long long)self->clear_hidden);
    if (clear)
        broker_log(self, "refused a worker on %s: it speaks clear text, this broker CurveZMQ "
                   "(the worker needs --curve-secret and --broker-key)%s", endpoint, since);
    else
        broker_log(self, "a worker's handshake failed on %s: it speaks clear text to this "
                   "CurveZMQ broker, or its connection broke while joining%s", endpoint, since);
    self->clear_logged_at = now;
    self->clear_hidden = 0;
}

//  One event of the handshake monitor: a peer speaking clear text counts
//  as refused, and is logged (see the opening comment). Both sides see
//  the mismatch in each other's greeting, and whichever closes first may
//  leave the other a bare failure without the reason: that is logged
//  too, as what it may be, but not counted. Other protocol failures are
//  libzmq's to report to the peer.
void
auth_handshake(daisy_broker_t *self)
{
    zmsg_t *event = zmsg_recv(self->handshakes);
    zframe_t *head = event ? zmsg_first(event) : NULL;
    char *endpoint = event && zmsg_size(event) > 1 ? zframe_strdup(zmsg_next(event)) : NULL;
    uint16_t what = 0;
    uint32_t value = 0;
    if (head && zframe_size(head) == 6) {
        memcpy(&what, zframe_data(head), 2);
        memcpy(&value, zframe_data(head) + 2, 4);
    }
    bool clear = what == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
              && value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH;
    if (clear)
        self->stats.auth_refused++;
    if (clear || what == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
        log_handshake(self, endpoint ? endpoint : "?", clear);
    zstr_free(&endpoint);
    zmsg_destroy(&event);
}

//  Answer one ZAP request: workers need an allowed key, monitors only the
//  server key they already proved to know.
void
auth_handle(daisy_broker_t *self)
{
    zmsg_t *req = zmsg_recv(self->zap);
    if (!req)
        return;
    char *version = zmsg_popstr(req), *id = zmsg_popstr(req), *domain = zmsg_popstr(req);
    char *address = zmsg_popstr(req), *identity = zmsg_popstr(req), *mech = zmsg_popstr(req);
    zframe_t *key = zmsg_pop(req);
    bool ok = false;
    char key_txt[41] = "";
    if (mech && !strcmp(mech, "CURVE") && key && zframe_size(key) == 32) {
        zmq_z85_encode(key_txt, zframe_data(key), 32);
        ok = domain && strcmp(domain, WORKERS_DOMAIN) != 0
          ? true : zcertstore_lookup(self->allowed, key_txt) != NULL;
    }
    if (!ok) {
        self->stats.auth_refused++;
        broker_log(self, "refused a worker from %s: key %s is not in %s",
                   address ? address : "?", *key_txt ? key_txt : "(none)",
                   self->opt.curve_allow);
    }
    zstr_sendx(self->zap, version ? version : "1.0", id ? id : "", ok ? "200" : "400",
               ok ? "OK" : "key not allowed", "", "", NULL);
    zframe_destroy(&key);
    zstr_free(&version);
    zstr_free(&id);
    zstr_free(&domain);
    zstr_free(&address);
    zstr_free(&identity);
    zstr_free(&mech);
    zmsg_destroy(&req);
}

void
auth_teardown(daisy_broker_t *self)
{
    if (self->handshakes && self->router)
        zmq_socket_monitor(zsock_resolve(self->router), NULL, 0);
    zsock_destroy(&self->handshakes);
    if (self->zap)      //  at once: closing frees the name only in the background
        zsock_unbind(self->zap, ZAP_ENDPOINT);
    zsock_destroy(&self->zap);
    zcertstore_destroy(&self->allowed);
}
