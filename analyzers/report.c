/* The subcommands' reports: grouping by stack, and text, JSON and folded output.  */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "dmem.h"


/* Group kinds: the block marks of reach.c, plus live.  */
#define KIND_LIVE 0

/* JSON name of a group kind.  */
static const char *
kind_name (int kind)
{
  return kind == DMEM_LEAK ? "leak" : kind == DMEM_INDIRECT ? "indirect"
	 : kind == DMEM_POSSIBLE ? "possible"
	 : kind == DMEM_REACHABLE ? "reachable" : "live";
}

/* Text name of a group kind.  */
static const char *
kind_text (int kind)
{
  return kind == DMEM_INDIRECT ? "indirect leak"
	 : kind == DMEM_POSSIBLE ? "possible leak" : kind_name (kind);
}

/* Write the frames of stack S (UINT32_MAX: none) in JSON.  */
static void
json_frames (FILE *out, struct dmem_target *t, const struct dmem_heap *h,
	     uint32_t s)
{
  size_t n = 0;
  const uint64_t *pcs = s == UINT32_MAX ? NULL : dmem_stack_pcs (h, s, &n);
  dmem_json_frames (out, t, pcs, n);
}

/* Text counterpart of json_frames.  */
static void
text_frames (FILE *out, struct dmem_target *t, const struct dmem_heap *h,
	     uint32_t s)
{
  size_t n = 0;
  const uint64_t *pcs = s == UINT32_MAX ? NULL : dmem_stack_pcs (h, s, &n);
  dmem_text_frames (out, t, pcs, n);
}

/* Write stack S as one flame-graph line (outermost frame first) of VALUE,
   under ROOT when not NULL.  */
static void
folded_line (FILE *out, struct dmem_target *t, const struct dmem_heap *h,
	     uint32_t s, const char *root, uint64_t value)
{
  size_t n;
  const uint64_t *pcs = dmem_stack_pcs (h, s, &n);
  if (root != NULL)
    fprintf (out, "%s%s", root, n ? ";" : "");
  dmem_folded_frames (out, t, pcs, n);
  if (n == 0 && root == NULL)
    fputs ("[unknown]", out);
  fprintf (out, " %" PRIu64 "\n", value);
}

/* Blocks of one kind with one stack.  */
struct group
{
  int kind;
  uint32_t stack;
  uint64_t count, bytes;
  const uint64_t *threads;   /* its allocating threads, sorted (the low */
  size_t nthreads;           /* 32 bits of each: a tid) */
};

/* qsort_r order of groups: by kind (direct leaks, then indirect, then
   possible ones), then bytes, count descending, then stack.  */
static int
group_order (const void *a, const void *b, void *arg)
{
  const struct group *x = a, *y = b;
  if (x->kind != y->kind)
    return x->kind - y->kind;
  if (x->bytes != y->bytes)
    return x->bytes > y->bytes ? -1 : 1;
  if (x->count != y->count)
    return x->count > y->count ? -1 : 1;
  return dmem_stack_cmp (arg, x->stack, y->stack);
}

/* The slot of the group of KIND and STACK in the hash table SLOT (MASK + 1
   entries of group + 1) over the groups G: its own, or the empty one
   where it goes.  */
static size_t
group_slot (const uint32_t *slot, size_t mask, const struct group *g,
	    int kind, uint32_t stack)
{
  size_t k = (((uint64_t) stack * 4 + kind) * 0x9e3779b97f4a7c15ULL >> 17)
	     & mask;
  while (slot[k] != 0 && (g[slot[k] - 1].stack != stack
			  || g[slot[k] - 1].kind != kind))
    k = (k + 1) & mask;
  return k;
}

/* Open addressing of distinct 64-bit keys (never 0), grown at half
   full.  */
struct key_set
{
  uint64_t *slots;
  size_t mask, count;
};

/* Add KEY to S (once).  */
static void
key_add (struct key_set *s, uint64_t key)
{
  if (2 * (s->count + 1) > s->mask + 1)
    {
      uint64_t *old = s->slots;
      size_t size = s->mask + 1;
      s->mask = s->slots ? 2 * s->mask + 1 : 63;
      s->slots = dmem_xcalloc (s->mask + 1, sizeof *s->slots);
      for (size_t k = 0; old != NULL && k < size; k++)
	if (old[k] != 0)
	  {
	    size_t j = (old[k] * 0x9e3779b97f4a7c15ULL >> 17) & s->mask;
	    while (s->slots[j] != 0)
	      j = (j + 1) & s->mask;
	    s->slots[j] = old[k];
	  }
      free (old);
    }
  size_t j = (key * 0x9e3779b97f4a7c15ULL >> 17) & s->mask;
  while (s->slots[j] != 0 && s->slots[j] != key)
    j = (j + 1) & s->mask;
  if (s->slots[j] == 0)
    {
      s->slots[j] = key;
      s->count++;
    }
}

/* Group the N blocks IDX (increasing; NULL: all of H's) by kind and stack,
   and note each group's threads, in one read of each block's header, in
   address order.  Returns the groups in report order, *NGROUPS of them;
   their threads are in *THREADS (caller frees).  With OF, *OF is the group of each block
   (IDX[i]'s at i).  */
