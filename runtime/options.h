/* Runtime options, read once from DMEM_OPTS=opt,opt=value,...  */
#ifndef DMEM_OPTIONS_H
#define DMEM_OPTIONS_H

#include "prim.h"

struct dmem_options
{
  int trace_stderr;     /* trace-stderr: one line per call on stderr */
  int log_allocs;       /* log-allocs: accepted; tracking is always on */
  int abort_shutdown;   /* abort-shutdown: abort() at exit for a core */
  long stop_at_exit;    /* stop-at-exit=PID[:PARENT]: SIGSTOP at exit if we are */
  long stop_parent;     /* PID, only while PARENT is our parent (0: always) */
  char report_socket[108]; /* report-socket=@NAME: tell dmem run at exit (stop.c) */
  /* Fault injection (failinject.c).  */
  int fail_once;         /* fail-once: fail each new allocation stack once */
  char fail_file[256];   /* fail-file=PATH: hashes of stacks already failed */
  char fail_ignore[512]; /* fail-ignore=SUBSTR;...: never fail these stacks */
  long fail_skip;        /* fail-skip=N: let the first N allocations through */
  long fail_one_in;      /* fail-one-in=N: fail each allocation with p = 1/N */
  /* Heap integrity (integrity.c).  */
  int keep_going;        /* keep-going: report heap errors, do not abort */
  long quarantine;       /* quarantine=BYTES: hold freed blocks, poisoned */
  int no_mismatch;       /* no-mismatch: do not report alloc-dealloc mismatches */
};

DMEM_HIDDEN extern struct dmem_options dmem__options;

/* Parse DMEM_OPTS into dmem__options.  Needs the environment to be set up
   (call from a constructor, not from the loader's first mallocs).  Unknown
   or malformed options get one warning line each on stderr and are ignored.  */
DMEM_HIDDEN void dmem__options_read (void);

#endif
