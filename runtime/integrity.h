/* Heap integrity: guards, double and invalid frees, quarantine.  */
#ifndef DMEM_INTEGRITY_H
#define DMEM_INTEGRITY_H

#include "heap.h"
#include "options.h"

#include <string.h>

#define DMEM_GUARD_WORD (0x0101010101010101ULL * DMEM_GUARD_BYTE)
_Static_assert (DMEM_GUARD_SIZE == 8, "the guard is one word");

/* Fill the guard after B's user bytes (B->size set).  */
static inline void
dmem__guard_set (struct dmem_block *b)
{
  char *g = (char *) (b + 1) + b->size;
  uint64_t w = DMEM_GUARD_WORD;
  memcpy (g, &w, 8);
}

/* Report the overrun of B's guard (abort unless keep-going).  */
DMEM_HIDDEN void dmem__report_overrun (const struct dmem_block *b);

/* Check B's guard: 0 if intact; else report the overrun and return -1.  */
static inline int
dmem__guard_check (const struct dmem_block *b)
{
  const char *g = (const char *) (b + 1) + b->size;
  uint64_t w;
  memcpy (&w, g, 8);
  if (likely (w == DMEM_GUARD_WORD))
    return 0;
  dmem__report_overrun (b);
  return -1;
}

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

/* P, live block B, was freed or reallocated as FREED_AS (enum
   dmem_free_kind), not as it was allocated: report it (abort unless
   keep-going), unless the program has operators of its own.  */
DMEM_HIDDEN void dmem__report_mismatch (const struct dmem_block *b,
                                        const void *p, int freed_as);
/* Whether the program defines operator new or delete itself (cxx.c).  */
DMEM_HIDDEN int dmem__operators_replaced (void);

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
