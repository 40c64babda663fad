/*  protocol.c - daisy's wire messages: msgpack encoding and strict decoding

    protocol/PROTOCOL.md is the normative description of the format; this
    file implements it. The design, and why:

    - Every message is one msgpack array with fixed positions:
      [version, type, fields...]. Positional arrays are the smallest form
      msgpack has (no key strings on the wire), any language writes one
      with a single pack(list) call, and "exactly these fields, of exactly
      these types" becomes a length test plus one type test per position.
      Nothing extra, and nothing optional but WELCOME's last two fields
      (timeout_ms and held, left off when 0, so that the bytes of a task
      without a timeout, to a worker that holds nothing, are those of
      earlier builds): a new field means a new version.

    - The version is element 0 and is checked first, straight from the
      bytes and before the rest is parsed, so a peer of another protocol
      generation is told "bad_version" even when the rest of its message
      would mean something else (or nothing) here. Then element 1, the
      type; then the fields of that type.

    - Nothing from the wire is trusted. msgpack-c reserves room for an
      array's declared element count before it reads the elements, so five
      bytes announcing four billion elements would ask for ~100 GB. The
      bytes are therefore scanned first without allocating (s_scan): the
      scan proves that the input is one complete msgpack value, an array,
      nested no deeper than the format needs (4 levels: message, batch,
      entry, ROI coordinates), every declared length backed by real bytes,
      nothing after it. Only then does msgpack_unpack_next build objects,
      and what it allocates is bounded by a small multiple of the input,
      itself capped at DAISY_MAX_FRAME. The scan also tells a cut message
      (TRUNCATED) from garbage (MALFORMED) precisely.

    - The object tree is then walked strictly: field count, type and range
      of every value; batches against their limits (OVERSIZED); strings
      without NUL bytes and at most DAISY_MAX_TEXT bytes. A refusal names
      the message and the field, "release: results[3].status: 7 is not 0,
      1 or 2", so that a log points at the peer's bug.

    - Decoded strings (NUL-terminated copies) and the results, blocks and
      tasks arrays live in the msgpack zone of the decoder's
      msgpack_unpacked, which doubles as the decoder's arena: it holds the
      last message only and is released when the next decode starts
      (msgpack_unpack_next does that), so nothing accumulates across
      decodes and a message costs no allocation per field.

    - The encoder refuses (-1) what the decoder would refuse (counts over
      their limits, bad dims, statuses, negative or non-finite numbers, a
      frame over DAISY_MAX_FRAME), so whatever is sent is accepted by a
      peer of the same version. Strings are cut at DAISY_MAX_TEXT bytes on
      a UTF-8 character boundary so that peers decoding text still can.

    - Block states (BLOCK_SNAPSHOT) travel as msgpack bin holding a zlib
      stream of one byte per block: a grid of 10^6 blocks in a few states
      compresses to a few KiB. The decoder inflates into the arena, at
      most the declared count (DAISY_MAX_SNAPSHOT_BLOCKS), so a small
      frame cannot make it allocate more than that, and it checks every
      state as it checks any other field.
*/
#include "daisy/protocol.h"
#include "daisy/text.h"

#include <inttypes.h>
#include <math.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

//  Tasks in one RUN_FINISHED summary.
#define MAX_TASKS 4096
//  Arrays inside arrays: message, batch, entry, ROI coordinates.
#define MAX_DEPTH 4
//  Array lengths of one result, one block and one task summary.
#define RESULT_FIELDS 5
#define BLOCK_FIELDS 7
#define TASK_FIELDS 15
#define COUNTERS 9
//  Entries of RUN_STATS.
#define TASK_STATS_FIELDS 8
#define WORKER_STATS_FIELDS 6
//  The largest float: seconds (32 years), rates. A peer's 1e308 would make
//  the run's statistics print as nonsense, and infinities are no JSON.
#define MAX_NUMBER 1e9
//  The largest peak_rss_kb: 1 PiB.
#define MAX_RSS_KB ((uint64_t)1 << 40)

static bool
s_number_ok(double v)
{
    return isfinite(v) && v >= 0 && v <= MAX_NUMBER;
}

#define TRY(expr)                                \
    do {                                         \
        daisy_proto_error_t rc_ = (expr);        \
        if (rc_ != DAISY_PROTO_OK)               \
            return rc_;                          \
    } while (0)

struct _daisy_decoder_t {
    msgpack_unpacked unpacked;  //  the last message; its zone is the arena
};

//  Where the walk is, for error texts: message name, and the batch entry
//  being read ("results", 3) or none.
typedef struct {
    msgpack_zone *zone;
    const char *name;
    const char *list;
    uint32_t index;
    uint32_t given;         //  the message's array length
    daisy_error_t *err;
} walk_t;

typedef daisy_proto_error_t (walk_fn)(walk_t *w, const msgpack_object *f, daisy_msg_t *msg);
typedef int (pack_fn)(msgpack_packer *pk, const daisy_msg_t *msg);

typedef struct {
    daisy_msg_type_t type;
    const char *name;
    uint32_t fields;        //  array length, version and type included
    uint32_t optional;      //  trailing fields that may be left off
    walk_fn *walk;          //  reads fields[2..]
    pack_fn *pack;          //  writes fields[2..]
} spec_t;

//  The task counters in wire order.
static const struct {
    const char *name;
    size_t offset;
} s_counters[COUNTERS] = {
    {"total", offsetof(daisy_task_counts_t, total)},
    {"ready", offsetof(daisy_task_counts_t, ready)},
    {"processing", offsetof(daisy_task_counts_t, processing)},
    {"pending", offsetof(daisy_task_counts_t, pending)},
    {"completed", offsetof(daisy_task_counts_t, completed)},
    {"skipped", offsetof(daisy_task_counts_t, skipped)},
    {"failed", offsetof(daisy_task_counts_t, failed)},
    {"orphaned", offsetof(daisy_task_counts_t, orphaned)},
    {"retries", offsetof(daisy_task_counts_t, retries)},
};

static const spec_t *s_spec(int64_t type);

//  Errors ------------------------------------------------------------------

static daisy_proto_error_t __attribute__((format(printf, 3, 4)))
s_set(daisy_error_t *err, daisy_proto_error_t code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

//  "name: list[index].field[sub]: what"; sub < 0 leaves out "[sub]".
static daisy_proto_error_t __attribute__((format(printf, 5, 6)))
s_fail(walk_t *w, daisy_proto_error_t code, const char *field, int sub, const char *fmt, ...)
{
    if (!w->err)
        return code;
    char what[256], where[96] = "", index[32] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (sub >= 0)
        snprintf(index, sizeof index, "[%d]", sub);
    if (w->list)
        snprintf(where, sizeof where, "%s[%" PRIu32 "]%s%s%s", w->list, w->index,
                 field ? "." : "", field ? field : "", index);
    else
        snprintf(where, sizeof where, "%s%s", field ? field : "", index);
    return s_set(w->err, code, "%s: %s: %s", w->name, where, what);
}

static const char *
s_kind(const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: return "nil";
    case MSGPACK_OBJECT_BOOLEAN: return "a boolean";
    case MSGPACK_OBJECT_POSITIVE_INTEGER: return "an integer";
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return "a negative integer";
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return "a float";
    case MSGPACK_OBJECT_STR: return "a string";
    case MSGPACK_OBJECT_ARRAY: return "an array";
    case MSGPACK_OBJECT_MAP: return "a map";
    case MSGPACK_OBJECT_BIN: return "binary data";
    default: return "an extension value";
    }
}

//  Scanning the raw bytes ---------------------------------------------------

//  Big-endian unsigned integer of k bytes.
static uint64_t
s_be(const uint8_t *p, size_t k)
{
    uint64_t v = 0;
    for (size_t i = 0; i < k; i++)
        v = v << 8 | p[i];
    return v;
}

//  One value's header: its size, the payload after it, its child values.
typedef struct {
    size_t head;
    uint64_t body;
    uint64_t items;
} head_t;

