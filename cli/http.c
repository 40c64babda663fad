/*  http.c - the live view: a web page over a broker's progress feed

    Two threads of ours and libmicrohttpd's. The feed thread subscribes to
    the broker's PUB feed, decodes each event, folds it into a model of the
    run (tasks with their counters and their grid's block states, workers,
    the last failures, the statistics, the end) and appends it, as one JSON
    text, to a log of recent deltas with sequence numbers. libmicrohttpd
    (a well-kept library, not a parser of ours) serves the static files of
    the page and, on /events, server-sent events: each page first gets the
    whole model as one event, then the deltas in order; a page that falls
    behind the log (it keeps the last LOG_SIZE deltas) gets the whole model
    again. So pages that open late, or reconnect, are current at once, and
    the broker never learns that a page is open: it publishes the same
    feed whether anyone watches or not.

    The server runs a thread per connection (at most MAX_CONNECTIONS): an
    event stream waits for deltas on a condition variable in its reader
    callback, the plain way to block in libmicrohttpd, with a comment line
    every KEEPALIVE_MS so that dead peers are noticed. Requests are GET
    only (405 otherwise), known paths only (404), with libmicrohttpd's
    memory limit per connection refusing oversized requests (431/414).
    Binding an address other than loopback is refused unless the caller
    asks for it.

    Block states arrive as BLOCK_SNAPSHOT (a part of a grid) and
    BLOCK_CHANGES; the model keeps one byte per block (grids up to
    MAX_MAP_BLOCKS) and sends the page a snapshot as base64, changes as
    index and state arrays.
*/
#include "http.h"
#include "cli.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <czmq.h>
#include <jansson.h>
#include <microhttpd.h>

#include "daisy/protocol.h"
#include "stats.h"

#define LOG_SIZE 4096               //  deltas kept for pages catching up
#define MAX_TASKS 4096
#define MAX_WORKERS 8192
#define MAX_FAILURES 50             //  the last failures kept
#define MAX_MAP_BLOCKS (1ull << 27) //  larger grids are not mapped
#define MAX_CONNECTIONS 32
#define MEMORY_LIMIT (32 * 1024)    //  per connection: request line and headers
#define KEEPALIVE_MS 10000
#define MAX_FILE (1 << 20)

typedef struct {
    char *id;
    daisy_wire_task_state_t state;
    uint32_t dims;
    uint64_t grid[DAISY_MAX_DIMS];
    uint64_t total;
    uint8_t *map;                   //  total bytes once a snapshot came, or NULL
} task_t;

typedef struct {
    char *id, *task, *host, *reason;
    int64_t pid;
    bool lost;
    bool finished;                  //  its task (or the run) ended with it connected
} worker_t;

typedef struct {
    const char *path;               //  URL
    const char *file;               //  in the www directory
    const char *type;
    char *data;
    size_t size;
} file_t;

struct http {
    struct MHD_Daemon *daemon;
    pthread_t feed_thread;
    bool feed_started;
    char *feed, *broker_key;
    char url[128];
    file_t files[3];
    pthread_mutex_t lock;
    pthread_cond_t changed;
    bool stopping;
    //  The model (under lock).
    task_t tasks[MAX_TASKS];
    uint32_t ntasks;
    worker_t *workers;
    uint32_t nworkers;
    json_t *failures;               //  array, newest last
    json_t *stats;                  //  RUN_STATS, or NULL
    json_t *finished;               //  RUN_FINISHED, or NULL
    char *log[LOG_SIZE];            //  deltas seq % LOG_SIZE
    uint64_t seq_end;               //  the next delta's number
};

//  The model ------------------------------------------------------------------

static task_t *
task_get(http_t *h, const char *id)
{
    for (uint32_t i = 0; i < h->ntasks; i++)
        if (!strcmp(h->tasks[i].id, id))
            return &h->tasks[i];
    if (h->ntasks == MAX_TASKS)
        return NULL;
    task_t *t = &h->tasks[h->ntasks++];
    memset(t, 0, sizeof *t);
    t->id = strdup(id);
    t->state.task_id = t->id;
    return t->id ? t : (h->ntasks--, NULL);
}

