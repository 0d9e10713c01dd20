/* Retained sizes (Eclipse MAT's): the dominator tree of the reference graph.

   The graph: a virtual root whose successors are the blocks the roots
   point into (dmem_refs_roots: registers, stacks, TLS, modules' data, the
   dynamic linker's blocks), and for each block the blocks the words of its
   user part point into (dmem_refs_block; interior pointers too).  Block D
   dominates block B when every path from the root to B passes through D:
   freeing D (and what only it keeps) frees B.  A block's retained bytes
   are its own size plus the retained bytes of the blocks it immediately
   dominates.

   Built in one iterative depth-first search from the root, which scans each
   reached block once, when it is first reached, appending its successors
   (without duplicates) to one edge array: the successor lists come out
   ordered by preorder number, so they are a CSR indexed by it.  Blocks the
   roots do not reach (leaks) are never scanned and are not in the tree:
   each retains its own size only (what a leaked block would retain among
   other leaked blocks is out of scope).  The predecessor lists are then a
   counting sort of the successor lists.

   The dominators: Lengauer and Tarjan's algorithm, the simple version
   (path compression, no balancing: O(m log n)), iterative (no recursion,
   whatever the untrusted core links), in uint32 preorder numbers, with
   three rearrangements that save arrays:
   - a vertex W's bucket (the vertices whose semidominator is W) is
     processed at the start of W's own step rather than after each child
     of W is linked: by then every descendant of W is linked under W, so
     EVAL sees the same path (from W's child down);
   - linking happens in decreasing preorder, so at W's step the vertices
     in the forest are exactly those above W: the DFS tree's parent array
     is the forest's ancestor array from the start, and "linked" is
     "numbered above W";
   - bucket lists live in the idom array: W's bucket head in idom[W] until
     W's step, a vertex's next in its idom until it is taken out.
   Per vertex: vertex (preorder to block), ancestor (DFS parent), semi,
   label, idom, the predecessor offsets and a stack for path compression;
   per edge one uint32 (two while the predecessor lists are built).

   Retained bytes then sum up the tree in decreasing preorder (a
   dominator's number is below what it dominates).

   A group's retained bytes (dmem_retained_groups, for stacks --retained)
   sum its blocks that no other block of the group dominates, found in one
   walk over the dominator tree.  */
#include <stdlib.h>
#include <string.h>
#include "dmem.h"

#define NONE UINT32_MAX

/* The search while it scans: the edge array and duplicate filter.  */
struct build
{
  struct dmem_target *t;
  uint32_t from;        /* preorder number of what is being scanned */
  uint32_t block;       /* its block, or NONE for the root */
  uint32_t *seen;       /* per block: the last FROM with an edge to it */
  uint32_t *edges;      /* successor blocks, grouped by preorder number */
  size_t nedges, cap;
  int full;             /* edges dropped: more than uint32 offsets hold */
};

/* dmem_ref_fn: an edge from what is being scanned to BLOCK, once.  */
static void
add_ref (void *arg, uint64_t where, uint64_t value, size_t block)
{
  (void) where;
  (void) value;
  struct build *b = arg;
  if (block == b->block || b->seen[block] == b->from)
    return;
  b->seen[block] = b->from;
  if (b->nedges == b->cap)
    {
      if (b->cap >= NONE - 1)
	{
	  if (!b->full)
	    dmem_warn (b->t, "over %u references: retained sizes leave some "
		       "out", NONE - 1);
	  b->full = 1;
	  return;
	}
      b->cap = b->cap ? 2 * b->cap : 4096;
      if (b->cap > NONE - 1)
	b->cap = NONE - 1;
      b->edges = dmem_xrealloc (b->edges, b->cap, sizeof *b->edges);
    }
  b->edges[b->nedges++] = block;
}

/* The dominators of the N vertices (0 the root, numbered in DFS preorder,
   ANCESTOR[w] the DFS parent of w; vertex w's predecessors are
   PREDS[POFF[w]..POFF[w+1]]), as IDOM (idom[0] = 0).  SEMI, LABEL and
   STACK are work arrays of N; ANCESTOR is destroyed.  */
