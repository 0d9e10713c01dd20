/* dmem diff: blocks born and died between two snapshots, grouped by allocation stack.

   A block is the same block in both snapshots when its header address, its
   size and its stack match.  Stacks are matched by their frames as module
   and offset in it, not by raw PC, so two cores of one program compare
   even when its libraries were loaded elsewhere.  */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "dmem.h"

/* One stack as both snapshots see it, and what changed under it.  */
struct change
{
  uint64_t *key;            /* depth pairs (module id, offset) */
  struct dmem_target *t;    /* where its PCs are symbolised */
  const struct dmem_heap *h;
  uint32_t stack;           /* its stack in H */
  uint64_t born, born_bytes, died, died_bytes;
};

struct diff
{
  size_t depth;             /* PCs a stack key holds (the larger depth) */
  struct change *changes;
  size_t nchanges;
  uint32_t *slots;          /* open addressing on the key: change + 1 */
  size_t mask;
  const char **modules;     /* module paths, their index is their id */
  size_t nmodules;
};

/* The id of module PATH (NULL: none) in D.  */
static uint64_t
module_id (struct diff *d, const char *path)
{
  if (path == NULL)
    return 0;
  for (size_t i = 0; i < d->nmodules; i++)
    if (strcmp (d->modules[i], path) == 0)
      return i + 1;
  d->modules = dmem_xrealloc (d->modules, d->nmodules + 1,
			      sizeof *d->modules);
  d->modules[d->nmodules++] = path;
  return d->nmodules;
}

/* Stack S of H (target T) as a key: each PC as (module, PC - module start),
   a PC in no module as (0, PC).  */
static uint64_t *
stack_key (struct diff *d, struct dmem_target *t, const struct dmem_heap *h,
	   uint32_t s, uint64_t *key)
{
  size_t n;
  const uint64_t *pcs = dmem_stack_pcs (h, s, &n);
  memset (key, 0, 2 * d->depth * sizeof *key);
  for (size_t i = 0; i < n && i < d->depth; i++)
    {
      Dwfl_Module *mod = t->dwfl ? dwfl_addrmodule (t->dwfl, pcs[i] - 1) : NULL;
      Dwarf_Addr start = 0;
      const char *name = NULL, *file = NULL;
      if (mod != NULL)
	name = dwfl_module_info (mod, NULL, &start, NULL, NULL, NULL, &file,
				 NULL);
      key[2 * i] = module_id (d, file ? file : name);
      key[2 * i + 1] = mod ? pcs[i] - start : pcs[i];
    }
  return key;
}

/* Hash of a key of D's depth.  */
static size_t
key_hash (const struct diff *d, const uint64_t *key)
{
  uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (size_t i = 0; i < 2 * d->depth; i++)
    x = (x ^ key[i]) * 0xff51afd7ed558ccdULL;
  return x ^ (x >> 31);
}

/* The change of KEY, added (symbolised through T, H, S) if new.  */
static uint32_t
change_of (struct diff *d, uint64_t *key, struct dmem_target *t,
	   const struct dmem_heap *h, uint32_t s)
{
  if (2 * (d->nchanges + 1) > d->mask + 1)
    {
      size_t size = d->slots ? 2 * (d->mask + 1) : 1024;
      free (d->slots);
      d->slots = dmem_xcalloc (size, sizeof *d->slots);
      d->mask = size - 1;
      for (size_t c = 0; c < d->nchanges; c++)
	{
	  size_t i = key_hash (d, d->changes[c].key) & d->mask;
	  while (d->slots[i] != 0)
	    i = (i + 1) & d->mask;
	  d->slots[i] = c + 1;
	}
    }
  size_t bytes = 2 * d->depth * sizeof *key;
  size_t i = key_hash (d, key) & d->mask;
  for (; d->slots[i] != 0; i = (i + 1) & d->mask)
    if (memcmp (d->changes[d->slots[i] - 1].key, key, bytes) == 0)
      return d->slots[i] - 1;
  if ((d->nchanges & (d->nchanges - 1)) == 0)
    d->changes = dmem_xrealloc (d->changes,
				d->nchanges ? 2 * d->nchanges : 1,
				sizeof *d->changes);
  uint64_t *copy = dmem_xmalloc (bytes);
  memcpy (copy, key, bytes);
  d->changes[d->nchanges] = (struct change) { copy, t, h, s, 0, 0, 0, 0 };
  d->slots[i] = d->nchanges + 1;
  return d->nchanges++;
}