static json_t *
grid_json(const task_t *t)
{
    json_t *a = json_array();
    for (uint32_t d = 0; d < t->dims; d++)
        json_array_append_new(a, json_integer((json_int_t)t->grid[d]));
    return a;
}

static char *
base64(const uint8_t *p, size_t n)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc(4 * ((n + 2) / 3) + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0)
                   | (i + 2 < n ? p[i + 2] : 0);
        *o++ = abc[v >> 18 & 63];
        *o++ = abc[v >> 12 & 63];
        *o++ = i + 1 < n ? abc[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? abc[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

//  {"type": "snapshot", task, grid, first, count, map (base64)}
static json_t *
map_json(const task_t *t, uint64_t first, uint64_t count)
{
    char *b64 = base64(t->map + first, count);
    json_t *o = json_pack("{s:s, s:s, s:o, s:I, s:I, s:s}", "type", "snapshot", "task", t->id,
                          "grid", grid_json(t), "first", (json_int_t)first,
                          "count", (json_int_t)count, "map", b64 ? b64 : "");
    free(b64);
    return o;
}

static json_t *
task_json(const task_t *t)
{
    json_t *o = stats_task_state_json(&t->state);
    json_object_set_new(o, "type", json_string("task"));
    return o;
}

static json_t *
worker_json(const worker_t *w)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s}", "type", "worker", "worker", w->id,
                     "task", w->task, "host", w->host, "pid", (json_int_t)w->pid,
                     "state", w->lost ? "lost" : w->finished ? "finished" : "connected",
                     "reason", w->reason);
}

static void
worker_put(http_t *h, const daisy_msg_t *m)
{
    worker_t *w = NULL;
    for (uint32_t i = 0; i < h->nworkers && !w; i++)
        if (!strcmp(h->workers[i].id, m->u.worker.worker_id))
            w = &h->workers[i];
    if (!w) {
        if (h->nworkers == MAX_WORKERS)
            return;
        w = &h->workers[h->nworkers++];
        memset(w, 0, sizeof *w);
    }
    free(w->id), free(w->task), free(w->host), free(w->reason);
    w->id = strdup(m->u.worker.worker_id);
    w->task = strdup(m->u.worker.task_id);
    w->host = strdup(m->u.worker.host);
    w->reason = strdup(m->u.worker.reason);
    w->pid = m->u.worker.pid;
    w->lost = m->type == DAISY_EVT_WORKER_LOST;
    w->finished = false;
}

static void publish(http_t *h, json_t *o);

//  The broker tells the workers of a finished task (or run) to exit and
//  forgets them without a worker_lost: they are finished, not connected.
//  `task` NULL: every worker.
static void
workers_finished(http_t *h, const char *task)
{
    for (uint32_t i = 0; i < h->nworkers; i++) {
        worker_t *w = &h->workers[i];
        if (w->lost || w->finished || (task && strcmp(w->task, task) != 0))
            continue;
        w->finished = true;
        publish(h, worker_json(w));
    }
}

//  The whole model, as the first event of a stream and /state.json.
static json_t *
full_json(http_t *h)
{
    json_t *tasks = json_array(), *workers = json_array();
    for (uint32_t i = 0; i < h->ntasks; i++) {
        const task_t *t = &h->tasks[i];
        json_t *o = task_json(t);
        json_object_set_new(o, "grid", grid_json(t));
        if (t->map)
            json_object_set_new(o, "map", map_json(t, 0, t->total));
        json_array_append_new(tasks, o);
    }
    for (uint32_t i = 0; i < h->nworkers; i++)
        json_array_append_new(workers, worker_json(&h->workers[i]));
    return json_pack("{s:s, s:o, s:o, s:O, s:O, s:O}", "type", "full", "tasks", tasks,
                     "workers", workers, "failures", h->failures,
                     "stats", h->stats ? h->stats : json_null(),
                     "finished", h->finished ? h->finished : json_null());
}

