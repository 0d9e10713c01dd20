/* Allocation stacks: a fast unwinder over the unwind tables (.eh_frame) that
   every module carries, so stacks are right through code built without
   frame pointers.  It never allocates and takes no lock that can block.  */
#ifndef DMEM_UNWIND_H
#define DMEM_UNWIND_H

#include <stdint.h>
#include "dmem/format.h"
#include "prim.h"

/* Store in PCS up to DEPTH return addresses of the current call stack,
   innermost first, starting at the first frame outside libdmem.so; zero the
   rest.  Returns how many were stored.  */
DMEM_HIDDEN int dmem__capture_stack (uint64_t *pcs, int depth);

/* An allocation stack: its return addresses, innermost first, 0-filled,
   and its id in the stack depot (DMEM_STACK_NOT_KEPT if it could not be
   kept).  */
struct dmem_stack
{
  uint64_t pcs[DMEM_STACK_DEPTH];
  uint32_t id;
};

/* Store in STACK the stack of the caller of an entry point of the runtime:
   ENTRY_SP is the stack pointer at the entry point's first instruction (it
   points at the return address) and ENTRY_BP the rbp there.  Faster than
   dmem__capture_stack: no frame of the runtime is walked, and a stack this
   thread took lately from the same SP is checked rather than walked again,
   its depot id kept with it.  */
DMEM_HIDDEN void dmem__caller_stack (struct dmem_stack *stack,
                                     const uint64_t *entry_sp,
                                     uint64_t entry_bp);

/* Store in PCS the stack of an interrupted context (a signal's ucontext):
   PC itself, then up to DEPTH-1 return addresses.  Returns how many.  */
DMEM_HIDDEN int dmem__unwind_from (uint64_t pc, uint64_t sp, uint64_t bp,
                                   uint64_t *pcs, int depth);

/* Forget cached unwind rules (a module was unloaded: its addresses may be
   reused by another).  */
DMEM_HIDDEN void dmem__unwind_forget (void);

/* fork: keep the rule cache's lock consistent across fork.  */
DMEM_HIDDEN void dmem__unwind_fork_prepare (void);
DMEM_HIDDEN void dmem__unwind_fork_parent (void);
DMEM_HIDDEN void dmem__unwind_fork_child (void);

#endif
