/* Fault injection: fail allocations on purpose (DMEM_OPTS=fail-once,
   fail-one-in=N) to flush out unchecked NULL returns.  */
#ifndef DMEM_FAILINJECT_H
#define DMEM_FAILINJECT_H

#include <stddef.h>
#include <stdint.h>
#include "prim.h"

/* Nonzero once fault injection is on; the allocation paths test it first,
   so it costs one load when off.  */
DMEM_HIDDEN extern int dmem__failing;

/* Turn fault injection on if the options ask for it: load the fail file,
   open the log, catch crashes.  Call once, after the options are read.  */
DMEM_HIDDEN void dmem__failinject_start (void);

/* Whether the allocation of SIZE bytes from stack PCS must fail.  If so the
   failure is recorded (state, log, fail file) and the caller returns NULL
   with errno ENOMEM.  */
DMEM_HIDDEN int dmem__should_fail (const uint64_t *pcs, size_t size);

#endif