//  Append a delta (stolen) to the log and wake the streams.
static void
publish(http_t *h, json_t *o)
{
    if (!o)
        return;
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!text)
        return;
    free(h->log[h->seq_end % LOG_SIZE]);
    h->log[h->seq_end % LOG_SIZE] = text;
    h->seq_end++;
    pthread_cond_broadcast(&h->changed);
}

static void
on_snapshot(http_t *h, const daisy_msg_t *m)
{
    __auto_type s = &m->u.block_snapshot;
    task_t *t = task_get(h, s->task_id);
    if (!t)
        return;
    uint64_t total = 1;
    for (uint32_t d = 0; d < s->dims; d++)
        total *= s->grid[d];
    if (!t->map || t->total != total || t->dims != s->dims) {
        free(t->map);
        t->map = NULL;
        t->dims = s->dims;
        memcpy(t->grid, s->grid, sizeof t->grid);
        t->total = total;
        if (total <= MAX_MAP_BLOCKS)
            t->map = calloc(total ? total : 1, 1);
    }
    if (!t->map)
        return;
    memcpy(t->map + s->first, s->states, s->count);
    publish(h, map_json(t, s->first, s->count));
}

static void
on_changes(http_t *h, const daisy_msg_t *m)
{
    __auto_type c = &m->u.block_changes;
    task_t *t = task_get(h, c->task_id);
    if (!t || !t->map)
        return;                     //  the next snapshot brings them
    json_t *idx = json_array(), *st = json_array();
    for (uint32_t i = 0; i < c->count; i++) {
        if (c->indices[i] >= t->total)
            continue;
        t->map[c->indices[i]] = c->states[i];
        json_array_append_new(idx, json_integer((json_int_t)c->indices[i]));
        json_array_append_new(st, json_integer(c->states[i]));
    }
    publish(h, json_pack("{s:s, s:s, s:o, s:o}", "type", "changes", "task", t->id,
                         "idx", idx, "st", st));
}

static void
on_failed(http_t *h, const daisy_msg_t *m)
{
    __auto_type f = &m->u.block_failed;
    json_t *o = json_pack("{s:s, s:s, s:I, s:i, s:b, s:s, s:s, s:s}", "type", "failure",
                          "task", f->task_id, "block_id", (json_int_t)f->block_id,
                          "attempt", (int)f->attempt, "final", f->final, "error", f->error,
                          "worker", f->worker_id, "log", f->log);
    if (!o)
        return;
    json_array_append(h->failures, o);
    if (json_array_size(h->failures) > MAX_FAILURES)
        json_array_remove(h->failures, 0);
    publish(h, o);
}

static void
on_finished(http_t *h, const daisy_msg_t *m)
{
    json_t *tasks = json_array();
    for (uint32_t i = 0; i < m->u.run_finished.count; i++) {
        task_t *t = task_get(h, m->u.run_finished.tasks[i].task_id);
        if (t) {
            t->state = m->u.run_finished.tasks[i];
            t->state.task_id = t->id;
            json_array_append_new(tasks, task_json(t));
        }
    }
    json_decref(h->finished);
    h->finished = json_pack("{s:s, s:b, s:b, s:o}", "type", "finished",
                            "success", m->u.run_finished.success,
                            "interrupted", m->u.run_finished.interrupted, "tasks", tasks);
    publish(h, json_incref(h->finished));
}

