/* dmem diff: blocks born and died between two snapshots, grouped by allocation stack.  */
#include "dmem.h"

/* See dmem.h.  */
int
dmem_report_diff (struct dmem_target *t, struct dmem_heap *h,
		  const struct dmem_options *o)
{
  (void) t;
  (void) h;
  (void) o;
  return DMEM_EXIT_BAD_INPUT;
}
