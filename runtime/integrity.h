/* Heap integrity: guards, double and invalid frees, quarantine.  */
#ifndef DMEM_INTEGRITY_H
#define DMEM_INTEGRITY_H

#include "heap.h"
#include "options.h"

/* Fill the guard after B's user bytes (B->size set).  */
DMEM_HIDDEN void dmem__guard_set (struct dmem_block *b);
/* Check B's guard: 0 if intact; else report the overrun (abort unless
   keep-going) and return -1.  */
DMEM_HIDDEN int dmem__guard_check (const struct dmem_block *b);

/* P, a pointer to freed block B (freed magic), was freed or reallocated
   again: report it (abort unless keep-going).  */
DMEM_HIDDEN void dmem__report_double_free (const struct dmem_block *b,
                                           const void *p);
/* The live block whose user bytes hold P (not at their start), if its
   header is in P's page; else NULL.  Reads only P's page.  */
DMEM_HIDDEN const struct dmem_block *dmem__block_containing (const void *p);
/* P, inside live block B, was freed: report it (abort unless keep-going).  */
DMEM_HIDDEN void dmem__report_invalid_free (const struct dmem_block *b,
                                            const void *p);

/* Whether freed blocks go to the quarantine (DMEM_OPTS=quarantine=BYTES).  */
static inline int
dmem__quarantine_on (void)
{
  return dmem__options.quarantine > 0;
}
/* Poison B (unlinked, freed magic) and hold it, freed from FREE_PCS; blocks
   leaving the quarantine are checked for writes after free and handed to
   RELEASE.  */
DMEM_HIDDEN void dmem__quarantine (struct dmem_block *b, const uint64_t *free_pcs,
                                   void (*release) (struct dmem_block *));
DMEM_HIDDEN void dmem__quarantine_fork_prepare (void);
DMEM_HIDDEN void dmem__quarantine_fork_parent (void);
DMEM_HIDDEN void dmem__quarantine_fork_child (void);

#endif