//  Fold one event into the model (under lock).
static void
on_event(http_t *h, const daisy_msg_t *m)
{
    task_t *t;
    switch (m->type) {
    case DAISY_EVT_TASK_STATE:
    case DAISY_EVT_TASK_STARTED:
    case DAISY_EVT_TASK_DONE:
        if ((t = task_get(h, m->u.task_state.task_id))) {
            t->state = m->u.task_state;
            t->state.task_id = t->id;
            publish(h, task_json(t));
        }
        if (m->type == DAISY_EVT_TASK_DONE)
            workers_finished(h, m->u.task_state.task_id);
        break;
    case DAISY_EVT_BLOCK_SNAPSHOT: on_snapshot(h, m); break;
    case DAISY_EVT_BLOCK_CHANGES: on_changes(h, m); break;
    case DAISY_EVT_BLOCK_FAILED: on_failed(h, m); break;
    case DAISY_EVT_WORKER_JOINED:
    case DAISY_EVT_WORKER_LOST:
        worker_put(h, m);
        for (uint32_t i = 0; i < h->nworkers; i++)
            if (!strcmp(h->workers[i].id, m->u.worker.worker_id))
                publish(h, worker_json(&h->workers[i]));
        break;
    case DAISY_EVT_RUN_STATS:
        json_decref(h->stats);
        h->stats = stats_json(&m->u.run_stats);
        if (h->stats)
            publish(h, json_pack("{s:s, s:O}", "type", "stats", "stats", h->stats));
        break;
    case DAISY_EVT_RUN_FINISHED:
        on_finished(h, m);
        workers_finished(h, NULL);
        break;
    default: break;
    }
}

//  The feed thread ------------------------------------------------------------

static zsock_t *
feed_open(const http_t *h)
{
    zsock_t *sub = zsock_new(ZMQ_SUB);
    if (!sub)
        return NULL;
    zsock_set_maxmsgsize(sub, DAISY_MAX_FRAME);
    zsock_set_rcvhwm(sub, 100000);
    zsock_set_subscribe(sub, "");
    if (h->broker_key) {
        zcert_t *broker = zcert_load(h->broker_key), *mine = zcert_new();
        if (broker && mine) {
            zcert_apply(mine, sub);
            zsock_set_curve_serverkey(sub, zcert_public_txt(broker));
        }
        zcert_destroy(&broker);
        zcert_destroy(&mine);
    }
    if (zsock_connect(sub, "%s", h->feed) < 0)
        zsock_destroy(&sub);
    return sub;
}

static bool
is_stopping(http_t *h)
{
    pthread_mutex_lock(&h->lock);
    bool stop = h->stopping;
    pthread_mutex_unlock(&h->lock);
    return stop;
}

static void *
feed_main(void *arg)
{
    http_t *h = arg;
    zsock_t *sub = feed_open(h);
    daisy_decoder_t *decoder = daisy_decoder_new();
    zpoller_t *poller = sub ? zpoller_new(sub, NULL) : NULL;
    while (poller && decoder && !is_stopping(h)) {
        if (!zpoller_wait(poller, 100))
            continue;
        zmsg_t *msg = zmsg_recv(sub);
        zframe_t *topic = msg ? zmsg_first(msg) : NULL, *body = msg ? zmsg_next(msg) : NULL;
        daisy_msg_t m;
        if (topic && body && daisy_decode(decoder, zframe_data(body), zframe_size(body), &m,
                                          NULL) == DAISY_PROTO_OK) {
            pthread_mutex_lock(&h->lock);
            on_event(h, &m);
            pthread_mutex_unlock(&h->lock);
        }
        zmsg_destroy(&msg);
    }
    zpoller_destroy(&poller);
    daisy_decoder_destroy(&decoder);
    zsock_destroy(&sub);
    return NULL;
}

//  Event streams --------------------------------------------------------------

typedef struct {
    http_t *h;
    uint64_t seq;                   //  the next delta this page needs
    bool started;                   //  it has had the whole model
    char *out;                      //  text being sent
    size_t size, sent;
} stream_t;

static void
deadline(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L)
        ts->tv_sec++, ts->tv_nsec -= 1000000000L;
}

//  "data: JSON\n\n" for each event due, or a comment when none came
//  (under lock). False when the server stops and nothing is due.
static bool
stream_fill(stream_t *s)
{
    http_t *h = s->h;
    struct timespec until;
    deadline(&until, KEEPALIVE_MS);
    while (s->started && s->seq == h->seq_end && !h->stopping)
        if (pthread_cond_timedwait(&h->changed, &h->lock, &until) == ETIMEDOUT)
            break;
    size_t size = 0;
    FILE *f = open_memstream(&s->out, &size);
    if (!f)
        return false;
    if (!s->started || h->seq_end - s->seq > LOG_SIZE) {
        json_t *full = full_json(h);
        char *text = full ? json_dumps(full, JSON_COMPACT) : NULL;
        fprintf(f, "data: %s\n\n", text ? text : "{}");
        free(text);
        json_decref(full);
        s->started = true;
        s->seq = h->seq_end;
    }
    for (; s->seq < h->seq_end; s->seq++)
        fprintf(f, "data: %s\n\n", h->log[s->seq % LOG_SIZE]);
    if (ftell(f) == 0 && !h->stopping)
        fputs(": keepalive\n\n", f);
    fclose(f);
    s->size = size;
    s->sent = 0;
    return size > 0;
}

