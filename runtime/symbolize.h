/* Naming the frames of the stacks the runtime reports itself.  */
#ifndef DMEM_SYMBOLIZE_H
#define DMEM_SYMBOLIZE_H

#include <stdint.h>
#include "prim.h"

/* Write L (the report so far) to FD, then each of the N stacks STACKS
   (DMEM_STACK_DEPTH return addresses, 0-terminated; empty ones skipped)
   under "  TITLE:" as the analyzer's reports print frames:
   "    #K function+0xOFF (file:line) [module]", inlined calls as
   "    #K function (inlined) (file:line) [module]".  The frames are named by
   the installed analyzer (dmem symbolize --pid, on our process) or, when it
   cannot be started or fails, from the modules' symbol tables
   (function+offset, static functions too, no file:line).  Allocates
   nothing and takes no lock: safe at a heap error.  N is at most 8.  */
DMEM_HIDDEN void dmem__put_stacks (struct dmem_line *l, int fd, int n,
                                   const char *const *titles,
                                   const uint64_t *const *stacks);

#endif
