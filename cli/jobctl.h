/*  jobctl.h - Ctrl-Z and fg for programs that run commands in groups of
    their own (daisy-worker, daisy run --serial)
*/
#ifndef DAISY_CLI_JOBCTL_H
#define DAISY_CLI_JOBCTL_H

#include <stdbool.h>
#include <sys/types.h>

//  From now on SIGTSTP, SIGTTIN and SIGTTOU stop the process group in
//  *group (when it is > 0) and then this process; with continue_group,
//  the SIGCONT that ends the stop continues the group (without it the
//  caller does, when it chooses: daisy-worker, once its broker has said
//  the block is still its own). `group` is read in the handler: it is the
//  variable the caller's command runner keeps the running command's
//  group in (daisy_exec_env_t.group).
void jobctl_follow(volatile pid_t *group, bool continue_group);

#endif