static ssize_t
stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    stream_t *s = cls;
    (void)pos;
    if (s->sent == s->size) {
        free(s->out);
        s->out = NULL;
        pthread_mutex_lock(&s->h->lock);
        bool more = stream_fill(s);
        pthread_mutex_unlock(&s->h->lock);
        if (!more)
            return MHD_CONTENT_READER_END_OF_STREAM;
    }
    size_t n = s->size - s->sent < max ? s->size - s->sent : max;
    memcpy(buf, s->out + s->sent, n);
    s->sent += n;
    return (ssize_t)n;
}

static void
stream_free(void *cls)
{
    stream_t *s = cls;
    free(s->out);
    free(s);
}

//  Requests ---------------------------------------------------------------------

static enum MHD_Result
reply(struct MHD_Connection *c, unsigned status, const char *type, const void *data,
      size_t size, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(size, (void *)data, mode);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result
text(struct MHD_Connection *c, unsigned status, const char *msg)
{
    return reply(c, status, "text/plain; charset=utf-8", msg, strlen(msg),
                 MHD_RESPMEM_PERSISTENT);
}

static enum MHD_Result
serve_events(http_t *h, struct MHD_Connection *c)
{
    stream_t *s = calloc(1, sizeof *s);
    if (!s)
        return MHD_NO;
    s->h = h;
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024,
                                                               stream_read, s, stream_free);
    if (!r) {
        free(s);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result rc = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result
serve_state(http_t *h, struct MHD_Connection *c)
{
    pthread_mutex_lock(&h->lock);
    json_t *full = full_json(h);
    pthread_mutex_unlock(&h->lock);
    char *body = full ? json_dumps(full, JSON_COMPACT) : NULL;
    json_decref(full);
    if (!body)
        return text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    enum MHD_Result rc = reply(c, MHD_HTTP_OK, "application/json", body, strlen(body),
                               MHD_RESPMEM_MUST_FREE);
    return rc;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_size, void **req)
{
    static int first_call;
    http_t *h = cls;
    (void)version, (void)upload_data;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
        return text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET\n");
    if (*req == NULL) {             //  headers only: the body (if any) comes next
        *req = &first_call;
        return MHD_YES;
    }
    if (*upload_size != 0)
        return text(c, MHD_HTTP_BAD_REQUEST, "a GET has no body\n");
    if (!strcmp(url, "/events"))
        return serve_events(h, c);
    if (!strcmp(url, "/state.json"))
        return serve_state(h, c);
    for (size_t i = 0; i < sizeof h->files / sizeof h->files[0]; i++)
        if (!strcmp(url, h->files[i].path) || (!strcmp(url, "/") && i == 0))
            return reply(c, MHD_HTTP_OK, h->files[i].type, h->files[i].data, h->files[i].size,
                         MHD_RESPMEM_PERSISTENT);
    return text(c, MHD_HTTP_NOT_FOUND, "not found\n");
}

//  Set-up ---------------------------------------------------------------------

//  The page's directory: $DAISY_WWW, else share/daisy/www beside the
//  program's prefix (bin/../share), else www beside the program (the
//  build tree, where meson copies the files).
static int
www_dir(char *out, size_t size)
{
    const char *env = getenv("DAISY_WWW");
    if (env && *env) {
        snprintf(out, size, "%s", env);
        return 0;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    struct stat st;
    if (snprintf(out, size, "%.*s/../share/daisy/www", PATH_MAX - 64, exe) > 0
        && stat(out, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    snprintf(out, size, "%.*s/www", PATH_MAX - 64, exe);
    return stat(out, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}

static int
load_files(http_t *h, char *err, size_t errsize)
{
    static const file_t files[3] = {
        {"/index.html", "index.html", "text/html; charset=utf-8", NULL, 0},
        {"/app.js", "app.js", "text/javascript; charset=utf-8", NULL, 0},
        {"/style.css", "style.css", "text/css; charset=utf-8", NULL, 0},
    };
    char dir[PATH_MAX], path[PATH_MAX + 64];
    if (www_dir(dir, sizeof dir) != 0) {
        snprintf(err, errsize, "the page's files are not installed (share/daisy/www beside "
                 "the program; set DAISY_WWW=DIR to name their directory)");
        return -1;
    }
    for (int i = 0; i < 3; i++) {
        h->files[i] = files[i];
        snprintf(path, sizeof path, "%s/%s", dir, files[i].file);
        FILE *f = fopen(path, "rb");
        h->files[i].data = f ? malloc(MAX_FILE) : NULL;
        h->files[i].size = h->files[i].data ? fread(h->files[i].data, 1, MAX_FILE, f) : 0;
        if (f)
            fclose(f);
        if (!h->files[i].data || h->files[i].size == 0 || h->files[i].size == MAX_FILE) {
            snprintf(err, errsize, "cannot read the page's file %s (DAISY_WWW names another "
                     "directory)", path);
            return -1;
        }
    }
    return 0;
}

static bool
is_loopback(const struct sockaddr_storage *sa)
{
    if (sa->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(a)
        || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
}

//  "ADDR:PORT" or "[ADDR6]:PORT" into a socket address (numeric, or
//  "localhost").
static int
parse_listen(const char *text, struct sockaddr_storage *sa, char *err, size_t errsize)
{
    char host[256];
    const char *colon = strrchr(text, ':');
    size_t n = colon ? (size_t)(colon - text) : 0;
    if (n >= 2 && text[0] == '[' && text[n - 1] == ']')
        text++, n -= 2;
    char *end;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    if (!colon || n == 0 || n >= sizeof host || colon[1] == '\0' || *end || port < 0
        || port > 65535) {
        snprintf(err, errsize, "--http '%s': expected ADDR:PORT, e.g. 127.0.0.1:8080", text);
        return -1;
    }
    memcpy(host, text, n);
    host[n] = '\0';
    struct addrinfo hints = {.ai_flags = AI_NUMERICSERV | AI_PASSIVE,
                             .ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (strcmp(host, "localhost") != 0)
        hints.ai_flags |= AI_NUMERICHOST;
    int rc = getaddrinfo(host, colon + 1, &hints, &ai);
    if (rc != 0 || !ai) {
        snprintf(err, errsize, "--http '%s': '%s' is not an IP address (%s)", text, host,
                 gai_strerror(rc));
        return -1;
    }
    memset(sa, 0, sizeof *sa);
    memcpy(sa, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    return 0;
}

static void
set_url(http_t *h, const struct sockaddr_storage *sa)
{
    char addr[INET6_ADDRSTRLEN] = "";
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    unsigned port = info ? info->port : 0;
    if (sa->ss_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, addr, sizeof addr);
        snprintf(h->url, sizeof h->url, "http://%s:%u/", addr, port);
    } else {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, addr, sizeof addr);
        snprintf(h->url, sizeof h->url, "http://[%s]:%u/", addr, port);
    }
}

http_t *
http_start(const http_options_t *o, bool *exposed, bool *bad_option, char *err, size_t errsize)
{
    struct sockaddr_storage sa;
    *bad_option = true;
    if (parse_listen(o->listen, &sa, err, errsize) != 0)
        return NULL;
    *exposed = !is_loopback(&sa);
    if (*exposed && !o->public) {
        snprintf(err, errsize, "--http '%s': not a loopback address; anyone who can reach it "
                 "would see the run (add --http-public to serve it anyway)", o->listen);
        return NULL;
    }
    *bad_option = false;        //  from here on, what fails is the system
    http_t *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->changed, NULL);
    h->feed = strdup(o->feed);
    h->broker_key = o->broker_key ? strdup(o->broker_key) : NULL;
    h->failures = json_array();
    h->workers = calloc(MAX_WORKERS, sizeof *h->workers);
    if (!h->feed || !h->failures || !h->workers || load_files(h, err, errsize) != 0) {
        if (!*err)
            snprintf(err, errsize, "out of memory");
        http_stop(&h, 0);
        return NULL;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD
                   | (sa.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    h->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h,
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                 MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)MEMORY_LIMIT,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(2 * KEEPALIVE_MS / 1000),
                                 MHD_OPTION_END);
    if (!h->daemon) {
        snprintf(err, errsize, "--http '%s': cannot serve there (%s)", o->listen,
                 errno ? strerror(errno) : "libmicrohttpd refused");
        http_stop(&h, 0);
        return NULL;
    }
    set_url(h, &sa);
    //  czmq sets itself up on first use, and not safely from two threads at
    //  once: done here, before the feed thread and the broker both might.
    zsys_init();
    if (pthread_create(&h->feed_thread, NULL, feed_main, h) != 0) {
        snprintf(err, errsize, "cannot start the live view's thread");
        http_stop(&h, 0);
        return NULL;
    }
    h->feed_started = true;
    return h;
}

const char *
http_url(const http_t *self)
{
    return self->url;
}

//  Until the end of the run has reached the model, for at most linger_ms,
//  then a moment for the streams to send it.
static void
linger(http_t *h, int linger_ms)
{
    int64_t until = zclock_mono() + linger_ms;
    pthread_mutex_lock(&h->lock);
    while (!h->finished && zclock_mono() < until) {
        struct timespec ts;
        deadline(&ts, 50);
        pthread_cond_timedwait(&h->changed, &h->lock, &ts);
    }
    bool finished = h->finished != NULL;
    pthread_mutex_unlock(&h->lock);
    if (finished)
        zclock_sleep(300);
}

void
http_stop(http_t **self_p, int linger_ms)
{
    http_t *h = *self_p;
    if (!h)
        return;
    if (h->daemon && h->feed_started && linger_ms > 0)
        linger(h, linger_ms);
    pthread_mutex_lock(&h->lock);
    h->stopping = true;
    pthread_cond_broadcast(&h->changed);
    pthread_mutex_unlock(&h->lock);
    if (h->daemon)
        MHD_stop_daemon(h->daemon);
    if (h->feed_started)
        pthread_join(h->feed_thread, NULL);
    for (uint32_t i = 0; i < h->ntasks; i++)
        free(h->tasks[i].id), free(h->tasks[i].map);
    for (uint32_t i = 0; h->workers && i < h->nworkers; i++)
        free(h->workers[i].id), free(h->workers[i].task), free(h->workers[i].host),
            free(h->workers[i].reason);
    for (int i = 0; i < LOG_SIZE; i++)
        free(h->log[i]);
    for (int i = 0; i < 3; i++)
        free(h->files[i].data);
    free(h->workers);
    json_decref(h->failures);
    json_decref(h->stats);
    json_decref(h->finished);
    free(h->feed);
    free(h->broker_key);
    pthread_cond_destroy(&h->changed);
    pthread_mutex_destroy(&h->lock);
    free(h);
    *self_p = NULL;
}

http_t *
http_open(const char *prog, const http_options_t *options, int *status)
{
    bool exposed = false, bad_option = false;
    char err[1024] = "";
    http_t *h = http_start(options, &exposed, &bad_option, err, sizeof err);
    if (!h) {
        fprintf(stderr, "%s: %s\n", prog, err);
        *status = bad_option ? EXIT_USAGE : EXIT_INTERNAL;
        return NULL;
    }
    if (exposed)
        fprintf(stderr, "%s: warning: serving the live view on %s without TLS or a password: "
                "anyone who can reach it sees the run's tasks, hosts and errors\n", prog,
                http_url(h));
    fprintf(stderr, "%s: live view on %s\n", prog, http_url(h));
    return h;
}