//  Read the header of the value at p (n > 0 bytes available).
static daisy_proto_error_t
s_head(const uint8_t *p, size_t n, head_t *h, daisy_error_t *err)
{
    enum { SCALAR, RAW, ARRAY, MAP } kind = SCALAR;
    uint8_t b = p[0];
    size_t len = 0, extra = 0, fixed = 0;   //  length field, more header, payload
    *h = (head_t) {1, 0, 0};
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
        return DAISY_PROTO_OK;
    if (b <= 0x8f)
        h->items = 2u * (b & 0x0f);
    else if (b <= 0x9f)
        h->items = b & 0x0f;
    else if (b <= 0xbf)
        h->body = b & 0x1f;
    if (b <= 0xbf)
        return DAISY_PROTO_OK;
    if (b >= 0xc4 && b <= 0xc6)             //  bin 8/16/32
        len = 1u << (b - 0xc4), kind = RAW;
    else if (b >= 0xc7 && b <= 0xc9)        //  ext 8/16/32: length, type
        len = 1u << (b - 0xc7), extra = 1, kind = RAW;
    else if (b == 0xca || b == 0xcb)        //  float 32/64
        fixed = b == 0xca ? 4 : 8;
    else if (b >= 0xcc && b <= 0xd3)        //  uint, int 8..64
        fixed = 1u << ((b - 0xcc) & 3);
    else if (b >= 0xd4 && b <= 0xd8)        //  fixext 1..16: type, data
        extra = 1, fixed = 1u << (b - 0xd4);
    else if (b >= 0xd9 && b <= 0xdb)        //  str 8/16/32
        len = 1u << (b - 0xd9), kind = RAW;
    else if (b == 0xdc || b == 0xdd)
        len = b == 0xdc ? 2 : 4, kind = ARRAY;
    else if (b == 0xde || b == 0xdf)
        len = b == 0xde ? 2 : 4, kind = MAP;
    else
        return s_set(err, DAISY_PROTO_MALFORMED, "message: 0x%02x is not a msgpack type", b);
    h->head = 1 + len + extra;
    if (n < h->head)
        return s_set(err, DAISY_PROTO_TRUNCATED, "message: ends inside a value header");
    uint64_t v = s_be(p + 1, len);
    h->body = kind == RAW ? v : fixed;
    h->items = kind == ARRAY ? v : kind == MAP ? 2 * v : 0;
    return DAISY_PROTO_OK;
}

static bool
s_is_array(uint8_t b)
{
    return (b & 0xf0) == 0x90 || b == 0xdc || b == 0xdd;
}

//  Prove that p holds exactly one complete msgpack array, nested at most
//  MAX_DEPTH deep, without allocating anything.
static daisy_proto_error_t
s_scan(const uint8_t *p, size_t n, daisy_error_t *err)
{
    uint64_t left[MAX_DEPTH];   //  values still to come in each open array or map
    int depth = 0;
    size_t pos = 0;
    if (n == 0)
        return s_set(err, DAISY_PROTO_TRUNCATED, "message: empty");
    if (!s_is_array(p[0]))
        return s_set(err, DAISY_PROTO_MALFORMED, "message: not a msgpack array");
    do {
        head_t h;
        if (pos == n)
            return s_set(err, DAISY_PROTO_TRUNCATED, "message: ends after %zu bytes, inside a value", n);
        TRY(s_head(p + pos, n - pos, &h, err));
        if (h.body > n - pos - h.head)
            return s_set(err, DAISY_PROTO_TRUNCATED, "message: ends inside a %" PRIu64 "-byte value", h.body);
        pos += h.head + (size_t)h.body;
        if (h.items > 0) {
            if (depth == MAX_DEPTH)
                return s_set(err, DAISY_PROTO_MALFORMED, "message: nested deeper than %d levels", MAX_DEPTH);
            left[depth++] = h.items;
            continue;
        }
        while (depth > 0 && --left[depth - 1] == 0)
            depth--;
    } while (depth > 0);
    if (pos < n)
        return s_set(err, DAISY_PROTO_MALFORMED, "message: %zu bytes after the end of the message", n - pos);
    return DAISY_PROTO_OK;
}

//  Read element 0 of an array straight from the bytes: an integer other
//  than the version spoken here is BAD_VERSION whatever follows it.
static daisy_proto_error_t
s_check_version(const uint8_t *p, size_t n, daisy_error_t *err)
{
    size_t h = (n >= 1 && (p[0] & 0xf0) == 0x90) ? 1
             : (n >= 3 && p[0] == 0xdc) ? 3
             : (n >= 5 && p[0] == 0xdd) ? 5 : 0;
    if (h == 0 || n == h || (h == 1 ? p[0] & 0x0f : s_be(p + 1, h - 1)) == 0)
        return DAISY_PROTO_OK;
    const uint8_t *q = p + h;
    size_t m = n - h, k = 0;
    bool is_signed = false;
    if (q[0] <= 0x7f || q[0] >= 0xe0) {
        int64_t v = (int8_t)q[0];
        if (v == DAISY_PROTOCOL_VERSION)
            return DAISY_PROTO_OK;
        return s_set(err, DAISY_PROTO_BAD_VERSION, "message: protocol version %" PRId64
                     ", this peer speaks version %d", v, DAISY_PROTOCOL_VERSION);
    }
    if (q[0] >= 0xcc && q[0] <= 0xd3) {
        k = 1u << ((q[0] - 0xcc) & 3);
        is_signed = q[0] >= 0xd0;
    }
    if (k == 0 || m < 1 + k)
        return DAISY_PROTO_OK;          //  not an integer, or cut: later checks say
    uint64_t v = s_be(q + 1, k);
    if (v == DAISY_PROTOCOL_VERSION)
        return DAISY_PROTO_OK;
    if (is_signed && k < 8 && (v >> (8 * k - 1)))
        v |= ~0ull << (8 * k);          //  sign-extend
    if (is_signed && (int64_t)v < 0)
        return s_set(err, DAISY_PROTO_BAD_VERSION, "message: protocol version %" PRId64
                     ", this peer speaks version %d", (int64_t)v, DAISY_PROTOCOL_VERSION);
    return s_set(err, DAISY_PROTO_BAD_VERSION, "message: protocol version %" PRIu64
                 ", this peer speaks version %d", v, DAISY_PROTOCOL_VERSION);
}

//  Walking the objects: one reader per field type ---------------------------

static daisy_proto_error_t
s_alloc(walk_t *w, const char *field, size_t size, void **out)
{
    *out = NULL;
    if (size == 0)
        return DAISY_PROTO_OK;
    *out = msgpack_zone_malloc(w->zone, size);
    if (!*out)
        return s_fail(w, DAISY_PROTO_OVERSIZED, field, -1, "out of memory");
    return DAISY_PROTO_OK;
}

//  Where the first byte that is not well-formed UTF-8 is, or n.
static size_t
s_utf8_bad(const unsigned char *p, size_t n)
{
    size_t at = 0, len;
    while (at < n && (len = daisy_utf8_char(p + at, n - at)) > 0)
        at += len;
    return at;
}

static daisy_proto_error_t
s_str(walk_t *w, const msgpack_object *o, const char *field, const char **out)
{
    if (o->type != MSGPACK_OBJECT_STR)
        return s_fail(w, DAISY_PROTO_BAD_FIELD, field, -1, "expected a string, got %s", s_kind(o));
    uint32_t size = o->via.str.size;
    if (size > DAISY_MAX_TEXT)
        return s_fail(w, DAISY_PROTO_BAD_FIELD, field, -1, "%" PRIu32 " bytes, more than %d",
                      size, DAISY_MAX_TEXT);
    if (size > 0 && memchr(o->via.str.ptr, '\0', size))
        return s_fail(w, DAISY_PROTO_BAD_FIELD, field, -1, "contains a NUL byte");
    size_t bad = s_utf8_bad((const unsigned char *)o->via.str.ptr, size);
    if (bad < size)
        return s_fail(w, DAISY_PROTO_BAD_FIELD, field, -1, "not UTF-8 (byte 0x%02x at %zu)",
                      (unsigned char)o->via.str.ptr[bad], bad);
    char *copy = msgpack_zone_malloc_no_align(w->zone, (size_t)size + 1);
    if (!copy)
        return s_fail(w, DAISY_PROTO_OVERSIZED, field, -1, "out of memory");
    if (size > 0)
        memcpy(copy, o->via.str.ptr, size);
    copy[size] = '\0';
    *out = copy;
    return DAISY_PROTO_OK;
}

//  A non-negative integer in min..max.
static daisy_proto_error_t
s_uint(walk_t *w, const msgpack_object *o, const char *field, int sub,
       uint64_t min, uint64_t max, uint64_t *out)
{
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        return s_fail(w, DAISY_PROTO_BAD_FIELD, field, sub, "%" PRId64 " is negative", o->via.i64);
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return s_fail(w, DAISY_PROTO_BAD_FIELD, field, sub, "expected an unsigned integer, got %s",
                      s_kind(o));
    if (o->via.u64 < min || o->via.u64 > max)
        return s_fail(w, DAISY_PROTO_BAD_FIELD, field, sub, "%" PRIu64 " is not in %" PRIu64
                      "..%" PRIu64, o->via.u64, min, max);
    *out = o->via.u64;
    return DAISY_PROTO_OK;
}

