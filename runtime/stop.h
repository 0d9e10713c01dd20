/* stop-at-exit=PID:PARENT (stop.c): `dmem run` reads our heap at exit.  */
#ifndef DMEM_STOP_H
#define DMEM_STOP_H

#include "prim.h"

/* The runtime's exit handler's part for `dmem run`: with report-socket,
   tell dmem run and wait while it reads the heap; with stop-at-exit, stop
   (SIGSTOP) until it continues us.  Returns at once when neither is set
   or dmem run is gone.  (_exit and _Exit, interposed in stop.c, do the
   report-socket part too.)  */
DMEM_HIDDEN void dmem__stop_at_exit (void);

#endif
