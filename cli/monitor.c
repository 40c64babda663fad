/*  monitor.c - `daisy monitor`: watch a broker from anywhere

    Subscribes to a broker's PUB feed and shows the same progress bars as
    `daisy run` (or one JSON object per event with --json, for tools). It
    keeps the latest state per task as snapshots arrive, so a monitor that
    joins late is current within one snapshot interval, and it exits when
    the broker publishes the end of the run.
*/
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <czmq.h>
#include <jansson.h>

#include "bars.h"
#include "args.h"
#include "cli.h"
#include "http.h"
#include "stats.h"
#include "daisy/protocol.h"

static const char *usage =
    "Usage: daisy monitor [--json] [--timeout S] [--broker-key FILE]\n"
    "                     [--http ADDR:PORT [--http-public]] ENDPOINT\n"
    "\n"
    "Show the progress of a running broker from its progress feed (the\n"
    "--publish endpoint of daisy-broker or daisy run), until the run ends.\n"
    "\n"
    "  --json             one JSON object per event on stdout instead of bars\n"
    "  --timeout S        give up when nothing arrives for S seconds (default: wait)\n"
    "  --broker-key FILE  the broker's public key (CurveZMQ)\n"
    "  --http ADDR:PORT   also serve a live view in a web browser at http://ADDR:PORT/\n"
    "                     (loopback only; port 0: any free port, printed); it stays\n"
    "                     up after the run ends, until Ctrl-C\n"
    "  --http-public      allow --http on an address other hosts can reach (no TLS,\n"
    "                     no password: anyone who reaches it sees the run)\n"
    "  -h, --help         show this help\n"
    "      --version      show the version\n"
    "\n"
    "Exit status: 0 when the run ended with every block completed, 1 when it\n"
    "ended otherwise, 2 bad command line (also: the broker speaks CurveZMQ and\n"
    "no --broker-key was given, or clear text and one was), 5 timed out.\n";

#define MAX_TASKS 4096

typedef struct {
    daisy_wire_task_state_t states[MAX_TASKS];
    char *ids[MAX_TASKS];
    size_t n;
    char *stats;            //  the run statistics, printed after the end line
} table_t;

static void
table_put(table_t *t, const daisy_wire_task_state_t *st)
{
    size_t i;
    for (i = 0; i < t->n; i++)
        if (!strcmp(t->ids[i], st->task_id))
            break;
    if (i == t->n) {
        if (t->n == MAX_TASKS)
            return;
        t->ids[t->n++] = strdup(st->task_id);
    }
    t->states[i] = *st;
    t->states[i].task_id = t->ids[i];
}

static json_t *
event_json(const daisy_msg_t *m)
{
    json_t *o = NULL;
    switch (m->type) {
    case DAISY_EVT_TASK_STATE:
    case DAISY_EVT_TASK_STARTED:
    case DAISY_EVT_TASK_DONE:
        o = stats_task_state_json(&m->u.task_state);
        break;
    case DAISY_EVT_BLOCK_FAILED:
        o = json_pack("{s:s, s:I, s:i, s:b, s:s, s:s, s:s}", "task", m->u.block_failed.task_id,
                      "block_id", (json_int_t)m->u.block_failed.block_id,
                      "attempt", (int)m->u.block_failed.attempt, "final", m->u.block_failed.final,
                      "error", m->u.block_failed.error, "worker", m->u.block_failed.worker_id,
                      "log", m->u.block_failed.log);
        break;
    case DAISY_EVT_WORKER_JOINED:
    case DAISY_EVT_WORKER_LOST:
        o = json_pack("{s:s, s:s, s:s, s:I, s:s}", "worker", m->u.worker.worker_id,
                      "task", m->u.worker.task_id, "host", m->u.worker.host,
                      "pid", (json_int_t)m->u.worker.pid, "reason", m->u.worker.reason);
        break;
    case DAISY_EVT_RUN_STATS:
        o = stats_json(&m->u.run_stats);
        break;
    case DAISY_EVT_RUN_FINISHED: {
        json_t *tasks = json_array();
        for (uint32_t i = 0; i < m->u.run_finished.count; i++)
            json_array_append_new(tasks, stats_task_state_json(&m->u.run_finished.tasks[i]));
        o = json_pack("{s:b, s:b, s:o}", "success", m->u.run_finished.success,
                      "interrupted", m->u.run_finished.interrupted, "tasks", tasks);
        break;
    }
    default:
        return NULL;
    }
    if (o)
        json_object_set_new(o, "event", json_string(daisy_msg_name(m->type)));
    return o;
}

