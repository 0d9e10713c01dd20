/* stop-at-exit=PID:PARENT (stop.c): `dmem run` reads our heap at exit.  */
#ifndef DMEM_STOP_H
#define DMEM_STOP_H

#include "prim.h"

/* Stop this process (SIGSTOP) for `dmem run` to read, unless it is gone;
   returns once continued.  Called from the runtime's exit handler.  */
DMEM_HIDDEN void dmem__stop_at_exit (void);

#endif
