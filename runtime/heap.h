/* The tracked heap: every block the runtime hands out carries a header and
   sits on a shard list.  override.c maps the C allocation API onto these.  */
#ifndef DMEM_HEAP_H
#define DMEM_HEAP_H

#include <stddef.h>
#include <malloc.h>
#include "dmem/format.h"
#include "prim.h"
#include "unwind.h"

/* Each returns what the C function of the same name returns and sets errno
   the same way; blocks they return are tracked, allocated from STACK (the
   caller's, unwind.h).  */
DMEM_HIDDEN void *dmem__malloc (size_t size, const struct dmem_stack *stack);
DMEM_HIDDEN void *dmem__calloc (size_t n, size_t size,
                                const struct dmem_stack *stack);
DMEM_HIDDEN void *dmem__realloc (void *p, size_t size,
                                 const struct dmem_stack *stack);
/* FREE_PCS, the stack freeing P, may be NULL: it is taken if needed.  */
DMEM_HIDDEN void dmem__free (void *p, const uint64_t *free_pcs);
/* Aligned allocation.  ALIGN must be a power of two.  */
DMEM_HIDDEN void *dmem__aligned (size_t align, size_t size,
                                 const struct dmem_stack *stack);
DMEM_HIDDEN size_t dmem__usable_size (void *p);
/* operator new and new[]: a block allocated as KIND (enum dmem_alloc_kind),
   aligned to ALIGN (0 or up to 16: malloc's alignment; else a power of two).
   NULL with errno ENOMEM when out of memory: throwing is the caller's.  */
DMEM_HIDDEN void *dmem__new (size_t size, size_t align, int kind,
                             const struct dmem_stack *stack);
/* operator delete and delete[] of P as KIND: a block allocated another way
   is reported (dmem__report_mismatch), then freed.  */
DMEM_HIDDEN void dmem__delete (void *p, int kind, const uint64_t *free_pcs);
/* mallinfo2() of the allocator below us.  */
DMEM_HIDDEN struct mallinfo2 dmem__next_mallinfo2 (void);

/* The runtime's state, named by the descriptor.  */
DMEM_HIDDEN extern struct dmem_state dmem__state;

#endif
