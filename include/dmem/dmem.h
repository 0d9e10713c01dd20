/* dmem's public API: what a program can ask of the dmem runtime
   (libdmem.so) it runs under.  Build with `pkg-config --cflags dmem`;
   see dmem_check_leaks(3).  */
#ifndef DMEM_DMEM_H
#define DMEM_DMEM_H

#ifdef __cplusplus
extern "C" {
#endif

/* Check this process for leaks now, as `dmem leaks --pid` does: every
   thread is stopped while its memory is read (the calling thread waits),
   the report is written on stderr, and the program goes on.  Returns the
   number of direct leaks: blocks no pointer reaches, each group of leaked
   blocks that point to each other counted once (indirect and possible
   leaks are in the report, not in the number); 0 when there are none.

   Returns -1 when no check was made: the runtime is not loaded (declared
   weak here, so a program built with this header links and runs without
   libdmem.so), or the analyzer (the dmem command) cannot be started or
   fails (a line on stderr says why).  Link with `pkg-config --libs dmem`
   (-ldmem) to always run under the runtime; without it, the check runs
   when the runtime is preloaded (dmem run, LD_PRELOAD).  */
int dmem_check_leaks (void) __attribute__ ((weak));
#define dmem_check_leaks() \
  (dmem_check_leaks ? (dmem_check_leaks) () : -1)

#ifdef __cplusplus
}
#endif

#endif
