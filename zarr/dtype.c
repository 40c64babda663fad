/*  dtype.c - element types of Zarr arrays: names, sizes, byte order, fill values

    One table holds what daisy knows of a type: numpy's name ("uint16"),
    its kind ('u', 'i' or 'f') and its size, from which the Zarr v2 type
    string ("<u2", "|u1", ">f8") is parsed and made, so names, sizes and
    .zarray agree. Big-endian arrays written elsewhere (">u2") are read and
    written by swapping bytes after decoding and before encoding; the swap
    is here with the rest of what a type means in memory. A fill value is
    kept as one element in native byte order, and printed as Python zarr
    spells it in .zarray.
*/
#include "array_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Types ------------------------------------------------------------------

static const struct {
    const char *name;
    char kind;
    size_t size;
} s_dtypes[DAISY_DTYPE_COUNT] = {
    [DAISY_DTYPE_UINT8] = {"uint8", 'u', 1},   [DAISY_DTYPE_UINT16] = {"uint16", 'u', 2},
    [DAISY_DTYPE_UINT32] = {"uint32", 'u', 4}, [DAISY_DTYPE_UINT64] = {"uint64", 'u', 8},
    [DAISY_DTYPE_INT8] = {"int8", 'i', 1},     [DAISY_DTYPE_INT16] = {"int16", 'i', 2},
    [DAISY_DTYPE_INT32] = {"int32", 'i', 4},   [DAISY_DTYPE_INT64] = {"int64", 'i', 8},
    [DAISY_DTYPE_FLOAT32] = {"float32", 'f', 4}, [DAISY_DTYPE_FLOAT64] = {"float64", 'f', 8},
};

bool
zarr_dtype_valid(daisy_dtype_t t)
{
    return (unsigned)t < DAISY_DTYPE_COUNT;
}

const char *
daisy_dtype_name(daisy_dtype_t dtype)
{
    return zarr_dtype_valid(dtype) ? s_dtypes[dtype].name : "unknown";
}

size_t
daisy_dtype_size(daisy_dtype_t dtype)
{
    return zarr_dtype_valid(dtype) ? s_dtypes[dtype].size : 0;
}

//  'u', 'i' or 'f'.
char
zarr_dtype_kind(daisy_dtype_t t)
{
    return s_dtypes[t].kind;
}

static int
s_dtype_lookup(char kind, size_t size, daisy_dtype_t *dtype)
{
    for (int t = 0; t < DAISY_DTYPE_COUNT; t++)
        if (s_dtypes[t].kind == kind && s_dtypes[t].size == size) {
            *dtype = (daisy_dtype_t)t;
            return 0;
        }
    return -1;
}

//  "<u2" / "|u1" / ">i4" / "uint16"; *big is set for '>'.
int
zarr_dtype_parse(const char *name, daisy_dtype_t *dtype, bool *big)
{
    *big = false;
    if (!name)
        return -1;
    for (int t = 0; t < DAISY_DTYPE_COUNT; t++)
        if (strcmp(name, s_dtypes[t].name) == 0) {
            *dtype = (daisy_dtype_t)t;
            return 0;
        }
    if (strlen(name) != 3 || name[2] < '1' || name[2] > '8')
        return -1;
    size_t size = (size_t)(name[2] - '0');
    if (name[0] == '>')
        *big = size > 1;
    else if (name[0] == '|') {
        if (size != 1)
            return -1;      //  numpy writes '|' only where order does not matter
    } else if (name[0] != '<')
        return -1;
    return s_dtype_lookup(name[1], size, dtype);
}

int
daisy_dtype_parse(const char *name, daisy_dtype_t *dtype)
{
    bool big;
    daisy_dtype_t t;
    if (zarr_dtype_parse(name, &t, &big) || big)
        return -1;
    *dtype = t;
    return 0;
}

//  The .zarray type string Python zarr writes for a little-endian type.
void
zarr_dtype_zarr(daisy_dtype_t t, char out[4])
{
    out[0] = s_dtypes[t].size == 1 ? '|' : '<';
    out[1] = s_dtypes[t].kind;
    out[2] = (char)('0' + s_dtypes[t].size);
    out[3] = '\0';
}

