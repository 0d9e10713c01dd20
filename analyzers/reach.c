/* Leaks by conservative reachability: roots, flood, possible, direct vs indirect.

   Roots (what a running program can still reach without a pointer from the
   heap): every thread's general registers (and, of a thread inside the
   runtime's code, there and in its innermost frames, the header address
   of a block malloc or free is working on); its stack from sp-128 (the
   x86-64 red zone) to the end of the mapping holding sp; the whole mapping
   holding its fs_base (TLS and the thread control block) when no thread
   runs on it; every writable PT_LOAD segment (.data, .bss) of every loaded
   module; and every other writable mapping that holds no block (a module's
   .data whose file is missing, a program's own pools and arenas, such as
   CPython's obmalloc arenas), or, of an anonymous mapping, what lies
   outside the chunks glibc mmapped for single blocks (the kernel merges
   neighbouring anonymous mappings) -- except the allocator's memory:
   glibc's heaps (brk and non-main arenas) and the cached stacks of exited
   threads.  The runtime's own state is never a root: its list links would
   make every block reachable.  Each root byte is scanned once.  Aligned
   8-byte words only.  A module whose file is missing, or is not the build
   the core ran, is named in a warning: its roots may be incomplete.

   A block is reachable when a chain of words from a root reaches it in
   which every word points to the start of its block (its user address; a
   0-byte block's too).  A block that is not reachable so, but that a chain
   with an interior pointer (a word inside a block's user part, not at its
   start) reaches, is possible (valgrind's "possibly lost"): what a
   possible block points to is possible too, unless a start-pointer chain
   from a root reaches it.  The blocks the dynamic linker allocated are reachable.
   One flood finds both: a block is marked possible when an interior
   pointer or a possible block reaches it, and upgraded to reachable
   (queued again, so what it points to is upgraded too) when a start
   pointer from a root or a reachable block does.  Each block is scanned
   at most twice, once possible and once reachable; a block in which the
   scan for headers saw no word that can point into a block (its
   no_pointers bit) is marked and never read again.

   The other blocks are leaks, split as valgrind does: in the graph of
   leaked blocks (an edge from a block to each leaked block a word of its
   user part points into, at its start or inside), every strongly
   connected component that no other component points to has one direct
   leak, its lowest-addressed block; every other leaked block is
   indirect.  The components are found with an iterative Tarjan
   over an edge list built by scanning each leaked block once: linear, and
   no recursion however the untrusted core links its blocks.  */
#include <stdlib.h>
#include <string.h>
#include "dmem.h"

/* A range of root memory [start, end).  */
struct span
{
  uint64_t start, end;
};

/* The end of block B's span, UINT64_MAX when it wraps (a damaged size).  */
static inline uint64_t
block_end (const struct dmem_heap *h, const struct dmem_block_ref *b)
{
  uint64_t end = b->user + dmem_block_span (h, b);
  return end < b->user ? UINT64_MAX : end;
}

/* Blocks closer than CLUSTER_GAP share a cluster, indexed by buckets of
   one power-of-two size, about one per BUCKET_BLOCKS blocks; far apart
   clusters (the brk heap, mmapped blocks, thread arenas) each get their
   own.  */
#define CLUSTER_GAP (1 << 20)
#define BUCKET_BLOCKS 4

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
  unsigned char *mark;     /* while flooding: DMEM_REACHABLE or
			      DMEM_POSSIBLE, | QUEUED while in work */
  uint32_t *work;          /* blocks marked but not yet scanned */
  size_t nwork, cap_work;
  int strong;              /* what is being scanned is a root or a
			      reachable block: its start pointers make
			      blocks reachable */
  uint64_t lo, hi;         /* every user part lies in [lo, hi) */
  size_t near;             /* the block find_block_near found last */
  struct dmem_region *reg; /* the region read last (loaded), or NULL */
  struct cluster *clusters;
  size_t nclusters;
  uint32_t *bucket;        /* per bucket: first block whose start >= the
			      bucket's, then one past the last cluster's */
  size_t sweep;            /* blocks below this index are queued when
			      found; the others wait for the sweep */
  struct span *roots;      /* root ranges, before they are merged */
  size_t nroots;
  /* The leaked blocks' graph, while it is built.  */
  uint32_t *leaked;        /* the leaked blocks (mark 0), in H's order */
  size_t nleaked;
  uint32_t from;           /* the leaked block being scanned */
  uint32_t *seen;          /* per leaked block: the last one that has an
			      edge to it (no duplicate edges) */
  uint32_t *edges;         /* targets, grouped by source */
  size_t nedges, cap_edges;
  /* dmem_refs: what each word pointing into a block is given to.  */
  dmem_ref_fn *fn;
  void *arg;
};
/* Size the buckets of cluster C, which holds N blocks, and place them
   from *NBUCKETS on.  */
static void
size_buckets (struct cluster *c, size_t n, size_t *nbuckets)
{
  size_t want = (n + BUCKET_BLOCKS - 1) / BUCKET_BLOCKS;
  c->shift = 4;
  while (((c->hi - c->lo) >> c->shift) > want)
    c->shift++;
  c->bucket = *nbuckets;
  *nbuckets += ((c->hi - c->lo) >> c->shift) + 1;
}

