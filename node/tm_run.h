/*  tm_run.h - the `testmesh run` command. */
#ifndef TM_RUN_H_INCLUDED
#define TM_RUN_H_INCLUDED

#include "tm_common.h"

//  Runs `testmesh run` with ARGV[0] = "run".  Returns the exit code
//  (TM_EXIT_OK, TM_EXIT_FAILED or TM_EXIT_ERROR).
int tm_run_main (int argc, char **argv);

#endif