static void
print_final(const daisy_msg_t *m)
{
    printf("run %s%s\n", m->u.run_finished.success ? "finished: all blocks processed successfully"
                                                    : "finished with failures",
           m->u.run_finished.interrupted ? " (interrupted)" : "");
    for (uint32_t i = 0; i < m->u.run_finished.count; i++) {
        const daisy_wire_task_state_t *st = &m->u.run_finished.tasks[i];
        printf("  %s: %llu blocks, %llu completed (skipped %llu), %llu failed, %llu orphaned\n",
               st->task_id, (unsigned long long)st->counts.total,
               (unsigned long long)st->counts.completed, (unsigned long long)st->counts.skipped,
               (unsigned long long)st->counts.failed, (unsigned long long)st->counts.orphaned);
    }
}

//  Handle one event; returns the exit status once the run finished, else -1.
static int
on_event(const daisy_msg_t *m, bool json, table_t *table, bars_t *bars)
{
    if (json) {
        json_t *o = event_json(m);
        if (o) {
            char *line = json_dumps(o, JSON_COMPACT);
            puts(line);
            free(line);
            json_decref(o);
            fflush(stdout);
        }
    } else if (m->type == DAISY_EVT_TASK_STATE || m->type == DAISY_EVT_TASK_DONE
               || m->type == DAISY_EVT_TASK_STARTED) {
        table_put(table, &m->u.task_state);
        bars_update(bars, table->states, table->n, m->type != DAISY_EVT_TASK_STATE);
    } else if (m->type == DAISY_EVT_RUN_STATS) {
        size_t size = 0;
        free(table->stats);
        table->stats = NULL;
        FILE *f = open_memstream(&table->stats, &size);
        if (f) {
            stats_print(f, &m->u.run_stats);
            fclose(f);
        }
    } else if (m->type == DAISY_EVT_BLOCK_FAILED && m->u.block_failed.final)
        fprintf(stderr, "%s: block %llu failed: %s\n", m->u.block_failed.task_id,
                (unsigned long long)m->u.block_failed.block_id, m->u.block_failed.error);
    if (m->type != DAISY_EVT_RUN_FINISHED)
        return -1;
    if (!json) {
        for (uint32_t i = 0; i < m->u.run_finished.count; i++)
            table_put(table, &m->u.run_finished.tasks[i]);
        bars_update(bars, table->states, table->n, true);
        bars_finish(bars);
        print_final(m);
        if (table->stats)
            fputs(table->stats, stdout);
    }
    return m->u.run_finished.success ? EXIT_OK : EXIT_FAILED;
}

//  CurveZMQ: a throw-away key pair for us, the broker's public key for it.
static int
apply_broker_key(zsock_t *sub, const char *key_file)
{
    zcert_t *broker = zcert_load(key_file);
    if (!broker) {
        fprintf(stderr, "daisy monitor: cannot read the broker's public key '%s'\n", key_file);
        return -1;
    }
    zcert_t *mine = zcert_new();
    zcert_apply(mine, sub);
    zsock_set_curve_serverkey(sub, zcert_public_txt(broker));
    zcert_destroy(&mine);
    zcert_destroy(&broker);
    return 0;
}

