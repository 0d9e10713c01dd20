/* scan-check CORE [SYSROOT]: the engine's scan of a real core for block
   headers stands (the scan is what every report reads by, and a scan that
   does not add up falls back to walking the lists unseen), and finds the
   very blocks, sizes and pointer hints that walking the shards' lists
   does.  Exits 0 when both agree, 1 otherwise (one line on stderr).  */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "dmem.h"

/* Whether the walked block W may carry the scan's hint S: the scan learns
   "no pointers" from the bytes it passes, the walk never does.  */
static int
same_block (const struct dmem_block_ref *s, const struct dmem_block_ref *w)
{
  return s->user == w->user && s->small_size == w->small_size
	 && (s->no_pointers == 0 || w->no_pointers == 0);
}

int
main (int argc, char **argv)
{
  if (argc < 2 || argc > 3)
    {
      fprintf (stderr, "usage: scan-check CORE [SYSROOT]\n");
      return 1;
    }
  struct dmem_target t;
  dmem_target_init (&t, stderr);
  if (dmem_target_open_core (&t, argv[1], NULL, argc > 2 ? argv[2] : NULL,
			     NULL) != 0)
    return 1;
  struct dmem_heap scanned, walked;
  if (dmem_heap_load (&t, &scanned) != 0 || dmem_heap_walk (&t, &walked) != 0)
    return 1;
  int ok = 1;
  if (!scanned.scanned)
    {
      fprintf (stderr, "scan-check: the scan of %s did not stand\n", argv[1]);
      ok = 0;
    }
  else if (scanned.nblocks != walked.nblocks || scanned.nbig != walked.nbig
	   || walked.nproblems != 0)
    {
      fprintf (stderr, "scan-check: scan %zu blocks (%zu big), walk %zu "
	       "(%zu big, %zu problems)\n", scanned.nblocks, scanned.nbig,
	       walked.nblocks, walked.nbig, walked.nproblems);
      ok = 0;
    }
  else
    {
      for (size_t i = 0; ok && i < scanned.nblocks; i++)
	if (!same_block (&scanned.blocks[i], &walked.blocks[i]))
	  {
	    fprintf (stderr, "scan-check: block %zu: scan 0x%llx, walk 0x%llx\n",
		     i, (unsigned long long) scanned.blocks[i].user,
		     (unsigned long long) walked.blocks[i].user);
	    ok = 0;
	  }
      for (size_t i = 0; ok && i < scanned.nbig; i++)
	if (memcmp (&scanned.big[i], &walked.big[i], sizeof *scanned.big) != 0)
	  {
	    fprintf (stderr, "scan-check: big block %zu differs\n", i);
	    ok = 0;
	  }
    }
  if (ok)
    printf ("scan-check: %zu blocks, scan and walk agree\n", scanned.nblocks);
  dmem_heap_free (&scanned);
  dmem_heap_free (&walked);
  dmem_target_close (&t);
  return ok ? 0 : 1;
}
