/*  daisy_worker.c - the `daisy-worker` program

    Everything lives in worker.c, shared with `daisy worker`, so the two can
    never drift apart.
*/
#include "args.h"
#include "worker.h"

int
main(int argc, char **argv)
{
    return cli_stdout_done("daisy-worker", cli_worker(argc, argv, "daisy-worker"));
}