//  The feed's handshake, watched: a broker speaking CurveZMQ to a monitor
//  without --broker-key (or clear text to one with it) drops the
//  connection without a word, which would look like a broker that is not
//  there.
static zsock_t *
watch_handshake(zsock_t *sub)
{
    static unsigned opened;
    char name[64];
    snprintf(name, sizeof name, "inproc://daisy-monitor-handshake-%u", ++opened);
    if (zmq_socket_monitor(zsock_resolve(sub), name, ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                           | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
                           | ZMQ_EVENT_HANDSHAKE_SUCCEEDED) != 0)
        return NULL;
    zsock_t *pair = zsock_new(ZMQ_PAIR);
    if (pair && zsock_connect(pair, "%s", name) != 0)
        zsock_destroy(&pair);
    return pair;
}

//  The feed: the SUB socket, its handshake watch, a poller over both.
//  libzmq does not reconnect after a failed handshake, and a failure is
//  as often reported as a bare EPIPE as with its reason: the feed is then
//  opened again, until the reason shows or the handshake succeeds.
typedef struct {
    zsock_t *sub;
    zsock_t *events;
    zpoller_t *poller;
} feed_t;

static void
feed_close(feed_t *f)
{
    zpoller_destroy(&f->poller);
    if (f->events && f->sub)
        zmq_socket_monitor(zsock_resolve(f->sub), NULL, 0);
    zsock_destroy(&f->events);
    zsock_destroy(&f->sub);
}

static int
feed_open(feed_t *f, const char *endpoint, const char *broker_key)
{
    memset(f, 0, sizeof *f);
    f->sub = zsock_new(ZMQ_SUB);
    if (!f->sub)
        return EXIT_INTERNAL;
    zsock_set_maxmsgsize(f->sub, DAISY_MAX_FRAME);
    zsock_set_subscribe(f->sub, "");
    if (broker_key && apply_broker_key(f->sub, broker_key) != 0) {
        feed_close(f);
        return EXIT_USAGE;
    }
    f->events = watch_handshake(f->sub);
    if (zsock_connect(f->sub, "%s", endpoint) < 0) {
        fprintf(stderr, "daisy monitor: cannot connect to '%s'\n", endpoint);
        feed_close(f);
        return EXIT_USAGE;
    }
    f->poller = zpoller_new(f->sub, f->events, NULL);
    return -1;
}

//  One handshake event; prints its meaning once. 1 on success, -1 on a
//  mechanism mismatch (a key missing, or one too many: no use waiting), 2
//  on another failure (the feed is to be opened again), else 0.
static int
on_handshake(zsock_t *events, const char *endpoint, const char *broker_key, bool *told)
{
    zmsg_t *msg = zmsg_recv(events);
    zframe_t *head = msg ? zmsg_first(msg) : NULL;
    uint16_t event = 0;
    uint32_t value = 0;
    if (head && zframe_size(head) == 6) {
        memcpy(&event, zframe_data(head), 2);
        memcpy(&value, zframe_data(head) + 2, 4);
    }
    zmsg_destroy(&msg);
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
        && value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH) {
        if (!broker_key)
            fprintf(stderr, "daisy monitor: the broker at %s speaks CurveZMQ: pass "
                    "--broker-key FILE (its public key, as `daisy keygen` wrote it)\n", endpoint);
        else
            fprintf(stderr, "daisy monitor: the broker at %s speaks clear text: drop "
                    "--broker-key\n", endpoint);
        return -1;
    }
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL && !*told) {
        *told = true;
        fprintf(stderr, "daisy monitor: the handshake with %s failed (is %s the broker's "
                "public key?)\n", endpoint, broker_key ? broker_key : "--broker-key");
    }
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL || event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
        return 2;
    return event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED;
}

#define WAITING_NOTE_MS 2000

#define REOPEN_MS 500