static daisy_proto_error_t
s_u32(walk_t *w, const msgpack_object *o, const char *field, uint32_t min, uint32_t max,
      uint32_t *out)
{
    uint64_t v = 0;
    TRY(s_uint(w, o, field, -1, min, max, &v));
    *out = (uint32_t)v;
    return DAISY_PROTO_OK;
}

static daisy_proto_error_t
s_u64(walk_t *w, const msgpack_object *o, const char *field, uint64_t *out)
{
    return s_uint(w, o, field, -1, 0, UINT64_MAX, out);
}

//  A signed integer that fits int64.
static daisy_proto_error_t
s_int(walk_t *w, const msgpack_object *o, const char *field, int sub, int64_t *out)
{
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *out = o->via.i64;
        return DAISY_PROTO_OK;
    }
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return s_fail(w, DAISY_PROTO_BAD_FIELD, field, sub, "expected an integer, got %s", s_kind(o));
    if (o->via.u64 > INT64_MAX)
        return s_fail(w, DAISY_PROTO_BAD_FIELD, field, sub, "%" PRIu64 " does not fit a signed 64-bit integer",
                      o->via.u64);
    *out = (int64_t)o->via.u64;
    return DAISY_PROTO_OK;
}

//  A finite, non-negative number: float or integer.
static daisy_proto_error_t
s_num(walk_t *w, const msgpack_object *o, const char *field, double *out)
{
    double v;
    if (o->type == MSGPACK_OBJECT_FLOAT32 || o->type == MSGPACK_OBJECT_FLOAT64)
        v = o->via.f64;
    else if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        v = (double)o->via.u64;
    else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        v = (double)o->via.i64;
    else
        return s_fail(w, DAISY_PROTO_BAD_FIELD, field, -1, "expected a number, got %s", s_kind(o));
    if (!s_number_ok(v))
        return s_fail(w, DAISY_PROTO_BAD_FIELD, field, -1, "%g is not a number from 0 to %g", v,
                      MAX_NUMBER);
    *out = v;
    return DAISY_PROTO_OK;
}

static daisy_proto_error_t
s_bool(walk_t *w, const msgpack_object *o, const char *field, bool *out)
{
    if (o->type != MSGPACK_OBJECT_BOOLEAN)
        return s_fail(w, DAISY_PROTO_BAD_FIELD, field, -1, "expected a boolean, got %s", s_kind(o));
    *out = o->via.boolean;
    return DAISY_PROTO_OK;
}

//  A batch: an array of at most `max` entries.
static daisy_proto_error_t
s_batch(walk_t *w, const msgpack_object *o, const char *field, uint32_t max,
        const msgpack_object_array **out)
{
    if (o->type != MSGPACK_OBJECT_ARRAY)
        return s_fail(w, DAISY_PROTO_BAD_FIELD, field, -1, "expected an array, got %s", s_kind(o));
    if (o->via.array.size > max)
        return s_fail(w, DAISY_PROTO_OVERSIZED, field, -1, "%" PRIu32 " entries, more than %" PRIu32,
                      o->via.array.size, max);
    *out = &o->via.array;
    return DAISY_PROTO_OK;
}

//  One batch entry: an array of exactly `fields` values.
static daisy_proto_error_t
s_entry(walk_t *w, const msgpack_object *o, uint32_t fields, const msgpack_object **out)
{
    if (o->type != MSGPACK_OBJECT_ARRAY)
        return s_fail(w, DAISY_PROTO_BAD_FIELD, NULL, -1, "expected an array of %" PRIu32
                      " fields, got %s", fields, s_kind(o));
    if (o->via.array.size != fields)
        return s_fail(w, DAISY_PROTO_BAD_FIELD, NULL, -1, "%" PRIu32 " fields, expected %" PRIu32,
                      o->via.array.size, fields);
    *out = o->via.array.ptr;
    return DAISY_PROTO_OK;
}

//  An array of 1..DAISY_MAX_DIMS integers; *dims tells how many.
static daisy_proto_error_t
s_coords(walk_t *w, const msgpack_object *o, const char *field, int64_t *v, int *dims)
{
    if (o->type != MSGPACK_OBJECT_ARRAY)
        return s_fail(w, DAISY_PROTO_BAD_FIELD, field, -1, "expected an array of 1 to %d integers, got %s",
                      DAISY_MAX_DIMS, s_kind(o));
    if (o->via.array.size < 1 || o->via.array.size > DAISY_MAX_DIMS)
        return s_fail(w, DAISY_PROTO_BAD_FIELD, field, -1, "%" PRIu32 " entries, expected 1 to %d",
                      o->via.array.size, DAISY_MAX_DIMS);
    for (uint32_t i = 0; i < o->via.array.size; i++)
        TRY(s_int(w, &o->via.array.ptr[i], field, (int)i, &v[i]));
    *dims = (int)o->via.array.size;
    return DAISY_PROTO_OK;
}

//  Walking the messages: one reader per type ---------------------------------

static daisy_proto_error_t
s_walk_none(walk_t *w, const msgpack_object *f, daisy_msg_t *msg)
{
    (void)w, (void)f, (void)msg;
    return DAISY_PROTO_OK;
}

static daisy_proto_error_t
s_walk_hello(walk_t *w, const msgpack_object *f, daisy_msg_t *msg)
{
    __auto_type m = &msg->u.hello;
    TRY(s_str(w, &f[0], "task_id", &m->task_id));
    TRY(s_str(w, &f[1], "worker_id", &m->worker_id));
    TRY(s_str(w, &f[2], "host", &m->host));
    TRY(s_int(w, &f[3], "pid", -1, &m->pid));
    TRY(s_u32(w, &f[4], "prefetch", 1, DAISY_MAX_BATCH, &m->prefetch));
    return s_str(w, &f[5], "run_id", &m->run_id);
}

//  [block_id, attempt]: a block a worker started (STARTED, RELEASE).
static daisy_proto_error_t
s_walk_lease(walk_t *w, const msgpack_object *f, daisy_wire_lease_t *l)
{
    TRY(s_u64(w, &f[0], "block_id", &l->block_id));
    return s_u32(w, &f[1], "attempt", 0, UINT32_MAX, &l->attempt);
}

static daisy_proto_error_t
s_walk_started(walk_t *w, const msgpack_object *f, daisy_msg_t *msg)
{
    return s_walk_lease(w, f, &msg->u.started);
}

static daisy_proto_error_t
s_walk_request(walk_t *w, const msgpack_object *f, daisy_msg_t *msg)
{
    return s_u32(w, &f[0], "credits", 0, DAISY_MAX_BATCH, &msg->u.request.credits);
}

static daisy_proto_error_t
s_walk_result(walk_t *w, const msgpack_object *o, daisy_wire_result_t *r)
{
    const msgpack_object *e = NULL;
    uint64_t status;
    TRY(s_entry(w, o, RESULT_FIELDS, &e));
    TRY(s_u64(w, &e[0], "block_id", &r->block_id));
    TRY(s_u32(w, &e[1], "attempt", 0, UINT32_MAX, &r->attempt));
    TRY(s_u64(w, &e[2], "status", &status));
    if (status > DAISY_RESULT_SKIPPED)
        return s_fail(w, DAISY_PROTO_BAD_FIELD, "status", -1, "%" PRIu64 " is not 0, 1 or 2", status);
    r->status = (daisy_result_status_t)status;
    TRY(s_num(w, &e[3], "seconds", &r->seconds));
    return s_str(w, &e[4], "error", &r->error);
}

static daisy_proto_error_t
s_walk_release(walk_t *w, const msgpack_object *f, daisy_msg_t *msg)
{
    __auto_type m = &msg->u.release;
    const msgpack_object_array *list = NULL;
    TRY(s_u32(w, &f[0], "credits", 0, DAISY_MAX_BATCH, &m->credits));
    TRY(s_batch(w, &f[1], "results", DAISY_MAX_BATCH, &list));
    TRY(s_alloc(w, "results", list->size * sizeof *m->results, (void **)&m->results));
    m->count = list->size;
    w->list = "results";
    for (w->index = 0; w->index < list->size; w->index++)
        TRY(s_walk_result(w, &list->ptr[w->index], &m->results[w->index]));
    w->list = NULL;
    //  started: [] or [[block_id, attempt]]
    TRY(s_batch(w, &f[2], "started", 1, &list));
    m->has_started = list->size == 1;
    if (!m->has_started)
        return DAISY_PROTO_OK;
    const msgpack_object *e = NULL;
    w->list = "started";
    w->index = 0;
    TRY(s_entry(w, &list->ptr[0], 2, &e));
    TRY(s_walk_lease(w, e, &m->started));
    w->list = NULL;
    return DAISY_PROTO_OK;
}