static struct group *
make_groups (const struct dmem_heap *h, const unsigned char *kinds,
	     const uint32_t *idx, size_t n, uint32_t **of, uint64_t **threads,
	     size_t *ngroups)
{
  size_t mask = 255, ng = 0, cap = 16;
  uint32_t *slot = dmem_xcalloc (mask + 1, sizeof *slot);  /* group + 1 */
  struct group *g = dmem_xmalloc (cap * sizeof *g);
  uint32_t *of_block = of ? dmem_xmalloc ((n ? n : 1) * sizeof *of_block)
		       : NULL;
  /* (group + 1) << 32 | tid, for each group's threads; most blocks in a
     row are of one group and thread.  */
  struct key_set pairs = { NULL, 0, 0 };
  uint64_t last = 0;
  struct dmem_pass pass;   /* IDX is in address order */
  dmem_pass_begin (h->target, &pass);
  for (size_t i = 0; i < n; i++)
    {
      size_t at = idx ? idx[i] : i;
      const struct dmem_block_ref *b = &h->blocks[at];
      int kind = kinds ? kinds[at] : KIND_LIVE;
      uint32_t tid, stack;
      dmem_block_origin (h, &pass, b, &tid, &stack);
      size_t k = group_slot (slot, mask, g, kind, stack);
      if (slot[k] == 0)
	{
	  if (2 * (ng + 1) > mask + 1)   /* half full: twice the slots */
	    {
	      free (slot);
	      mask = 2 * mask + 1;
	      slot = dmem_xcalloc (mask + 1, sizeof *slot);
	      for (size_t j = 0; j < ng; j++)
		slot[group_slot (slot, mask, g, g[j].kind, g[j].stack)] = j + 1;
	      k = group_slot (slot, mask, g, kind, stack);
	    }
	  if (ng == cap)
	    g = dmem_xrealloc (g, cap *= 2, sizeof *g);
	  g[ng] = (struct group) { kind, stack, 0, 0, NULL, ng };
	  slot[k] = ++ng;
	}
      struct group *x = &g[slot[k] - 1];
      x->count++;
      x->bytes += dmem_block_size (h, b);
      if (of_block)
	of_block[i] = slot[k] - 1;
      uint64_t pair = (uint64_t) slot[k] << 32 | tid;
      if (pair != last)
	key_add (&pairs, last = pair);
    }
  dmem_pass_end (&pass);
  free (slot);
  /* Report order; the groups' first places (in NTHREADS until now) map
     to their new ones.  */
  qsort_r (g, ng, sizeof *g, group_order, (void *) h);
  uint32_t *rank = dmem_xmalloc ((ng + 1) * sizeof *rank);
  for (size_t k = 0; k < ng; k++)
    {
      rank[g[k].nthreads] = k;
      g[k].nthreads = 0;
    }
  for (size_t i = 0; of_block && i < n; i++)
    of_block[i] = rank[of_block[i]];
  size_t np = 0;
  for (size_t k = 0; k <= pairs.mask && pairs.slots; k++)
    if (pairs.slots[k] != 0)
      {
	uint64_t group = rank[(pairs.slots[k] >> 32) - 1];
	pairs.slots[np++] = group << 32 | (uint32_t) pairs.slots[k];
      }
  qsort (pairs.slots, np, sizeof *pairs.slots, dmem_u64_cmp);
  for (size_t j = 0; j < np; j++)
    {
      struct group *x = &g[pairs.slots[j] >> 32];
      if (x->nthreads++ == 0)
	x->threads = &pairs.slots[j];
    }
  free (rank);
  *threads = pairs.slots;
  if (of)
    *of = of_block;
  *ngroups = ng;
  return g;
}

/* Write the threads of group G, JSON or text style.  */
static void
group_threads (FILE *out, const struct group *g, const char *sep)
{
  for (size_t k = 0; k < g->nthreads; k++)
    fprintf (out, "%s%" PRIu32, k ? sep : "", (uint32_t) g->threads[k]);
}

/* Write the groups in OPTIONS' format.  */
static void
print_groups (struct dmem_target *t, const struct dmem_heap *h,
	      const struct group *g, size_t ng, const struct dmem_options *o)
{
  FILE *out = o->out;
  if (o->limit >= 0 && (size_t) o->limit < ng)
    ng = o->limit;
  for (size_t k = 0; k < ng; k++)
    {
      if (o->format == DMEM_JSON)
	{
	  fprintf (out, "%s\n    {\"kind\": \"%s\", \"count\": %" PRIu64
		   ", \"bytes\": %" PRIu64 ", \"threads\": [",
		   k ? "," : "", kind_name (g[k].kind), g[k].count,
		   g[k].bytes);
	  group_threads (out, &g[k], ", ");
	  fputs ("], \"frames\": ", out);
	  json_frames (out, t, h, g[k].stack);
	  putc ('}', out);
	}
      else if (o->format == DMEM_FOLDED)
	folded_line (out, t, h, g[k].stack,
		     g[k].kind == KIND_LIVE ? NULL : kind_name (g[k].kind),
		     g[k].bytes);
      else
	{
	  fprintf (out, "%" PRIu64 " bytes in %" PRIu64 " block%s (%s) from "
		   "threads ", g[k].bytes, g[k].count, g[k].count == 1 ? "" : "s",
		   kind_text (g[k].kind));
	  group_threads (out, &g[k], ",");
	  fputs (":\n", out);
	  text_frames (out, t, h, g[k].stack);
	  putc ('\n', out);
	}
    }
}

/* stacks --all: one entry per block, in address order.  */
static void
print_all_blocks (struct dmem_target *t, const struct dmem_heap *h,
		  const struct dmem_options *o)
{
  FILE *out = o->out;
  size_t n = h->nblocks;
  if (o->limit >= 0 && (size_t) o->limit < n)
    n = o->limit;
  for (size_t i = 0; i < n; i++)
    {
      const struct dmem_block_ref *b = &h->blocks[i];
      uint64_t size = dmem_block_size (h, b), user = b->user;
      uint32_t stack = dmem_block_stack (h, b);
      if (o->format == DMEM_JSON)
	{
	  fprintf (out, "%s\n    {\"kind\": \"live\", \"address\": \"0x%" PRIx64
		   "\", \"count\": 1, \"bytes\": %" PRIu64 ", \"threads\": [%"
		   PRIu32 "], \"frames\": ", i ? "," : "", user, size,
		   dmem_block_tid (h, b));
	  json_frames (out, t, h, stack);
	  putc ('}', out);
	}
      else if (o->format == DMEM_FOLDED)
	folded_line (out, t, h, stack, NULL, size);
      else
	{
	  fprintf (out, "%" PRIu64 " bytes at 0x%" PRIx64 " (live) from "
		   "thread %" PRIu32 ":\n", size, user,
		   dmem_block_tid (h, b));
	  text_frames (out, t, h, stack);
	  putc ('\n', out);
	}
    }
}