/* Index the sorted blocks by clusters and buckets, so a word is resolved
   with a search over a few clusters and a bucket of a few blocks.  */
static void
build_index (struct reach *r)
{
  const struct dmem_heap *h = r->h;
  size_t n = h->nblocks;
  size_t nbuckets = 0;
  size_t first = 0;   /* first block of the current cluster */
  for (size_t i = 0; i < n; i++)
    {
      const struct dmem_block_ref *b = &h->blocks[i];
      uint64_t end = block_end (h, b);
      struct cluster *c = r->nclusters ? &r->clusters[r->nclusters - 1] : NULL;
      if (c != NULL && (b->user <= c->hi || b->user - c->hi <= CLUSTER_GAP))
	{
	  if (end > c->hi)
	    c->hi = end;
	  continue;
	}
      /* Close the previous cluster: size its buckets.  */
      if (c != NULL)
	size_buckets (c, i - first, &nbuckets);
      first = i;
      if ((r->nclusters & (r->nclusters - 1)) == 0)
	r->clusters = dmem_xrealloc (r->clusters,
				     r->nclusters ? 2 * r->nclusters : 1,
				     sizeof *r->clusters);
      r->clusters[r->nclusters++] = (struct cluster) { b->user, end, 0, 0 };
    }
  size_buckets (&r->clusters[r->nclusters - 1], n - first, &nbuckets);
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
      struct cluster *c = &r->clusters[k];
      for (uint64_t s = c->lo; j < c->bucket + (((c->hi - c->lo) >> c->shift)
						+ 1); j++, s += 1ULL << c->shift)
	{
	  while (i < n && h->blocks[i].user < s)
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
  const struct dmem_block_ref *blocks = r->h->blocks;
  size_t j = c->bucket + ((v - c->lo) >> c->shift);
  lo = r->bucket[j] ? r->bucket[j] - 1 : 0;
  hi = r->bucket[j + 1];
  while (lo < hi)
    {
      size_t mid = lo + (hi - lo) / 2;
      if (blocks[mid].user <= v)
	lo = mid + 1;
      else
	hi = mid;
    }
  if (lo == 0
      || v - blocks[lo - 1].user >= dmem_block_span (r->h, &blocks[lo - 1]))
    return SIZE_MAX;
  return lo - 1;
}

/* find_block, first trying the block found last and the one after it:
   words in a row often point into one block, or into blocks allocated
   one after the other (an array of them).  */
static inline size_t
find_block_near (struct reach *r, uint64_t v)
{
  const struct dmem_block_ref *blocks = r->h->blocks;
  size_t n = r->h->nblocks;
  if (v - r->lo >= r->hi - r->lo)
    return SIZE_MAX;
  for (size_t k = r->near; k < n && k <= r->near + 1; k++)
    if (blocks[k].user <= v && (k + 1 == n || blocks[k + 1].user > v))
      {
	/* K is the last block starting at or below V, as find_block's.  */
	r->near = k;
	return v - blocks[k].user < dmem_block_span (r->h, &blocks[k]) ? k
	       : SIZE_MAX;
      }
  size_t i = find_block (r, v);
  if (i != SIZE_MAX)
    r->near = i;
  return i;
}

/* A mark's flag while its block waits in reach.work.  */
#define QUEUED 0x80

/* Mark what word V points to: reachable when it is a start pointer from a
   root or a reachable block (R->strong), else possible unless marked
   already; queue the block for a scan (again, when it was possible and is
   upgraded) unless it waits for the sweep or in the queue already.  */
static inline __attribute__ ((always_inline)) void
visit (struct reach *r, uint64_t v)
{
  size_t i = find_block_near (r, v);
  if (i == SIZE_MAX)
    return;
  unsigned char m = r->mark[i];
  if (m == DMEM_REACHABLE)     /* most words, most often */
    return;
  unsigned char want = r->strong && v == r->h->blocks[i].user
		       ? DMEM_REACHABLE : DMEM_POSSIBLE;
  if ((m & ~QUEUED) == want || m == (DMEM_REACHABLE | QUEUED))
    return;
  if (r->h->blocks[i].no_pointers)   /* its scan would find nothing */
    r->mark[i] = want;
  else if (m & QUEUED)
    r->mark[i] = want | QUEUED;
  else if (i < r->sweep)
    {
      r->mark[i] = want | QUEUED;
      if (r->nwork == r->cap_work)   /* at most every block once */
	{
	  r->cap_work = r->cap_work ? 2 * r->cap_work : 1024;
	  r->work = dmem_xrealloc (r->work, r->cap_work, sizeof *r->work);
	}
      r->work[r->nwork++] = i;
    }
  else
    r->mark[i] = want;
}

/* Add an edge from the leaked block being scanned to the leaked block V
   points into, once.  */
static inline void
add_edge (struct reach *r, uint64_t v)
{
  size_t i = find_block (r, v);
  if (i == SIZE_MAX || r->mark[i] != 0)
    return;
  /* Its index among the leaked.  */
  size_t lo = 0, hi = r->nleaked;
  while (lo < hi)
    {
      size_t mid = lo + (hi - lo) / 2;
      if (r->leaked[mid] < i)
	lo = mid + 1;
      else
	hi = mid;
    }
  if (lo == r->nleaked || r->leaked[lo] != i)
    return;
  uint32_t to = lo;
  if (to == r->from || r->seen[to] == r->from)
    return;
  r->seen[to] = r->from;
  if (r->nedges == r->cap_edges)
    {
      r->cap_edges = r->cap_edges ? 2 * r->cap_edges : 1024;
      r->edges = dmem_xrealloc (r->edges, r->cap_edges, sizeof *r->edges);
    }
  r->edges[r->nedges++] = to;
}

/* Give R's callback the word at WHERE pointing to V, when V is inside a
   block.  */
static void
call_ref (struct reach *r, uint64_t where, uint64_t v)
{
  size_t i = find_block (r, v);
  if (i != SIZE_MAX)
    r->fn (r->arg, where, v, i);
}

/* The region holding ADDR, loaded, or NULL: most often the one read
   last, as blocks are read in address order.  */
static inline struct dmem_region *
region_of (struct reach *r, uint64_t addr)
{
  struct dmem_region *reg = r->reg;
  if (reg != NULL && addr - reg->start < reg->end - reg->start)
    return reg;
  reg = dmem_region_at (r->t, addr);
  if (reg != NULL)
    {
      dmem_region_load (r->t, reg);
      r->reg = reg;
    }
  return reg;
}

/* What scan_words does with each word that may point into a block.  */
enum { MARK, EDGES, CALL };

/* Scan the aligned words of [START, END) in the target: mark what they
   point to (MARK), add them as edges of the leaked block being scanned
   (EDGES), or give them to R's callback (CALL).  */
static inline __attribute__ ((always_inline)) void
scan_words (struct reach *r, uint64_t start, uint64_t end, int edges)
{
  struct dmem_target *t = r->t;
  start = (start + 7) & ~(uint64_t) 7;
  while (start < end && end - start >= 8)
    {
      struct dmem_region *reg = region_of (r, start);
      if (reg == NULL)
	{
	  /* Skip to the next region after START.  */
	  size_t lo = dmem_region_after (t, start);
	  if (lo == t->nregions)
	    return;
	  start = (t->regions[lo].start + 7) & ~(uint64_t) 7;
	  continue;
	}
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
		{
		  if (edges == EDGES)
		    add_edge (r, v);
		  else if (edges == CALL)
		    call_ref (r, start + 8 * k, v);
		  else
		    visit (r, v);
		}
	    }
	}
      if (stop > UINT64_MAX - 7)
	return;
      start = (stop + 7) & ~(uint64_t) 7;
    }
}