static daisy_proto_error_t
s_walk_welcome(walk_t *w, const msgpack_object *f, daisy_msg_t *msg)
{
    __auto_type m = &msg->u.welcome;
    TRY(s_str(w, &f[0], "task_id", &m->task_id));
    TRY(s_u32(w, &f[1], "heartbeat_ms", 1, UINT32_MAX, &m->heartbeat_ms));
    TRY(s_u32(w, &f[2], "liveness", 1, UINT32_MAX, &m->liveness));
    TRY(s_u32(w, &f[3], "dims", 1, DAISY_MAX_DIMS, &m->dims));
    m->timeout_ms = m->held = 0;
    if (w->given > 6)
        TRY(s_u32(w, &f[4], "timeout_ms", 0, UINT32_MAX, &m->timeout_ms));
    return w->given > 7 ? s_u32(w, &f[5], "held", 0, UINT32_MAX, &m->held) : DAISY_PROTO_OK;
}

static daisy_proto_error_t
s_walk_block(walk_t *w, const msgpack_object *o, daisy_wire_block_t *b)
{
    static const char *names[4] = {"read_offset", "read_shape", "write_offset", "write_shape"};
    int64_t *coords[4] = {b->read_roi.offset, b->read_roi.shape, b->write_roi.offset,
                          b->write_roi.shape};
    const msgpack_object *e = NULL;
    int dims[4];
    memset(b, 0, sizeof *b);
    TRY(s_entry(w, o, BLOCK_FIELDS, &e));
    TRY(s_u64(w, &e[0], "block_id", &b->block_id));
    TRY(s_u32(w, &e[1], "attempt", 0, UINT32_MAX, &b->attempt));
    TRY(s_u32(w, &e[2], "level", 0, UINT32_MAX, &b->level));
    for (int i = 0; i < 4; i++) {
        TRY(s_coords(w, &e[3 + i], names[i], coords[i], &dims[i]));
        if (dims[i] != dims[0])
            return s_fail(w, DAISY_PROTO_BAD_FIELD, names[i], -1, "%d entries, read_offset has %d",
                          dims[i], dims[0]);
    }
    b->read_roi.dims = b->write_roi.dims = dims[0];
    return DAISY_PROTO_OK;
}

static daisy_proto_error_t
s_walk_blocks(walk_t *w, const msgpack_object *f, daisy_msg_t *msg)
{
    __auto_type m = &msg->u.blocks;
    const msgpack_object_array *list = NULL;
    TRY(s_str(w, &f[0], "task_id", &m->task_id));
    TRY(s_batch(w, &f[1], "blocks", DAISY_MAX_BATCH, &list));
    TRY(s_alloc(w, "blocks", list->size * sizeof *m->blocks, (void **)&m->blocks));
    m->count = list->size;
    w->list = "blocks";
    for (w->index = 0; w->index < list->size; w->index++)
        TRY(s_walk_block(w, &list->ptr[w->index], &m->blocks[w->index]));
    w->list = NULL;
    return DAISY_PROTO_OK;
}

static daisy_proto_error_t
s_walk_shutdown(walk_t *w, const msgpack_object *f, daisy_msg_t *msg)
{
    return s_str(w, &f[0], "reason", &msg->u.shutdown.reason);
}

static daisy_proto_error_t
s_walk_error(walk_t *w, const msgpack_object *f, daisy_msg_t *msg)
{
    TRY(s_u32(w, &f[0], "code", 0, UINT32_MAX, &msg->u.error.code));
    return s_str(w, &f[1], "text", &msg->u.error.text);
}

//  [task_id, 9 counters, blocks_per_s, elapsed_s, workers, jobs_pending,
//  jobs_starting] from f[0..14].
static daisy_proto_error_t
s_walk_task(walk_t *w, const msgpack_object *f, daisy_wire_task_state_t *t)
{
    TRY(s_str(w, &f[0], "task_id", &t->task_id));
    for (int i = 0; i < COUNTERS; i++) {
        uint64_t *counter = (uint64_t *)((char *)&t->counts + s_counters[i].offset);
        TRY(s_u64(w, &f[1 + i], s_counters[i].name, counter));
    }
    TRY(s_num(w, &f[1 + COUNTERS], "blocks_per_s", &t->blocks_per_s));
    TRY(s_num(w, &f[2 + COUNTERS], "elapsed_s", &t->elapsed_s));
    TRY(s_u32(w, &f[3 + COUNTERS], "workers", 0, UINT32_MAX, &t->workers));
    TRY(s_u32(w, &f[4 + COUNTERS], "jobs_pending", 0, UINT32_MAX, &t->jobs_pending));
    return s_u32(w, &f[5 + COUNTERS], "jobs_starting", 0, UINT32_MAX, &t->jobs_starting);
}

static daisy_proto_error_t
s_walk_task_state(walk_t *w, const msgpack_object *f, daisy_msg_t *msg)
{
    return s_walk_task(w, f, &msg->u.task_state);
}

static daisy_proto_error_t
s_walk_block_failed(walk_t *w, const msgpack_object *f, daisy_msg_t *msg)
{
    __auto_type m = &msg->u.block_failed;
    TRY(s_str(w, &f[0], "task_id", &m->task_id));
    TRY(s_u64(w, &f[1], "block_id", &m->block_id));
    TRY(s_u32(w, &f[2], "attempt", 0, UINT32_MAX, &m->attempt));
    TRY(s_bool(w, &f[3], "final", &m->final));
    TRY(s_str(w, &f[4], "error", &m->error));
    TRY(s_str(w, &f[5], "worker_id", &m->worker_id));
    return s_str(w, &f[6], "log", &m->log);
}

static daisy_proto_error_t
s_walk_worker(walk_t *w, const msgpack_object *f, daisy_msg_t *msg)
{
    __auto_type m = &msg->u.worker;
    TRY(s_str(w, &f[0], "worker_id", &m->worker_id));
    TRY(s_str(w, &f[1], "task_id", &m->task_id));
    TRY(s_str(w, &f[2], "host", &m->host));
    TRY(s_int(w, &f[3], "pid", -1, &m->pid));
    return s_str(w, &f[4], "reason", &m->reason);
}

static daisy_proto_error_t
s_walk_run_finished(walk_t *w, const msgpack_object *f, daisy_msg_t *msg)
{
    __auto_type m = &msg->u.run_finished;
    const msgpack_object_array *list = NULL;
    TRY(s_bool(w, &f[0], "success", &m->success));
    TRY(s_bool(w, &f[1], "interrupted", &m->interrupted));
    TRY(s_batch(w, &f[2], "tasks", MAX_TASKS, &list));
    TRY(s_alloc(w, "tasks", list->size * sizeof *m->tasks, (void **)&m->tasks));
    m->count = list->size;
    w->list = "tasks";
    for (w->index = 0; w->index < list->size; w->index++) {
        const msgpack_object *e = NULL;
        TRY(s_entry(w, &list->ptr[w->index], TASK_FIELDS, &e));
        TRY(s_walk_task(w, e, &m->tasks[w->index]));
    }
    w->list = NULL;
    return DAISY_PROTO_OK;
}

static daisy_proto_error_t
s_walk_stats(walk_t *w, const msgpack_object *f, daisy_msg_t *msg)
{
    TRY(s_num(w, &f[0], "cpu_s", &msg->u.stats.cpu_s));
    return s_uint(w, &f[1], "peak_rss_kb", -1, 0, MAX_RSS_KB, &msg->u.stats.peak_rss_kb);
}

//  [task_id, blocks, mean_s, p50_s, p95_s, max_s, [trend...], peak_concurrency]
static daisy_proto_error_t
s_walk_task_stats(walk_t *w, const msgpack_object *f, daisy_wire_task_stats_t *t)
{
    const msgpack_object_array *trend = NULL;
    TRY(s_str(w, &f[0], "task_id", &t->task_id));
    TRY(s_u64(w, &f[1], "blocks", &t->blocks));
    TRY(s_num(w, &f[2], "mean_s", &t->mean_s));
    TRY(s_num(w, &f[3], "p50_s", &t->p50_s));
    TRY(s_num(w, &f[4], "p95_s", &t->p95_s));
    TRY(s_num(w, &f[5], "max_s", &t->max_s));
    TRY(s_batch(w, &f[6], "trend", DAISY_TREND_POINTS, &trend));
    t->trend_points = trend->size;
    for (uint32_t i = 0; i < trend->size; i++)
        TRY(s_num(w, &trend->ptr[i], "trend", &t->trend_s[i]));
    return s_u32(w, &f[7], "peak_concurrency", 0, UINT32_MAX, &t->peak_concurrency);
}

