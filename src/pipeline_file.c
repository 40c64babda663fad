/*  pipeline_file.c - pipeline files: JSON text to a validated pipeline

    A pipeline file is written by hand, so this file's job is mostly to
    explain mistakes. Every message names the file, then the task (by id
    once it is known, by position "tasks[3]" before), then the key, then
    what was wrong and the value found:

        pipe.json: task 'extract': key 'fit': unknown fit 'valdi'
        (expected valid, overhang or shrink)

    The reading is strict on purpose. Unknown keys are errors, since a
    misspelt optional key ("max_retry") would otherwise be ignored silently
    and the default used; duplicate keys are errors (jansson's
    JSON_REJECT_DUPLICATES) for the same reason. Numbers must be integers
    where integers are meant: 2.0 in a shape is refused rather than
    truncated. Integers beyond int64 are refused by jansson itself.

    The structure is table driven: the optional task keys map to small
    parsers that set one field each, so adding a key is one function and
    one table row, and the table doubles as the list of known keys. Errors
    are built inside out: a parser says what is wrong with a value, the
    caller adds "key 'x'", its caller the task, and the entry point the
    file (daisy_error_prefix). Semantic checks (ROIs, upstream ids, cycles)
    are not repeated here: the finished pipeline goes through
    daisy_pipeline_validate, whose message gets the file name in front.
*/
#include "daisy/pipeline.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(json_int_t) == sizeof(int64_t),
               "jansson integers must be 64 bits wide");

//  A short description of a JSON value for "expected X, got Y" messages.
#define DESCRIBE_MAX 64

static const char *
s_describe(const json_t *value, char *buf)
{
    switch (json_typeof(value)) {
        case JSON_OBJECT: return "an object";
        case JSON_ARRAY: return "an array";
        case JSON_TRUE: return "true";
        case JSON_FALSE: return "false";
        case JSON_NULL: return "null";
        case JSON_INTEGER:
            snprintf(buf, DESCRIBE_MAX, "integer %lld",
                     (long long) json_integer_value(value));
            return buf;
        case JSON_REAL:
            //  "real 10.0", not "real 10", so an integral real reads as one.
            snprintf(buf, DESCRIBE_MAX, "real %g", json_real_value(value));
            if (!strpbrk(buf + 5, ".e"))
                strcat(buf, ".0");
            return buf;
        case JSON_STRING: {
            const char *s = json_string_value(value);
            snprintf(buf, DESCRIBE_MAX, "string '%.40s%s'", s,
                     strlen(s) > 40 ? "..." : "");
            return buf;
        }
    }
    return "an unknown value";
}

static int
s_expected(const json_t *value, const char *what, daisy_error_t *err)
{
    char buf[DESCRIBE_MAX];
    return daisy_error_set(err, "expected %s, got %s", what,
                           s_describe(value, buf));
}

//  Levenshtein distance of two short keys, to suggest the key meant.
static size_t
s_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 31 || lb > 31)
        return SIZE_MAX;
    size_t row[32];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

//  Parses one optional task key into its field (see the table below).
typedef int (s_field_fn)(daisy_task_t *task, json_t *value,
                         daisy_error_t *err);

//  The keys an object may hold; parse is NULL for keys read elsewhere.
typedef struct {
    const char *key;
    s_field_fn *parse;
} s_key_t;

static const s_key_t *
s_find_key(const char *key, const s_key_t *keys)
{
    for (size_t i = 0; keys[i].key; i++)
        if (strcmp(key, keys[i].key) == 0)
            return &keys[i];
    return NULL;
}

//  daisy 1.x's names for a task's arguments, for users bringing their
//  Python pipelines over: none is close to ours by spelling.
static const char *const s_daisy1_names[][2] = {
    {"num_workers", "workers"},     {"task_id", "id"},
    {"upstream_tasks", "upstream"}, {"check_function", "check"},
    {"process_function", "command' or 'worker"},
    {NULL, NULL}};