/* Per stack of H (target T): its change in D.  Caller frees.  */
static uint32_t *
changes_of_stacks (struct diff *d, struct dmem_target *t,
		   const struct dmem_heap *h)
{
  uint32_t *of = dmem_xmalloc ((h->nstacks + 1) * sizeof *of);
  uint64_t *key = dmem_xmalloc (2 * d->depth * sizeof *key);
  for (size_t s = 0; s < h->nstacks; s++)
    of[s] = change_of (d, stack_key (d, t, h, s, key), t, h, s);
  free (key);
  return of;
}

/* qsort order of changes: most net growth first, then most born bytes,
   then the key.  */
static int
change_order (const void *a, const void *b, void *arg)
{
  const struct change *x = a, *y = b;
  const struct diff *d = arg;
  int64_t nx = (int64_t) (x->born_bytes - x->died_bytes);
  int64_t ny = (int64_t) (y->born_bytes - y->died_bytes);
  if (nx != ny)
    return nx > ny ? -1 : 1;
  if (x->born_bytes != y->born_bytes)
    return x->born_bytes > y->born_bytes ? -1 : 1;
  if (x->died_bytes != y->died_bytes)
    return x->died_bytes < y->died_bytes ? -1 : 1;
  return memcmp (x->key, y->key, 2 * d->depth * sizeof *x->key);
}

/* Write a signed count with its sign.  */
static void
signed_count (FILE *out, int64_t v)
{
  fprintf (out, "%s%" PRId64, v > 0 ? "+" : "", v);
}

/* See dmem.h: match the blocks of the two sorted heaps, count by stack,
   print the stacks that changed.  */