//  [worker_id, host, task_id, blocks, cpu_s, peak_rss_kb]
static daisy_proto_error_t
s_walk_worker_stats(walk_t *w, const msgpack_object *f, daisy_wire_worker_stats_t *s)
{
    TRY(s_str(w, &f[0], "worker_id", &s->worker_id));
    TRY(s_str(w, &f[1], "host", &s->host));
    TRY(s_str(w, &f[2], "task_id", &s->task_id));
    TRY(s_u64(w, &f[3], "blocks", &s->blocks));
    TRY(s_num(w, &f[4], "cpu_s", &s->cpu_s));
    return s_uint(w, &f[5], "peak_rss_kb", -1, 0, MAX_RSS_KB, &s->peak_rss_kb);
}

static daisy_proto_error_t
s_walk_run_stats(walk_t *w, const msgpack_object *f, daisy_msg_t *msg)
{
    __auto_type m = &msg->u.run_stats;
    const msgpack_object_array *tasks = NULL, *workers = NULL;
    const msgpack_object *e = NULL;
    TRY(s_batch(w, &f[0], "tasks", MAX_TASKS, &tasks));
    TRY(s_batch(w, &f[1], "workers", DAISY_MAX_STATS_WORKERS, &workers));
    TRY(s_alloc(w, "tasks", tasks->size * sizeof *m->tasks, (void **)&m->tasks));
    TRY(s_alloc(w, "workers", workers->size * sizeof *m->workers, (void **)&m->workers));
    m->ntasks = tasks->size;
    m->nworkers = workers->size;
    w->list = "tasks";
    for (w->index = 0; w->index < tasks->size; w->index++) {
        TRY(s_entry(w, &tasks->ptr[w->index], TASK_STATS_FIELDS, &e));
        TRY(s_walk_task_stats(w, e, &m->tasks[w->index]));
    }
    w->list = "workers";
    for (w->index = 0; w->index < workers->size; w->index++) {
        TRY(s_entry(w, &workers->ptr[w->index], WORKER_STATS_FIELDS, &e));
        TRY(s_walk_worker_stats(w, e, &m->workers[w->index]));
    }
    w->list = NULL;
    return DAISY_PROTO_OK;
}

//  A binary field of `unit`-byte entries, at most `max` of them.
static daisy_proto_error_t
s_bin_entries(walk_t *w, const msgpack_object *o, const char *field, size_t unit, uint32_t max,
              uint32_t *count)
{
    if (o->type != MSGPACK_OBJECT_BIN)
        return s_fail(w, DAISY_PROTO_BAD_FIELD, field, -1, "expected binary data, got %s",
                      s_kind(o));
    if (o->via.bin.size % unit != 0 || o->via.bin.size / unit > max)
        return s_fail(w, o->via.bin.size % unit ? DAISY_PROTO_BAD_FIELD : DAISY_PROTO_OVERSIZED,
                      field, -1, "%" PRIu32 " bytes: not %zu-byte entries, at most %" PRIu32,
                      o->via.bin.size, unit, max);
    *count = (uint32_t)(o->via.bin.size / unit);
    return DAISY_PROTO_OK;
}

//  [task_id, indices, states]: binary strings of 8-byte little-endian
//  indices and of 1-byte states, as many of each (packed with one copy:
//  a change is three per block, and the broker pays for its encoding).
static daisy_proto_error_t
s_walk_block_changes(walk_t *w, const msgpack_object *f, daisy_msg_t *msg)
{
    __auto_type m = &msg->u.block_changes;
    uint32_t n = 0, ns = 0;
    uint64_t *indices = NULL;
    uint8_t *states = NULL;
    TRY(s_str(w, &f[0], "task_id", &m->task_id));
    TRY(s_bin_entries(w, &f[1], "indices", 8, DAISY_MAX_CHANGES, &n));
    TRY(s_bin_entries(w, &f[2], "states", 1, DAISY_MAX_CHANGES, &ns));
    if (ns != n)
        return s_fail(w, DAISY_PROTO_BAD_FIELD, "states", -1, "%" PRIu32 " entries, indices has %"
                      PRIu32, ns, n);
    TRY(s_alloc(w, "indices", (size_t)n * sizeof *indices + 1, (void **)&indices));
    TRY(s_alloc(w, "states", (size_t)n + 1, (void **)&states));
    const uint8_t *raw = (const uint8_t *)f[1].via.bin.ptr;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t v = 0;
        for (int b = 7; b >= 0; b--)
            v = v << 8 | raw[8 * i + (uint32_t)b];
        indices[i] = v;
        states[i] = (uint8_t)f[2].via.bin.ptr[i];
        if (states[i] >= DAISY_BLOCK_STATES)
            return s_fail(w, DAISY_PROTO_BAD_FIELD, "states", (int)i, "%u is not a block state "
                          "(0..%d)", states[i], DAISY_BLOCK_STATES - 1);
    }
    m->count = n;
    m->indices = indices;
    m->states = states;
    return DAISY_PROTO_OK;
}

//  The grid: 1..DAISY_MAX_DIMS block counts whose product fits 64 bits.
static daisy_proto_error_t
s_grid(walk_t *w, const msgpack_object *o, uint32_t *dims, uint64_t *grid, uint64_t *total)
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 1
        || o->via.array.size > DAISY_MAX_DIMS)
        return s_fail(w, DAISY_PROTO_BAD_FIELD, "grid", -1, "expected an array of 1 to %d "
                      "integers, got %s", DAISY_MAX_DIMS, s_kind(o));
    *total = 1;
    for (uint32_t d = 0; d < o->via.array.size; d++) {
        TRY(s_uint(w, &o->via.array.ptr[d], "grid", (int)d, 0, UINT64_MAX, &grid[d]));
        if (grid[d] && *total > UINT64_MAX / grid[d])
            return s_fail(w, DAISY_PROTO_BAD_FIELD, "grid", -1, "more than 2^64 blocks");
        *total *= grid[d];
    }
    *dims = o->via.array.size;
    return DAISY_PROTO_OK;
}

//  `count` states inflated from a zlib stream, each one a block state.
static daisy_proto_error_t
s_states(walk_t *w, const msgpack_object *o, uint32_t count, const uint8_t **out)
{
    if (o->type != MSGPACK_OBJECT_BIN)
        return s_fail(w, DAISY_PROTO_BAD_FIELD, "states", -1, "expected binary data, got %s",
                      s_kind(o));
    uint8_t *states = NULL;
    TRY(s_alloc(w, "states", (size_t)count + 1, (void **)&states));
    uLongf size = (uLongf)count + 1;
    uLong used = o->via.bin.size;
    int rc = uncompress2(states, &size, (const Bytef *)o->via.bin.ptr, &used);
    if (rc != Z_OK || used != o->via.bin.size || size != count)
        return s_fail(w, DAISY_PROTO_BAD_FIELD, "states", -1, "not a zlib stream of exactly %"
                      PRIu32 " bytes (%s)", count, rc == Z_OK ? "wrong length" : zError(rc));
    for (uint32_t i = 0; i < count; i++)
        if (states[i] >= DAISY_BLOCK_STATES)
            return s_fail(w, DAISY_PROTO_BAD_FIELD, "states", (int)i, "%u is not a block state "
                          "(0..%d)", states[i], DAISY_BLOCK_STATES - 1);
    *out = states;
    return DAISY_PROTO_OK;
}

//  [task_id, grid, first, count, states]
static daisy_proto_error_t
s_walk_block_snapshot(walk_t *w, const msgpack_object *f, daisy_msg_t *msg)
{
    __auto_type m = &msg->u.block_snapshot;
    uint64_t total = 0;
    TRY(s_str(w, &f[0], "task_id", &m->task_id));
    TRY(s_grid(w, &f[1], &m->dims, m->grid, &total));
    TRY(s_u64(w, &f[2], "first", &m->first));
    TRY(s_u32(w, &f[3], "count", 0, DAISY_MAX_SNAPSHOT_BLOCKS, &m->count));
    if (m->first > total || m->count > total - m->first)
        return s_fail(w, DAISY_PROTO_BAD_FIELD, "count", -1, "blocks %" PRIu64 "..%" PRIu64
                      " are not in the grid of %" PRIu64, m->first, m->first + m->count, total);
    return s_states(w, &f[4], m->count, &m->states);
}