//  "unknown key", with "(did you mean 'fit'?)" when a known key is close,
//  or "(daisy 1.x's name: here 'workers')" for a name from daisy's Task.
static int
s_unknown_key(const char *key, const s_key_t *keys, daisy_error_t *err)
{
    for (size_t i = 0; s_daisy1_names[i][0]; i++)
        if (strcmp(key, s_daisy1_names[i][0]) == 0 && s_find_key("upstream", keys))
            return daisy_error_set(err, "key '%s': unknown key (daisy 1.x's name: here "
                                   "'%s')", key, s_daisy1_names[i][1]);
    //  Suggest keys up to a third of the key's length away (at least 2).
    size_t len = strlen(key);
    size_t best_distance = (len / 3 > 2 ? len / 3 : 2) + 1;
    const char *best = NULL;
    for (size_t i = 0; keys[i].key; i++) {
        size_t d = s_distance(key, keys[i].key);
        if (d < best_distance)
            best = keys[i].key, best_distance = d;
    }
    if (best)
        return daisy_error_set(err, "key '%s': unknown key (did you mean "
                               "'%s'?)", key, best);
    return daisy_error_set(err, "key '%s': unknown key", key);
}

static int
s_check_keys(json_t *object, const s_key_t *keys, daisy_error_t *err)
{
    const char *key;
    json_t *value;
    json_object_foreach(object, key, value) {
        if (!s_find_key(key, keys))
            return s_unknown_key(key, keys, err);
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Values

static int
s_string(json_t *value, const char **out, daisy_error_t *err)
{
    if (!json_is_string(value))
        return s_expected(value, "a string", err);
    if (json_string_length(value) == 0)
        return daisy_error_set(err, "empty string");
    *out = json_string_value(value);
    return 0;
}

static int
s_int(json_t *value, int *out, daisy_error_t *err)
{
    if (!json_is_integer(value))
        return s_expected(value, "an integer", err);
    json_int_t v = json_integer_value(value);
    if (v < INT_MIN || v > INT_MAX)
        return daisy_error_set(err, "%lld is out of range", (long long) v);
    *out = (int) v;
    return 0;
}

//  An array of 1..DAISY_MAX_DIMS integers; returns its length or -1.
static int
s_int_array(json_t *value, int64_t *out, daisy_error_t *err)
{
    char buf[DESCRIBE_MAX];
    if (!json_is_array(value))
        return s_expected(value, "an array of integers", err);
    size_t n = json_array_size(value);
    if (n == 0 || n > DAISY_MAX_DIMS)
        return daisy_error_set(err, "%zu entries (expected 1 to %d "
                               "dimensions)", n, DAISY_MAX_DIMS);
    for (size_t i = 0; i < n; i++) {
        json_t *entry = json_array_get(value, i);
        if (!json_is_integer(entry))
            return daisy_error_set(err, "entry %zu: expected an integer, "
                                   "got %s", i, s_describe(entry, buf));
        out[i] = json_integer_value(entry);
    }
    return (int) n;
}

//  One of "offset" and "shape" of a ROI object.
static int
s_roi_part(json_t *roi, const char *key, const char *part, int64_t *out,
           daisy_error_t *err)
{
    json_t *value = json_object_get(roi, part);
    if (!value)
        return daisy_error_set(err, "key '%s.%s': missing", key, part);
    int n = s_int_array(value, out, err);
    if (n < 0)
        daisy_error_prefix(err, "key '%s.%s'", key, part);
    return n;
}

static int
s_roi(json_t *task, const char *key, daisy_roi_t *out, daisy_error_t *err)
{
    static const s_key_t known[] = {
        {"offset", NULL}, {"shape", NULL}, {NULL, NULL},
    };
    json_t *value = json_object_get(task, key);
    int64_t offset[DAISY_MAX_DIMS], shape[DAISY_MAX_DIMS];
    if (!value)
        return daisy_error_set(err, "key '%s': missing", key);
    if (!json_is_object(value)) {
        s_expected(value, "an object with offset and shape", err);
        return daisy_error_prefix(err, "key '%s'", key);
    }
    if (s_check_keys(value, known, err))
        return daisy_error_prefix(err, "key '%s'", key);
    int dims = s_roi_part(value, key, "offset", offset, err);
    if (dims < 0)
        return -1;
    int shape_dims = s_roi_part(value, key, "shape", shape, err);
    if (shape_dims < 0)
        return -1;
    if (shape_dims != dims)
        return daisy_error_set(err, "key '%s': offset has %d entries but "
                               "shape has %d", key, dims, shape_dims);
    *out = daisy_roi_make(dims, offset, shape);
    return 0;
}

//  --------------------------------------------------------------------------
//  Optional task keys: one parser per key, each setting one field

static int
s_field_upstream(daisy_task_t *task, json_t *value, daisy_error_t *err)
{
    char buf[DESCRIBE_MAX];
    if (!json_is_array(value))
        return s_expected(value, "an array of task ids", err);
    size_t i;
    json_t *entry;
    json_array_foreach(value, i, entry) {
        if (!json_is_string(entry))
            return daisy_error_set(err, "entry %zu: expected a task id "
                                   "(string), got %s", i,
                                   s_describe(entry, buf));
        daisy_task_add_upstream(task, json_string_value(entry));
    }
    return 0;
}

static int
s_field_conflict(daisy_task_t *task, json_t *value, daisy_error_t *err)
{
    if (!json_is_boolean(value))
        return s_expected(value, "true or false", err);
    daisy_task_set_read_write_conflict(task, json_is_true(value));
    return 0;
}

static int
s_field_fit(daisy_task_t *task, json_t *value, daisy_error_t *err)
{
    daisy_fit_t fit = DAISY_FIT_VALID;
    if (!json_is_string(value))
        return s_expected(value, "valid, overhang or shrink", err);
    if (daisy_fit_parse(json_string_value(value), &fit))
        return daisy_error_set(err, "unknown fit '%s' (expected valid, "
                               "overhang or shrink)",
                               json_string_value(value));
    daisy_task_set_fit(task, fit);
    return 0;
}

//  {"shape": [...], "offset": [...]}, the offset optional (default 0).
static int
s_field_write_grid(daisy_task_t *task, json_t *value, daisy_error_t *err)
{
    static const s_key_t known[] = {
        {"offset", NULL}, {"shape", NULL}, {NULL, NULL},
    };
    int64_t offset[DAISY_MAX_DIMS] = {0}, shape[DAISY_MAX_DIMS];
    if (!json_is_object(value))
        return s_expected(value, "an object with shape and optionally offset", err);
    if (s_check_keys(value, known, err))
        return -1;
    int dims = s_roi_part(value, "write_grid", "shape", shape, err);
    if (dims < 0)
        return -1;
    if (json_object_get(value, "offset")) {
        int n = s_roi_part(value, "write_grid", "offset", offset, err);
        if (n < 0)
            return -1;
        if (n != dims)
            return daisy_error_set(err, "offset has %d entries but shape has %d", n, dims);
    }
    daisy_roi_t grid = daisy_roi_make(dims, offset, shape);
    daisy_task_set_write_grid(task, &grid);
    return 0;
}

static int
s_field_max_retries(daisy_task_t *task, json_t *value, daisy_error_t *err)
{
    int n = 0;
    if (s_int(value, &n, err))
        return -1;
    daisy_task_set_max_retries(task, n);
    return 0;
}

static int
s_field_timeout(daisy_task_t *task, json_t *value, daisy_error_t *err)
{
    if (!json_is_number(value))
        return s_expected(value, "a number of seconds", err);
    daisy_task_set_timeout(task, json_number_value(value));
    return 0;
}

static int
s_field_workers(daisy_task_t *task, json_t *value, daisy_error_t *err)
{
    int n = 0;
    if (s_int(value, &n, err))
        return -1;
    daisy_task_set_workers(task, n);
    return 0;
}

static int
s_field_command(daisy_task_t *task, json_t *value, daisy_error_t *err)
{
    const char *s = NULL;
    if (s_string(value, &s, err))
        return -1;
    daisy_task_set_command(task, s);
    return 0;
}

static int
s_field_worker(daisy_task_t *task, json_t *value, daisy_error_t *err)
{
    const char *s = NULL;
    if (s_string(value, &s, err))
        return -1;
    daisy_task_set_worker(task, s);
    return 0;
}

static int
s_field_check(daisy_task_t *task, json_t *value, daisy_error_t *err)
{
    const char *s = NULL;
    if (s_string(value, &s, err))
        return -1;
    daisy_task_set_check_command(task, s);
    return 0;
}

//  "resources": {"cpus": 4, "gpus": 1, "mem": "16G", "time": "2:00:00",
//  "partition": "gpu", "extra": ["--qos=high"]}; forms are checked by
//  validation, types here.
static int
s_resource_count(json_t *r, const char *key, uint32_t *out, daisy_error_t *err)
{
    json_t *v = json_object_get(r, key);
    int n = 0;
    if (!v)
        return 0;
    if (s_int(v, &n, err))
        return daisy_error_prefix(err, "key '%s'", key);
    if (n < 1 || n > 65536)
        return daisy_error_set(err, "key '%s': %d is not in 1..65536", key, n);
    *out = (uint32_t) n;
    return 0;
}

static int
s_resource_text(json_t *r, const char *key, const char **out, daisy_error_t *err)
{
    json_t *v = json_object_get(r, key);
    if (v && s_string(v, out, err))
        return daisy_error_prefix(err, "key '%s'", key);
    return 0;
}

//  "extra": an array of option strings, joined by spaces into buf.
static int
s_resource_extra(json_t *r, char *buf, size_t size, daisy_error_t *err)
{
    char what[DESCRIBE_MAX];
    json_t *v = json_object_get(r, "extra"), *entry;
    size_t i, used = 0;
    buf[0] = '\0';
    if (!v)
        return 0;
    if (!json_is_array(v)) {
        s_expected(v, "an array of sbatch options", err);
        return daisy_error_prefix(err, "key 'extra'");
    }
    json_array_foreach(v, i, entry) {
        if (!json_is_string(entry))
            return daisy_error_set(err, "key 'extra': entry %zu: expected a string, got %s",
                                   i, s_describe(entry, what));
        used += (size_t) snprintf(buf + used, used < size ? size - used : 0, "%s%s",
                                  used ? " " : "", json_string_value(entry));
    }
    if (used >= size)
        return daisy_error_set(err, "key 'extra': longer than %zu bytes", size - 1);
    return 0;
}

static int
s_field_resources(daisy_task_t *task, json_t *value, daisy_error_t *err)
{
    static const s_key_t known[] = {
        {"cpus", NULL}, {"gpus", NULL}, {"mem", NULL}, {"time", NULL},
        {"partition", NULL}, {"extra", NULL}, {NULL, NULL},
    };
    if (!json_is_object(value))
        return s_expected(value, "an object (cpus, gpus, mem, time, partition, extra)", err);
    daisy_resources_t r = {0};
    char extra[4096];
    if (s_check_keys(value, known, err) || s_resource_count(value, "cpus", &r.cpus, err)
        || s_resource_count(value, "gpus", &r.gpus, err)
        || s_resource_text(value, "mem", &r.mem, err)
        || s_resource_text(value, "time", &r.time, err)
        || s_resource_text(value, "partition", &r.partition, err)
        || s_resource_extra(value, extra, sizeof extra, err))
        return -1;
    r.extra = *extra ? extra : NULL;
    daisy_task_set_resources(task, &r);
    return 0;
}

//  Every task key. The first four are read before the task exists (its
//  constructor takes them); the others are applied in document order.
static const s_key_t s_task_keys[] = {
    {"id", NULL},
    {"total_roi", NULL},
    {"read_roi", NULL},
    {"write_roi", NULL},
    {"upstream", s_field_upstream},
    {"read_write_conflict", s_field_conflict},
    {"fit", s_field_fit},
    {"write_grid", s_field_write_grid},
    {"max_retries", s_field_max_retries},
    {"timeout", s_field_timeout},
    {"workers", s_field_workers},
    {"command", s_field_command},
    {"worker", s_field_worker},
    {"check", s_field_check},
    {"resources", s_field_resources},
    {NULL, NULL},
};

static int
s_apply_field(daisy_task_t *task, const char *key, json_t *value,
              daisy_error_t *err)
{
    const s_key_t *field = s_find_key(key, s_task_keys);
    if (field && field->parse && field->parse(task, value, err))
        return daisy_error_prefix(err, "key '%s'", key);
    return 0;
}

//  --------------------------------------------------------------------------
//  Tasks and the document

static int
s_task_id(json_t *object, const char **id, daisy_error_t *err)
{
    json_t *value = json_object_get(object, "id");
    if (!value)
        return daisy_error_set(err, "key 'id': missing");
    if (s_string(value, id, err))
        return daisy_error_prefix(err, "key 'id'");
    return 0;
}

//  The task at tasks[i], or NULL with a message naming it.
static daisy_task_t *
s_task(json_t *object, size_t i, daisy_error_t *err)
{
    const char *id = NULL;
    daisy_roi_t roi[3];
    if (!json_is_object(object)) {
        s_expected(object, "a task object", err);
        daisy_error_prefix(err, "tasks[%zu]", i);
        return NULL;
    }
    if (s_task_id(object, &id, err)) {
        daisy_error_prefix(err, "tasks[%zu]", i);
        return NULL;
    }
    bool ok = s_check_keys(object, s_task_keys, err) == 0;
    for (int k = 0; ok && k < 3; k++)
        ok = s_roi(object, s_task_keys[1 + k].key, &roi[k], err) == 0;
    daisy_task_t *task = ok ? daisy_task_new(id, roi[0], roi[1], roi[2])
                            : NULL;
    const char *key;
    json_t *value;
    json_object_foreach(object, key, value) {
        if (!task)
            break;
        if (s_apply_field(task, key, value, err))
            daisy_task_destroy(&task);
    }
    if (!task)
        daisy_error_prefix(err, "task '%s'", id);
    return task;
}

static int
s_markers(daisy_pipeline_t *pipeline, json_t *root, daisy_error_t *err)
{
    const char *dir = NULL;
    json_t *value = json_object_get(root, "markers");
    if (!value)
        return 0;
    if (!json_is_string(value)) {
        s_expected(value, "a directory (string)", err);
        return daisy_error_prefix(err, "key 'markers'");
    }
    if (s_string(value, &dir, err))
        return daisy_error_prefix(err, "key 'markers'");
    daisy_pipeline_set_markers(pipeline, dir);
    return 0;
}

static json_t *
s_tasks_array(json_t *root, daisy_error_t *err)
{
    static const s_key_t known[] = {
        {"tasks", NULL}, {"markers", NULL}, {NULL, NULL},
    };
    if (!json_is_object(root)) {
        s_expected(root, "an object with a \"tasks\" array", err);
        daisy_error_prefix(err, "top level");
        return NULL;
    }
    if (s_check_keys(root, known, err))
        return NULL;
    json_t *tasks = json_object_get(root, "tasks");
    if (!tasks)
        daisy_error_set(err, "key 'tasks': missing");
    else if (!json_is_array(tasks)) {
        s_expected(tasks, "an array of task objects", err);
        daisy_error_prefix(err, "key 'tasks'");
    }
    else if (json_array_size(tasks) == 0)
        daisy_error_set(err, "key 'tasks': empty array (a pipeline needs "
                        "at least one task)");
    else
        return tasks;
    return NULL;
}

static daisy_pipeline_t *
s_pipeline(json_t *root, daisy_error_t *err)
{
    json_t *tasks = s_tasks_array(root, err);
    if (!tasks)
        return NULL;
    daisy_pipeline_t *pipeline = daisy_pipeline_new();
    if (s_markers(pipeline, root, err))
        daisy_pipeline_destroy(&pipeline);
    for (size_t i = 0; pipeline && i < json_array_size(tasks); i++) {
        daisy_task_t *task = s_task(json_array_get(tasks, i), i, err);
        if (task)
            daisy_pipeline_add(pipeline, &task);
        else
            daisy_pipeline_destroy(&pipeline);
    }
    return pipeline;
}

static bool
s_blank(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (text[i] != ' ' && text[i] != '\t' && text[i] != '\r'
            && text[i] != '\n')
            return false;
    return true;
}

//  Messages are one line, but they quote the file's strings (ids, keys,
//  values) and its path, which may hold newlines or other control bytes.
static void
s_one_line(daisy_error_t *err)
{
    for (char *c = err ? err->msg : NULL; c && *c; c++)
        if ((unsigned char) *c < 0x20 || *c == 0x7f)
            *c = '?';
}

static daisy_pipeline_t *
s_parse(const char *text, size_t len, const char *name, daisy_error_t *err)
{
    json_error_t jerr;
    //  jansson would stop at a NUL byte and blame whatever is cut short.
    const char *nul = memchr(text, '\0', len);
    if (nul) {
        daisy_error_set(err, "%s: NUL byte at offset %zu (not a JSON text)",
                        name, (size_t) (nul - text));
        return NULL;
    }
    if (s_blank(text, len)) {
        daisy_error_set(err, "%s: empty file (expected a JSON object with "
                        "a \"tasks\" array)", name);
        return NULL;
    }
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        daisy_error_set(err, "%s:%d:%d: JSON syntax error: %s", name,
                        jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    daisy_pipeline_t *pipeline = s_pipeline(root, err);
    json_decref(root);
    if (pipeline && daisy_pipeline_validate(pipeline, err))
        daisy_pipeline_destroy(&pipeline);
    if (!pipeline)
        daisy_error_prefix(err, "%s", name);
    return pipeline;
}

//  Pipeline files are a few kilobytes; a larger one is a wrong path (a
//  volume, /dev/zero), refused before it fills memory.
#define FILE_MAX ((size_t) 64 << 20)

//  The whole file in a heap buffer; NULL with a message naming the path.
static char *
s_read_file(const char *path, size_t *len, daisy_error_t *err)
{
    FILE *file = fopen(path, "rb");
    if (!file) {
        daisy_error_set(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t size = 0, cap = 4096;
    char *text = malloc(cap);
    while (text) {
        size += fread(text + size, 1, cap - size, file);
        if (size < cap)
            break;
        if (cap >= FILE_MAX) {
            free(text);
            fclose(file);
            daisy_error_set(err, "%s: larger than %zu MiB, not a pipeline "
                            "file", path, FILE_MAX >> 20);
            return NULL;
        }
        char *bigger = realloc(text, cap *= 2);
        if (!bigger)
            free(text);
        text = bigger;
    }
    int error = !text ? ENOMEM : ferror(file) ? errno : 0;
    fclose(file);
    if (error) {
        free(text);
        daisy_error_set(err, "%s: cannot read: %s", path, strerror(error));
        return NULL;
    }
    *len = size;
    return text;
}

//  `{pipeline_dir}` in a command, worker or check: the file's directory,
//  absolute, so that a pipeline file can name programs beside it and work
//  from any directory (the workers start in the caller's). Shell-quoted
//  when it holds characters a shell would split or expand.
#define PIPELINE_DIR "{pipeline_dir}"

//  `dir` as one shell word: as it is when nothing in it needs quoting,
//  else single-quoted (a ' inside written '\'').
static char *
s_shell_word(const char *dir)
{
    char *out = malloc(4 * strlen(dir) + 3);
    if (!out)
        return NULL;
    bool plain = *dir && strspn(dir, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "0123456789_./-+,:=@%") == strlen(dir);
    size_t used = 0;
    if (!plain)
        out[used++] = '\'';
    for (const char *p = dir; *p; p++) {
        if (!plain && *p == '\'') {
            memcpy(out + used, "'\\''", 4);
            used += 4;
        } else
            out[used++] = *p;
    }
    if (!plain)
        out[used++] = '\'';
    out[used] = '\0';
    return out;
}

static char *
s_expand(const char *text, const char *dir)
{
    char *word = s_shell_word(dir);
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, PIPELINE_DIR)); p += strlen(PIPELINE_DIR))
        n++;
    char *out = word ? malloc(strlen(text) + n * strlen(word) + 1) : NULL;
    char *o = out;
    for (const char *p = text, *hit; o; p = hit + strlen(PIPELINE_DIR)) {
        hit = strstr(p, PIPELINE_DIR);
        size_t keep = hit ? (size_t)(hit - p) : strlen(p);
        memcpy(o, p, keep);
        o += keep;
        if (!hit) {
            *o = '\0';
            break;
        }
        o = stpcpy(o, word);
    }
    free(word);
    return out;
}

//  Whether a command, worker or check of the pipeline holds the marker.
static bool
s_uses_dir(const daisy_pipeline_t *pipeline)
{
    for (size_t i = 0; i < daisy_pipeline_size(pipeline); i++) {
        const daisy_task_t *t = daisy_pipeline_task(pipeline, i);
        const char *texts[] = {daisy_task_command(t), daisy_task_worker(t),
                               daisy_task_check_command(t)};
        for (size_t k = 0; k < 3; k++)
            if (texts[k] && strstr(texts[k], PIPELINE_DIR))
                return true;
    }
    return false;
}

static int
s_expand_dirs(daisy_pipeline_t *pipeline, const char *path, daisy_error_t *err)
{
    //  Only a pipeline that names its directory needs one: a file read
    //  from a pipe (`daisy plan <(gen)`, /dev/stdin) has none.
    if (!s_uses_dir(pipeline))
        return 0;
    char *abs = realpath(path, NULL);
    if (!abs)
        return daisy_error_set(err, "%s: %s names the file's directory, which cannot be "
                               "found: %s", path, PIPELINE_DIR, strerror(errno));
    char *slash = strrchr(abs, '/');
    if (slash)
        *(slash == abs ? slash + 1 : slash) = '\0';
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < daisy_pipeline_size(pipeline); i++) {
        daisy_task_t *t = daisy_pipeline_task(pipeline, i);
        static void (*const set[])(daisy_task_t *, const char *) = {
            daisy_task_set_command, daisy_task_set_worker, daisy_task_set_check_command};
        const char *now[] = {daisy_task_command(t), daisy_task_worker(t),
                             daisy_task_check_command(t)};
        for (size_t k = 0; rc == 0 && k < 3; k++) {
            if (!now[k] || !strstr(now[k], PIPELINE_DIR))
                continue;
            char *expanded = s_expand(now[k], abs);
            if (expanded)
                set[k](t, expanded);
            else
                rc = daisy_error_set(err, "out of memory");
            free(expanded);
        }
    }
    free(abs);
    return rc;
}

daisy_pipeline_t *
daisy_pipeline_load(const char *path, daisy_error_t *err)
{
    size_t len;
    char *text = s_read_file(path, &len, err);
    if (!text) {
        s_one_line(err);
        return NULL;
    }
    daisy_pipeline_t *pipeline = s_parse(text, len, path, err);
    free(text);
    if (pipeline && s_expand_dirs(pipeline, path, err) != 0)
        daisy_pipeline_destroy(&pipeline);
    if (!pipeline)
        s_one_line(err);
    return pipeline;
}

daisy_pipeline_t *
daisy_pipeline_parse(const char *json, const char *name, daisy_error_t *err)
{
    daisy_pipeline_t *pipeline = s_parse(json, strlen(json),
                                         name ? name : "<string>", err);
    if (!pipeline)
        s_one_line(err);
    return pipeline;
}
