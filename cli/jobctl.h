/*  jobctl.h - Ctrl-Z and fg for programs that run commands in groups of
    their own (daisy-worker, daisy run --serial)
*/
#ifndef DAISY_CLI_JOBCTL_H
#define DAISY_CLI_JOBCTL_H

#include <sys/types.h>

//  From now on SIGTSTP, SIGTTIN and SIGTTOU stop the process group in
//  *group (when it is > 0) and then this process; SIGCONT that ends the
//  stop continues the group. `group` is read in the handler: it is the
//  variable the caller's command runner keeps the running command's
//  group in (daisy_exec_env_t.group).
void jobctl_follow(volatile pid_t *group);

#endif