//  The message: version, type, then the type's fields.
static daisy_proto_error_t
s_walk(walk_t *w, const msgpack_object *root, daisy_msg_t *msg)
{
    const msgpack_object_array *a = &root->via.array;
    if (a->size == 0)
        return s_fail(w, DAISY_PROTO_BAD_FIELD, "version", -1, "missing (empty array)");
    const msgpack_object *v = &a->ptr[0], *t;
    if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER && v->type != MSGPACK_OBJECT_NEGATIVE_INTEGER)
        return s_fail(w, DAISY_PROTO_BAD_FIELD, "version", -1, "expected an integer, got %s", s_kind(v));
    if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER || v->via.u64 != DAISY_PROTOCOL_VERSION)
        return s_fail(w, DAISY_PROTO_BAD_VERSION, "version", -1, "this peer speaks version %d",
                      DAISY_PROTOCOL_VERSION);
    if (a->size < 2)
        return s_fail(w, DAISY_PROTO_BAD_FIELD, "type", -1, "missing");
    t = &a->ptr[1];
    if (t->type != MSGPACK_OBJECT_POSITIVE_INTEGER && t->type != MSGPACK_OBJECT_NEGATIVE_INTEGER)
        return s_fail(w, DAISY_PROTO_BAD_FIELD, "type", -1, "expected an integer, got %s", s_kind(t));
    const spec_t *spec = t->type == MSGPACK_OBJECT_POSITIVE_INTEGER && t->via.u64 <= INT64_MAX
                       ? s_spec((int64_t)t->via.u64) : NULL;
    if (!spec)
        return s_fail(w, DAISY_PROTO_UNKNOWN_TYPE, "type", -1, "%s%" PRIu64 " is not a type of protocol version %d",
                      t->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? "-" : "",
                      t->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? -(uint64_t)t->via.i64 : t->via.u64,
                      DAISY_PROTOCOL_VERSION);
    w->name = spec->name;
    if (a->size > spec->fields || a->size < spec->fields - spec->optional) {
        if (spec->optional)
            return s_set(w->err, DAISY_PROTO_BAD_FIELD, "%s: %" PRIu32 " fields, expected %"
                         PRIu32 " to %" PRIu32, spec->name, a->size,
                         spec->fields - spec->optional, spec->fields);
        return s_set(w->err, DAISY_PROTO_BAD_FIELD, "%s: %" PRIu32 " fields, expected %" PRIu32,
                     spec->name, a->size, spec->fields);
    }
    w->given = a->size;
    msg->type = spec->type;
    return spec->walk(w, a->ptr + 2, msg);
}

//  Decoder ------------------------------------------------------------------

daisy_decoder_t *
daisy_decoder_new(void)
{
    daisy_decoder_t *self = calloc(1, sizeof *self);
    if (self)
        msgpack_unpacked_init(&self->unpacked);
    return self;
}

void
daisy_decoder_destroy(daisy_decoder_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    msgpack_unpacked_destroy(&(*self_p)->unpacked);
    free(*self_p);
    *self_p = NULL;
}

daisy_proto_error_t
daisy_decode(daisy_decoder_t *self, const void *data, size_t size, daisy_msg_t *msg,
             daisy_error_t *err)
{
    if (!self || !msg || (!data && size > 0))
        return s_set(err, DAISY_PROTO_MALFORMED, "message: no decoder, message or data");
    memset(msg, 0, sizeof *msg);
    if (size > DAISY_MAX_FRAME)
        return s_set(err, DAISY_PROTO_OVERSIZED, "message: %zu bytes, more than %d", size,
                     DAISY_MAX_FRAME);
    TRY(s_check_version(data, size, err));
    TRY(s_scan(data, size, err));
    size_t off = 0;
    msgpack_unpack_return rc = msgpack_unpack_next(&self->unpacked, data, size, &off);
    if (rc == MSGPACK_UNPACK_NOMEM_ERROR)
        return s_set(err, DAISY_PROTO_OVERSIZED, "message: out of memory while unpacking");
    if (rc != MSGPACK_UNPACK_SUCCESS || off != size
        || self->unpacked.data.type != MSGPACK_OBJECT_ARRAY)
        return s_set(err, DAISY_PROTO_MALFORMED, "message: not a msgpack array");
    walk_t w = {self->unpacked.zone, "message", NULL, 0, 0, err};
    daisy_proto_error_t code = s_walk(&w, &self->unpacked.data, msg);
    if (code != DAISY_PROTO_OK)
        memset(msg, 0, sizeof *msg);
    return code;
}

//  Encoding -----------------------------------------------------------------

void
daisy_buffer_reset(daisy_buffer_t *buf)
{
    if (buf)
        buf->size = 0;
}

void
daisy_buffer_free(daisy_buffer_t *buf)
{
    if (!buf)
        return;
    free(buf->data);
    *buf = (daisy_buffer_t) {NULL, 0, 0};
}

//  msgpack_packer's write callback: append, never beyond DAISY_MAX_FRAME.
static int
s_write(void *data, const char *bytes, size_t len)
{
    daisy_buffer_t *buf = data;
    if (len > DAISY_MAX_FRAME - buf->size)
        return -1;
    if (buf->size + len > buf->cap) {
        size_t cap = buf->cap ? buf->cap : 256;
        while (cap < buf->size + len)
            cap *= 2;
        char *grown = realloc(buf->data, cap);
        if (!grown)
            return -1;
        buf->data = grown;
        buf->cap = cap;
    }
    if (len > 0)
        memcpy(buf->data + buf->size, bytes, len);
    buf->size += len;
    return 0;
}

//  A string, "" for NULL, cut to DAISY_MAX_TEXT bytes before a UTF-8
//  character rather than inside one; a byte that is not UTF-8 (a
//  command's stderr may hold anything) goes as '?', since a peer refuses
//  a str that is not UTF-8.
static int
s_pack_text(msgpack_packer *pk, const char *s)
{
    if (!s)
        s = "";
    size_t n = strnlen(s, DAISY_MAX_TEXT + 1);
    if (n > DAISY_MAX_TEXT) {
        n = DAISY_MAX_TEXT;     //  a character is at most 3 bytes past its start
        for (int k = 0; k < 3 && n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80; k++)
            n--;
    }
    const unsigned char *u = (const unsigned char *)s;
    size_t bad = s_utf8_bad(u, n);
    if (bad == n)
        return msgpack_pack_str_with_body(pk, s, n);
    char clean[DAISY_MAX_TEXT];
    for (size_t at = 0, len; at < n; at += len) {
        len = daisy_utf8_char(u + at, n - at);
        if (len == 0) {
            clean[at] = '?';
            len = 1;
        } else
            memcpy(clean + at, u + at, len);
    }
    return msgpack_pack_str_with_body(pk, clean, n);
}

static int
s_pack_bool(msgpack_packer *pk, bool b)
{
    return b ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
}


static int
s_pack_coords(msgpack_packer *pk, int dims, const int64_t *v)
{
    if (msgpack_pack_array(pk, (size_t)dims))
        return -1;
    for (int i = 0; i < dims; i++)
        if (msgpack_pack_int64(pk, v[i]))
            return -1;
    return 0;
}

static int
s_pack_none(msgpack_packer *pk, const daisy_msg_t *msg)
{
    (void)pk, (void)msg;
    return 0;
}

static int
s_pack_hello(msgpack_packer *pk, const daisy_msg_t *msg)
{
    __auto_type m = &msg->u.hello;
    if (m->prefetch < 1 || m->prefetch > DAISY_MAX_BATCH)
        return -1;
    return s_pack_text(pk, m->task_id) || s_pack_text(pk, m->worker_id)
        || s_pack_text(pk, m->host) || msgpack_pack_int64(pk, m->pid)
        || msgpack_pack_uint32(pk, m->prefetch)
        || s_pack_text(pk, m->run_id ? m->run_id : "") ? -1 : 0;
}

static int
s_pack_lease(msgpack_packer *pk, const daisy_wire_lease_t *l)
{
    return msgpack_pack_uint64(pk, l->block_id) || msgpack_pack_uint32(pk, l->attempt) ? -1 : 0;
}

static int
s_pack_started(msgpack_packer *pk, const daisy_msg_t *msg)
{
    return s_pack_lease(pk, &msg->u.started);
}