static void
dominators (uint32_t n, const uint32_t *poff, const uint32_t *preds,
	    uint32_t *ancestor, uint32_t *semi, uint32_t *label,
	    uint32_t *idom, uint32_t *stack)
{
  for (uint32_t v = 0; v < n; v++)
    {
      semi[v] = label[v] = v;
      idom[v] = NONE;      /* empty bucket */
    }
  for (uint32_t w = n - 1; w > 0; w--)
    {
      /* EVAL (v): the vertex of least semi on the forest path from below
	 its root (a vertex numbered W or below) to V, compressing the
	 path.  */
#define EVAL(v, u)							\
      do								\
	{								\
	  uint32_t x_ = (v);						\
	  if (x_ <= w)							\
	    {								\
	      (u) = x_;							\
	      break;							\
	    }								\
	  size_t sp_ = 0;						\
	  while (ancestor[x_] > w)					\
	    {								\
	      stack[sp_++] = x_;					\
	      x_ = ancestor[x_];					\
	    }								\
	  while (sp_ > 0)						\
	    {								\
	      x_ = stack[--sp_];					\
	      uint32_t a_ = ancestor[x_];				\
	      if (semi[label[a_]] < semi[label[x_]])			\
		label[x_] = label[a_];					\
	      ancestor[x_] = ancestor[a_];				\
	    }								\
	  (u) = label[(v)];						\
	}								\
      while (0)
      /* W's bucket: every vertex in it has W as its semidominator.  */
      for (uint32_t v = idom[w]; v != NONE;)
	{
	  uint32_t next = idom[v], u;
	  EVAL (v, u);
	  idom[v] = semi[u] < semi[v] ? u : w;
	  v = next;
	}
      uint32_t s = semi[w];
      for (uint32_t k = poff[w]; k < poff[w + 1]; k++)
	{
	  uint32_t u;
	  EVAL (preds[k], u);
	  if (semi[u] < s)
	    s = semi[u];
	}
      semi[w] = s;
      /* Into S's bucket; W is linked now (it is above the next W).  */
      idom[w] = idom[s];
      idom[s] = w;
#undef EVAL
    }
  /* The root's bucket: the root is their immediate dominator.  */
  for (uint32_t v = idom[0]; v != NONE;)
    {
      uint32_t next = idom[v];
      idom[v] = 0;
      v = next;
    }
  idom[0] = 0;
  for (uint32_t w = 1; w < n; w++)
    if (idom[w] != semi[w])
      idom[w] = idom[idom[w]];
}

/* Each block's own size as its retained bytes, and DMEM_IDOM_ROOT as its
   immediate dominator into *IDOM unless IDOM is NULL.  */
static uint64_t *
own_sizes (const struct dmem_heap *h, uint32_t **idom)
{
  size_t nb = h->nblocks;
  uint64_t *retained = dmem_xmalloc ((nb ? nb : 1) * sizeof *retained);
  for (size_t i = 0; i < nb; i++)
    retained[i] = dmem_block_size (h, &h->blocks[i]);
  if (idom != NULL)
    {
      *idom = dmem_xmalloc ((nb ? nb : 1) * sizeof **idom);
      for (size_t i = 0; i < nb; i++)
	(*idom)[i] = DMEM_IDOM_ROOT;
    }
  return retained;
}

