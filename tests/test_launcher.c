/*  test_launcher.c - the launcher with real worker processes

    A task whose worker program dies at once: the launcher replaces it
    until the task's workers died `restart_cap` times, then abandons the
    task; its counters (running, deaths) say so. A task whose worker
    program runs the blocks: no death counted, nobody left running.
*/
#include <criterion/criterion.h>
#include <stdlib.h>
#include <unistd.h>

#include "testutil.h"

static char logs[] = "/tmp/daisy-launcher-XXXXXX";

static void
setup(void)
{
    cr_assert_not_null(mkdtemp(logs));
}

static void
teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", logs);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(launcher, .init = setup, .fini = teardown, .timeout = 60);

//  Serve the one-task pipeline with `workers` processes of `command`.
static void
serve(daisy_task_t *task, uint32_t restart_cap, uint32_t *deaths, uint32_t *running,
      daisy_task_counts_t *counts)
{
    daisy_pipeline_t *p = daisy_pipeline_new();
    daisy_pipeline_add(p, &task);
    daisy_error_t err;
    daisy_graph_t *g = daisy_graph_new(p, &err);
    cr_assert_not_null(g, "%s", err.msg);
    daisy_broker_options_t bo = daisy_broker_options_default();
    bo.bind = "tcp://127.0.0.1:*";
    bo.heartbeat_ms = 200;
    daisy_broker_t *b = daisy_broker_new(g, &bo, &err);
    cr_assert_not_null(b, "%s", err.msg);
    daisy_launcher_options_t lo = {.log_dir = logs, .restart_cap = restart_cap,
                                   .worker_program = DAISY_WORKER_PROGRAM};
    daisy_launcher_t *l = daisy_launcher_new(b, &lo, &err);
    cr_assert_not_null(l, "%s", err.msg);
    //  This run's own folder in it, named by time and run id.
    const char *dir = daisy_launcher_log_dir(l);
    cr_assert_eq(strncmp(dir, logs, strlen(logs)), 0, "%s", dir);
    cr_assert(strstr(dir, daisy_broker_run_id(b)), "%s", dir);
    daisy_serve(b, l, NULL, NULL);
    *deaths = daisy_launcher_deaths(l, 0);
    *running = daisy_launcher_running(l, 0);
    daisy_scheduler_counts(daisy_broker_scheduler(b), 0, counts);
    cr_assert_eq(daisy_launcher_deaths(l, 7), 0, "no such task: 0");
    daisy_launcher_destroy(&l);
    cr_assert_null(l);
    daisy_broker_destroy(&b);
    daisy_graph_destroy(&g);
    daisy_pipeline_destroy(&p);
}

Test(launcher, dying_workers_are_replaced_up_to_the_cap)
{
    daisy_task_t *t = tu_task_1d("broken", 0, 10, 1, 0, 1);
    daisy_task_set_worker(t, "exit 3");
    daisy_task_set_workers(t, 2);
    uint32_t deaths, running;
    daisy_task_counts_t c;
    serve(t, 5, &deaths, &running, &c);
    cr_assert_eq(deaths, 5, "deaths %u", deaths);
    cr_assert_eq(running, 0);
    cr_assert_eq(c.completed, 0);
    cr_assert_eq(c.orphaned, 10, "abandoned: every block orphaned, got %llu",
                 (unsigned long long)c.orphaned);
}

Test(launcher, working_workers_die_not)
{
    daisy_task_t *t = tu_task_1d("fine", 0, 10, 1, 0, 1);
    daisy_task_set_command(t, "true");
    daisy_task_set_workers(t, 2);
    uint32_t deaths, running;
    daisy_task_counts_t c;
    serve(t, 5, &deaths, &running, &c);
    cr_assert_eq(deaths, 0, "deaths %u", deaths);
    cr_assert_eq(c.completed, 10);
}
