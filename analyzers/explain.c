/* dmem explain: what an address is, and the shortest chain of references that keeps its block alive.  */
#include "dmem.h"

/* See dmem.h.  */
int
dmem_report_explain (struct dmem_target *t, struct dmem_heap *h,
		     const struct dmem_options *o)
{
  (void) t;
  (void) h;
  (void) o;
  return DMEM_EXIT_BAD_INPUT;
}
