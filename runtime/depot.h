/* The stack depot (include/dmem/format.h): allocation stacks kept once.
   Safe inside malloc: it maps memory with mmap and takes no lock.  */
#ifndef DMEM_DEPOT_H
#define DMEM_DEPOT_H

#include <stdint.h>
#include "dmem/format.h"
#include "prim.h"

/* The id of stack PCS, added if new; DMEM_STACK_NOT_KEPT if it is new and
   the depot cannot grow.  */
DMEM_HIDDEN uint32_t dmem__depot_put (const uint64_t pcs[DMEM_STACK_DEPTH]);
/* The PCs of stack ID, or NULL when it was not kept.  */
DMEM_HIDDEN const uint64_t *dmem__depot_get (uint32_t id);

#endif