/* stacks --retained: qsort_r order of group indices, most retained bytes
   first, then the groups' own order.  */
static int
retained_order (const void *a, const void *b, void *arg)
{
  const uint64_t *retained = arg;
  uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
  if (retained[x] != retained[y])
    return retained[x] > retained[y] ? -1 : 1;
  return x < y ? -1 : x > y;
}

/* stacks --retained: the groups G (NG of them, OF the group of each
   block) by the bytes their blocks retain (retained.c), each byte counted
   once per group, most first.  */
static void
print_retained (struct dmem_target *t, const struct dmem_heap *h,
		const struct group *g, size_t ng, const uint32_t *of,
		const struct dmem_options *o)
{
  FILE *out = o->out;
  uint32_t *idom;
  uint64_t *retained = dmem_retained (t, h, &idom);
  uint64_t *sum = dmem_retained_groups (h, retained, idom, of, ng);
  free (idom);
  free (retained);
  uint32_t *order = dmem_xmalloc ((ng + 1) * sizeof *order);
  for (size_t k = 0; k < ng; k++)
    order[k] = k;
  qsort_r (order, ng, sizeof *order, retained_order, sum);
  size_t n = o->limit >= 0 && (size_t) o->limit < ng ? (size_t) o->limit : ng;
  for (size_t j = 0; j < n; j++)
    {
      const struct group *x = &g[order[j]];
      uint64_t r = sum[order[j]];
      if (o->format == DMEM_JSON)
	{
	  fprintf (out, "%s\n    {\"kind\": \"%s\", \"count\": %" PRIu64
		   ", \"bytes\": %" PRIu64 ", \"retained_bytes\": %" PRIu64
		   ", \"threads\": [", j ? "," : "", kind_name (x->kind),
		   x->count, x->bytes, r);
	  group_threads (out, x, ", ");
	  fputs ("], \"frames\": ", out);
	  json_frames (out, t, h, x->stack);
	  putc ('}', out);
	}
      else if (o->format == DMEM_FOLDED)
	folded_line (out, t, h, x->stack, NULL, r);
      else
	{
	  fprintf (out, "%" PRIu64 " bytes retained by %" PRIu64 " block%s (%"
		   PRIu64 " bytes of their own) from threads ", r, x->count,
		   x->count == 1 ? "" : "s", x->bytes);
	  group_threads (out, x, ",");
	  fputs (":\n", out);
	  text_frames (out, t, h, x->stack);
	  putc ('\n', out);
	}
    }
  free (order);
  free (sum);
}

/* dmem stacks: live blocks by stack (or each one with --all).  */
int
dmem_report_stacks (struct dmem_target *t, struct dmem_heap *h,
		    const struct dmem_options *o)
{
  FILE *out = o->out;
  uint64_t bytes = 0;
  for (size_t i = 0; i < h->nblocks; i++)
    bytes += dmem_block_size (h, &h->blocks[i]);
  if (o->format == DMEM_JSON)
    fprintf (out, "{\"summary\": {\"live_blocks\": %zu, \"live_bytes\": %"
	     PRIu64 "},\n  \"groups\": [", h->nblocks, bytes);
  size_t ngroups = h->nblocks;
  if (o->all)
    print_all_blocks (t, h, o);
  else
    {
      size_t ng;
      uint32_t *of = NULL;
      uint64_t *threads;
      struct group *g = make_groups (h, NULL, NULL, h->nblocks,
				     o->retained ? &of : NULL, &threads, &ng);
      ngroups = ng;
      if (o->retained)
	print_retained (t, h, g, ng, of, o);
      else
	print_groups (t, h, g, ng, o);
      free (of);
      free (threads);
      free (g);
    }
  if (o->format == DMEM_JSON)
    {
      /* How many groups (or blocks, --all) there are, --limit or not.  */
      fprintf (out, "],\n  \"groups_total\": %zu", ngroups);
      dmem_json_warnings (out, t);
      fputs ("}\n", out);
    }
  else if (o->format == DMEM_TEXT)
    fprintf (out, "SUMMARY: %" PRIu64 " bytes live in %zu blocks\n", bytes,
	     h->nblocks);
  return 0;
}

/* leaks --suppressions: move the groups of G (NG of them) whose stack a
   pattern of S suppresses to the end of G, each part in its order.
   Returns how many are kept, at the front; *SUP[K] (K from there on) is
   the pattern of the K-th group.  Caller frees *SUP.  */
static size_t
suppress_groups (struct dmem_target *t, const struct dmem_heap *h,
		 const struct dmem_suppressions *s, struct group *g, size_t ng,
		 long **sup)
{
  long *of = dmem_xmalloc ((ng + 1) * sizeof *of);
  size_t kept = 0;
  for (size_t k = 0; k < ng; k++)
    {
      size_t n;
      const uint64_t *pcs = dmem_stack_pcs (h, g[k].stack, &n);
      of[k] = dmem_suppression_of (s, t, pcs, n);
      kept += of[k] < 0;
    }
  struct group *moved = dmem_xmalloc ((ng + 1) * sizeof *moved);
  long *pattern = dmem_xmalloc ((ng + 1) * sizeof *pattern);
  for (size_t k = 0, a = 0, b = kept; k < ng; k++)
    if (of[k] < 0)
      moved[a++] = g[k];
    else
      {
	pattern[b] = of[k];
	moved[b++] = g[k];
      }
  memcpy (g, moved, ng * sizeof *g);
  free (moved);
  free (of);
  *sup = pattern;
  return kept;
}

