/* Leaks by conservative reachability: roots, flood through blocks, direct vs indirect.

   Roots (what a running program can still reach without a pointer from the
   heap): every thread's general registers; its stack from sp-128 (the
   x86-64 red zone) to the end of the mapping holding sp; the whole mapping
   holding its fs_base (TLS and the thread control block); and every
   writable PT_LOAD segment (.data, .bss) of every loaded module, except the
   runtime's own state, whose list links would otherwise make every block
   reachable.  Aligned 8-byte words only; a word anywhere inside a block's
   user part (an interior pointer) keeps it reachable.  */
#include <stdlib.h>
#include <string.h>
#include "dmem.h"

/* A block's user part [start, end); a 0-byte block spans one byte, as a
   pointer equal to its address keeps it.  */
struct span
{
  uint64_t start, end;
};

/* Blocks closer than CLUSTER_GAP share a cluster, indexed by buckets of
   one power-of-two size, about two per block; far apart clusters (the brk
   heap, mmapped blocks, thread arenas) each get their own.  */
#define CLUSTER_GAP (1 << 20)

struct cluster
{
  uint64_t lo, hi;         /* its user parts lie in [lo, hi) */
  unsigned shift;          /* bucket = (v - lo) >> shift */
  size_t bucket;           /* its first bucket in reach.bucket */
};

struct reach
{
  struct dmem_target *t;
  const struct dmem_heap *h;
  unsigned char *mark;
  uint32_t *work;          /* blocks marked but not yet scanned */
  size_t nwork;
  uint64_t lo, hi;         /* every user part lies in [lo, hi) */
  struct span *spans;      /* each block's user part, densely */
  struct cluster *clusters;
  size_t nclusters;
  uint32_t *bucket;        /* per bucket: first block whose start >= the
			      bucket's, then one past the last cluster's */
  unsigned char set_to;    /* mark given to blocks found by this flood */
  size_t leader;           /* the direct leak being flooded, or SIZE_MAX */
  size_t sweep;            /* blocks below this index are queued when
			      found; the others wait for the sweep */
};

/* Index the sorted blocks by clusters and buckets, so a word is resolved
   with a search over a few clusters and a bucket of about one block.  */
static void
build_index (struct reach *r)
{
  const struct dmem_heap *h = r->h;
  size_t n = h->nblocks;
  r->spans = dmem_xmalloc (n * sizeof *r->spans);
  size_t nbuckets = 0;
  size_t first = 0;   /* first block of the current cluster */
  for (size_t i = 0; i < n; i++)
    {
      const struct dmem_block_ref *b = &h->blocks[i];
      r->spans[i] = (struct span) { b->user, b->user + (b->size ? b->size : 1) };
      if (r->spans[i].end < b->user)   /* wrapped: a damaged size */
	r->spans[i].end = UINT64_MAX;
      struct cluster *c = r->nclusters ? &r->clusters[r->nclusters - 1] : NULL;
      if (c != NULL && (b->user <= c->hi || b->user - c->hi <= CLUSTER_GAP))
	{
	  if (r->spans[i].end > c->hi)
	    c->hi = r->spans[i].end;
	  continue;
	}
      /* Close the previous cluster: size its buckets.  */
      if (c != NULL)
	{
	  c->shift = 4;
	  while (((c->hi - c->lo) >> c->shift) > 2 * (i - first))
	    c->shift++;
	  c->bucket = nbuckets;
	  nbuckets += ((c->hi - c->lo) >> c->shift) + 1;
	}
      first = i;
      if ((r->nclusters & (r->nclusters - 1)) == 0)
	r->clusters = dmem_xrealloc (r->clusters,
				     r->nclusters ? 2 * r->nclusters : 1,
				     sizeof *r->clusters);
      r->clusters[r->nclusters++] = (struct cluster) { b->user,
						       r->spans[i].end, 0, 0 };
    }
  struct cluster *c = &r->clusters[r->nclusters - 1];
  c->shift = 4;
  while (((c->hi - c->lo) >> c->shift) > 2 * (n - first))
    c->shift++;
  c->bucket = nbuckets;
  nbuckets += ((c->hi - c->lo) >> c->shift) + 1;
  r->lo = r->clusters[0].lo;
  r->hi = 0;
  for (size_t k = 0; k < r->nclusters; k++)
    if (r->clusters[k].hi > r->hi)
      r->hi = r->clusters[k].hi;

  /* bucket[j]: first block starting at or after bucket j's start; one
     extra entry past the end bounds the last bucket.  */
  r->bucket = dmem_xmalloc ((nbuckets + 1) * sizeof *r->bucket);
  size_t i = 0, j = 0;
  for (size_t k = 0; k < r->nclusters; k++)
    {
      c = &r->clusters[k];
      for (uint64_t s = c->lo; j < c->bucket + (((c->hi - c->lo) >> c->shift)
						+ 1); j++, s += 1ULL << c->shift)
	{
	  while (i < n && r->spans[i].start < s)
	    i++;
	  r->bucket[j] = i;
	}
    }
  r->bucket[j] = n;
}