static void
scan_range (struct reach *r, uint64_t start, uint64_t end)
{
  if (r->fn != NULL)
    scan_words (r, start, end, CALL);
  else
    scan_words (r, start, end, MARK);
}

static void
scan_edges (struct reach *r, uint64_t start, uint64_t end)
{
  scan_words (r, start, end, EDGES);
}

/* Start fetching the user part of block I, to be scanned a few steps
   from now.  */
static inline void
prefetch_block (struct reach *r, size_t i)
{
  uint64_t user = r->h->blocks[i].user;
  struct dmem_region *reg = region_of (r, user);
  if (reg != NULL && user - reg->start < reg->avail)
    __builtin_prefetch (reg->data + (user - reg->start));
}

/* Scan the user part of every queued block, as what it is marked now,
   until the queue is empty.  */
static void
flood (struct reach *r)
{
  while (r->nwork > 0)
    {
      uint32_t i = r->work[--r->nwork];
      const struct dmem_block_ref *b = &r->h->blocks[i];
      r->mark[i] &= ~QUEUED;
      r->strong = r->mark[i] == DMEM_REACHABLE;
      /* Start fetching a block scanned a few steps from now.  */
      if (r->nwork >= 8)
	prefetch_block (r, r->work[r->nwork - 8]);
      scan_range (r, b->user, b->user + dmem_block_size (r->h, b));
    }
}

/* ---- roots ---- */

/* Add [START, END) to the root ranges.  */
static void
add_root (struct reach *r, uint64_t start, uint64_t end)
{
  if (start >= end)
    return;
  if ((r->nroots & (r->nroots - 1)) == 0)
    r->roots = dmem_xrealloc (r->roots, r->nroots ? 2 * r->nroots : 16,
			      sizeof *r->roots);
  r->roots[r->nroots++] = (struct span) { start, end };
}

/* qsort order of spans: by start.  */
static int
span_cmp (const void *a, const void *b)
{
  const struct span *x = a, *y = b;
  return x->start < y->start ? -1 : x->start > y->start;
}


/* glibc's chunk flags and page size on x86-64.  */
#define CHUNK_IS_MMAPPED 2
#define CHUNK_NON_MAIN_ARENA 4
#define PAGE 4096ULL

/* Copy the LEN bytes at ADDR of REG (loaded) to BUF: 0, or -1 when REG
   does not hold them all.  */
static int
region_bytes (const struct dmem_region *reg, uint64_t addr, void *buf,
	      size_t len)
{
  if (addr < reg->start || addr - reg->start > reg->avail
      || reg->avail - (addr - reg->start) < len)
    return -1;
  memcpy (buf, reg->data + (addr - reg->start), len);
  return 0;
}