/* leaks --suppressions, text: LeakSanitizer's table of the patterns that
   suppressed something, BLOCKS and BYTES of each; nothing when none did.  */
static void
text_suppressions (FILE *out, const struct dmem_suppressions *s,
		   const uint64_t *blocks, const uint64_t *bytes)
{
  static const char rule[] =
    "-----------------------------------------------------";
  size_t used = 0;
  for (size_t k = 0; k < s->npatterns; k++)
    used += blocks[k] != 0;
  if (used == 0)
    return;
  fprintf (out, "%s\nSuppressions used:\n  count      bytes template\n", rule);
  for (size_t k = 0; k < s->npatterns; k++)
    if (blocks[k] != 0)
      fprintf (out, "%7" PRIu64 " %10" PRIu64 " %s\n", blocks[k], bytes[k],
	       s->patterns[k]);
  fprintf (out, "%s\n\n", rule);
}

/* leaks, JSON: the "suppressed" patterns that suppressed something (S may
   be NULL), then the "suppressed_groups" G (NG, their blocks in IDX, the
   pattern of each in SUP), --limit applied.  */
static void
json_suppressed (FILE *out, struct dmem_target *t, const struct dmem_heap *h,
		 const struct dmem_suppressions *s, const uint64_t *blocks,
		 const uint64_t *bytes, const struct group *g, size_t ng,
		 const long *sup, const struct dmem_options *o)
{
  fputs (",\n  \"suppressed\": [", out);
  for (size_t k = 0, first = 1; s != NULL && k < s->npatterns; k++)
    if (blocks[k] != 0)
      {
	fputs (first ? "{\"pattern\": " : ", {\"pattern\": ", out);
	first = 0;
	dmem_json_str (out, s->patterns[k]);
	fprintf (out, ", \"blocks\": %" PRIu64 ", \"bytes\": %" PRIu64 "}",
		 blocks[k], bytes[k]);
      }
  fputs ("],\n  \"suppressed_groups\": [", out);
  if (o->limit >= 0 && (size_t) o->limit < ng)
    ng = o->limit;
  for (size_t k = 0; k < ng; k++)
    {
      fprintf (out, "%s\n    {\"kind\": \"%s\", \"count\": %" PRIu64
	       ", \"bytes\": %" PRIu64 ", \"suppression\": ", k ? "," : "",
	       kind_name (g[k].kind), g[k].count, g[k].bytes);
      dmem_json_str (out, s->patterns[sup[k]]);
      fputs (", \"threads\": [", out);
      group_threads (out, &g[k], ", ");
      fputs ("], \"frames\": ", out);
      json_frames (out, t, h, g[k].stack);
      putc ('}', out);
    }
  putc (']', out);
}

/* dmem leaks: reachability, then leak, indirect and possible groups (in
   the order of their marks).  With suppressions, the groups they match
   are counted apart, out of the totals and the exit status.  With
   --error-exitcode, direct leaks make that the status.  */
