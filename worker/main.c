/*  main.c - the `daisy-worker` program

    Everything lives in cli.c, shared with `daisy worker`, so the two can
    never drift apart.
*/
#include "cli.h"

int
main(int argc, char **argv)
{
    return daisy_worker_cli(argc, argv, "daisy-worker");
}
