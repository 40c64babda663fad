/*  crc32c.c - CRC-32C (Castagnoli), the checksum of Zarr v3's crc32c codec

    Why by hand: no Debian library the project already links has it (zlib
    has only CRC-32, another polynomial), and 60 lines are cheaper than a
    new dependency. Slice-by-8: eight 256-entry tables, built once (by
    pthread_once, so threads may race to the first call), take eight bytes
    per step, about 1.5 GB/s, enough next to compression. The checksum is
    the reflected polynomial 0x82F63B78 with initial value and final xor
    0xFFFFFFFF, stored little endian after the data, as the codec's
    specification and Python's crc32c package have it.
*/
#include "array_internal.h"

#include <pthread.h>
#include <string.h>

static uint32_t s_table[8][256];
static pthread_once_t s_once = PTHREAD_ONCE_INIT;

static void
s_build(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
        s_table[0][i] = c;
    }
    for (int t = 1; t < 8; t++)
        for (int i = 0; i < 256; i++)
            s_table[t][i] = (s_table[t - 1][i] >> 8) ^ s_table[0][s_table[t - 1][i] & 0xFF];
}

//  CRC-32C of `len` bytes at `data`.
uint32_t
zarr_crc32c(const void *data, size_t len)
{
    pthread_once(&s_once, s_build);
    const unsigned char *p = data;
    uint32_t c = 0xFFFFFFFFu;
    while (len >= 8) {
        uint32_t lo, hi;
        memcpy(&lo, p, 4);          //  little-endian host (as the rest of zarr/)
        memcpy(&hi, p + 4, 4);
        lo ^= c;
        c = s_table[7][lo & 0xFF] ^ s_table[6][(lo >> 8) & 0xFF]
            ^ s_table[5][(lo >> 16) & 0xFF] ^ s_table[4][lo >> 24]
            ^ s_table[3][hi & 0xFF] ^ s_table[2][(hi >> 8) & 0xFF]
            ^ s_table[1][(hi >> 16) & 0xFF] ^ s_table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len--)
        c = (c >> 8) ^ s_table[0][(c ^ *p++) & 0xFF];
    return c ^ 0xFFFFFFFFu;
}