int
dmem_report_leaks (struct dmem_target *t, struct dmem_heap *h,
		   const struct dmem_options *o)
{
  FILE *out = o->out;
  unsigned char *mark = dmem_reach (t, h);
  uint64_t n[DMEM_POSSIBLE + 1] = { 0 }, bytes[DMEM_POSSIBLE + 1] = { 0 };
  /* The reachable blocks, most of them, are tallied from the totals: a
     sum in memory indexed by the mark makes each block wait for the one
     before.  */
  size_t nleak = 0;
  for (size_t i = 0; i < h->nblocks; i++)
    nleak += mark[i] != DMEM_REACHABLE;
  uint64_t live_bytes = 0;
  uint32_t *idx = dmem_xmalloc ((nleak + 1) * sizeof *idx);
  for (size_t i = 0, k = 0; i < h->nblocks; i++)
    {
      uint64_t size = dmem_block_size (h, &h->blocks[i]);
      live_bytes += size;
      if (mark[i] != DMEM_REACHABLE)
	{
	  n[mark[i]]++;
	  bytes[mark[i]] += size;
	  idx[k++] = i;
	}
    }
  n[DMEM_REACHABLE] = h->nblocks - nleak;
  bytes[DMEM_REACHABLE] = live_bytes - bytes[DMEM_LEAK]
			  - bytes[DMEM_INDIRECT] - bytes[DMEM_POSSIBLE];
  size_t ng;
  uint64_t *threads;
  struct group *g = make_groups (h, mark, idx, nleak, NULL, &threads, &ng);
  free (idx);
  /* Suppressed groups: out of the totals, tallied per pattern.  */
  const struct dmem_suppressions *s = o->suppressions;
  size_t np = s != NULL ? s->npatterns : 0, kept = ng;
  long *sup = NULL;
  uint64_t *sup_blocks = dmem_xcalloc (np + 1, sizeof *sup_blocks);
  uint64_t *sup_bytes = dmem_xcalloc (np + 1, sizeof *sup_bytes);
  uint64_t suppressed_blocks = 0, suppressed_bytes = 0;
  if (np > 0)
    {
      kept = suppress_groups (t, h, s, g, ng, &sup);
      for (size_t k = kept; k < ng; k++)
	{
	  n[g[k].kind] -= g[k].count;
	  bytes[g[k].kind] -= g[k].bytes;
	  sup_blocks[sup[k]] += g[k].count;
	  sup_bytes[sup[k]] += g[k].bytes;
	  suppressed_blocks += g[k].count;
	  suppressed_bytes += g[k].bytes;
	}
    }
  if (o->format == DMEM_JSON)
    fprintf (out, "{\"summary\": {\"live_blocks\": %zu, \"live_bytes\": %"
	     PRIu64 ", \"leaked_blocks\": %" PRIu64 ", \"leaked_bytes\": %"
	     PRIu64 ", \"indirect_blocks\": %" PRIu64 ", \"indirect_bytes\": %"
	     PRIu64 ", \"possible_blocks\": %" PRIu64 ", \"possible_bytes\": %"
	     PRIu64 ", \"reachable_blocks\": %" PRIu64 ", \"reachable_bytes\": %"
	     PRIu64 ", \"suppressed_blocks\": %" PRIu64
	     ", \"suppressed_bytes\": %" PRIu64 "},\n  \"groups\": [",
	     h->nblocks, live_bytes,
	     n[DMEM_LEAK], bytes[DMEM_LEAK], n[DMEM_INDIRECT],
	     bytes[DMEM_INDIRECT], n[DMEM_POSSIBLE], bytes[DMEM_POSSIBLE],
	     n[DMEM_REACHABLE], bytes[DMEM_REACHABLE], suppressed_blocks,
	     suppressed_bytes);
  print_groups (t, h, g, kept, o);
  if (o->format == DMEM_JSON)
    {
      fprintf (out, "],\n  \"groups_total\": %zu", kept);
      json_suppressed (out, t, h, s, sup_blocks, sup_bytes, g + kept,
		       ng - kept, sup ? sup + kept : NULL, o);
      dmem_json_warnings (out, t);
      fputs ("}\n", out);
    }
  else if (o->format == DMEM_TEXT)
    {
      if (np > 0)
	text_suppressions (out, s, sup_blocks, sup_bytes);
      fprintf (out, "SUMMARY: %" PRIu64 " bytes leaked in %" PRIu64
	       " blocks, %" PRIu64 " bytes indirectly leaked in %" PRIu64
	       " blocks, %" PRIu64 " bytes possibly leaked in %" PRIu64
	       " blocks, %" PRIu64 " bytes reachable in %" PRIu64 " blocks.\n",
	       bytes[DMEM_LEAK], n[DMEM_LEAK], bytes[DMEM_INDIRECT],
	       n[DMEM_INDIRECT], bytes[DMEM_POSSIBLE], n[DMEM_POSSIBLE],
	       bytes[DMEM_REACHABLE], n[DMEM_REACHABLE]);
    }
  if (o->summary_fd >= 0)
    {
      /* One write of the whole line: the reader waits for its end.  */
      char line[1024];
      int len = snprintf (line, sizeof line, "{\"summary\": {\"live_blocks\": "
			  "%zu, \"live_bytes\": %" PRIu64 ", \"leaked_blocks\": %"
			  PRIu64 ", \"leaked_bytes\": %" PRIu64
			  ", \"indirect_blocks\": %" PRIu64 ", \"indirect_bytes\": %"
			  PRIu64 ", \"possible_blocks\": %" PRIu64
			  ", \"possible_bytes\": %" PRIu64
			  ", \"reachable_blocks\": %" PRIu64
			  ", \"reachable_bytes\": %" PRIu64
			  ", \"suppressed_blocks\": %" PRIu64
			  ", \"suppressed_bytes\": %" PRIu64 "}}\n",
			  h->nblocks, live_bytes, n[DMEM_LEAK], bytes[DMEM_LEAK],
			  n[DMEM_INDIRECT], bytes[DMEM_INDIRECT],
			  n[DMEM_POSSIBLE], bytes[DMEM_POSSIBLE],
			  n[DMEM_REACHABLE], bytes[DMEM_REACHABLE],
			  suppressed_blocks, suppressed_bytes);
      if (write (o->summary_fd, line, (size_t) len) != len)
	fprintf (t->err, "dmem: cannot write the summary to file descriptor "
		 "%d: %s\n", o->summary_fd, strerror (errno));
    }
  int status = DMEM_EXIT_OK;
  if (o->error_exitcode != 0 && n[DMEM_LEAK] > 0)
    {
      /* The front ends' last message line: gdb makes it its error.  */
      fflush (out);
      fprintf (t->err, "dmem: leaks found %" PRIu64 " direct leaks.\n",
	       n[DMEM_LEAK]);
      status = o->error_exitcode;
    }
  free (sup_blocks);
  free (sup_bytes);
  free (sup);
  free (g);
  free (threads);
  free (mark);
  return status;
}

struct thread_total
{
  uint32_t tid;
  uint64_t blocks, bytes;
};

/* TID's slot in the open-addressing table TH of MASK + 1 slots.  */
static struct thread_total *
thread_slot (struct thread_total *th, size_t mask, uint32_t tid)
{
  size_t k = (tid * 0x9e3779b1u) & mask;
  while (th[k].blocks != 0 && th[k].tid != tid)
    k = (k + 1) & mask;
  return &th[k];
}

/* TH rehashed into twice the slots (*MASK updated); TH is freed.  */
static struct thread_total *
grow_threads (struct thread_total *th, size_t *mask)
{
  size_t old = *mask;
  *mask = 2 * old + 1;
  struct thread_total *to = dmem_xcalloc (*mask + 1, sizeof *to);
  for (size_t k = 0; k <= old; k++)
    if (th[k].blocks != 0)
      *thread_slot (to, *mask, th[k].tid) = th[k];
  free (th);
  return to;
}

/* qsort order of thread totals: by tid.  */
static int
tid_order (const void *a, const void *b)
{
  const struct thread_total *x = a, *y = b;
  return x->tid < y->tid ? -1 : x->tid > y->tid;
}

/* qsort order of thread totals: most bytes first.  */
static int
thread_total_order (const void *a, const void *b)
{
  const struct thread_total *x = a, *y = b;
  if (x->bytes != y->bytes)
    return x->bytes > y->bytes ? -1 : 1;
  return tid_order (a, b);
}