/* The mapping [*LO, *HI) glibc made for block B alone (a chunk it
   mmapped: its size word says so, its prev_size is its offset in the
   mapping), inside REG.  Returns 0, or -1 when B's chunk is not one:
   REG is then an allocator's heap.  */
static int
mmapped_extent (const struct dmem_heap *h, const struct dmem_block_ref *b,
		const struct dmem_region *reg, uint64_t *lo, uint64_t *hi)
{
  uint64_t hs = h->desc[DMEM_DESC_HEADER_SIZE];
  uint32_t pad;
  uint64_t w[2], header = b->user - hs;
  if (b->user < hs
      || region_bytes (reg, header + h->desc[DMEM_DESC_OFF_ALIGN_PAD], &pad,
		       4) != 0
      || header < (uint64_t) pad + 16)
    return -1;
  uint64_t chunk = header - pad - 16;   /* prev_size, size, then memory */
  if (region_bytes (reg, chunk, w, sizeof w) != 0
      || (w[1] & (CHUNK_IS_MMAPPED | CHUNK_NON_MAIN_ARENA)) != CHUNK_IS_MMAPPED
      || w[0] > chunk - reg->start || (w[1] & ~7ULL) > reg->end - chunk)
    return -1;
  *lo = chunk - w[0];
  *hi = chunk + (w[1] & ~7ULL);
  uint64_t end = b->user + dmem_block_size (h, b);
  if (*lo % PAGE != 0 || *hi % PAGE != 0 || end < b->user || end > *hi)
    return -1;
  return 0;
}

/* glibc's HEAP_MAX_SIZE on x86-64: a non-main arena's heaps are mmapped
   at multiples of it.  */
#define GLIBC_HEAP_MAX_SIZE (64ULL << 20)

/* Whether REG looks like a glibc non-main arena heap: aligned to
   HEAP_MAX_SIZE, starting with a heap_info whose ar_ptr points to
   writable memory and whose size fits the mapping.  Its free chunks hold
   stale pointers: not a root.  */
static int
glibc_heap (struct dmem_target *t, const struct dmem_region *reg)
{
  uint64_t w[3];
  if (reg->start % GLIBC_HEAP_MAX_SIZE != 0 || reg->avail < sizeof w)
    return 0;
  memcpy (w, reg->data, sizeof w);
  struct dmem_region *ar = w[0] % 8 == 0 ? dmem_region_at (t, w[0]) : NULL;
  return ar != NULL && ar->writable && w[2] != 0
	 && w[2] <= reg->end - reg->start;
}

/* How far below the end of a thread's stack mapping glibc puts its
   thread descriptor (struct pthread, about 2 KiB, aligned).  */
#define TCB_SEARCH (16 * 1024)

/* Where the memory [START, END) of a mapping (REG) stops being the cached
   stack of an exited thread: glibc keeps the dead thread's descriptor at
   the top of its stack (tcbhead_t: tcb and self both point to it), and no
   live thread's fs_base names that descriptor.  Returns START when the
   range holds no such stack (what is left in one is the dead thread's,
   not a root).  */
static uint64_t
past_dead_stack (struct dmem_target *t, const struct dmem_region *reg,
		 uint64_t start, uint64_t end)
{
  uint64_t from = end - start > TCB_SEARCH ? end - TCB_SEARCH : start;
  from = (from + 7) & ~7ULL;
  if (end > reg->start + reg->avail)
    return start;
  for (uint64_t a = from; a + 24 <= end; a += 8)
    {
      uint64_t tcb, self;
      memcpy (&tcb, reg->data + (a - reg->start), 8);
      if (tcb != a)
	continue;
      memcpy (&self, reg->data + (a - reg->start) + 16, 8);
      if (self != tcb)
	continue;
      size_t i;
      for (i = 0; i < t->nthreads; i++)
	if (t->threads[i].regs[DMEM_REG_FS_BASE] == tcb)
	  break;
      if (i == t->nthreads)
	{
	  uint64_t top = (tcb / PAGE + 1) * PAGE;
	  return top < end ? top : end;
	}
    }
  return start;
}

/* Add the part of [START, END) of REG that is not a dead thread's stack
   as a root.  */
static void
add_anonymous_root (struct reach *r, const struct dmem_region *reg,
		    uint64_t start, uint64_t end)
{
  if (start < end)
    add_root (r, past_dead_stack (r->t, reg, start, end), end);
}

/* Add the roots of writable mapping REG, neither a stack nor a TLS: all
   of it when it holds no block (a file's, a program's pools), else the
   parts of an anonymous mapping outside the chunks glibc mmapped for
   single blocks (the kernel merges neighbouring anonymous mappings); none
   when it is an allocator's heap.  */
static void
add_region_roots (struct reach *r, struct dmem_region *reg)
{
  struct dmem_target *t = r->t;
  const struct dmem_heap *h = r->h;
  size_t b = dmem_block_from (h, reg->start);
  if (reg->file_backed)
    {
      if (b == h->nblocks || h->blocks[b].user >= reg->end)
	add_root (r, reg->start, reg->end);
      return;
    }
  dmem_region_load (t, reg);
  if (glibc_heap (t, reg))
    return;
  size_t before = r->nroots;
  uint64_t at = reg->start;
  for (; b < h->nblocks && h->blocks[b].user < reg->end; b++)
    {
      uint64_t lo, hi;
      if (mmapped_extent (h, &h->blocks[b], reg, &lo, &hi) != 0
	  || lo < at)
	{
	  r->nroots = before;   /* a heap */
	  return;
	}
      add_anonymous_root (r, reg, at, lo);
      at = hi;
    }
  add_anonymous_root (r, reg, at, reg->end);
}

