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

//  The state of one block, as the scheduler tracks it on request
//  (daisy_scheduler_track_states) and the progress feed carries it
//  (BLOCK_CHANGES, BLOCK_SNAPSHOT): one byte per block on the wire.
typedef enum {
    DAISY_BLOCK_PENDING = 0,     //  waiting for upstream blocks
    DAISY_BLOCK_READY = 1,       //  may be handed out now
    DAISY_BLOCK_PROCESSING = 2,  //  held by a worker
    DAISY_BLOCK_COMPLETED = 3,   //  done by a worker
    DAISY_BLOCK_SKIPPED = 4,     //  found already done (completion check, done markers)
    DAISY_BLOCK_FAILED = 5,      //  failed for good
    DAISY_BLOCK_ORPHANED = 6     //  downstream of a failed block, never run
} daisy_block_state_t;
#define DAISY_BLOCK_STATES 7

#ifdef __cplusplus
}
#endif
#endif