/* A log of the runtime's state named by descriptor fields FIELD (address),
   FIELD + 1 (slots) and FIELD + 2 (record size): a uint64 total, then
   records whose first field is a 1-based sequence number (0: empty slot).
   Copies the records in use, oldest first, as SIZE-byte records into
   *RECORDS (caller frees), *N of them; fields an older runtime's shorter
   records do not have are 0.  Returns the total, or 0 when the
   runtime has no such log or it looks wrong.  */
static uint64_t
read_log (struct dmem_target *t, const struct dmem_heap *h, int field,
	  size_t size, void **records, size_t *n)
{
  const uint64_t *d = h->desc;
  uint64_t total = 0, log = d[field], slots = d[field + 1], rsize = d[field + 2];
  *records = NULL;
  *n = 0;
  if (d[DMEM_DESC_FIELDS] <= (uint64_t) field + 2 || log == 0 || slots > 1024
      || rsize < 8 || rsize > 4096 || size > 4096
      || dmem_read (t, log, &total, 8) != 0)
    return 0;
  unsigned char *r = dmem_xcalloc (slots + 1, size), tmp[4096];
  for (uint64_t i = 0; i < slots; i++)
    {
      uint64_t seq;
      memset (r + *n * size, 0, size);
      if (dmem_read (t, log + 8 + i * rsize, r + *n * size,
		     rsize < size ? rsize : size) == 0
	  && (memcpy (&seq, r + *n * size, 8), seq != 0))
	++*n;
    }
  /* Oldest first: insertion sort on seq (a handful of slots).  */
  for (size_t i = 1; i < *n; i++)
    for (size_t j = i; j > 0; j--)
      {
	uint64_t a, b;
	memcpy (&a, r + (j - 1) * size, 8);
	memcpy (&b, r + j * size, 8);
	if (a <= b)
	  break;
	memcpy (tmp, r + j * size, size);
	memcpy (r + j * size, r + (j - 1) * size, size);
	memcpy (r + (j - 1) * size, tmp, size);
      }
  *records = r;
  return total;
}

/* Number of non-zero PCs at the start of PCS (DMEM_STACK_DEPTH at most).  */
static size_t
pc_count (const uint64_t *pcs)
{
  size_t n = 0;
  while (n < DMEM_STACK_DEPTH && pcs[n] != 0)
    n++;
  return n;
}

/* dmem stats: totals, per thread, size histogram.  */
int
dmem_report_stats (struct dmem_target *t, struct dmem_heap *h,
		   const struct dmem_options *o)
{
  struct dmem_failure_record *failed;
  size_t nfailed;
  uint64_t total_failed = read_log (t, h, DMEM_DESC_FAILURE_LOG, sizeof *failed,
				    (void **) &failed, &nfailed);
  FILE *out = o->out;
  /* Per thread: an open-addressing table on tid, kept at most half full,
     then sorted by bytes.  */
  size_t mask = 255;
  struct thread_total *th = dmem_xcalloc (mask + 1, sizeof *th);
  uint64_t hist_blocks[65] = { 0 }, hist_bytes[65] = { 0 }, bytes = 0;
  size_t nth = 0;
  struct dmem_pass pass;   /* the blocks are in address order */
  dmem_pass_begin (t, &pass);
  for (size_t i = 0; i < h->nblocks; i++)
    {
      uint64_t size = dmem_block_size (h, &h->blocks[i]);
      uint32_t tid;
      dmem_block_origin (h, &pass, &h->blocks[i], &tid, NULL);
      struct thread_total *x = thread_slot (th, mask, tid);
      if (x->blocks == 0 && ++nth > mask / 2)
	{
	  th = grow_threads (th, &mask);
	  x = thread_slot (th, mask, tid);
	}
      x->tid = tid;
      x->blocks++;
      x->bytes += size;
      int c = size == 0 ? 0 : 64 - __builtin_clzll (size);
      hist_blocks[c]++;
      hist_bytes[c] += size;
      bytes += size;
    }
  dmem_pass_end (&pass);
  size_t used = 0;
  for (size_t k = 0; k <= mask; k++)
    if (th[k].blocks != 0)
      th[used++] = th[k];
  qsort (th, nth, sizeof *th, thread_total_order);
  const uint64_t *s = h->stats;
  if (o->format == DMEM_JSON)
    {
      fprintf (out, "{\"live_blocks\": %zu, \"live_bytes\": %" PRIu64
	       ", \"peak_bytes\": %" PRIu64 ", \"peak_blocks\": %" PRIu64
	       ", \"total_allocs\": %" PRIu64 ", \"total_frees\": %" PRIu64
	       ", \"total_bytes\": %" PRIu64 ", \"foreign_frees\": %" PRIu64
	       ", \"failed_allocs\": %" PRIu64 ",\n  \"threads\": [",
	       h->nblocks, bytes, s[DMEM_STAT_PEAK_BYTES],
	       s[DMEM_STAT_PEAK_BLOCKS], h->shard_allocs, h->shard_frees,
	       s[DMEM_STAT_TOTAL_BYTES], s[DMEM_STAT_FOREIGN_FREES],
	       s[DMEM_STAT_FAILED_ALLOCS]);
      for (size_t i = 0; i < nth; i++)
	fprintf (out, "%s{\"tid\": %" PRIu32 ", \"blocks\": %" PRIu64
		 ", \"bytes\": %" PRIu64 "}", i ? ", " : "", th[i].tid,
		 th[i].blocks, th[i].bytes);
      fputs ("],\n  \"histogram\": [", out);
      int first = 1;
      for (int c = 0; c < 65; c++)
	if (hist_blocks[c])
	  {
	    uint64_t min = c ? 1ULL << (c - 1) : 0;
	    uint64_t max = c == 0 ? 0 : c == 64 ? UINT64_MAX : (1ULL << c) - 1;
	    fprintf (out, "%s{\"min\": %" PRIu64 ", \"max\": %" PRIu64
		     ", \"blocks\": %" PRIu64 ", \"bytes\": %" PRIu64 "}",
		     first ? "" : ", ", min, max, hist_blocks[c],
		     hist_bytes[c]);
	    first = 0;
	  }
      fprintf (out, "],\n  \"injected_failures_total\": %" PRIu64
	       ", \"injected_failures\": [", total_failed);
      for (size_t i = 0; i < nfailed; i++)
	{
	  const struct dmem_failure_record *f = &failed[i];
	  fprintf (out, "%s\n    {\"seq\": %" PRIu64 ", \"tid\": %" PRIu64
		   ", \"size\": %" PRIu64 ", \"stack_hash\": \"0x%" PRIx64
		   "\", \"frames\": ", i ? "," : "", f->seq, f->tid, f->size,
		   f->stack_hash);
	  dmem_json_frames (out, t, f->pcs, pc_count (f->pcs));
	  putc ('}', out);
	}
      putc (']', out);
      dmem_json_warnings (out, t);
      fputs ("}\n", out);
    }
  else
    {
      fprintf (out, "live:   %" PRIu64 " bytes in %zu blocks\n"
	       "peak:   %" PRIu64 " bytes, %" PRIu64 " blocks\n"
	       "total:  %" PRIu64 " allocations, %" PRIu64 " frees, %" PRIu64
	       " bytes requested\n", bytes, h->nblocks,
	       s[DMEM_STAT_PEAK_BYTES], s[DMEM_STAT_PEAK_BLOCKS],
	       h->shard_allocs, h->shard_frees, s[DMEM_STAT_TOTAL_BYTES]);
      fputs ("\nper thread:\n", out);
      for (size_t i = 0; i < nth; i++)
	fprintf (out, "  thread %-8" PRIu32 " %12" PRIu64 " bytes in %" PRIu64
		 " blocks\n", th[i].tid, th[i].bytes, th[i].blocks);
      fputs ("\nsize histogram:\n", out);
      for (int c = 0; c < 65; c++)
	if (hist_blocks[c])
	  fprintf (out, "  %10" PRIu64 " .. %-10" PRIu64 " %10" PRIu64
		   " blocks %14" PRIu64 " bytes\n",
		   (uint64_t) (c ? 1ULL << (c - 1) : 0),
		   (uint64_t) (c == 0 ? 0 : c == 64 ? UINT64_MAX
			       : (1ULL << c) - 1),
		   hist_blocks[c], hist_bytes[c]);
      if (total_failed)
	fprintf (out, "\nallocations failed on purpose: %" PRIu64
		 " (the last %zu kept)\n", total_failed, nfailed);
      for (size_t i = 0; i < nfailed; i++)
	{
	  fprintf (out, "failure %" PRIu64 ": %" PRIu64 " bytes in thread %"
		   PRIu64 ", stack 0x%" PRIx64 ":\n", failed[i].seq,
		   failed[i].size, failed[i].tid, failed[i].stack_hash);
	  dmem_text_frames (out, t, failed[i].pcs, pc_count (failed[i].pcs));
	}
    }
  free (failed);
  free (th);
  return 0;
}


