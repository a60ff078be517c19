/*  tm_agent.h - `testmesh agent` and the commands that talk to it:
    `testmesh members` and `testmesh token`.  Each returns the exit code. */
#ifndef TM_AGENT_H_INCLUDED
#define TM_AGENT_H_INCLUDED

#include "tm_common.h"

int tm_agent_main (int argc, char **argv);
int tm_members_main (int argc, char **argv);
int tm_token_main (int argc, char **argv);
int tm_stats_main (int argc, char **argv);

#endif
