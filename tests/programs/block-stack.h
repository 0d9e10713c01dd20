/* The allocation stack of a live dmem block, found as readers find it:
   through the runtime's exported descriptor and its stack depot
   (include/dmem/format.h).  For test programs that look at their own
   blocks.  */
#include <dlfcn.h>
#include <stdint.h>
#include "dmem/format.h"

/* The DMEM_STACK_DEPTH PCs of B's allocation stack, or NULL.  */
static const uint64_t *
block_pcs (const struct dmem_block *b)
{
  static const uint64_t *d;
  if (d == NULL)
    d = dlsym (RTLD_DEFAULT, DMEM_DESCRIPTOR_SYMBOL);
  if (d == NULL || d[DMEM_DESC_VERSION] < 2 || b->stack == DMEM_STACK_NOT_KEPT)
    return NULL;
  const uint64_t *chunks = (const uint64_t *) (uintptr_t)
    (d[DMEM_DESC_DEPOT] + d[DMEM_DESC_DEPOT_OFF_CHUNKS]);
  uint64_t per = d[DMEM_DESC_DEPOT_CHUNK_STACKS];
  uint64_t chunk = chunks[b->stack / per];
  if (chunk == 0)
    return NULL;
  return (const uint64_t *) (uintptr_t)
    (chunk + (b->stack % per) * d[DMEM_DESC_DEPOT_STACK_SIZE]
     + d[DMEM_DESC_DEPOT_OFF_PCS]);
}