static int
watch(const char *endpoint, bool json, double timeout_s, const char *broker_key)
{
    feed_t feed;
    int rc = feed_open(&feed, endpoint, broker_key);
    if (rc >= 0)
        return rc;
    daisy_decoder_t *decoder = daisy_decoder_new();
    table_t *table = calloc(1, sizeof *table);
    bars_t *bars = bars_new(stderr, isatty(STDERR_FILENO), 5000);
    int64_t start = zclock_mono(), last = start, reopen_at = 0;
    bool heard = false, told = false;
    while (rc < 0 && !zsys_interrupted) {
        if (reopen_at && zclock_mono() >= reopen_at) {
            feed_close(&feed);
            if ((rc = feed_open(&feed, endpoint, broker_key)) >= 0)
                break;
            reopen_at = 0;
        }
        void *which = zpoller_wait(feed.poller, 200);
        if (timeout_s > 0 && zclock_mono() - last > (int64_t)(timeout_s * 1000)) {
            rc = 5;
            break;
        }
        if (which && which == feed.events) {
            int h = on_handshake(feed.events, endpoint, broker_key, &told);
            heard |= h == 1;
            if (h < 0)
                rc = EXIT_USAGE;
            else if (h == 2 && !heard)
                reopen_at = zclock_mono() + REOPEN_MS;
            continue;
        }
        if (!which) {
            if (!heard && !told && zclock_mono() - start >= WAITING_NOTE_MS) {
                told = true;
                fprintf(stderr, "daisy monitor: waiting for the progress feed at %s (the "
                        "--publish endpoint of daisy-broker or daisy run)...\n", endpoint);
            }
            continue;
        }
        heard = true;
        zmsg_t *msg = zmsg_recv(feed.sub);
        zframe_t *topic = zmsg_first(msg), *body = zmsg_next(msg);
        daisy_msg_t m;
        if (topic && body && daisy_decode(decoder, zframe_data(body), zframe_size(body),
                                          &m, NULL) == DAISY_PROTO_OK) {
            last = zclock_mono();
            rc = on_event(&m, json, table, bars);
        }
        zmsg_destroy(&msg);
    }
    if (rc == 5)
        fprintf(stderr, "daisy monitor: nothing from %s for %g s\n", endpoint, timeout_s);
    for (size_t i = 0; table && i < table->n; i++)
        free(table->ids[i]);
    if (table)
        free(table->stats);
    free(table);
    bars_destroy(&bars);
    feed_close(&feed);
    daisy_decoder_destroy(&decoder);
    return rc < 0 ? 130 : rc;
}

#define P "daisy monitor"

int
cli_monitor(int argc, char **argv)
{
    static const struct option options[] = {
        {"json", no_argument, NULL, 'j'},
        {"timeout", required_argument, NULL, 't'},
        {"broker-key", required_argument, NULL, 'k'},
        {"http", required_argument, NULL, 'W'},
        {"http-public", no_argument, NULL, 'X'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    bool json = false;
    double timeout_s = 0;
    const char *broker_key = NULL, *http_addr = NULL;
    bool http_public = false;
    int c;
    while ((c = cli_getopt(P, argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'j': json = true; break;
        case 't':
            if (cli_seconds(P, "--timeout", optarg, &timeout_s) != 0)
                return EXIT_USAGE;
            break;
        case 'k': broker_key = optarg; break;
        case 'W': http_addr = optarg; break;
        case 'X': http_public = true; break;
        default: return cli_final_option(P, c, usage);
        }
    }
    if (optind != argc - 1)
        return cli_usage_error(P, "expected one endpoint");
    if (broker_key && cli_readable(P, "--broker-key", broker_key, false) != 0)
        return EXIT_USAGE;
    if (cli_connect_endpoint(P, "ENDPOINT", argv[optind]) != 0)
        return EXIT_USAGE;
    zsys_catch_interrupts();    //  Ctrl-C ends the watch (zsys_interrupted)
    if (!http_addr)
        return watch(argv[optind], json, timeout_s, broker_key);
    http_options_t ho = {http_addr, http_public, argv[optind], broker_key};
    int status;
    http_t *http = http_open("daisy monitor", &ho, &status);
    if (!http)
        return status;
    int rc = watch(argv[optind], json, timeout_s, broker_key);
    if (rc == EXIT_OK || rc == EXIT_FAILED) {
        fprintf(stderr, "daisy monitor: the run ended; the live view stays at %s until "
                "Ctrl-C\n", http_url(http));
        while (!zsys_interrupted)
            zclock_sleep(200);
    }
    http_stop(&http, 0);
    return rc;
}