/* The block whose user part holds V, or SIZE_MAX.  */
static inline size_t
find_block (const struct reach *r, uint64_t v)
{
  if (v < r->lo || v >= r->hi)
    return SIZE_MAX;
  /* The last cluster starting at or below V.  */
  size_t lo = 0, hi = r->nclusters;
  while (lo < hi)
    {
      size_t mid = lo + (hi - lo) / 2;
      if (r->clusters[mid].lo <= v)
	lo = mid + 1;
      else
	hi = mid;
    }
  const struct cluster *c = &r->clusters[lo - 1];
  if (v >= c->hi)
    return SIZE_MAX;
  /* Candidates: blocks starting in V's bucket up to V, or the last one
     starting before it (it may extend into the bucket).  */
  size_t j = c->bucket + ((v - c->lo) >> c->shift);
  lo = r->bucket[j] ? r->bucket[j] - 1 : 0;
  hi = r->bucket[j + 1];
  while (lo < hi)
    {
      size_t mid = lo + (hi - lo) / 2;
      if (r->spans[mid].start <= v)
	lo = mid + 1;
      else
	hi = mid;
    }
  if (lo == 0 || v >= r->spans[lo - 1].end)
    return SIZE_MAX;
  return lo - 1;
}

/* Mark what word V points to, queueing it for a scan.  */
static inline void
visit (struct reach *r, uint64_t v)
{
  size_t i = find_block (r, v);
  if (i == SIZE_MAX || i == r->leader)
    return;
  unsigned char m = r->mark[i];
  if (m == 0 || (r->set_to == DMEM_INDIRECT && m == DMEM_LEAK))
    {
      r->mark[i] = r->set_to;
      if (i < r->sweep)
	r->work[r->nwork++] = i;
    }
}

/* Scan the aligned words of [START, END) in the target.  */
static void
scan_range (struct reach *r, uint64_t start, uint64_t end)
{
  struct dmem_target *t = r->t;
  start = (start + 7) & ~(uint64_t) 7;
  while (start < end && end - start >= 8)
    {
      struct dmem_region *reg = dmem_region_at (t, start);
      if (reg == NULL)
	{
	  /* Skip to the next region after START.  */
	  size_t lo = dmem_region_after (t, start);
	  if (lo == t->nregions)
	    return;
	  start = (t->regions[lo].start + 7) & ~(uint64_t) 7;
	  continue;
	}
      dmem_region_load (t, reg);
      uint64_t stop = end < reg->end ? end : reg->end;
      uint64_t have = reg->start + reg->avail;
      if (start < have)
	{
	  uint64_t last = stop < have ? stop : have;
	  const unsigned char *p = reg->data + (start - reg->start);
	  size_t n = (last - start) / 8;
	  for (size_t k = 0; k < n; k++)
	    {
	      uint64_t v;
	      memcpy (&v, p + 8 * k, 8);
	      if (v - r->lo < r->hi - r->lo)
		visit (r, v);
	    }
	}
      start = (stop + 7) & ~(uint64_t) 7;
    }
}

/* Scan the user part of every queued block until the queue is empty.  */
static void
flood (struct reach *r)
{
  while (r->nwork > 0)
    {
      const struct dmem_block_ref *b = &r->h->blocks[r->work[--r->nwork]];
      /* Start fetching a block scanned a few steps from now.  */
      if (r->nwork >= 8)
	{
	  const struct dmem_block_ref *ahead
	    = &r->h->blocks[r->work[r->nwork - 8]];
	  struct dmem_region *reg = dmem_region_at (r->t, ahead->user);
	  if (reg != NULL && ahead->user - reg->start < reg->avail)
	    __builtin_prefetch (reg->data + (ahead->user - reg->start));
	}
      scan_range (r, b->user, b->user + b->size);
    }
}