/* See dmem.h.  */
uint64_t *
dmem_retained (struct dmem_target *t, const struct dmem_heap *h,
	       uint32_t **idom_out)
{
  size_t nb = h->nblocks;
  /* Preorder numbers (the root's too) below NONE.  */
  if (nb == 0 || nb >= NONE - 1)
    {
      if (nb > 0)
	dmem_warn (t, "too many blocks for retained sizes: each retains "
		   "its own size");
      return own_sizes (h, idom_out);
    }
  uint32_t nmax = nb + 1;

  /* The search: pre (per block), vertex, parent, the successors' offsets
     (per preorder number), and the stack with its cursors.  */
  struct dmem_refs *g = dmem_refs_new (t, h);
  struct build b = { .t = t, .from = 0, .block = NONE };
  b.seen = dmem_xmalloc (nb * sizeof *b.seen);
  uint32_t *pre = dmem_xmalloc (nb * sizeof *pre);
  for (size_t i = 0; i < nb; i++)
    b.seen[i] = pre[i] = NONE;
  uint32_t *vertex = dmem_xmalloc (nmax * sizeof *vertex);
  uint32_t *parent = dmem_xmalloc (nmax * sizeof *parent);
  uint32_t *off = dmem_xmalloc ((nmax + 1) * sizeof *off);
  uint32_t *stack = dmem_xmalloc (nmax * sizeof *stack);
  uint32_t *cursor = dmem_xmalloc (nmax * sizeof *cursor);
  vertex[0] = NONE;
  parent[0] = NONE;
  off[0] = 0;
  dmem_refs_roots (g, add_ref, &b);
  off[1] = b.nedges;
  uint32_t n = 1;
  size_t sp = 0;
  stack[sp++] = 0;
  cursor[0] = 0;
  while (sp > 0)
    {
      uint32_t p = stack[sp - 1];
      if (cursor[p] == off[p + 1])
	{
	  sp--;
	  continue;
	}
      uint32_t blk = b.edges[cursor[p]++];
      if (pre[blk] != NONE)
	continue;
      uint32_t q = n++;
      if ((q & 0xffff) == 0)
	dmem_progress (t, "finding retained sizes", q, nb);
      pre[blk] = q;
      vertex[q] = blk;
      parent[q] = p;
      b.from = q;
      b.block = blk;
      dmem_refs_block (g, blk, add_ref, &b);
      off[q + 1] = b.nedges;
      cursor[q] = off[q];
      stack[sp++] = q;
    }
  dmem_refs_free (g);
  free (b.seen);
  free (cursor);

  /* The predecessors (in preorder numbers) by a counting sort of the
     edges.  */
  size_t ne = b.nedges;
  uint32_t *poff = dmem_xcalloc (n + 1, sizeof *poff);
  for (size_t k = 0; k < ne; k++)
    {
      b.edges[k] = pre[b.edges[k]];
      poff[b.edges[k]]++;
    }
  free (pre);
  for (uint32_t v = 0, at = 0; v <= n; v++)
    {
      uint32_t c = v < n ? poff[v] : 0;
      poff[v] = at;
      at += c;
    }
  uint32_t *preds = dmem_xmalloc ((ne ? ne : 1) * sizeof *preds);
  for (uint32_t p = 0; p < n; p++)
    for (uint32_t k = off[p]; k < off[p + 1]; k++)
      preds[poff[b.edges[k]]++] = p;
  for (uint32_t v = n; v > 0; v--)
    poff[v] = poff[v - 1];
  poff[0] = 0;
  free (b.edges);
  free (off);

  uint32_t *semi = dmem_xmalloc (n * sizeof *semi);
  uint32_t *label = dmem_xmalloc (n * sizeof *label);
  uint32_t *idom = dmem_xmalloc (n * sizeof *idom);
  dominators (n, poff, preds, parent, semi, label, idom, stack);
  free (preds);
  free (poff);
  free (semi);
  free (label);
  free (stack);
  free (parent);

  uint32_t *bidom;
  uint64_t *retained = own_sizes (h, &bidom);
  /* Sum up the tree, deepest first: a dominator is numbered below what it
     dominates.  */
  for (uint32_t w = n - 1; w > 0; w--)
    {
      uint32_t d = idom[w];
      if (d != 0)
	{
	  retained[vertex[d]] += retained[vertex[w]];
	  bidom[vertex[w]] = vertex[d];
	}
    }
  free (idom);
  free (vertex);
  dmem_progress_end (t);
  if (idom_out != NULL)
    *idom_out = bidom;
  else
    free (bidom);
  return retained;
}

/* See dmem.h: one walk over the dominator tree in depth-first order, each
   group counting its blocks among the ancestors of the walk's block.  The
   tree is held as first child and next sibling lists (the virtual root's
   children: the blocks whose IDOM is DMEM_IDOM_ROOT), so the walk needs
   no stack: from a block to its first child, else to its next sibling or
   back up through its dominators.  */
uint64_t *
dmem_retained_groups (const struct dmem_heap *h, const uint64_t *retained,
		      const uint32_t *idom, const uint32_t *group,
		      size_t ngroups)
{
  size_t nb = h->nblocks;
  uint64_t *sum = dmem_xcalloc (ngroups ? ngroups : 1, sizeof *sum);
  uint32_t *open = dmem_xcalloc (ngroups ? ngroups : 1, sizeof *open);
  uint32_t *first = dmem_xmalloc ((nb + 1) * sizeof *first);
  uint32_t *next = dmem_xmalloc ((nb ? nb : 1) * sizeof *next);
  for (size_t i = 0; i <= nb; i++)
    first[i] = NONE;
  /* Children in address order: pushed from the last block down.  */
  for (size_t i = nb; i-- > 0;)
    {
      size_t d = idom[i] == DMEM_IDOM_ROOT ? nb : idom[i];
      next[i] = first[d];
      first[d] = i;
    }
  uint32_t x = first[nb];
  while (x != NONE)
    {
      /* Enter X.  */
      if (open[group[x]]++ == 0)
	sum[group[x]] += retained[x];
      if (first[x] != NONE)
	{
	  x = first[x];
	  continue;
	}
      /* Leave X, and each dominator whose children are all done.  */
      for (;;)
	{
	  open[group[x]]--;
	  if (next[x] != NONE)
	    {
	      x = next[x];
	      break;
	    }
	  x = idom[x];
	  if (x == DMEM_IDOM_ROOT)
	    break;
	}
    }
  free (first);
  free (next);
  free (open);
  return sum;
}