int
dmem_report_diff (struct dmem_target *t, struct dmem_heap *h,
		  const struct dmem_options *o)
{
  struct dmem_target *ot = o->old_target;
  const struct dmem_heap *oh = o->old_heap;
  FILE *out = o->out;
  struct diff d = { .depth = h->depth > oh->depth ? h->depth : oh->depth };
  /* libdwfl is the symbol preloaders' until they are stopped.  */
  dmem_symbols_wait (t);
  dmem_symbols_wait (ot);
  uint32_t *new_of = changes_of_stacks (&d, t, h);
  uint32_t *old_of = changes_of_stacks (&d, ot, oh);
  uint64_t ohs = oh->desc[DMEM_DESC_HEADER_SIZE];
  uint64_t nhs = h->desc[DMEM_DESC_HEADER_SIZE];
  uint64_t old_bytes = 0, new_bytes = 0;
  size_t i = 0, j = 0;
  struct dmem_pass old_pass, new_pass;   /* both heaps in address order */
  dmem_pass_begin (ot, &old_pass);
  dmem_pass_begin (t, &new_pass);
  while (i < oh->nblocks || j < h->nblocks)
    {
      const struct dmem_block_ref *a = i < oh->nblocks ? &oh->blocks[i] : NULL;
      const struct dmem_block_ref *b = j < h->nblocks ? &h->blocks[j] : NULL;
      uint64_t ha = a ? a->user - ohs : UINT64_MAX;
      uint64_t hb = b ? b->user - nhs : UINT64_MAX;
      uint64_t sa = a ? dmem_block_size (oh, a) : 0;
      uint64_t sb = b ? dmem_block_size (h, b) : 0;
      uint32_t ca = 0, cb = 0;
      if (a != NULL)
	{
	  dmem_block_origin (oh, &old_pass, a, NULL, &ca);
	  ca = old_of[ca];
	}
      if (b != NULL)
	{
	  dmem_block_origin (h, &new_pass, b, NULL, &cb);
	  cb = new_of[cb];
	}
      if (a != NULL && b != NULL && ha == hb && sa == sb && ca == cb)
	{
	  old_bytes += sa;
	  new_bytes += sb;
	  i++, j++;
	  continue;
	}
      if (a != NULL && ha <= hb)
	{
	  struct change *c = &d.changes[ca];
	  c->died++;
	  c->died_bytes += sa;
	  old_bytes += sa;
	  i++;
	}
      else
	{
	  struct change *c = &d.changes[cb];
	  c->born++;
	  c->born_bytes += sb;
	  new_bytes += sb;
	  j++;
	}
    }
  dmem_pass_end (&old_pass);
  dmem_pass_end (&new_pass);
  free (new_of);
  free (old_of);

  /* The stacks that changed, most growth first.  */
  size_t n = 0;
  uint64_t born = 0, born_bytes = 0, died = 0, died_bytes = 0;
  for (size_t k = 0; k < d.nchanges; k++)
    if (d.changes[k].born || d.changes[k].died)
      {
	born += d.changes[k].born;
	born_bytes += d.changes[k].born_bytes;
	died += d.changes[k].died;
	died_bytes += d.changes[k].died_bytes;
	struct change c = d.changes[k];
	d.changes[k] = d.changes[n];
	d.changes[n++] = c;
      }
  qsort_r (d.changes, n, sizeof *d.changes, change_order, &d);
  size_t shown = o->limit >= 0 && (size_t) o->limit < n ? (size_t) o->limit : n;

  if (o->format == DMEM_JSON)
    fprintf (out, "{\"summary\": {\"old_live_blocks\": %zu, \"old_live_bytes\": %"
	     PRIu64 ", \"new_live_blocks\": %zu, \"new_live_bytes\": %" PRIu64
	     ", \"born_blocks\": %" PRIu64 ", \"born_bytes\": %" PRIu64
	     ", \"died_blocks\": %" PRIu64 ", \"died_bytes\": %" PRIu64
	     ", \"net_blocks\": %" PRId64 ", \"net_bytes\": %" PRId64 "},\n"
	     "  \"groups\": [", oh->nblocks, old_bytes, h->nblocks, new_bytes,
	     born, born_bytes, died, died_bytes, (int64_t) (born - died),
	     (int64_t) (born_bytes - died_bytes));
  for (size_t k = 0; k < shown; k++)
    {
      const struct change *c = &d.changes[k];
      int64_t net = (int64_t) (c->born - c->died);
      int64_t net_bytes = (int64_t) (c->born_bytes - c->died_bytes);
      size_t npcs;
      const uint64_t *pcs = dmem_stack_pcs (c->h, c->stack, &npcs);
      if (o->format == DMEM_JSON)
	{
	  fprintf (out, "%s\n    {\"born_blocks\": %" PRIu64 ", \"born_bytes\": %"
		   PRIu64 ", \"died_blocks\": %" PRIu64 ", \"died_bytes\": %"
		   PRIu64 ", \"net_blocks\": %" PRId64 ", \"net_bytes\": %"
		   PRId64 ", \"frames\": ", k ? "," : "", c->born,
		   c->born_bytes, c->died, c->died_bytes, net, net_bytes);
	  dmem_json_frames (out, c->t, pcs, npcs);
	  putc ('}', out);
	}
      else if (o->format == DMEM_FOLDED)
	{
	  /* A flame graph of the growth: the stacks that grew, by bytes.  */
	  if (net_bytes <= 0)
	    continue;
	  dmem_folded_frames (out, c->t, pcs, npcs);
	  fprintf (out, "%s%" PRId64 "\n", npcs ? " " : "[unknown] ", net_bytes);
	}
      else
	{
	  signed_count (out, net_bytes);
	  fputs (" bytes in ", out);
	  signed_count (out, net);
	  fprintf (out, " blocks (born: %" PRIu64 " bytes in %" PRIu64
		   ", died: %" PRIu64 " bytes in %" PRIu64 ") from:\n",
		   c->born_bytes, c->born, c->died_bytes, c->died);
	  dmem_text_frames (out, c->t, pcs, npcs);
	  putc ('\n', out);
	}
    }
  if (o->format == DMEM_JSON)
    {
      /* Both snapshots' warnings, the older one's first.  */
      fputs ("],\n  \"warnings\": [", out);
      for (size_t k = 0; k < ot->nwarnings + t->nwarnings; k++)
	{
	  fputs (k ? ", " : "", out);
	  dmem_json_str (out, k < ot->nwarnings ? ot->warnings[k]
			 : t->warnings[k - ot->nwarnings]);
	}
      fputs ("]}\n", out);
    }
  else if (o->format == DMEM_TEXT)
    {
      fputs ("SUMMARY: ", out);
      signed_count (out, (int64_t) (born_bytes - died_bytes));
      fputs (" bytes in ", out);
      signed_count (out, (int64_t) (born - died));
      fprintf (out, " blocks: %" PRIu64 " bytes born in %" PRIu64 " blocks, %"
	       PRIu64 " bytes died in %" PRIu64 " blocks; live %" PRIu64
	       " -> %" PRIu64 " bytes in %zu -> %zu blocks.\n", born_bytes,
	       born, died_bytes, died, old_bytes, new_bytes, oh->nblocks,
	       h->nblocks);
    }
  for (size_t k = 0; k < d.nchanges; k++)
    free (d.changes[k].key);
  free (d.changes);
  free (d.slots);
  free (d.modules);
  return DMEM_EXIT_OK;
}
