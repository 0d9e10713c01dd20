/* scan-check CORE [SYSROOT]: the engine's scan of a real core for block
   headers stands (the scan is what every report reads by, and a scan that
   does not add up falls back to walking the lists unseen), and finds the
   very blocks, sizes, pointer hints, origins and pending frees that
   walking the shards' lists does, whether it reads the core by pread or
   through its mapping.
   Exits 0 when they agree, 1 otherwise (one line on stderr).  */
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

/* Whether block I has the thread and stack in SCANNED (as the scan kept
   them, or read again) that its header has, read by WALKED.  */
static int
same_origin (const struct dmem_heap *scanned, const struct dmem_heap *walked,
	     size_t i)
{
  uint32_t tid[2], stack[2];
  size_t n[2];
  dmem_block_origin (scanned, NULL, &scanned->blocks[i], &tid[0], &stack[0]);
  dmem_block_origin (walked, NULL, &walked->blocks[i], &tid[1], &stack[1]);
  const uint64_t *pcs0 = dmem_stack_pcs (scanned, stack[0], &n[0]);
  const uint64_t *pcs1 = dmem_stack_pcs (walked, stack[1], &n[1]);
  return tid[0] == tid[1] && n[0] == n[1]
	 && memcmp (pcs0, pcs1, n[0] * sizeof *pcs0) == 0;
}

/* Whether the blocks SCANNED and WALKED found are the same; if not, says
   how they differ, naming the scan HOW.  */
static int
same_blocks (const struct dmem_heap *scanned, const struct dmem_heap *walked,
	     const char *how)
{
  if (!scanned->scanned)
    {
      fprintf (stderr, "scan-check: the %s scan did not stand\n", how);
      return 0;
    }
  if (scanned->nblocks != walked->nblocks || scanned->nbig != walked->nbig
      || scanned->npending != walked->npending || walked->nproblems != 0)
    {
      fprintf (stderr, "scan-check: %s scan %zu blocks (%zu big, %llu "
	       "pending), walk %zu (%zu big, %llu pending, %zu problems)\n",
	       how, scanned->nblocks, scanned->nbig,
	       (unsigned long long) scanned->npending, walked->nblocks,
	       walked->nbig, (unsigned long long) walked->npending,
	       walked->nproblems);
      return 0;
    }
  for (size_t i = 0; i < scanned->nblocks; i++)
    {
      unsigned long long at = scanned->blocks[i].user;
      if (!same_block (&scanned->blocks[i], &walked->blocks[i]))
	{
	  fprintf (stderr, "scan-check: %s scan block %zu at 0x%llx, walk "
		   "0x%llx\n", how, i, at,
		   (unsigned long long) walked->blocks[i].user);
	  return 0;
	}
      if (!same_origin (scanned, walked, i))
	{
	  fprintf (stderr, "scan-check: %s scan block %zu at 0x%llx: its "
		   "thread or stack is not that of its header\n", how, i, at);
	  return 0;
	}
    }
  for (size_t i = 0; i < scanned->nbig; i++)
    if (memcmp (&scanned->big[i], &walked->big[i], sizeof *scanned->big) != 0)
      {
	fprintf (stderr, "scan-check: %s scan big block %zu differs\n", how,
		 i);
	return 0;
      }
  return 1;
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
  struct dmem_heap walked;
  if (dmem_heap_walk (&t, &walked) != 0)
    return 1;
  int ok = 1;
  /* A scan reads the core by pread, or (when verify will walk the lists
     after it) through the mapping.  */
  for (int by_map = 0; by_map < 2 && ok; by_map++)
    {
      t.pass_by_map = by_map;
      struct dmem_heap scanned;
      if (dmem_heap_load (&t, &scanned) != 0)
	return 1;
      ok = same_blocks (&scanned, &walked, by_map ? "mapped" : "read");
      dmem_heap_free (&scanned);
    }
  if (ok)
    printf ("scan-check: %zu blocks (and %llu pending frees), scans and "
	    "walk agree\n", walked.nblocks,
	    (unsigned long long) walked.npending);
  dmem_heap_free (&walked);
  dmem_target_close (&t);
  return ok ? 0 : 1;
}