/* Add the mapping REG that holds a thread's TLS as a root, less the chunks
   glibc mmapped for single blocks that the kernel merged into it: a block
   there is held only if something points to it.  */
static void
add_tls_root (struct reach *r, struct dmem_region *reg)
{
  const struct dmem_heap *h = r->h;
  dmem_region_load (r->t, reg);
  uint64_t at = reg->start;
  for (size_t b = dmem_block_from (h, reg->start);
       b < h->nblocks && h->blocks[b].user < reg->end; b++)
    {
      uint64_t lo, hi;
      if (mmapped_extent (h, &h->blocks[b], reg, &lo, &hi) != 0 || lo < at)
	continue;
      add_root (r, at, lo);
      at = hi;
    }
  add_root (r, at, reg->end);
}

/* Region flags while the roots are collected.  */
#define ON_STACK 1    /* some thread's sp is in it */
#define HOLDS_TLS 2   /* some thread's fs_base is in it */

/* How far above a thread's sp the runtime's own frames are looked at for
   header addresses (see in_flight).  */
#define IN_FLIGHT_BYTES 2048
#define DMEM_REG_RIP 16   /* user_regs_struct */

/* A thread stopped inside the runtime's malloc or free (its pc in the
   runtime's module) holds the block it is linking or unlinking by its
   header's address, in a register or its innermost frames, and the
   program may hold no pointer to it at that moment: then a word of thread
   I's registers, or of its stack up to IN_FLIGHT_BYTES above sp, equal to
   a block's header address is a start pointer to the block.  (Only then:
   elsewhere such words are stale, such as those an exit handler of the
   runtime leaves in a core's stack.)  */
static void
in_flight (struct reach *r, size_t i)
{
  struct dmem_target *t = r->t;
  const struct dmem_thread *th = &t->threads[i];
  uint64_t hs = r->h->desc[DMEM_DESC_HEADER_SIZE];
  for (int k = 0; k < DMEM_NREGS; k++)
    {
      uint64_t v = th->regs[k] + hs;
      size_t b = find_block (r, v);
      if (b != SIZE_MAX && r->h->blocks[b].user == v)
	{
	  if (r->fn != NULL)
	    call_ref (r, DMEM_REF_REGISTER (i, k), v);
	  else
	    visit (r, v);
	}
    }
  uint64_t sp = th->regs[DMEM_REG_RSP] & ~(uint64_t) 7;
  unsigned char buf[IN_FLIGHT_BYTES];
  struct dmem_region *stack = dmem_region_at (t, sp);
  if (stack == NULL)
    return;
  uint64_t end = stack->end - sp < sizeof buf ? stack->end : sp + sizeof buf;
  const unsigned char *p = dmem_view (t, sp, end - sp, buf);
  for (uint64_t off = 0; p != NULL && off + 8 <= end - sp; off += 8)
    {
      uint64_t v;
      memcpy (&v, p + off, 8);
      v += hs;
      size_t b = find_block (r, v);
      if (b != SIZE_MAX && r->h->blocks[b].user == v)
	{
	  if (r->fn != NULL)
	    call_ref (r, sp + off, v);
	  else
	    visit (r, v);
	}
    }
}

/* Visit the registers and collect the root ranges (see the top of this
   file), then scan each root byte once, leaving out [S0, S1), the
   runtime's state.  */