static int
s_pack_request(msgpack_packer *pk, const daisy_msg_t *msg)
{
    if (msg->u.request.credits > DAISY_MAX_BATCH)
        return -1;
    return msgpack_pack_uint32(pk, msg->u.request.credits);
}

static int
s_pack_result(msgpack_packer *pk, const daisy_wire_result_t *r)
{
    if ((unsigned)r->status > DAISY_RESULT_SKIPPED || !s_number_ok(r->seconds))
        return -1;
    return msgpack_pack_array(pk, RESULT_FIELDS) || msgpack_pack_uint64(pk, r->block_id)
        || msgpack_pack_uint32(pk, r->attempt) || msgpack_pack_uint32(pk, (uint32_t)r->status)
        || msgpack_pack_double(pk, r->seconds) || s_pack_text(pk, r->error) ? -1 : 0;
}

static int
s_pack_release(msgpack_packer *pk, const daisy_msg_t *msg)
{
    __auto_type m = &msg->u.release;
    if (m->credits > DAISY_MAX_BATCH || m->count > DAISY_MAX_BATCH || (m->count && !m->results))
        return -1;
    if (msgpack_pack_uint32(pk, m->credits) || msgpack_pack_array(pk, m->count))
        return -1;
    for (uint32_t i = 0; i < m->count; i++)
        if (s_pack_result(pk, &m->results[i]))
            return -1;
    if (msgpack_pack_array(pk, m->has_started ? 1 : 0))
        return -1;
    if (m->has_started && (msgpack_pack_array(pk, 2) || s_pack_lease(pk, &m->started)))
        return -1;
    return 0;
}

static int
s_pack_welcome(msgpack_packer *pk, const daisy_msg_t *msg)
{
    __auto_type m = &msg->u.welcome;
    if (m->heartbeat_ms == 0 || m->liveness == 0 || m->dims < 1 || m->dims > DAISY_MAX_DIMS)
        return -1;
    return s_pack_text(pk, m->task_id) || msgpack_pack_uint32(pk, m->heartbeat_ms)
        || msgpack_pack_uint32(pk, m->liveness) || msgpack_pack_uint32(pk, m->dims)
        || ((m->timeout_ms || m->held) && msgpack_pack_uint32(pk, m->timeout_ms))
        || (m->held && msgpack_pack_uint32(pk, m->held)) ? -1 : 0;
}

static int
s_pack_block(msgpack_packer *pk, const daisy_wire_block_t *b)
{
    int dims = b->read_roi.dims;
    if (dims < 1 || dims > DAISY_MAX_DIMS || b->write_roi.dims != dims)
        return -1;
    return msgpack_pack_array(pk, BLOCK_FIELDS) || msgpack_pack_uint64(pk, b->block_id)
        || msgpack_pack_uint32(pk, b->attempt) || msgpack_pack_uint32(pk, b->level)
        || s_pack_coords(pk, dims, b->read_roi.offset) || s_pack_coords(pk, dims, b->read_roi.shape)
        || s_pack_coords(pk, dims, b->write_roi.offset)
        || s_pack_coords(pk, dims, b->write_roi.shape) ? -1 : 0;
}

static int
s_pack_blocks(msgpack_packer *pk, const daisy_msg_t *msg)
{
    __auto_type m = &msg->u.blocks;
    if (m->count > DAISY_MAX_BATCH || (m->count && !m->blocks))
        return -1;
    if (s_pack_text(pk, m->task_id) || msgpack_pack_array(pk, m->count))
        return -1;
    for (uint32_t i = 0; i < m->count; i++)
        if (s_pack_block(pk, &m->blocks[i]))
            return -1;
    return 0;
}

static int
s_pack_shutdown(msgpack_packer *pk, const daisy_msg_t *msg)
{
    return s_pack_text(pk, msg->u.shutdown.reason);
}

static int
s_pack_error(msgpack_packer *pk, const daisy_msg_t *msg)
{
    return msgpack_pack_uint32(pk, msg->u.error.code) || s_pack_text(pk, msg->u.error.text) ? -1 : 0;
}

//  task_id, the counters, blocks_per_s, elapsed_s, workers, jobs (no array
//  header).
static int
s_pack_task(msgpack_packer *pk, const daisy_wire_task_state_t *t)
{
    if (!s_number_ok(t->blocks_per_s) || !s_number_ok(t->elapsed_s)
        || s_pack_text(pk, t->task_id))
        return -1;
    for (int i = 0; i < COUNTERS; i++) {
        const uint64_t *counter = (const uint64_t *)((const char *)&t->counts + s_counters[i].offset);
        if (msgpack_pack_uint64(pk, *counter))
            return -1;
    }
    return msgpack_pack_double(pk, t->blocks_per_s) || msgpack_pack_double(pk, t->elapsed_s)
        || msgpack_pack_uint32(pk, t->workers) || msgpack_pack_uint32(pk, t->jobs_pending)
        || msgpack_pack_uint32(pk, t->jobs_starting) ? -1 : 0;
}

static int
s_pack_task_state(msgpack_packer *pk, const daisy_msg_t *msg)
{
    return s_pack_task(pk, &msg->u.task_state);
}

static int
s_pack_block_failed(msgpack_packer *pk, const daisy_msg_t *msg)
{
    __auto_type m = &msg->u.block_failed;
    return s_pack_text(pk, m->task_id) || msgpack_pack_uint64(pk, m->block_id)
        || msgpack_pack_uint32(pk, m->attempt) || s_pack_bool(pk, m->final)
        || s_pack_text(pk, m->error) || s_pack_text(pk, m->worker_id)
        || s_pack_text(pk, m->log) ? -1 : 0;
}

static int
s_pack_worker(msgpack_packer *pk, const daisy_msg_t *msg)
{
    __auto_type m = &msg->u.worker;
    return s_pack_text(pk, m->worker_id) || s_pack_text(pk, m->task_id)
        || s_pack_text(pk, m->host) || msgpack_pack_int64(pk, m->pid)
        || s_pack_text(pk, m->reason) ? -1 : 0;
}

static int
s_pack_run_finished(msgpack_packer *pk, const daisy_msg_t *msg)
{
    __auto_type m = &msg->u.run_finished;
    if (m->count > MAX_TASKS || (m->count && !m->tasks))
        return -1;
    if (s_pack_bool(pk, m->success) || s_pack_bool(pk, m->interrupted)
        || msgpack_pack_array(pk, m->count))
        return -1;
    for (uint32_t i = 0; i < m->count; i++)
        if (msgpack_pack_array(pk, TASK_FIELDS) || s_pack_task(pk, &m->tasks[i]))
            return -1;
    return 0;
}

static int
s_pack_stats(msgpack_packer *pk, const daisy_msg_t *msg)
{
    if (!s_number_ok(msg->u.stats.cpu_s))
        return -1;
    return msgpack_pack_double(pk, msg->u.stats.cpu_s)
        || msgpack_pack_uint64(pk, msg->u.stats.peak_rss_kb) ? -1 : 0;
}

static int
s_pack_task_stats(msgpack_packer *pk, const daisy_wire_task_stats_t *t)
{
    double nums[4] = {t->mean_s, t->p50_s, t->p95_s, t->max_s};
    if (t->trend_points > DAISY_TREND_POINTS || msgpack_pack_array(pk, TASK_STATS_FIELDS)
        || s_pack_text(pk, t->task_id) || msgpack_pack_uint64(pk, t->blocks))
        return -1;
    for (int i = 0; i < 4; i++)
        if (!s_number_ok(nums[i]) || msgpack_pack_double(pk, nums[i]))
            return -1;
    if (msgpack_pack_array(pk, t->trend_points))
        return -1;
    for (uint32_t i = 0; i < t->trend_points; i++)
        if (!s_number_ok(t->trend_s[i]) || msgpack_pack_double(pk, t->trend_s[i]))
            return -1;
    return msgpack_pack_uint32(pk, t->peak_concurrency);
}

static int
s_pack_worker_stats(msgpack_packer *pk, const daisy_wire_worker_stats_t *s)
{
    return !s_number_ok(s->cpu_s) || msgpack_pack_array(pk, WORKER_STATS_FIELDS)
        || s_pack_text(pk, s->worker_id) || s_pack_text(pk, s->host)
        || s_pack_text(pk, s->task_id) || msgpack_pack_uint64(pk, s->blocks)
        || msgpack_pack_double(pk, s->cpu_s) || msgpack_pack_uint64(pk, s->peak_rss_kb)
        ? -1 : 0;
}

