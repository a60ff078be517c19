/*  tm_cachecmd.h - the `testmesh cache` command (docs/caching.md, 1). */
#ifndef TM_CACHECMD_H_INCLUDED
#define TM_CACHECMD_H_INCLUDED

#include "tm_common.h"

//  Runs `testmesh cache SUBCOMMAND ...` with ARGV[0] = "cache".  Returns
//  the exit code.
int tm_cachecmd_main (int argc, char **argv);

#endif