static void
scan_roots (struct reach *r, uint64_t s0, uint64_t s1)
{
  struct dmem_target *t = r->t;
  unsigned char *flags = dmem_xcalloc (t->nregions + 1, 1);
  dmem_target_segments (t);
  /* The runtime's module (the one holding its state), for in_flight.  */
  uint64_t runtime[2] = { 0, 0 };
  for (size_t i = 0; i < t->nmodules; i++)
    if (s0 - t->modules[i].start < t->modules[i].end - t->modules[i].start)
      {
	runtime[0] = t->modules[i].start;
	runtime[1] = t->modules[i].end;
      }
  for (size_t i = 0; i < t->nthreads; i++)
    {
      const struct dmem_thread *th = &t->threads[i];
      for (int k = 0; k < DMEM_NREGS; k++)
	if (r->fn != NULL)
	  call_ref (r, DMEM_REF_REGISTER (i, k), th->regs[k]);
	else
	  visit (r, th->regs[k]);
      if (th->regs[DMEM_REG_RIP] - runtime[0] < runtime[1] - runtime[0])
	in_flight (r, i);
      uint64_t sp = th->regs[DMEM_REG_RSP];
      struct dmem_region *stack = dmem_region_at (t, sp);
      if (stack != NULL)
	{
	  flags[stack - t->regions] |= ON_STACK;
	  add_root (r, sp - stack->start > 128 ? sp - 128 : stack->start,
		    stack->end);
	}
      struct dmem_region *tls = dmem_region_at (t, th->regs[DMEM_REG_FS_BASE]);
      if (tls != NULL)
	flags[tls - t->regions] |= HOLDS_TLS;
    }
  for (size_t i = 0; i < t->nregions; i++)
    {
      struct dmem_region *reg = &t->regions[i];
      if (flags[i] & ON_STACK)
	continue;   /* from sp up only */
      if (flags[i] & HOLDS_TLS)
	{
	  add_tls_root (r, reg);
	  continue;
	}
      if (reg->writable)
	add_region_roots (r, reg);
    }
  free (flags);
  /* A module's .bss may share a mapping with the brk heap.  */
  for (size_t i = 0; i < t->nsegments; i++)
    add_root (r, t->segments[i].start, t->segments[i].end);

  qsort (r->roots, r->nroots, sizeof *r->roots, span_cmp);
  size_t i = 0;
  while (i < r->nroots)
    {
      uint64_t start = r->roots[i].start, end = r->roots[i].end;
      for (i++; i < r->nroots && r->roots[i].start <= end; i++)
	if (r->roots[i].end > end)
	  end = r->roots[i].end;
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
  free (r->roots);
  r->roots = NULL;
  r->nroots = 0;
}

/* ---- direct and indirect leaks ---- */

#define UNSEEN UINT32_MAX
#define DONE (1u << 31)   /* in index[]: the rest is the component */

/* Tarjan's calls, each with its cursor into the block's edges, and its
   stack: as deep as the longest chain of leaks, most often shallow, so
   they grow.  */
struct tarjan_call
{
  uint32_t v;
  size_t edge;
};
struct tarjan
{
  struct tarjan_call *calls;
  uint32_t *stack;
  size_t ncalls, nstack, calls_room, stack_room;
  uint32_t next;   /* the number of the next block visited */
};

/* Visit block W: number it, push it on the stack and call it.  */
static void
tarjan_visit (struct tarjan *tj, uint32_t *index, uint32_t *low,
	      const size_t *off, uint32_t w)
{
  if (tj->ncalls == tj->calls_room)
    {
      tj->calls_room = tj->calls_room ? 2 * tj->calls_room : 1024;
      tj->calls = dmem_xrealloc (tj->calls, tj->calls_room, sizeof *tj->calls);
    }
  if (tj->nstack == tj->stack_room)
    {
      tj->stack_room = tj->stack_room ? 2 * tj->stack_room : 1024;
      tj->stack = dmem_xrealloc (tj->stack, tj->stack_room, sizeof *tj->stack);
    }
  index[w] = low[w] = tj->next++;
  tj->stack[tj->nstack++] = w;
  tj->calls[tj->ncalls++] = (struct tarjan_call) { w, off[w] };
}

/* Mark the blocks neither reachable nor possible (mark 0) direct or
   indirect: build their graph, find its strongly connected components
   (Tarjan, iteratively), and give each component with no edge from
   another one its one direct leak, its lowest-addressed block.  */
static void
classify_leaks (struct reach *r)
{
  const struct dmem_heap *h = r->h;
  size_t n = h->nblocks, nl = 0;
  for (size_t i = 0; i < n; i++)
    nl += r->mark[i] == 0;
  if (nl > DONE - 2)
    nl = DONE - 2;
  if (nl == 0)
    return;
  /* The arrays by leak in one allocation (21 bytes a leak): large enough,
     it is backed by huge pages (see util.c), faulted in far fewer times
     than five arrays each under 2 MiB.  */
  size_t *off = dmem_xmalloc ((nl + 1) * sizeof *off
			      + 3 * nl * sizeof (uint32_t) + nl);
  uint32_t *block = (uint32_t *) (off + nl + 1);
  uint32_t *index = block + nl, *low = index + nl;
  unsigned char *entered = (unsigned char *) (low + nl);  /* per
			component: has an edge from another one */
  memset (entered, 0, nl);
  /* The leaked blocks in order: a block's index among them is found by a
     binary search (add_edge), with no array over all blocks.  */
  for (size_t i = 0, u = 0; u < nl; i++)
    if (r->mark[i] == 0)
      block[u++] = i;
  r->leaked = block;
  r->nleaked = nl;

  /* The edges, by source in address order: off[u] .. off[u + 1].  */
  r->seen = index;
  memset (r->seen, 0xff, nl * sizeof *r->seen);
  for (uint32_t u = 0; u < nl; u++)
    {
      const struct dmem_block_ref *b = &h->blocks[block[u]];
      if (u + 8 < nl && !h->blocks[block[u + 8]].no_pointers)
	prefetch_block (r, block[u + 8]);
      off[u] = r->nedges;
      r->from = u;
      if (!b->no_pointers)
	scan_edges (r, b->user, b->user + dmem_block_size (h, b));
    }
  off[nl] = r->nedges;
  r->leaked = NULL;
  r->seen = NULL;

  /* Tarjan: index[] is a block's number in visiting order, then DONE and
     its component once that is complete; low[] the lowest number reached.
     A block visited and not yet in a component is on the Tarjan stack.  */
  for (uint32_t u = 0; u < nl; u++)
    index[u] = UNSEEN;
  struct tarjan tj = { NULL, NULL, 0, 0, 0, 0, 0 };
  uint32_t ncomp = 0;
  for (uint32_t s = 0; s < nl; s++)
    {
      if (index[s] != UNSEEN)
	continue;
      tarjan_visit (&tj, index, low, off, s);
      while (tj.ncalls > 0)
	{
	  struct tarjan_call *c = &tj.calls[tj.ncalls - 1];
	  uint32_t v = c->v;
	  if (c->edge < off[v + 1])
	    {
	      uint32_t w = r->edges[c->edge++];
	      if (index[w] == UNSEEN)
		tarjan_visit (&tj, index, low, off, w);
	      else if (!(index[w] & DONE))  /* on the stack: v's component */
		{
		  if (index[w] < low[v])
		    low[v] = index[w];
		}
	      else                          /* a component already complete */
		entered[index[w] & ~DONE] = 1;
	      continue;
	    }
	  tj.ncalls--;
	  if (low[v] == index[v])
	    {
	      uint32_t w;
	      do
		{
		  w = tj.stack[--tj.nstack];
		  index[w] = DONE | ncomp;
		}
	      while (w != v);
	      ncomp++;
	    }
	  if (tj.ncalls > 0)
	    {
	      uint32_t u = tj.calls[tj.ncalls - 1].v;
	      if (index[v] & DONE)
		entered[index[v] & ~DONE] = 1;   /* u is outside v's component */
	      else if (low[v] < low[u])
		low[u] = low[v];
	    }
	}
    }
  free (tj.calls);
  free (tj.stack);
  /* The first block met of each component never entered is its lowest.  */
  for (uint32_t u = 0; u < nl; u++)
    {
      unsigned char *e = &entered[index[u] & ~DONE];
      r->mark[block[u]] = *e ? DMEM_INDIRECT : DMEM_LEAK;
      *e = 1;
    }
  free (off);
  free (r->edges);
  r->edges = NULL;
}

/* ---- roots that cannot be known ---- */

/* Whether any region of T overlaps [LO, HI).  */
static int
mapped (struct dmem_target *t, uint64_t lo, uint64_t hi)
{
  size_t k = dmem_region_after (t, lo);
  if (k > 0 && t->regions[k - 1].end > lo)
    return 1;
  return k < t->nregions && t->regions[k].start < hi;
}

/* Whether the build ID note of ELF (loaded at BIAS) is what the target's
   memory holds at its address: 1 yes, 0 no, -1 when either is unknown.  */
static int
build_id_matches (struct dmem_target *t, Elf *elf, GElf_Addr bias)
{
  size_t nphdr;
  if (elf_getphdrnum (elf, &nphdr) != 0)
    return -1;
  for (size_t i = 0; i < nphdr; i++)
    {
      GElf_Phdr phdr;
      if (gelf_getphdr (elf, i, &phdr) == NULL || phdr.p_type != PT_NOTE)
	continue;
      Elf_Data *data = elf_getdata_rawchunk (elf, phdr.p_offset,
					     phdr.p_filesz, ELF_T_NHDR);
      if (data == NULL)
	continue;
      size_t offset = 0, name_offset, desc_offset;
      GElf_Nhdr nhdr;
      while (offset < data->d_size
	     && (offset = gelf_getnote (data, offset, &nhdr, &name_offset,
					&desc_offset)) > 0)
	{
	  if (nhdr.n_type != NT_GNU_BUILD_ID || nhdr.n_namesz != 4
	      || memcmp ((char *) data->d_buf + name_offset, "GNU", 4) != 0
	      || nhdr.n_descsz == 0 || nhdr.n_descsz > 64)
	    continue;
	  /* Only bytes the core (or the live process) holds: dmem_read
	     would fall back to the module's file itself.  */
	  uint64_t addr = phdr.p_vaddr + bias + desc_offset;
	  struct dmem_region *reg = dmem_region_at (t, addr);
	  if (reg == NULL)
	    return -1;
	  dmem_region_load (t, reg);
	  if (addr - reg->start > reg->avail
	      || reg->avail - (addr - reg->start) < nhdr.n_descsz)
	    return -1;
	  return memcmp (reg->data + (addr - reg->start),
			 (char *) data->d_buf + desc_offset,
			 nhdr.n_descsz) == 0;
	}
    }
  return -1;
}

/* dwfl_getmodules callback: warn about a module whose roots cannot be
   known: its file is missing, or is not the one the target ran.  */
static int
check_module (Dwfl_Module *mod, void **userdata __attribute__ ((unused)),
	      const char *name, Dwarf_Addr start __attribute__ ((unused)),
	      void *arg)
{
  struct dmem_target *t = arg;
  Dwarf_Addr lo, hi;
  const char *file = NULL;
  dwfl_module_info (mod, NULL, &lo, &hi, NULL, NULL, NULL, NULL);
  if (!mapped (t, lo, hi))
    return DWARF_CB_OK;
  GElf_Addr bias;
  Elf *elf = dwfl_module_getelf (mod, &bias);
  if (elf == NULL)
    {
      dmem_warn (t, "module %s: no ELF file found (libdwfl: %s); its "
		 "writable mappings are used as roots, but its .bss may be "
		 "missing from them, so leaks may be overstated",
		 name ? name : "?", dwfl_errmsg (-1));
      return DWARF_CB_OK;
    }
  /* A core's files were looked up after it was written (a live process's
     are its own): -e or --sysroot may name another build.  */
  if (t->pid == 0 && t->source == NULL && !dmem_module_mismatched (t, mod)
      && build_id_matches (t, elf, bias) == 0)
    {
      dwfl_module_info (mod, NULL, NULL, NULL, NULL, NULL, &file, NULL);
      dmem_warn (t, "module %s: %s does not match the build ID in the "
		 "target's memory; its symbols and .data/.bss roots are "
		 "another file's, so leaks may be misreported",
		 name ? name : "?", file ? file : "its file");
    }
  return DWARF_CB_OK;
}

/* Blocks the dynamic linker allocated itself (a thread's DTV, dlopen's
   bookkeeping) are reachable, as LeakSanitizer has them: glibc keeps them
   through exited threads' cached stacks, memory no root covers.  The load
   noted them (h->loader_blocks).  Marks them, or gives them to R's
   callback as DMEM_REF_LOADER.  */
static void
mark_loader_blocks (struct reach *r)
{
  const struct dmem_heap *h = r->h;
  for (size_t k = 0; k < h->nloader_blocks; k++)
    {
      uint64_t user = h->loader_blocks[k];
      size_t i = dmem_block_from (h, user);
      if (i == h->nblocks || h->blocks[i].user != user)
	continue;
      if (r->fn != NULL)
	r->fn (r->arg, DMEM_REF_LOADER, user, i);
      else
	r->mark[i] = DMEM_REACHABLE;
    }
}

/* Warn about the modules whose roots cannot be known (see check_module).
   libdwfl is the symbol preloader's until it is stopped; the report needs
   it next anyway.  */
static void
check_modules (struct dmem_target *t)
{
  if (t->dwfl != NULL)
    {
      dmem_symbols_wait (t);
      dwfl_getmodules (t->dwfl, check_module, t, 0);
    }
}

/* ---- the reference graph: dmem_refs ---- */

struct dmem_refs
{
  struct reach r;
};

/* See dmem.h.  */
struct dmem_refs *
dmem_refs_new (struct dmem_target *t, const struct dmem_heap *h)
{
  struct dmem_refs *g = dmem_xcalloc (1, sizeof *g);
  g->r.t = t;
  g->r.h = h;
  if (h->nblocks > 0)
    build_index (&g->r);
  check_modules (t);
  return g;
}

/* See dmem.h.  */
size_t
dmem_refs_block_at (const struct dmem_refs *g, uint64_t addr)
{
  return g->r.h->nblocks == 0 ? SIZE_MAX : find_block (&g->r, addr);
}

/* See dmem.h.  */
void
dmem_refs_roots (struct dmem_refs *g, dmem_ref_fn *fn, void *arg)
{
  struct reach *r = &g->r;
  if (r->h->nblocks == 0)
    return;
  r->fn = fn;
  r->arg = arg;
  scan_roots (r, r->h->desc[DMEM_DESC_STATE_START],
	      r->h->desc[DMEM_DESC_STATE_END]);
  mark_loader_blocks (r);
  r->fn = NULL;
}

/* See dmem.h.  */
void
dmem_refs_block (struct dmem_refs *g, size_t b, dmem_ref_fn *fn, void *arg)
{
  struct reach *r = &g->r;
  const struct dmem_block_ref *blk = &r->h->blocks[b];
  if (blk->no_pointers)   /* no word of it points into a block */
    return;
  r->fn = fn;
  r->arg = arg;
  scan_range (r, blk->user, blk->user + dmem_block_size (r->h, blk));
  r->fn = NULL;
}

/* See dmem.h.  */
void
dmem_refs_free (struct dmem_refs *g)
{
  if (g == NULL)
    return;
  free (g->r.bucket);
  free (g->r.clusters);
  free (g);
}

/* See dmem.h: mark from the roots, then classify the rest.  */
unsigned char *
dmem_reach (struct dmem_target *t, const struct dmem_heap *h)
{
  struct reach r = { .t = t, .h = h, .sweep = 0, .strong = 1 };
  r.mark = dmem_xcalloc (h->nblocks + 1, 1);
  if (h->nblocks > 0)
    {
      build_index (&r);
      scan_roots (&r, h->desc[DMEM_DESC_STATE_START],
		  h->desc[DMEM_DESC_STATE_END]);
      mark_loader_blocks (&r);
      /* Scan the marked blocks in address order, so the target's memory
	 is read mostly sequentially; a block found (or upgraded) at or
	 below the sweep is queued.  */
      for (size_t s = 0; s < h->nblocks; s++)
	{
	  if ((s & 0xffff) == 0)
	    dmem_progress (t, "finding leaks", s, h->nblocks);
	  r.sweep = s + 1;
	  if (r.mark[s] == 0 || h->blocks[s].no_pointers)
	    continue;
	  const struct dmem_block_ref *b = &h->blocks[s];
	  r.strong = r.mark[s] == DMEM_REACHABLE;
	  scan_range (&r, b->user, b->user + dmem_block_size (h, b));
	  flood (&r);
	}
      free (r.work);
      dmem_heap_keep_origins (h, r.mark);
      classify_leaks (&r);
      dmem_progress_end (t);
      free (r.bucket);
      free (r.clusters);
    }
  check_modules (t);
  return r.mark;
}