static int
s_pack_run_stats(msgpack_packer *pk, const daisy_msg_t *msg)
{
    __auto_type m = &msg->u.run_stats;
    if (m->ntasks > MAX_TASKS || m->nworkers > DAISY_MAX_STATS_WORKERS
        || (m->ntasks && !m->tasks) || (m->nworkers && !m->workers)
        || msgpack_pack_array(pk, m->ntasks))
        return -1;
    for (uint32_t i = 0; i < m->ntasks; i++)
        if (s_pack_task_stats(pk, &m->tasks[i]))
            return -1;
    if (msgpack_pack_array(pk, m->nworkers))
        return -1;
    for (uint32_t i = 0; i < m->nworkers; i++)
        if (s_pack_worker_stats(pk, &m->workers[i]))
            return -1;
    return 0;
}

static int
s_pack_block_changes(msgpack_packer *pk, const daisy_msg_t *msg)
{
    __auto_type m = &msg->u.block_changes;
    if (m->count > DAISY_MAX_CHANGES || (m->count && (!m->indices || !m->states))
        || s_pack_text(pk, m->task_id))
        return -1;
    for (uint32_t i = 0; i < m->count; i++)
        if (m->states[i] >= DAISY_BLOCK_STATES)
            return -1;
    if (msgpack_pack_bin(pk, (size_t)m->count * 8))
        return -1;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (m->count && msgpack_pack_bin_body(pk, m->indices, (size_t)m->count * 8))
        return -1;
#else
    for (uint32_t i = 0; i < m->count; i++) {
        uint8_t le[8];
        for (int b = 0; b < 8; b++)
            le[b] = (uint8_t)(m->indices[i] >> (8 * b));
        if (msgpack_pack_bin_body(pk, le, 8))
            return -1;
    }
#endif
    return msgpack_pack_bin(pk, m->count)
        || (m->count && msgpack_pack_bin_body(pk, m->states, m->count)) ? -1 : 0;
}

//  The states as a zlib stream (level 1: the broker pays for it, and runs
//  of equal states compress well at any level).
static int
s_pack_states(msgpack_packer *pk, const uint8_t *states, uint32_t count)
{
    uLongf size = compressBound(count);
    Bytef *z = malloc(size);
    int rc = z && compress2(z, &size, states, count, 1) == Z_OK
          && !msgpack_pack_bin(pk, size) && !msgpack_pack_bin_body(pk, z, size) ? 0 : -1;
    free(z);
    return rc;
}

static int
s_pack_block_snapshot(msgpack_packer *pk, const daisy_msg_t *msg)
{
    __auto_type m = &msg->u.block_snapshot;
    uint64_t total = 1;
    if (m->dims < 1 || m->dims > DAISY_MAX_DIMS || m->count > DAISY_MAX_SNAPSHOT_BLOCKS
        || (m->count && !m->states))
        return -1;
    for (uint32_t d = 0; d < m->dims; d++) {
        if (m->grid[d] && total > UINT64_MAX / m->grid[d])
            return -1;
        total *= m->grid[d];
    }
    if (m->first > total || m->count > total - m->first)
        return -1;
    for (uint32_t i = 0; i < m->count; i++)
        if (m->states[i] >= DAISY_BLOCK_STATES)
            return -1;
    if (s_pack_text(pk, m->task_id) || msgpack_pack_array(pk, m->dims))
        return -1;
    for (uint32_t d = 0; d < m->dims; d++)
        if (msgpack_pack_uint64(pk, m->grid[d]))
            return -1;
    return msgpack_pack_uint64(pk, m->first) || msgpack_pack_uint32(pk, m->count)
        || s_pack_states(pk, m->states, m->count) ? -1 : 0;
}

int
daisy_encode(const daisy_msg_t *msg, daisy_buffer_t *buf)
{
    if (!buf)
        return -1;
    buf->size = 0;
    const spec_t *spec = msg ? s_spec(msg->type) : NULL;
    if (!spec)
        return -1;
    msgpack_packer pk;
    msgpack_packer_init(&pk, buf, s_write);
    //  An optional field holding its default is left off.
    uint32_t fields = spec->fields;
    if (msg->type == DAISY_MSG_WELCOME && msg->u.welcome.held == 0)
        fields -= msg->u.welcome.timeout_ms == 0 ? 2 : 1;
    if (msgpack_pack_array(&pk, fields)
        || msgpack_pack_uint32(&pk, DAISY_PROTOCOL_VERSION)
        || msgpack_pack_uint32(&pk, (uint32_t)spec->type) || spec->pack(&pk, msg)) {
        buf->size = 0;
        return -1;
    }
    return 0;
}

//  Names and helpers --------------------------------------------------------

static const spec_t s_specs[] = {
    {DAISY_MSG_HELLO, "hello", 8, 0, s_walk_hello, s_pack_hello},
    {DAISY_MSG_REQUEST, "request", 3, 0, s_walk_request, s_pack_request},
    {DAISY_MSG_RELEASE, "release", 5, 0, s_walk_release, s_pack_release},
    {DAISY_MSG_HEARTBEAT, "heartbeat", 2, 0, s_walk_none, s_pack_none},
    {DAISY_MSG_BYE, "bye", 2, 0, s_walk_none, s_pack_none},
    {DAISY_MSG_STARTED, "started", 4, 0, s_walk_started, s_pack_started},
    {DAISY_MSG_STATS, "stats", 4, 0, s_walk_stats, s_pack_stats},
    {DAISY_MSG_WELCOME, "welcome", 8, 2, s_walk_welcome, s_pack_welcome},
    {DAISY_MSG_BLOCKS, "blocks", 4, 0, s_walk_blocks, s_pack_blocks},
    {DAISY_MSG_SHUTDOWN, "shutdown", 3, 0, s_walk_shutdown, s_pack_shutdown},
    {DAISY_MSG_ERROR, "error", 4, 0, s_walk_error, s_pack_error},
    {DAISY_EVT_TASK_STATE, "task_state", 2 + TASK_FIELDS, 0, s_walk_task_state, s_pack_task_state},
    {DAISY_EVT_TASK_STARTED, "task_started", 2 + TASK_FIELDS, 0, s_walk_task_state, s_pack_task_state},
    {DAISY_EVT_TASK_DONE, "task_done", 2 + TASK_FIELDS, 0, s_walk_task_state, s_pack_task_state},
    {DAISY_EVT_BLOCK_FAILED, "block_failed", 9, 0, s_walk_block_failed, s_pack_block_failed},
    {DAISY_EVT_WORKER_JOINED, "worker_joined", 7, 0, s_walk_worker, s_pack_worker},
    {DAISY_EVT_WORKER_LOST, "worker_lost", 7, 0, s_walk_worker, s_pack_worker},
    {DAISY_EVT_RUN_FINISHED, "run_finished", 5, 0, s_walk_run_finished, s_pack_run_finished},
    {DAISY_EVT_RUN_STATS, "run_stats", 4, 0, s_walk_run_stats, s_pack_run_stats},
    {DAISY_EVT_BLOCK_CHANGES, "block_changes", 5, 0, s_walk_block_changes, s_pack_block_changes},
    {DAISY_EVT_BLOCK_SNAPSHOT, "block_snapshot", 7, 0, s_walk_block_snapshot, s_pack_block_snapshot},
};

static const spec_t *
s_spec(int64_t type)
{
    for (size_t i = 0; i < sizeof s_specs / sizeof s_specs[0]; i++)
        if (s_specs[i].type == type)
            return &s_specs[i];
    return NULL;
}

bool
daisy_run_id_valid(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    return n > 0 && n <= DAISY_MAX_RUN_ID
        && strspn(id, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_.") == n;
}

const char *
daisy_msg_name(daisy_msg_type_t type)
{
    const spec_t *spec = s_spec(type);
    return spec ? spec->name : "unknown";
}

const char *
daisy_proto_error_name(daisy_proto_error_t code)
{
    static const char *names[] = {"ok", "truncated", "oversized", "malformed", "bad_version",
                                  "unknown_type", "bad_field", "unknown_task", "unknown_block",
                                  "not_ready", "wrong_run"};
    if ((unsigned)code >= sizeof names / sizeof names[0])
        return "unknown";
    return names[code];
}

void
daisy_wire_block_from(daisy_wire_block_t *wire, const daisy_block_t *block)
{
    memset(wire, 0, sizeof *wire);
    wire->block_id = block->block_id;
    wire->attempt = block->attempt;
    wire->level = block->level;
    wire->read_roi = block->read_roi;
    wire->write_roi = block->write_roi;
}