/* Name of a runtime error kind (enum dmem_error_kind).  */
static const char *
caught_kind (uint64_t kind)
{
  static const char *const names[] = { DMEM_ERROR_KIND_NAMES };
  return kind > 0 && kind < sizeof names / sizeof *names ? names[kind]
	 : "unknown";
}

/* How the block of an alloc-dealloc-mismatch was allocated and freed.  */
static const char *
allocated_by (uint64_t kind)
{
  static const char *const names[] = { DMEM_ALLOC_KIND_NAMES };
  return kind < sizeof names / sizeof *names ? names[kind] : "unknown";
}

static const char *
freed_by (uint64_t kind)
{
  static const char *const names[] = { DMEM_FREE_KIND_NAMES };
  return kind < sizeof names / sizeof *names ? names[kind] : "unknown";
}

/* dmem verify: walk problems, guards, errors the runtime caught.  */
int
dmem_report_verify (struct dmem_target *t, struct dmem_heap *h,
		    const struct dmem_options *o)
{
  struct dmem_error_record *caught;
  size_t ncaught;
  uint64_t total_caught = read_log (t, h, DMEM_DESC_ERROR_LOG, sizeof *caught,
				    (void **) &caught, &ncaught);
  FILE *out = o->out;
  dmem_heap_check (t, h);
  uint64_t hs = h->desc[DMEM_DESC_HEADER_SIZE];
  if (o->format == DMEM_JSON)
    {
      /* A heap error the runtime caught is a failure even when the lists
	 it left behind are sound.  */
      fprintf (out, "{\"ok\": %s, \"blocks_checked\": %zu, "
	       "\"quarantined_checked\": %zu, \"errors\": [",
	       h->nproblems || total_caught ? "false" : "true", h->nblocks,
	       h->nquarantined);
      for (size_t i = 0; i < h->nproblems; i++)
	{
	  const struct dmem_problem *p = &h->problems[i];
	  fprintf (out, "%s\n    {\"kind\": \"%s\", \"address\": \"0x%" PRIx64
		   "\", \"shard\": ", i ? "," : "", p->kind, p->address);
	  if (p->shard >= 0)
	    fprintf (out, "%d, \"frames\": ", p->shard);
	  else if (p->block != 0 && p->address >= p->block + hs)
	    /* Overrun, use-after-free: the first changed byte's offset in
	       the user bytes (the guard follows them).  */
	    fprintf (out, "null, \"block\": \"0x%" PRIx64 "\", \"size\": %"
		     PRIu64 ", \"offset\": %" PRIu64 ", \"frames\": ",
		     p->block, p->size, p->address - (p->block + hs));
	  else if (p->block != 0)   /* a quarantined block's header */
	    fprintf (out, "null, \"block\": \"0x%" PRIx64 "\", \"size\": null, "
		     "\"offset\": null, \"frames\": ", p->block);
	  else
	    fputs ("null, \"frames\": ", out);
	  json_frames (out, t, h, p->stack);
	  if (p->block != 0)
	    {
	      fputs (", \"free_frames\": ", out);
	      json_frames (out, t, h, p->free_stack);
	    }
	  putc ('}', out);
	}
      fprintf (out, "],\n  \"caught_total\": %" PRIu64 ", \"caught\": [",
	       total_caught);
      for (size_t i = 0; i < ncaught; i++)
	{
	  const struct dmem_error_record *e = &caught[i];
	  fprintf (out, "%s\n    {\"seq\": %" PRIu64 ", \"kind\": \"%s\", "
		   "\"block\": \"0x%" PRIx64 "\", \"size\": %" PRIu64
		   ", \"address\": \"0x%" PRIx64 "\", \"tid\": %" PRIu64
		   ", \"alloc_frames\": ", i ? "," : "", e->seq,
		   caught_kind (e->kind), e->block, e->size, e->address, e->tid);
	  dmem_json_frames (out, t, e->alloc_pcs, pc_count (e->alloc_pcs));
	  if (e->kind == DMEM_ERROR_MISMATCH)
	    fprintf (out, ", \"allocated_by\": \"%s\", \"freed_by\": \"%s\"",
		     allocated_by (e->allocated_by), freed_by (e->freed_by));
	  fputs (", \"free_frames\": ", out);
	  dmem_json_frames (out, t, e->free_pcs, pc_count (e->free_pcs));
	  fputs (", \"found_frames\": ", out);
	  dmem_json_frames (out, t, e->found_pcs, pc_count (e->found_pcs));
	  putc ('}', out);
	}
      putc (']', out);
      dmem_json_warnings (out, t);
      fputs ("}\n", out);
      free (caught);
      return h->nproblems || total_caught ? DMEM_EXIT_FOUND : DMEM_EXIT_OK;
    }
  for (size_t i = 0; i < h->nproblems; i++)
    {
      const struct dmem_problem *p = &h->problems[i];
      if (p->block != 0)
	{
	  /* As the runtime reports it: the block, where it changed, the
	     stacks that allocated and freed it.  */
	  uint64_t user = p->block + hs;
	  if (p->address < user)
	    fprintf (out, "%s: the header of the quarantined block at 0x%"
		     PRIx64 " changed after it was freed\n", p->kind, p->block);
	  else
	    {
	      uint64_t at = p->address - user;
	      fprintf (out, "%s of the %" PRIu64 "-byte block at 0x%" PRIx64
		       ": offset %" PRIu64 " changed%s (", p->kind, p->size,
		       p->block, at, p->free_stack != UINT32_MAX
		       ? " after it was freed" : "");
	      if (at >= p->size)
		fprintf (out, "guard byte %" PRIu64 ", ", at - p->size);
	      fprintf (out, "address 0x%" PRIx64 ")\n", p->address);
	    }
	  const uint32_t stacks[] = { p->stack, p->free_stack };
	  static const char *const what[] = { "allocated at:", "freed at:" };
	  for (int k = 0; k < 2; k++)
	    {
	      size_t n = 0;
	      if (stacks[k] != UINT32_MAX)
		dmem_stack_pcs (h, stacks[k], &n);
	      if (n > 0)
		{
		  fprintf (out, "  %s\n", what[k]);
		  text_frames (out, t, h, stacks[k]);
		}
	    }
	  continue;
	}
      if (p->shard >= 0)
	fprintf (out, "shard %d: ", p->shard);
      fprintf (out, "%s at 0x%" PRIx64 "%s\n", p->kind, p->address,
	       p->stack != UINT32_MAX ? ", block allocated at:" : "");
      text_frames (out, t, h, p->stack);
    }
  if (h->nquarantined > 0)
    fprintf (out, "%s: %zu blocks and %zu freed blocks in the quarantine "
	     "checked, %zu problems in the lists, guards and quarantine\n",
	     h->nproblems || total_caught ? "FAILED" : "OK", h->nblocks,
	     h->nquarantined, h->nproblems);
  else
    fprintf (out, "%s: %zu blocks checked, %zu problems in the lists and "
	     "guards\n", h->nproblems || total_caught ? "FAILED" : "OK",
	     h->nblocks, h->nproblems);
  if (total_caught > 0)
    fprintf (out, "\nthe runtime caught %" PRIu64 " heap errors as they "
	     "happened (the last %zu kept):\n", total_caught, ncaught);
  for (size_t i = 0; i < ncaught; i++)
    {
      const struct dmem_error_record *e = &caught[i];
      fprintf (out, "%s of the %" PRIu64 "-byte block at 0x%" PRIx64
	       " (address 0x%" PRIx64 ") in thread %" PRIu64 "\n",
	       caught_kind (e->kind), e->size, e->block, e->address, e->tid);
      if (e->kind == DMEM_ERROR_MISMATCH)
	fprintf (out, "  allocated with %s, %s with %s\n",
		 allocated_by (e->allocated_by),
		 e->freed_by == DMEM_FREE_REALLOC ? "reallocated" : "freed",
		 freed_by (e->freed_by));
      static const char *const what[] = { "allocated at:", "freed at:",
					  "found at:" };
      const uint64_t *stacks[] = { e->alloc_pcs, e->free_pcs, e->found_pcs };
      for (int k = 0; k < 3; k++)
	if (pc_count (stacks[k]) > 0)
	  {
	    fprintf (out, "  %s\n", what[k]);
	    dmem_text_frames (out, t, stacks[k], pc_count (stacks[k]));
	  }
    }
  free (caught);
  return h->nproblems || total_caught ? DMEM_EXIT_FOUND : DMEM_EXIT_OK;
}
