/* The installed analyzer (the dmem command), started by the runtime on its
   own process: to name the frames of the heap errors it reports (dmem
   symbolize) and for dmem_check_leaks (dmem leaks).  */
#ifndef DMEM_ANALYZER_H
#define DMEM_ANALYZER_H

#include <stddef.h>
#include <sys/types.h>
#include "prim.h"

/* A started analyzer: its pid and the memory its start-up used.  */
struct dmem_child
{
  pid_t pid;
  void *map;
  size_t size;
};

/* The analyzer's path, found at start-up: $DMEM_ANALYZER, else ../bin/dmem
   beside libdmem.so, else the configured $(bindir)/dmem; NULL when there
   is none (or DMEM_ANALYZER is set and empty).  */
DMEM_HIDDEN const char *dmem__analyzer_path (void);

/* Start the analyzer with ARGV (ARGV[0] its name), the environment without
   LD_PRELOAD, no signal handlers, its stdout on OUT_FD and, when
   EXTRA_FD >= 0, file descriptor 3 on EXTRA_FD; the other descriptors as
   ours (close-on-exec ones closed).  With GO_FD >= 0 it waits for one byte
   on GO_FD before it starts (the caller sets up what the analyzer needs,
   knowing its pid), and this returns at once; else this returns once it
   has started (exec'd).  Needs no allocation, lock or fork handler: safe
   at a heap error.  Returns 0, or -1 (no analyzer, out of memory or
   processes).  */
DMEM_HIDDEN int dmem__analyzer_start (char *const *argv, int out_fd,
                                      int extra_fd, int go_fd,
                                      struct dmem_child *c);

/* Wait for C to end and release what it used.  Returns its wait status,
   or -1.  */
DMEM_HIDDEN int dmem__analyzer_wait (struct dmem_child *c);

#endif