/* Scan [START, END) minus the runtime's state [S0, S1).  */
static void
scan_except (struct reach *r, uint64_t start, uint64_t end, uint64_t s0,
	     uint64_t s1)
{
  if (s1 <= start || s0 >= end)
    scan_range (r, start, end);
  else
    {
      if (start < s0)
	scan_range (r, start, s0);
      if (s1 < end)
	scan_range (r, s1, end);
    }
}

/* The range of the dynamic linker's module (ld-linux*), as *LO and *HI.  */
static int
find_loader (Dwfl_Module *mod, void **user __attribute__ ((unused)),
	     const char *name, Dwarf_Addr start, void *arg)
{
  const char *base = name ? strrchr (name, '/') : NULL;
  base = base ? base + 1 : name;
  if (base != NULL && strncmp (base, "ld-linux", 8) == 0)
    {
      uint64_t *range = arg;
      Dwarf_Addr end;
      dwfl_module_info (mod, NULL, NULL, &end, NULL, NULL, NULL, NULL);
      range[0] = start;
      range[1] = end;
      return DWARF_CB_ABORT;
    }
  return DWARF_CB_OK;
}

/* See dmem.h: mark from the roots, then classify the rest.  */
unsigned char *
dmem_reach (struct dmem_target *t, const struct dmem_heap *h)
{
  struct reach r = { .t = t, .h = h, .set_to = DMEM_REACHABLE,
		     .leader = SIZE_MAX, .sweep = 0 };
  r.mark = dmem_xcalloc (h->nblocks + 1, 1);
  if (h->nblocks == 0)
    return r.mark;
  r.work = dmem_xmalloc (h->nblocks * sizeof *r.work);
  build_index (&r);

  for (size_t i = 0; i < t->nthreads; i++)
    {
      const struct dmem_thread *th = &t->threads[i];
      for (int k = 0; k < DMEM_NREGS; k++)
	visit (&r, th->regs[k]);
      uint64_t sp = th->regs[DMEM_REG_RSP];
      struct dmem_region *stack = dmem_region_at (t, sp);
      if (stack != NULL)
	scan_range (&r, sp - stack->start > 128 ? sp - 128 : stack->start,
		    stack->end);
      struct dmem_region *tls = dmem_region_at (t, th->regs[DMEM_REG_FS_BASE]);
      if (tls != NULL)
	scan_range (&r, tls->start, tls->end);
    }
  dmem_target_segments (t);
  for (size_t i = 0; i < t->nsegments; i++)
    scan_except (&r, t->segments[i].start, t->segments[i].end,
		 h->desc[DMEM_DESC_STATE_START], h->desc[DMEM_DESC_STATE_END]);
  /* Blocks the dynamic linker allocated itself (a thread's DTV, dlopen's
     bookkeeping) are reachable, as LeakSanitizer has them: glibc keeps them
     through exited threads' cached stacks, memory no root covers.  */
  uint64_t loader[2] = { 0, 0 };
  if (t->dwfl != NULL)
    dwfl_getmodules (t->dwfl, find_loader, loader, 0);
  for (size_t i = 0; loader[1] > loader[0] && i < h->nblocks; i++)
    {
      size_t n;
      const uint64_t *pcs = dmem_stack_pcs (h, h->blocks[i].stack, &n);
      if (n > 0 && pcs[0] - loader[0] < loader[1] - loader[0])
	r.mark[i] = DMEM_REACHABLE;
    }
  /* Scan the reachable blocks in address order, so the target's memory is
     read mostly sequentially; a block found below the sweep is queued.  */
  for (r.sweep = 0; r.sweep < h->nblocks; r.sweep++)
    if (r.mark[r.sweep] == DMEM_REACHABLE)
      {
	const struct dmem_block_ref *b = &h->blocks[r.sweep];
	scan_range (&r, b->user, b->user + b->size);
	flood (&r);
      }

  /* Unreachable blocks in address order: each not yet found from an
     earlier leak is a direct leak; what it reaches is indirect.  */
  r.set_to = DMEM_INDIRECT;
  for (size_t i = 0; i < h->nblocks; i++)
    if (r.mark[i] == 0)
      {
	r.mark[i] = DMEM_LEAK;
	r.leader = i;
	r.work[r.nwork++] = i;
	flood (&r);
      }
  free (r.work);
  free (r.bucket);
  free (r.spans);
  free (r.clusters);
  return r.mark;
}
