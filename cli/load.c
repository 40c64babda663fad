/*  load.c - load a pipeline file for a program, with its warnings

    Validation happens inside daisy_pipeline_load(); the warnings are asked
    for task by task here, because only programs print.
*/
#include "load.h"

#include <stdio.h>

daisy_pipeline_t *
cli_load_pipeline(const char *prog, const char *path)
{
    daisy_error_t err;
    daisy_pipeline_t *p = daisy_pipeline_load(path, &err);
    if (!p) {
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        return NULL;
    }
    for (size_t i = 0; i < daisy_pipeline_size(p); i++)
        if (daisy_pipeline_warning(p, i, &err))
            fprintf(stderr, "%s: warning: %s: %s\n", prog, path, err.msg);
    return p;
}

int
cli_check_runnable(const char *prog, const char *path, const daisy_pipeline_t *p)
{
    for (size_t i = 0; i < daisy_pipeline_size(p); i++) {
        const daisy_task_t *t = daisy_pipeline_task(p, i);
        void *arg;
        if (!daisy_task_command(t) && !daisy_task_worker(t) && !daisy_task_process(t, &arg)) {
            fprintf(stderr, "%s: %s: task '%s': neither \"command\" (run once per block) nor "
                    "\"worker\" (a program running the worker loop): nothing could run its "
                    "blocks\n", prog, path, daisy_task_id(t));
            return -1;
        }
    }
    return 0;
}
