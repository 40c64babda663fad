/*  fuzz_decode.c - libFuzzer target for daisy_decode

    Any input: the decoder must return one of its codes without crashing,
    reading out of bounds or allocating beyond the frame's worth (the
    sanitizers and libFuzzer's malloc limit watch). When it says OK, the
    message must be real: it encodes, the encoding decodes again to the
    same type, and encoding that gives the same bytes (abort otherwise).
    Built and run by scripts/fuzz.sh; seeds are in protocol/corpus.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daisy/protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static daisy_decoder_t *decoder, *second;
    static daisy_buffer_t first_bytes, second_bytes;
    daisy_msg_t msg, again;
    daisy_error_t err;
    if (!decoder) {
        decoder = daisy_decoder_new();
        second = daisy_decoder_new();
        if (!decoder || !second)
            abort();
    }
    daisy_proto_error_t rc = daisy_decode(decoder, data, size, &msg, &err);
    if ((int)rc < 0 || rc > DAISY_PROTO_BAD_FIELD)
        abort();
    if (rc != DAISY_PROTO_OK)
        return 0;
    //  A second decoder, so that msg stays valid while `again` is read.
    if (daisy_encode(&msg, &first_bytes) != 0)
        abort();
    if (daisy_decode(second, first_bytes.data, first_bytes.size, &again, &err) != DAISY_PROTO_OK)
        abort();
    if (again.type != msg.type)
        abort();
    if (daisy_encode(&again, &second_bytes) != 0 || second_bytes.size != first_bytes.size
        || memcmp(second_bytes.data, first_bytes.data, first_bytes.size) != 0)
        abort();
    return 0;
}
