/*  daisy/counts.h - how many blocks of a task are in which state

    One plain struct, in a header of its own because two layers carry it:
    the scheduler counts blocks, and the wire protocol sends the counts to
    monitors (task_state events), and the protocol must not depend on the
    scheduler.
*/
#ifndef DAISY_COUNTS_H
#define DAISY_COUNTS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint64_t total;
    uint64_t ready;        //  may be acquired now
    uint64_t processing;
    uint64_t pending;      //  total - ready - processing - completed - failed - orphaned
    uint64_t completed;    //  includes skipped
    uint64_t skipped;
    uint64_t failed;       //  failed for good
    uint64_t orphaned;     //  downstream of a failure, never run
    uint64_t retries;      //  failed attempts that were retried
} daisy_task_counts_t;

#ifdef __cplusplus
}
#endif
#endif