void
zarr_dtype_swap(void *buf, size_t items, size_t itemsize)
{
    if (itemsize == 2) {
        uint16_t *p = buf;
        for (size_t i = 0; i < items; i++)
            p[i] = __builtin_bswap16(p[i]);
    } else if (itemsize == 4) {
        uint32_t *p = buf;
        for (size_t i = 0; i < items; i++)
            p[i] = __builtin_bswap32(p[i]);
    } else if (itemsize == 8) {
        uint64_t *p = buf;
        for (size_t i = 0; i < items; i++)
            p[i] = __builtin_bswap64(p[i]);
    }
}

//  Fill values ------------------------------------------------------------

//  Store `v` as one element of type t in `item`; -1 when it does not fit.
int
zarr_fill_from_double(daisy_dtype_t t, double v, unsigned char item[8], double *exact)
{
    memset(item, 0, 8);
    char kind = s_dtypes[t].kind;
    size_t size = s_dtypes[t].size;
    if (kind == 'f') {
        if (size == 4) {
            float f = (float)v;
            memcpy(item, &f, 4);
            *exact = (double)f;
        } else {
            memcpy(item, &v, 8);
            *exact = v;
        }
        return 0;
    }
    if (!isfinite(v) || v != floor(v))
        return -1;
    if (kind == 'u') {
        double max = size == 8 ? 18446744073709551616.0 : ldexp(1.0, (int)(8 * size));
        if (v < 0 || v >= max)
            return -1;
        uint64_t u = (uint64_t)v;
        memcpy(item, &u, size);     //  little-endian host: low bytes first
    } else {
        double lim = ldexp(1.0, (int)(8 * size) - 1);
        if (v < -lim || v >= lim)
            return -1;
        int64_t i = (int64_t)v;
        memcpy(item, &i, size);
    }
    *exact = v;
    return 0;
}

int
zarr_fill_from_int(daisy_dtype_t t, int64_t i, unsigned char item[8], double *exact)
{
    char kind = s_dtypes[t].kind;
    size_t size = s_dtypes[t].size;
    if (kind == 'f')
        return zarr_fill_from_double(t, (double)i, item, exact);
    memset(item, 0, 8);
    if (kind == 'u') {
        if (i < 0 || (size < 8 && (uint64_t)i >> (8 * size)))
            return -1;
    } else if (size < 8) {
        int64_t lim = (int64_t)1 << (8 * size - 1);
        if (i < -lim || i >= lim)
            return -1;
    }
    memcpy(item, &i, size);
    *exact = (double)i;
    return 0;
}

//  Python's spelling of a fill value, as .zarray holds it.
void
zarr_fill_format(daisy_dtype_t t, const unsigned char item[8], char *out, size_t len)
{
    char kind = s_dtypes[t].kind;
    size_t size = s_dtypes[t].size;
    if (kind == 'u') {
        uint64_t u = 0;
        memcpy(&u, item, size);
        snprintf(out, len, "%llu", (unsigned long long)u);
        return;
    }
    if (kind == 'i') {
        int64_t i = 0;
        memcpy(&i, item, size);
        if (size < 8) {     //  sign-extend
            int shift = 64 - 8 * (int)size;
            i = (int64_t)((uint64_t)i << shift) >> shift;
        }
        snprintf(out, len, "%lld", (long long)i);
        return;
    }
    double v;
    if (size == 4) {
        float f;
        memcpy(&f, item, 4);
        v = f;
    } else
        memcpy(&v, item, 8);
    if (isnan(v))
        snprintf(out, len, "\"NaN\"");
    else if (isinf(v))
        snprintf(out, len, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    else {
        //  The shortest text that reads back as the same double, with ".0"
        //  for whole numbers as Python's repr has.
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(out, len, "%.*g", prec, v);
            if (strtod(out, NULL) == v)
                break;
        }
        if (!strpbrk(out, ".en"))
            strncat(out, ".0", len - strlen(out) - 1);
    }
}
