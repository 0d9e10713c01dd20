/* The runtime's descriptor and the bounded walk of every shard's list of live blocks.  */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "dmem.h"

/* Most shards, PCs and header bytes a descriptor may state; anything larger
   is a corrupted descriptor, not a runtime we know.  */
#define MAX_SHARDS 4096
#define MAX_DEPTH 64
#define MAX_HEADER 4096

/* The descriptor fields this analyzer needs of each version.  */
#define DMEM_DESC_USED_V1 (DMEM_DESC_GUARD_SIZE + 1)
#define DMEM_DESC_USED_V2 (DMEM_DESC_OFF_SHARD + 1)
#define DMEM_DESC_USED_V3 DMEM_DESC_COUNT
/* Most stacks per depot chunk and chunks a descriptor may state.  */
#define MAX_CHUNK_STACKS (1 << 20)
#define MAX_CHUNKS (1 << 16)

struct find_desc
{
  const char *want;   /* module name must contain this, or NULL for any */
  Dwfl_Module *mod;
  uint64_t addr;
};

/* dwfl_getmodules callback: look for the descriptor symbol in MOD.  */
static int
find_desc_in_module (Dwfl_Module *mod, void **userdata __attribute__ ((unused)),
		     const char *name, Dwarf_Addr start __attribute__ ((unused)),
		     void *arg)
{
  struct find_desc *f = arg;
  if (f->want != NULL && (name == NULL || strstr (name, f->want) == NULL))
    return DWARF_CB_OK;
  int n = dwfl_module_getsymtab (mod);
  for (int i = 1; i < n; i++)
    {
      GElf_Sym sym;
      GElf_Addr addr;
      const char *sname = dwfl_module_getsym_info (mod, i, &sym, &addr,
						   NULL, NULL, NULL);
      if (sname != NULL && sym.st_shndx != SHN_UNDEF
	  && strcmp (sname, DMEM_DESCRIPTOR_SYMBOL) == 0)
	{
	  f->mod = mod;
	  f->addr = addr;
	  return DWARF_CB_ABORT;
	}
    }
  return DWARF_CB_OK;
}

/* Check that the layout the descriptor states is one we can read safely.  */
static int
check_descriptor (struct dmem_target *t, const uint64_t *d)
{
  uint64_t hs = d[DMEM_DESC_HEADER_SIZE], depth = d[DMEM_DESC_STACK_DEPTH];
  if (hs < 16 || hs > MAX_HEADER || depth == 0 || depth > MAX_DEPTH)
    return dmem_fail (t, "the dmem descriptor states an impossible header "
		      "(%" PRIu64 " bytes, %" PRIu64 " PCs)", hs, depth);
  static const int u64_fields[] = { DMEM_DESC_OFF_NEXT, DMEM_DESC_OFF_PREV,
    DMEM_DESC_OFF_SIZE, DMEM_DESC_OFF_MAGIC };
  for (size_t i = 0; i < sizeof u64_fields / sizeof *u64_fields; i++)
    if (d[u64_fields[i]] > hs - 8)
      return dmem_fail (t, "the dmem descriptor states a field outside the "
			"header");
  if (d[DMEM_DESC_OFF_TID] > hs - 4)
    return dmem_fail (t, "the dmem descriptor states a field outside the header");
  if (d[DMEM_DESC_VERSION] == 1
      && (d[DMEM_DESC_OFF_PCS] > hs || depth * 8 > hs - d[DMEM_DESC_OFF_PCS]))
    return dmem_fail (t, "the dmem descriptor states a field outside the header");
  if (d[DMEM_DESC_VERSION] >= 2)
    {
      uint64_t es = d[DMEM_DESC_DEPOT_STACK_SIZE];
      if (d[DMEM_DESC_OFF_STACK] > hs - 4 || d[DMEM_DESC_OFF_KIND] > hs - 1
	  || d[DMEM_DESC_OFF_SHARD] > hs - 1
	  || d[DMEM_DESC_DEPOT_CHUNKS] == 0
	  || d[DMEM_DESC_DEPOT_CHUNKS] > MAX_CHUNKS
	  || d[DMEM_DESC_DEPOT_CHUNK_STACKS] == 0
	  || d[DMEM_DESC_DEPOT_CHUNK_STACKS] > MAX_CHUNK_STACKS
	  || es > MAX_HEADER || d[DMEM_DESC_DEPOT_OFF_PCS] > es
	  || depth * 8 > es - d[DMEM_DESC_DEPOT_OFF_PCS]
	  || d[DMEM_DESC_DEPOT_OFF_HASH] > es - 4
	  || d[DMEM_DESC_DEPOT_OFF_CHUNKS] > MAX_HEADER
	  || d[DMEM_DESC_DEPOT_OFF_STACKS] > MAX_HEADER
	  || d[DMEM_DESC_DEPOT_OFF_NOT_KEPT] > MAX_HEADER)
	return dmem_fail (t, "the dmem descriptor states an impossible stack "
			  "depot");
    }
  uint64_t ss = d[DMEM_DESC_SHARD_SIZE];
  if (d[DMEM_DESC_SHARD_COUNT] == 0 || d[DMEM_DESC_SHARD_COUNT] > MAX_SHARDS
      || ss < 8 || ss > MAX_HEADER)
    return dmem_fail (t, "the dmem descriptor states impossible shards");
  static const int shard_fields[] = { DMEM_DESC_SHARD_OFF_FIRST,
    DMEM_DESC_SHARD_OFF_BLOCKS, DMEM_DESC_SHARD_OFF_BYTES,
    DMEM_DESC_SHARD_OFF_ALLOCS, DMEM_DESC_SHARD_OFF_FREES };
  for (size_t i = 0; i < sizeof shard_fields / sizeof *shard_fields; i++)
    if (d[shard_fields[i]] > ss - 8)
      return dmem_fail (t, "the dmem descriptor states a shard field outside "
			"the shard");
  return 0;
}

/* Mix the bits of X (a 64-bit finaliser).  */
static size_t
hash_u64 (uint64_t x)
{
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return x;
}

/* Interning of stacks: equal PC tuples share one index.  */
struct dmem_stack_table
{
  uint32_t *slots;   /* stack index + 1, 0 = empty */
  size_t mask;
};

/* Hash of a stack of DEPTH PCs.  */
static size_t
hash_pcs (const uint64_t *pcs, size_t depth)
{
  /* Independent multiplies, one final mix: cheap for 1M blocks.  */
  uint64_t h = depth;
  for (size_t i = 0; i < depth; i++)
    h += (pcs[i] ^ (pcs[i] >> 29)) * (0x9e3779b97f4a7c15ULL + 2 * i);
  return hash_u64 (h);
}

/* The index of stack PCS (DEPTH words) in H, added if new.  */
static uint32_t
intern_stack (struct dmem_heap *h, struct dmem_stack_table *st,
	      const uint64_t *pcs)
{
  size_t depth = h->depth;
  if (2 * (h->nstacks + 1) > st->mask + 1)
    {
      size_t size = st->slots == NULL ? 1024 : 2 * (st->mask + 1);
      free (st->slots);
      st->slots = dmem_xcalloc (size, sizeof *st->slots);
      st->mask = size - 1;
      for (size_t s = 0; s < h->nstacks; s++)
	{
	  size_t i = hash_pcs (h->stacks + s * depth, depth) & st->mask;
	  while (st->slots[i] != 0)
	    i = (i + 1) & st->mask;
	  st->slots[i] = s + 1;
	}
    }
  size_t i = hash_pcs (pcs, depth) & st->mask;
  for (; st->slots[i] != 0; i = (i + 1) & st->mask)
    if (memcmp (h->stacks + (st->slots[i] - 1) * depth, pcs,
		depth * 8) == 0)
      return st->slots[i] - 1;
  if ((h->nstacks & (h->nstacks - 1)) == 0)
    h->stacks = dmem_xrealloc (h->stacks, h->nstacks ? 2 * h->nstacks : 1,
			       depth * 8);
  memcpy (h->stacks + h->nstacks * depth, pcs, depth * 8);
  st->slots[i] = h->nstacks + 1;
  return h->nstacks++;
}

/* Record a walk problem in H.  */
static void
add_problem (struct dmem_heap *h, const char *kind, uint64_t address,
	     uint32_t stack, int shard, uint64_t from)
{
  if ((h->nproblems & (h->nproblems - 1)) == 0)
    h->problems = dmem_xrealloc (h->problems,
				 h->nproblems ? 2 * h->nproblems : 1,
				 sizeof *h->problems);
  h->problems[h->nproblems++] = (struct dmem_problem) { kind, address, stack,
							 shard, from, 0, 0,
							 UINT32_MAX };
}

/* The little-endian uint64 at P + OFF (any alignment).  */
static uint64_t
get_u64 (const unsigned char *p, uint64_t off)
{
  uint64_t v;
  memcpy (&v, p + off, 8);
  return v;
}

/* The little-endian uint32 at P + OFF (any alignment).  */
static uint32_t
get_u32 (const unsigned char *p, uint64_t off)
{
  uint32_t v;
  memcpy (&v, p + off, 4);
  return v;
}

/* What the scan read of the blocks' origins (dmem.h): the distinct
   (thread, stack) pairs, and each block's index among them.  */
struct dmem_origins
{
  struct origin { uint32_t tid, stack; } *pairs;
  size_t npairs;
  uint16_t *slots;   /* while scanning: pair index + 1, 0 = empty */
  size_t mask;
  uint16_t *of;      /* each block's pair (each kept block's, with KEPT);
			UNREAD past the first 65535 pairs */
  uint64_t *kept;    /* NULL, or bit i set when block i's is kept */
  uint32_t *rank;    /* with KEPT: how many are kept before each 64 */
};
#define UNREAD UINT16_MAX

/* Append a block of SIZE at USER; NO_POINTERS when it holds no word that
   can point into a block.  */
static inline void
add_block (struct dmem_heap *h, uint64_t user, uint64_t size, int no_pointers)
{
  if (h->nblocks == h->capacity)
    {
      h->capacity = h->capacity ? 2 * h->capacity : 1024;
      h->blocks = dmem_xrealloc (h->blocks, h->capacity, sizeof *h->blocks);
      if (h->origins != NULL)
	h->origins->of = dmem_xrealloc (h->origins->of, h->capacity,
					sizeof *h->origins->of);
    }
  uint32_t small = size;
  if (size >= DMEM_BIG_SIZE)
    {
      if ((h->nbig & (h->nbig - 1)) == 0)
	h->big = dmem_xrealloc (h->big, h->nbig ? 2 * h->nbig : 1,
				sizeof *h->big);
      h->big[h->nbig++] = (struct dmem_big_block) { user, size };
      small = DMEM_BIG_SIZE;
    }
  h->blocks[h->nblocks++] = (struct dmem_block_ref) { user, small,
						       no_pointers };
}

/* The slot of the pair (TID, STACK) in O's table, or the empty one where
   it goes.  */
static size_t
origin_slot (const struct dmem_origins *o, uint32_t tid, uint32_t stack)
{
  size_t i = hash_u64 ((uint64_t) stack << 32 | tid) & o->mask;
  for (; o->slots[i] != 0; i = (i + 1) & o->mask)
    {
      const struct origin *x = &o->pairs[o->slots[i] - 1];
      if (x->tid == tid && x->stack == stack)
	break;
    }
  return i;
}

/* Note that the block just added was allocated by thread TID with STACK.  */
static inline void
note_origin (struct dmem_heap *h, uint32_t tid, uint32_t stack)
{
  struct dmem_origins *o = h->origins;
  size_t i = origin_slot (o, tid, stack);
  if (o->slots[i] == 0 && o->npairs < UNREAD)
    {
      if ((o->npairs & (o->npairs - 1)) == 0)
	o->pairs = dmem_xrealloc (o->pairs, o->npairs ? 2 * o->npairs : 1,
				  sizeof *o->pairs);
      o->pairs[o->npairs] = (struct origin) { tid, stack };
      o->slots[i] = ++o->npairs;
      if (2 * o->npairs > o->mask)   /* half full: twice the slots */
	{
	  free (o->slots);
	  o->mask = 2 * o->mask + 1;
	  o->slots = dmem_xcalloc (o->mask + 1, sizeof *o->slots);
	  for (size_t k = 0; k < o->npairs; k++)
	    o->slots[origin_slot (o, o->pairs[k].tid, o->pairs[k].stack)]
	      = k + 1;
	  i = origin_slot (o, tid, stack);
	}
    }
  o->of[h->nblocks - 1] = o->slots[i] != 0 ? o->slots[i] - 1 : UNREAD;
}

static void
free_origins (struct dmem_heap *h)
{
  if (h->origins == NULL)
    return;
  free (h->origins->pairs);
  free (h->origins->slots);
  free (h->origins->of);
  free (h->origins->kept);
  free (h->origins->rank);
  free (h->origins);
  h->origins = NULL;
}

/* Note the block at USER when its STACK starts in the dynamic linker: it
   is reachable (reach.c), and so the stack is read once, here.  */
static inline void
note_loader_block (struct dmem_target *t, struct dmem_heap *h, uint64_t user,
		   uint32_t stack)
{
  uint64_t pc = h->stacks[(size_t) stack * h->depth];
  if (pc - t->loader.start >= t->loader.end - t->loader.start)
    return;
  if ((h->nloader_blocks & (h->nloader_blocks - 1)) == 0)
    h->loader_blocks = dmem_xrealloc (h->loader_blocks,
				      h->nloader_blocks
				      ? 2 * h->nloader_blocks : 1, 8);
  h->loader_blocks[h->nloader_blocks++] = user;
}

/* Zero the PCs of a stack after its first 0.  */
static void
cut_stack (uint64_t *pcs, size_t depth)
{
  size_t n = 0;
  while (n < depth && pcs[n] != 0)
    n++;
  for (size_t k = n; k < depth; k++)
    pcs[k] = 0;
}

/* The stack of depot id ID: "not kept" for 0 and for an id the depot does
   not hold.  */
static inline uint32_t
depot_stack (const struct dmem_heap *h, uint32_t id)
{
  return id < h->ndepot ? h->depot[id] : h->not_kept_stack;
}

/* See dmem.h.  */
void
dmem_header_pcs (const struct dmem_heap *h, const unsigned char *hdr,
		 uint64_t *pcs)
{
  const uint64_t *d = h->desc;
  if (h->depot != NULL)
    memcpy (pcs, h->stacks + (size_t) depot_stack (h, get_u32 (hdr,
				d[DMEM_DESC_OFF_STACK])) * h->depth,
	    h->depth * 8);
  else
    {
      memcpy (pcs, hdr + d[DMEM_DESC_OFF_PCS], h->depth * 8);
      cut_stack (pcs, h->depth);
    }
}

/* Format 2: read the stack depot, every stack of it interned once, so a
   block's stack is one lookup by its id.  Chunks that cannot be read and
   ids never filled are stacks "not kept".  */
static void
load_depot (struct dmem_target *t, struct dmem_heap *h,
	    struct dmem_stack_table *st)
{
  const uint64_t *d = h->desc;
  uint64_t base = d[DMEM_DESC_DEPOT];
  uint64_t nchunks = d[DMEM_DESC_DEPOT_CHUNKS];
  uint64_t per = d[DMEM_DESC_DEPOT_CHUNK_STACKS];
  uint64_t es = d[DMEM_DESC_DEPOT_STACK_SIZE];
  uint32_t count = 0, not_kept = 0;
  uint64_t pcs[MAX_DEPTH];
  memset (pcs, 0, sizeof pcs);
  h->not_kept_stack = intern_stack (h, st, pcs);
  if (dmem_read (t, base + d[DMEM_DESC_DEPOT_OFF_STACKS], &count, 4) != 0
      || dmem_read (t, base + d[DMEM_DESC_DEPOT_OFF_NOT_KEPT], &not_kept,
		    4) != 0)
    {
      dmem_warn (t, "the runtime's stack depot at 0x%" PRIx64 " cannot be "
		 "read; no block has a stack", base);
      h->depot = dmem_xcalloc (1, sizeof *h->depot);
      h->ndepot = 1;
      return;
    }
  uint64_t ids = (uint64_t) count + 1;
  if (ids > nchunks * per)
    ids = nchunks * per;
  h->ndepot = ids;
  h->depot = dmem_xmalloc (ids * sizeof *h->depot);
  h->not_kept = not_kept;
  uint64_t *chunks = dmem_xcalloc (nchunks, 8);
  if (dmem_read (t, base + d[DMEM_DESC_DEPOT_OFF_CHUNKS], chunks,
		 nchunks * 8) != 0)
    memset (chunks, 0, nchunks * 8);
  uint64_t lost = 0;
  unsigned char buf[MAX_HEADER];
  for (uint64_t id = 0; id < ids; id++)
    {
      uint64_t c = id / per;
      const unsigned char *e = NULL;
      if (id > 0 && chunks[c] != 0 && chunks[c] <= UINT64_MAX - per * es)
	e = dmem_view (t, chunks[c] + (id % per) * es, es, buf);
      uint32_t hash = e != NULL ? get_u32 (e, d[DMEM_DESC_DEPOT_OFF_HASH]) : 0;
      if (hash == 0)
	{
	  lost += id > 0;
	  h->depot[id] = h->not_kept_stack;
	  continue;
	}
      memcpy (pcs, e + d[DMEM_DESC_DEPOT_OFF_PCS], h->depth * 8);
      cut_stack (pcs, h->depth);
      h->depot[id] = intern_stack (h, st, pcs);
      if ((id & 0xffff) == 0)
	dmem_progress (t, "reading the stack depot", id, ids);
    }
  free (chunks);
  if (lost > 0)
    dmem_warn (t, "%" PRIu64 " of the %" PRIu64 " stacks in the runtime's "
	       "stack depot cannot be read; their blocks show no stack",
	       lost, ids - 1);
  if (not_kept > 0)
    dmem_warn (t, "the runtime's stack depot was full: %" PRIu32 " blocks "
	       "were allocated without keeping their stack", not_kept);
}

/* Where the walk of one shard stands.  */
struct walk
{
  uint64_t shard_addr;
  uint64_t addr, prev;              /* next header to read, and its prev */
  uint64_t walked, bytes;           /* blocks appended so far */
  uint64_t counted, counted_bytes;  /* the shard's counters */
  uint64_t limit;                   /* counter + 1000 steps */
  uint64_t saved, power, lambda;    /* Brent's cycle detection */
};

/* Start the walk of the shard whose bytes are SHARD.  */
static void
walk_begin (struct dmem_heap *h, struct walk *w, uint64_t shard_addr,
	    const unsigned char *shard)
{
  const uint64_t *d = h->desc;
  memset (w, 0, sizeof *w);
  w->shard_addr = shard_addr;
  w->counted = get_u64 (shard, d[DMEM_DESC_SHARD_OFF_BLOCKS]);
  w->counted_bytes = get_u64 (shard, d[DMEM_DESC_SHARD_OFF_BYTES]);
  h->shard_allocs += get_u64 (shard, d[DMEM_DESC_SHARD_OFF_ALLOCS]);
  h->shard_frees += get_u64 (shard, d[DMEM_DESC_SHARD_OFF_FREES]);
  w->limit = w->counted > UINT64_MAX - 1000 ? UINT64_MAX : w->counted + 1000;
  w->addr = get_u64 (shard, d[DMEM_DESC_SHARD_OFF_FIRST]);
  w->power = 1;
}

/* Take one step of walk W: append the block at w->addr to H and move to
   the next.  Returns NULL to go on, or the problem that ends this shard's
   walk; *STACK is then the stack of the block concerned, if known.  */
static const char *
walk_step (struct dmem_target *t, struct dmem_heap *h, struct walk *w,
	   struct dmem_stack_table *st, uint32_t *stack)
{
  const uint64_t *d = h->desc;
  uint64_t hs = d[DMEM_DESC_HEADER_SIZE], addr = w->addr;
  unsigned char buf[MAX_HEADER];
  uint64_t pcs[MAX_DEPTH];
  *stack = UINT32_MAX;
  /* Brent: compare with a block saved at each power of two steps.  */
  if (addr == w->saved)
    return "cycle";
  if (w->lambda == w->power)
    {
      w->saved = addr;
      w->power *= 2;
      w->lambda = 0;
    }
  w->lambda++;
  if (w->walked >= w->limit)
    return "too-long";
  const unsigned char *hdr = dmem_view (t, addr, hs, buf);
  if (hdr == NULL)
    return "unreadable";
  /* The stack names the block in problem reports too.  */
  if (h->depot != NULL)
    *stack = depot_stack (h, get_u32 (hdr, d[DMEM_DESC_OFF_STACK]));
  else
    {
      if (h->depth == DMEM_STACK_DEPTH)   /* the usual case, copied inline */
	memcpy (pcs, hdr + d[DMEM_DESC_OFF_PCS], DMEM_STACK_DEPTH * 8);
      else
	memcpy (pcs, hdr + d[DMEM_DESC_OFF_PCS], h->depth * 8);
      cut_stack (pcs, h->depth);
      *stack = intern_stack (h, st, pcs);
    }
  uint64_t magic = get_u64 (hdr, d[DMEM_DESC_OFF_MAGIC]);
  /* A pending block (format 3) is on its list, not the program's.  */
  int pending = d[DMEM_DESC_VERSION] >= 3
		&& magic == (d[DMEM_DESC_PENDING_MAGIC] ^ addr);
  if (magic != (d[DMEM_DESC_BLOCK_MAGIC] ^ addr) && !pending)
    return magic == (d[DMEM_DESC_FREED_MAGIC] ^ addr) ? "freed-block"
	   : "bad-magic";
  if (get_u64 (hdr, d[DMEM_DESC_OFF_PREV]) != w->prev)
    return "bad-prev";
  uint64_t size = get_u64 (hdr, d[DMEM_DESC_OFF_SIZE]);
  struct dmem_region *r = dmem_region_at (t, addr);
  if (r == NULL || addr > UINT64_MAX - hs || addr + hs > r->end
      || size > r->end - (addr + hs))
    return "bad-size";
  if (r->end > DMEM_USER_END)   /* not x86-64 user space */
    return "unreadable";
  if (pending)
    h->npending++;
  else
    {
      add_block (h, addr + hs, size, 0);
      note_loader_block (t, h, addr + hs, *stack);
    }
  w->walked++;
  w->bytes += size;
  w->prev = addr;
  w->addr = get_u64 (hdr, d[DMEM_DESC_OFF_NEXT]);
  /* Start fetching the next header while the other shards take a step.  */
  struct dmem_region *next = dmem_region_at (t, w->addr);
  if (next != NULL && w->addr - next->start < next->avail)
    __builtin_prefetch (next->data + (w->addr - next->start));
  return NULL;
}

/* Whether scan_heap looks for headers in R: memory of the program's
   own (writable, anonymous, dumped), not the runtime's state.  */
static int
may_hold_blocks (const struct dmem_heap *h, const struct dmem_region *r)
{
  const uint64_t *d = h->desc;
  return r->writable && !r->file_backed && r->data != NULL
	 && r->end <= DMEM_USER_END && r->avail >= d[DMEM_DESC_HEADER_SIZE]
	 && !(r->start < d[DMEM_DESC_STATE_END]
	      && r->end > d[DMEM_DESC_STATE_START]);
}

/* Find the live blocks of a core by their headers instead of their lists:
   a live header's magic is keyed by its own address, so a sequential pass
   over the memory that can hold blocks finds them, in address order, with
   no pointer chasing.  The result stands only if it is exactly what the
   shards' counters say (per shard in format 2) and the links are those of
   whole lists over exactly these blocks; otherwise (a core taken while a
   list was being changed, a damaged header or link) the caller walks the
   lists, which names the damage.  The links are checked without following
   them: in sound lists the blocks that links and shard heads point to are
   every block once, and the blocks that prev links point to are those
   with a next link; both multisets are compared through sums of a mixing
   function of their members.  A pending block (format 3: freed by another
   thread, still on its list) counts as a member of its list, not as a
   live block.  Returns 0 when the scan stands.  */
static int
scan_heap (struct dmem_target *t, struct dmem_heap *h,
	   struct dmem_stack_table *st, const unsigned char *shards,
	   uint64_t nshards, uint64_t ss)
{
  const uint64_t *d = h->desc;
  uint64_t hs = d[DMEM_DESC_HEADER_SIZE], gs = d[DMEM_DESC_GUARD_SIZE];
  uint64_t bm = d[DMEM_DESC_BLOCK_MAGIC], om = d[DMEM_DESC_OFF_MAGIC];
  uint64_t osz = d[DMEM_DESC_OFF_SIZE];
  int v2 = d[DMEM_DESC_VERSION] >= 2, v3 = d[DMEM_DESC_VERSION] >= 3;
  uint64_t pm = d[DMEM_DESC_PENDING_MAGIC];
  if (t->pid != 0 || gs > MAX_HEADER || (hs & 15) != 0)
    return -1;   /* a live process's memory is read as it is needed */
  uint64_t *count = dmem_xcalloc (nshards, 2 * sizeof *count);
  uint64_t pcs[MAX_DEPTH];
  uint64_t onext = d[DMEM_DESC_OFF_NEXT], oprev = d[DMEM_DESC_OFF_PREV];
  uint64_t blocks_sum = 0, pointed_sum = 0, with_next_sum = 0, prev_sum = 0;
  /* Every block's user part (and a 0-byte block's one byte at its end)
     lies in [lo, hi], from the first region scanned to the last.  */
  uint64_t lo = UINT64_MAX, hi = 0;
  for (size_t i = 0; i < t->nregions; i++)
    if (may_hold_blocks (h, &t->regions[i]))
      {
	lo = t->regions[i].start < lo ? t->regions[i].start : lo;
	hi = t->regions[i].end > hi ? t->regions[i].end : hi;
      }
  h->origins = dmem_xcalloc (1, sizeof *h->origins);
  h->origins->mask = 255;
  h->origins->slots = dmem_xcalloc (256, sizeof *h->origins->slots);
  h->origins->of = dmem_xmalloc ((h->capacity ? h->capacity : 1)
				 * sizeof *h->origins->of);
  struct dmem_pass pass;
  dmem_pass_begin (t, &pass);
  unsigned char buf[MAX_HEADER];
  for (size_t i = 0; i < t->nregions; i++)
    {
      const struct dmem_region *r = &t->regions[i];
      if (!may_hold_blocks (h, r))
	continue;
      uint64_t end = r->start + r->avail;
      for (uint64_t a = (r->start + 15) & ~15ULL; a + hs <= end;)
	{
	  const unsigned char *p = dmem_pass_view (&pass, a, hs, buf);
	  if (p == NULL)
	    break;
	  uint64_t magic = get_u64 (p, om);
	  int pending = 0;
	  if (__builtin_expect (magic != (bm ^ a), 1))
	    {
	      if (!v3 || magic != (pm ^ a))
		{
		  a += 16;
		  continue;
		}
	      pending = 1;   /* on its list, not the program's */
	    }
	  uint64_t size = get_u64 (p, osz);
	  if (size > r->end - (a + hs))
	    {
	      a += 16;
	      continue;
	    }
	  uint32_t stack, shard = 0;
	  if (v2)
	    {
	      stack = depot_stack (h, get_u32 (p, d[DMEM_DESC_OFF_STACK]));
	      shard = p[d[DMEM_DESC_OFF_SHARD]];
	    }
	  else
	    {
	      memcpy (pcs, p + d[DMEM_DESC_OFF_PCS], h->depth * 8);
	      cut_stack (pcs, h->depth);
	      stack = intern_stack (h, st, pcs);
	    }
	  /* Now: the next view may refill the buffer P is in.  */
	  uint32_t tid = get_u32 (p, d[DMEM_DESC_OFF_TID]);
	  if (shard >= nshards)
	    break;
	  count[2 * shard]++;
	  count[2 * shard + 1] += size;
	  uint64_t next = get_u64 (p, onext), prev = get_u64 (p, oprev);
	  blocks_sum += hash_u64 (a);
	  if (next != 0)
	    {
	      pointed_sum += hash_u64 (next);
	      with_next_sum += hash_u64 (a);
	    }
	  if (prev != 0)
	    prev_sum += hash_u64 (prev);
	  uint64_t after = a + hs + size + gs;
	  after = after < a ? end : (after + 15) & ~15ULL;
	  if (pending)
	    {
	      h->npending++;
	      a = after;
	      continue;
	    }
	  /* Whether a word of the block (those reach.c scans: aligned,
	     dumped) lies where blocks can: the scan's pass over the
	     memory brings these bytes in anyway, and the blocks without
	     need not be read again.  A block too long for the pass is
	     taken to hold pointers: reachability reads it.  */
	  uint64_t user = a + hs, from = (user + 7) & ~7ULL;
	  uint64_t to = size < end - user ? user + size : end;
	  int pointers = 1;
	  if (to - user <= DMEM_PASS_MAX / 2)
	    {
	      /* In the region's bytes: straight from them at worst.  */
	      const unsigned char *u = dmem_pass_view (&pass, user, to - user,
						       NULL);
	      pointers = 0;
	      for (uint64_t w = from - user; w + 8 <= to - user && !pointers;
		   w += 8)
		pointers = get_u64 (u, w) - lo <= hi - lo;
	    }
	  add_block (h, user, size, !pointers);
	  note_origin (h, tid, stack);
	  note_loader_block (t, h, user, stack);
	  if ((h->nblocks & 0xffff) == 0)
	    dmem_progress (t, "reading the heap", h->nblocks, h->capacity);
	  a = after;
	}
    }
  dmem_pass_end (&pass);
  dmem_progress_end (t);
  free (h->origins->slots);
  h->origins->slots = NULL;
  /* Format 1 headers do not say their shard: the totals are compared.  */
  int stands = 1;
  uint64_t blocks = 0, bytes = 0, want_blocks = 0, want_bytes = 0;
  for (uint64_t i = 0; i < nshards; i++)
    {
      uint64_t b = get_u64 (shards + i * ss, d[DMEM_DESC_SHARD_OFF_BLOCKS]);
      uint64_t y = get_u64 (shards + i * ss, d[DMEM_DESC_SHARD_OFF_BYTES]);
      if (v2 && (b != count[2 * i] || y != count[2 * i + 1]))
	stands = 0;
      blocks += count[2 * i];
      bytes += count[2 * i + 1];
      want_blocks += b;
      want_bytes += y;
      h->shard_allocs += get_u64 (shards + i * ss, d[DMEM_DESC_SHARD_OFF_ALLOCS]);
      h->shard_frees += get_u64 (shards + i * ss, d[DMEM_DESC_SHARD_OFF_FREES]);
      uint64_t first = get_u64 (shards + i * ss, d[DMEM_DESC_SHARD_OFF_FIRST]);
      if (first != 0)
	pointed_sum += hash_u64 (first);
    }
  free (count);
  if (stands && blocks == want_blocks && bytes == want_bytes
      && pointed_sum == blocks_sum && prev_sum == with_next_sum)
    {
      h->scanned = 1;
      return 0;
    }
  h->nblocks = 0;
  h->nbig = 0;
  h->nloader_blocks = 0;
  h->npending = 0;
  free_origins (h);
  h->shard_allocs = h->shard_frees = 0;
  return -1;
}

/* Walk every shard, one step of each in turn, so that the reads of many
   lists are in flight at once.  A shard's walk ends at its NULL link or at
   its first problem (recorded and warned about); the others go on.  */
static void
walk_shards (struct dmem_target *t, struct dmem_heap *h,
	     const unsigned char *shards, uint64_t nshards, uint64_t ss)
{
  const uint64_t *d = h->desc;
  struct walk *w = dmem_xcalloc (nshards, sizeof *w);
  uint32_t *active = dmem_xcalloc (nshards, sizeof *active);
  struct dmem_stack_table st = { NULL, 0 };   /* kept for format 1 */
  size_t nactive = 0;
  if (d[DMEM_DESC_VERSION] >= 2)
    load_depot (t, h, &st);
  else
    {
      /* A header that cannot be read again: no stack.  */
      uint64_t none[MAX_DEPTH];
      memset (none, 0, sizeof none);
      h->not_kept_stack = intern_stack (h, &st, none);
    }
  /* Format 2: the depot holds every stack, and a scan reads only the
     core's bytes (no module file, no libdwfl), so symbolisation's slow
     start can run beside the scan already.  */
  /* The dynamic linker's range, for note_loader_block.  */
  dmem_target_segments (t);
  if (t->preload_symbols && d[DMEM_DESC_VERSION] >= 2 && !h->walk
      && t->pid == 0 && t->source == NULL)
    {
      dmem_symbols_preload (t, h->stacks, h->nstacks * h->depth);
      h->preloaded = 1;
    }
  if (!h->walk && scan_heap (t, h, &st, shards, nshards, ss) == 0)
    nshards = 0;   /* found by their headers: no list to walk */
  else if (h->preloaded)
    {
      /* A walk may read module files through libdwfl.  */
      dmem_symbols_wait (t);
      h->preloaded = 0;
    }
  for (uint64_t i = 0; i < nshards; i++)
    {
      walk_begin (h, &w[i], d[DMEM_DESC_SHARDS] + i * ss, shards + i * ss);
      active[nactive++] = i;
    }
  uint64_t promised = 0;
  for (uint64_t i = 0; i < nshards; i++)
    promised += w[i].counted < (1ULL << 40) ? w[i].counted : 0;
  while (nactive > 0)
    for (size_t k = 0; k < nactive;)
      {
	uint32_t i = active[k], stack = UINT32_MAX;
	if ((h->nblocks & 0xffff) == 0)
	  dmem_progress (t, "reading the heap", h->nblocks, promised);
	const char *problem = NULL;
	if (w[i].addr != 0
	    && (problem = walk_step (t, h, &w[i], &st, &stack)) == NULL)
	  {
	    k++;
	    continue;
	  }
	active[k] = active[--nactive];
	if (problem != NULL)
	  add_problem (h, problem, w[i].addr, stack, i, w[i].prev);
	else if (w[i].walked != w[i].counted)
	  add_problem (h, "count-mismatch", w[i].shard_addr, UINT32_MAX, i, 0);
	else if (w[i].bytes != w[i].counted_bytes)
	  add_problem (h, "bytes-mismatch", w[i].shard_addr, UINT32_MAX, i, 0);
      }
  dmem_progress_end (t);
  if (d[DMEM_DESC_VERSION] == 1)
    {
      h->stack_table = dmem_xmalloc (sizeof st);
      *h->stack_table = st;
    }
  else
    free (st.slots);
  free (active);
  free (w);
}

/* qsort order of big blocks: by user address.  */
static int
big_order (const void *a, const void *b)
{
  const struct dmem_big_block *x = a, *y = b;
  return x->user < y->user ? -1 : x->user > y->user;
}

/* Sort the blocks by user address: LSD radix sort, 16 bits a pass, over
   the bits in which the addresses differ; the few big ones by qsort.  */
static void
sort_blocks (struct dmem_heap *h)
{
  if (h->nbig > 1)
    qsort (h->big, h->nbig, sizeof *h->big, big_order);
  size_t n = h->nblocks;
  if (n < 2)
    return;
  uint64_t lo = UINT64_MAX, hi = 0;
  for (size_t i = 0; i < n; i++)
    {
      lo = h->blocks[i].user < lo ? h->blocks[i].user : lo;
      hi = h->blocks[i].user > hi ? h->blocks[i].user : hi;
    }
  struct dmem_block_ref *tmp = dmem_xmalloc (n * sizeof *tmp);
  size_t *count = dmem_xmalloc ((1 << 16) * sizeof *count);
  for (unsigned shift = 0; shift < 64 && ((hi - lo) >> shift) != 0;
       shift += 16)
    {
      memset (count, 0, (1 << 16) * sizeof *count);
      for (size_t i = 0; i < n; i++)
	count[((h->blocks[i].user - lo) >> shift) & 0xffff]++;
      size_t sum = 0;
      for (size_t k = 0; k < (1 << 16); k++)
	{
	  size_t c = count[k];
	  count[k] = sum;
	  sum += c;
	}
      for (size_t i = 0; i < n; i++)
	tmp[count[((h->blocks[i].user - lo) >> shift) & 0xffff]++]
	  = h->blocks[i];
      struct dmem_block_ref *swap = h->blocks;
      h->blocks = tmp;
      tmp = swap;
    }
  free (count);
  free (tmp);
}

/* Keep each block once: a cycle's blocks were appended more than once
   before Brent's method saw it (the cycle itself is reported), and a list
   running into another one is reported as a bad prev link.  */
static void
drop_duplicates (struct dmem_heap *h)
{
  size_t out = 0;
  for (size_t i = 0; i < h->nblocks; i++)
    if (out == 0 || h->blocks[out - 1].user != h->blocks[i].user)
      h->blocks[out++] = h->blocks[i];
  h->nblocks = out;
}

/* See dmem.h: descriptor, walk, sort.  */
static int
heap_load (struct dmem_target *t, struct dmem_heap *h, int walk)
{
  memset (h, 0, sizeof *h);
  h->walk = walk;
  h->target = t;
  struct find_desc f = { "dmem", NULL, 0 };
  dwfl_getmodules (t->dwfl, find_desc_in_module, &f, 0);
  if (f.mod == NULL)
    {
      f.want = NULL;
      dwfl_getmodules (t->dwfl, find_desc_in_module, &f, 0);
    }
  if (f.mod == NULL)
    return dmem_fail (t, "no dmem runtime in the target (no symbol %s in any "
		      "module)", DMEM_DESCRIPTOR_SYMBOL);
  uint64_t *d = h->desc;
  if (dmem_read (t, f.addr, d, 3 * 8) != 0)
    return dmem_fail (t, "cannot read the dmem descriptor at 0x%" PRIx64,
		      f.addr);
  if (d[DMEM_DESC_MAGIC] != DMEM_DESCRIPTOR_MAGIC)
    return dmem_fail (t, "the dmem descriptor at 0x%" PRIx64 " has a bad magic",
		      f.addr);
  /* Fields are only appended: a descriptor holding the fields its
     version must have will do; later fields it lacks read as 0.  */
  if (d[DMEM_DESC_VERSION] < 1 || d[DMEM_DESC_VERSION] > DMEM_FORMAT_VERSION)
    return dmem_fail (t, "the dmem runtime in the target writes format %"
		      PRIu64 "; this dmem reads formats 1 to %d (a newer dmem "
		      "is needed)", d[DMEM_DESC_VERSION], DMEM_FORMAT_VERSION);
  uint64_t need = d[DMEM_DESC_VERSION] == 1 ? DMEM_DESC_USED_V1
		  : d[DMEM_DESC_VERSION] == 2 ? DMEM_DESC_USED_V2
		  : DMEM_DESC_USED_V3;
  if (d[DMEM_DESC_FIELDS] < need)
    return dmem_fail (t, "the dmem descriptor of format %" PRIu64 " has %"
		      PRIu64 " fields; it must have %" PRIu64,
		      d[DMEM_DESC_VERSION], d[DMEM_DESC_FIELDS], need);
  size_t nfields = d[DMEM_DESC_FIELDS] < DMEM_DESC_COUNT
		   ? d[DMEM_DESC_FIELDS] : DMEM_DESC_COUNT;
  if (dmem_read (t, f.addr, d, nfields * 8) != 0)
    return dmem_fail (t, "cannot read the dmem descriptor at 0x%" PRIx64,
		      f.addr);
  if (check_descriptor (t, d) != 0)
    return -1;
  h->depth = d[DMEM_DESC_STACK_DEPTH];

  uint64_t nshards = d[DMEM_DESC_SHARD_COUNT], ss = d[DMEM_DESC_SHARD_SIZE];
  unsigned char *shards = dmem_xmalloc (nshards * ss);
  if (dmem_read (t, d[DMEM_DESC_SHARDS], shards, nshards * ss) != 0)
    {
      free (shards);
      return dmem_fail (t, "cannot read the dmem shards at 0x%" PRIx64,
			d[DMEM_DESC_SHARDS]);
    }
  /* Room for the blocks the counters promise, as far as the core can hold
     them, so the array does not grow block by block.  */
  uint64_t promised = 0;
  for (uint64_t i = 0; i < nshards; i++)
    {
      uint64_t c = get_u64 (shards + i * ss, d[DMEM_DESC_SHARD_OFF_BLOCKS]);
      promised = c > UINT64_MAX - promised ? UINT64_MAX : promised + c;
    }
  uint64_t bytes = 0;
  for (size_t i = 0; i < t->nregions; i++)
    bytes += t->regions[i].avail;
  uint64_t room = bytes / d[DMEM_DESC_HEADER_SIZE] + 1;
  h->capacity = promised < room ? promised : room;
  h->blocks = dmem_xmalloc ((h->capacity ? h->capacity : 1) * sizeof *h->blocks);
  walk_shards (t, h, shards, nshards, ss);
  free (shards);
  /* Symbolisation's slow start (decompressing debug info) runs on another
     thread while the blocks are sorted and, for leaks, scanned.  */
  if (t->preload_symbols && !h->preloaded)
    {
      dmem_target_segments (t);
      dmem_symbols_preload (t, h->stacks, h->nstacks * h->depth);
    }
  if (!h->scanned)   /* a scan finds them in address order, once each */
    {
      sort_blocks (h);
      drop_duplicates (h);
      qsort (h->loader_blocks, h->nloader_blocks, 8, dmem_u64_cmp);
    }

  size_t nstats = d[DMEM_DESC_STAT_COUNT] < DMEM_STAT_COUNT
		  ? d[DMEM_DESC_STAT_COUNT] : DMEM_STAT_COUNT;
  /* Unreadable counters stay 0.  */
  if (dmem_read (t, d[DMEM_DESC_STATS], h->stats, nstats * 8) != 0)
    memset (h->stats, 0, sizeof h->stats);
  /* The runtime's peaks lag by what threads have not published yet (up to
     DMEM_STAT_BATCH bytes each); the live heap is a peak it reached.  */
  uint64_t live = 0;
  for (size_t i = 0; i < h->nblocks; i++)
    live += dmem_block_size (h, &h->blocks[i]);
  if (h->stats[DMEM_STAT_PEAK_BYTES] < live)
    h->stats[DMEM_STAT_PEAK_BYTES] = live;
  if (h->stats[DMEM_STAT_PEAK_BLOCKS] < h->nblocks)
    h->stats[DMEM_STAT_PEAK_BLOCKS] = h->nblocks;
  return 0;
}

/* See dmem.h: a scan for headers, else a walk of the lists.  */
int
dmem_heap_load (struct dmem_target *t, struct dmem_heap *h)
{
  return heap_load (t, h, 0);
}

/* See dmem.h.  */
int
dmem_heap_walk (struct dmem_target *t, struct dmem_heap *h)
{
  return heap_load (t, h, 1);
}

static uint32_t append_stack (struct dmem_heap *h, const uint64_t *pcs);

/* The blocks were found by a scan: walk the lists too, for the problems
   in them (warned about, as a load that walked would have).  */
static void
check_lists (struct dmem_target *t, struct dmem_heap *h)
{
  struct dmem_heap w;
  int preload = t->preload_symbols;
  t->preload_symbols = 0;
  int failed = dmem_heap_walk (t, &w);
  t->preload_symbols = preload;
  if (failed)
    return;
  dmem_heap_warn (t, &w);
  for (size_t i = 0; i < w.nproblems; i++)
    {
      struct dmem_problem p = w.problems[i];
      if (p.stack != UINT32_MAX)
	p.stack = append_stack (h, w.stacks + (size_t) p.stack * w.depth);
      add_problem (h, p.kind, p.address, p.stack, p.shard, p.from);
    }
  dmem_heap_free (&w);
}

/* See dmem.h.  */
void
dmem_heap_warn (struct dmem_target *t, const struct dmem_heap *h)
{
  char text[160];
  for (size_t i = 0; i < h->nproblems; i++)
    if (dmem_problem_text (&h->problems[i], text, sizeof text) != NULL)
      dmem_warn (t, "%s; the rest of this shard is skipped", text);
}

/* See dmem.h.  */
const char *
dmem_problem_text (const struct dmem_problem *p, char *buf, size_t size)
{
  if (p->shard < 0 || strcmp (p->kind, "count-mismatch") == 0
      || strcmp (p->kind, "bytes-mismatch") == 0)
    return NULL;
  char from[64] = "the shard's first block";
  if (p->from != 0)
    snprintf (from, sizeof from, "linked from block 0x%" PRIx64, p->from);
  snprintf (buf, size, "shard %d: %s block at 0x%" PRIx64 " (%s)", p->shard,
	    p->kind, p->address, from);
  return buf;
}

/* Bytes of a quarantined block read at a time, and the most slots per
   ring a descriptor may state.  */
#define CHECK_CHUNK 16384
#define MAX_QUARANTINE_SLOTS 65536
/* Quarantine slots naming a damaged header reported before the rings are
   taken for garbage.  */
#define MAX_BAD_HEADERS 16

/* Record a problem about the block whose header is BLOCK (SIZE bytes).  */
static void
add_block_problem (struct dmem_heap *h, const char *kind, uint64_t address,
		   uint64_t block, uint64_t size, uint32_t stack,
		   uint32_t free_stack)
{
  add_problem (h, kind, address, stack, -1, 0);
  struct dmem_problem *p = &h->problems[h->nproblems - 1];
  p->block = block;
  p->size = size;
  p->free_stack = free_stack;
}

/* Append stack PCS (H->depth words, cut at the first 0) to H's stacks;
   returns its index.  Not interned: only problems add stacks this way.  */
static uint32_t
append_stack (struct dmem_heap *h, const uint64_t *pcs)
{
  size_t depth = h->depth;
  if (h->nstacks >= UINT32_MAX - 1)
    return UINT32_MAX;
  if ((h->nstacks & (h->nstacks - 1)) == 0)
    h->stacks = dmem_xrealloc (h->stacks, h->nstacks ? 2 * h->nstacks : 1,
			       depth * 8);
  uint64_t *to = h->stacks + h->nstacks * depth;
  size_t n = 0;
  for (; n < depth && pcs[n] != 0; n++)
    to[n] = pcs[n];
  for (; n < depth; n++)
    to[n] = 0;
  return h->nstacks++;
}

/* Offset of the first byte of the LEN bytes at ADDR that is not BYTE: LEN
   when all are, UINT64_MAX when some cannot be read.  */
static uint64_t
first_changed (struct dmem_target *t, uint64_t addr, uint64_t len,
	       unsigned char byte)
{
  unsigned char buf[CHECK_CHUNK];
  const uint64_t word = 0x0101010101010101ULL * byte;
  for (uint64_t done = 0; done < len;)
    {
      size_t n = len - done < CHECK_CHUNK ? len - done : CHECK_CHUNK;
      const unsigned char *p = dmem_view (t, addr + done, n, buf);
      if (p == NULL)
	return UINT64_MAX;
      size_t i = 0;
      for (uint64_t w; i + 8 <= n; i += 8)
	{
	  memcpy (&w, p + i, 8);
	  if (w != word)
	    break;
	}
      for (; i < n; i++)
	if (p[i] != byte)
	  return done + i;
      done += n;
    }
  return len;
}

/* The guard after every live block: an "overrun" at its first changed
   byte.  */
static void
check_guards (struct dmem_target *t, struct dmem_heap *h)
{
  const uint64_t *d = h->desc;
  uint64_t gs = d[DMEM_DESC_GUARD_SIZE];
  if (gs == 0 || gs > MAX_HEADER || d[DMEM_DESC_FIELDS] <= DMEM_DESC_GUARD_BYTE)
    return;
  unsigned char want = d[DMEM_DESC_GUARD_BYTE], buf[MAX_HEADER];
  for (size_t i = 0; i < h->nblocks; i++)
    {
      const struct dmem_block_ref *b = &h->blocks[i];
      uint64_t size = dmem_block_size (h, b);
      const unsigned char *g = dmem_view (t, b->user + size, gs, buf);
      for (uint64_t k = 0; g != NULL && k < gs; k++)
	if (g[k] != want)
	  {
	    add_block_problem (h, "overrun", b->user + size + k,
			       b->user - d[DMEM_DESC_HEADER_SIZE], size,
			       dmem_block_stack (h, b), UINT32_MAX);
	    break;
	  }
    }
}

/* One slot of a quarantine ring in use.  */
struct held
{
  uint64_t header;
  uint32_t ring, slot;
};

/* qsort order of held blocks: by header, then ring and slot.  */
static int
held_order (const void *a, const void *b)
{
  const struct held *x = a, *y = b;
  if (x->header != y->header)
    return x->header < y->header ? -1 : 1;
  if (x->ring != y->ring)
    return x->ring < y->ring ? -1 : 1;
  return x->slot < y->slot ? -1 : x->slot > y->slot;
}

/* Every block held in the quarantine rings: a header with the freed
   magic and a size that fits its mapping, user bytes all poison, the guard
   intact; else a problem naming both stacks.  */
static void
check_quarantine (struct dmem_target *t, struct dmem_heap *h)
{
  const uint64_t *d = h->desc;
  if (d[DMEM_DESC_FIELDS] <= DMEM_DESC_POISON_BYTE
      || d[DMEM_DESC_QUARANTINE] == 0 || d[DMEM_DESC_QUARANTINE_SLOTS] == 0)
    return;
  uint64_t slots = d[DMEM_DESC_QUARANTINE_SLOTS], base = d[DMEM_DESC_QUARANTINE];
  if (slots > MAX_QUARANTINE_SLOTS)
    {
      dmem_warn (t, "the dmem descriptor states %" PRIu64 " quarantine slots "
		 "per ring; the quarantine is not checked", slots);
      return;
    }
  /* struct dmem_quarantine: its counters and lock, then SLOTS entries of
     a header address and the free stack (the descriptor's depth).  */
  uint64_t hs = d[DMEM_DESC_HEADER_SIZE], gs = d[DMEM_DESC_GUARD_SIZE];
  if (gs > MAX_HEADER)
    gs = 0;   /* not a guard we know: the poison is still checked */
  uint64_t entry = 8 + h->depth * 8;
  uint64_t first = offsetof (struct dmem_quarantine, slots);
  uint64_t ring = first + slots * entry;
  if (base > UINT64_MAX - DMEM_QUARANTINE_RINGS * ring)
    return;
  struct held *held = NULL;
  size_t nheld = 0;
  unsigned char buf[MAX_HEADER];
  int unreadable_rings = 0;
  for (uint32_t r = 0; r < DMEM_QUARANTINE_RINGS; r++)
    for (uint32_t i = 0; i < slots; i++)
      {
	uint64_t at = base + r * ring + first + i * entry, block;
	if (dmem_read (t, at, &block, 8) != 0)
	  {
	    unreadable_rings++;
	    break;
	  }
	if (block == 0)
	  continue;
	if ((nheld & (nheld - 1)) == 0)
	  held = dmem_xrealloc (held, nheld ? 2 * nheld : 1, sizeof *held);
	held[nheld++] = (struct held) { block, r, i };
      }
  if (unreadable_rings > 0)
    dmem_warn (t, "%d of the %d quarantine rings at 0x%" PRIx64 " cannot be "
	       "read; their blocks are not checked", unreadable_rings,
	       DMEM_QUARANTINE_RINGS, base);
  if (nheld > 1)
    qsort (held, nheld, sizeof *held, held_order);
  unsigned char poison = d[DMEM_DESC_POISON_BYTE];
  unsigned char guard = d[DMEM_DESC_GUARD_BYTE];
  uint64_t pcs[MAX_DEPTH], free_pcs[MAX_DEPTH];
  size_t unreadable = 0, bad_headers = 0;
  for (size_t k = 0; k < nheld; k++)
    {
      /* A block is in one slot; a header seen again is a damaged ring.  */
      uint64_t header = held[k].header;
      if (k > 0 && header == held[k - 1].header)
	continue;
      uint64_t at = base + held[k].ring * ring + first + held[k].slot * entry;
      const unsigned char *hdr = dmem_view (t, header, hs, buf);
      if (hdr == NULL || dmem_read (t, at + 8, free_pcs, h->depth * 8) != 0)
	{
	  unreadable++;
	  continue;
	}
      dmem_header_pcs (h, hdr, pcs);
      uint64_t size = get_u64 (hdr, d[DMEM_DESC_OFF_SIZE]);
      struct dmem_region *reg = dmem_region_at (t, header);
      const char *bad = NULL;
      if (get_u64 (hdr, d[DMEM_DESC_OFF_MAGIC])
	  != (d[DMEM_DESC_FREED_MAGIC] ^ header))
	bad = "bad-magic";
      else if (reg == NULL || header > UINT64_MAX - hs - gs
	       || header + hs + gs > reg->end
	       || size > reg->end - (header + hs + gs))
	bad = "bad-size";
      if (bad != NULL && ++bad_headers > MAX_BAD_HEADERS)
	{
	  dmem_warn (t, "more than %d quarantine slots name damaged headers; "
		     "the rest of the quarantine is not checked",
		     MAX_BAD_HEADERS);
	  break;
	}
      if (bad != NULL)
	{
	  h->nquarantined++;
	  add_block_problem (h, bad, header, header, 0, append_stack (h, pcs),
			     append_stack (h, free_pcs));
	  continue;
	}
      uint64_t user = header + hs;
      uint64_t off = first_changed (t, user, size, poison);
      if (off == size && gs > 0)
	{
	  uint64_t g = first_changed (t, user + size, gs, guard);
	  off = g == UINT64_MAX ? g : size + g;
	}
      if (off == UINT64_MAX)
	{
	  unreadable++;
	  continue;
	}
      h->nquarantined++;
      if (off < size + gs)
	add_block_problem (h, "use-after-free", user + off, header, size,
			   append_stack (h, pcs), append_stack (h, free_pcs));
    }
  if (unreadable > 0)
    dmem_warn (t, "%zu blocks in the quarantine cannot be read; they are not "
	       "checked", unreadable);
  free (held);
}

/* See dmem.h.  */
size_t
dmem_heap_check (struct dmem_target *t, struct dmem_heap *h)
{
  if (!h->checked)
    {
      h->checked = 1;
      if (h->scanned)
	check_lists (t, h);
      check_guards (t, h);
      check_quarantine (t, h);
    }
  return h->nproblems;
}

/* Release what dmem_heap_load allocated.  */
void
dmem_heap_free (struct dmem_heap *h)
{
  free (h->blocks);
  free (h->big);
  free (h->stacks);
  free (h->problems);
  free (h->depot);
  free (h->loader_blocks);
  free_origins (h);
  if (h->stack_table != NULL)
    free (h->stack_table->slots);
  free (h->stack_table);
  memset (h, 0, sizeof *h);
}

/* The user addresses of H's blocks and big blocks, for the search.  */
static inline uint64_t
block_user (const struct dmem_heap *h, size_t i)
{
  return h->blocks[i].user;
}

static inline uint64_t
big_user (const struct dmem_heap *h, size_t i)
{
  return h->big[i].user;
}

/* The first of N records of H, sorted by the user address USER_OF gives,
   whose address is ADDR or more (N if none).  */
static inline size_t
first_at_or_after (const struct dmem_heap *h, size_t n, uint64_t addr,
		   uint64_t (*user_of) (const struct dmem_heap *, size_t))
{
  size_t lo = 0, hi = n;
  while (lo < hi)
    {
      size_t mid = lo + (hi - lo) / 2;
      if (user_of (h, mid) < addr)
	lo = mid + 1;
      else
	hi = mid;
    }
  return lo;
}

/* See dmem.h.  */
size_t
dmem_block_from (const struct dmem_heap *h, uint64_t addr)
{
  return first_at_or_after (h, h->nblocks, addr, block_user);
}

/* See dmem.h.  */
uint64_t
dmem_big_size (const struct dmem_heap *h, uint64_t user)
{
  size_t i = first_at_or_after (h, h->nbig, user, big_user);
  return i < h->nbig && h->big[i].user == user ? h->big[i].size : 0;
}

/* See dmem.h.  */
uint32_t
dmem_block_tid (const struct dmem_heap *h, const struct dmem_block_ref *b)
{
  uint32_t tid;
  dmem_block_origin (h, NULL, b, &tid, NULL);
  return tid;
}

/* The index of stack PCS in H, interned by the load: NOT_FOUND if it is
   not there.  */
static uint32_t
find_stack (const struct dmem_heap *h, const struct dmem_stack_table *st,
	    const uint64_t *pcs, uint32_t not_found)
{
  size_t depth = h->depth;
  if (st->slots == NULL)
    return not_found;
  size_t i = hash_pcs (pcs, depth) & st->mask;
  for (; st->slots[i] != 0; i = (i + 1) & st->mask)
    if (memcmp (h->stacks + (st->slots[i] - 1) * depth, pcs,
		depth * 8) == 0)
      return st->slots[i] - 1;
  return not_found;
}

/* The stack of the block whose header is HDR (NULL: unreadable): format 2
   headers hold a depot id, format 1 ones the PCs.  */
static uint32_t
header_stack (const struct dmem_heap *h, const unsigned char *hdr)
{
  if (h->stack_table == NULL)
    return depot_stack (h, hdr != NULL
			   ? get_u32 (hdr, h->desc[DMEM_DESC_OFF_STACK]) : 0);
  uint64_t pcs[MAX_DEPTH];
  memset (pcs, 0, sizeof pcs);
  if (hdr != NULL)
    {
      memcpy (pcs, hdr + h->desc[DMEM_DESC_OFF_PCS], h->depth * 8);
      cut_stack (pcs, h->depth);
    }
  return find_stack (h, h->stack_table, pcs, h->not_kept_stack);
}

/* See dmem.h.  */
uint32_t
dmem_block_stack (const struct dmem_heap *h, const struct dmem_block_ref *b)
{
  uint32_t stack;
  dmem_block_origin (h, NULL, b, NULL, &stack);
  return stack;
}

/* See dmem.h.  */
void
dmem_block_origin (const struct dmem_heap *h, struct dmem_pass *p,
		   const struct dmem_block_ref *b, uint32_t *tid,
		   uint32_t *stack)
{
  const struct dmem_origins *o = h->origins;
  size_t i = b - h->blocks, at_pair = UNREAD;
  if (o != NULL && o->kept == NULL)
    at_pair = o->of[i];
  else if (o != NULL && (o->kept[i / 64] >> (i % 64) & 1))
    at_pair = o->of[o->rank[i / 64] + __builtin_popcountll
		    (o->kept[i / 64] & ((1ULL << (i % 64)) - 1))];
  if (at_pair != UNREAD)
    {
      if (tid != NULL)
	*tid = o->pairs[at_pair].tid;
      if (stack != NULL)
	*stack = o->pairs[at_pair].stack;
      return;
    }
  unsigned char buf[MAX_HEADER];
  size_t hs = h->desc[DMEM_DESC_HEADER_SIZE];
  uint64_t at = b->user - hs;
  const unsigned char *hdr = p != NULL ? dmem_pass_view (p, at, hs, buf)
				       : dmem_view (h->target, at, hs, buf);
  if (tid != NULL)
    *tid = hdr != NULL ? get_u32 (hdr, h->desc[DMEM_DESC_OFF_TID]) : 0;
  if (stack != NULL)
    *stack = header_stack (h, hdr);
}

/* See dmem.h.  */
void
dmem_heap_keep_origins (const struct dmem_heap *h, const unsigned char *mark)
{
  struct dmem_origins *o = h->origins;
  if (o == NULL || o->kept != NULL)
    return;
  size_t words = h->nblocks / 64 + 1, n = 0;
  o->kept = dmem_xcalloc (words, sizeof *o->kept);
  o->rank = dmem_xmalloc (words * sizeof *o->rank);
  for (size_t i = 0; i < h->nblocks; i++)
    {
      if (i % 64 == 0)
	o->rank[i / 64] = n;
      if (mark[i] != DMEM_REACHABLE)
	{
	  o->kept[i / 64] |= 1ULL << (i % 64);
	  o->of[n++] = o->of[i];   /* N <= I: in place */
	}
    }
  /* A fresh array gives the rest of the memory back.  */
  uint16_t *of = dmem_xmalloc ((n ? n : 1) * sizeof *of);
  memcpy (of, o->of, n * sizeof *of);
  free (o->of);
  o->of = of;
}

/* See dmem.h.  */
const uint64_t *
dmem_stack_pcs (const struct dmem_heap *h, uint32_t s, size_t *n)
{
  const uint64_t *pcs = h->stacks + (size_t) s * h->depth;
  size_t i = 0;
  while (i < h->depth && pcs[i] != 0)
    i++;
  *n = i;
  return pcs;
}

/* See dmem.h.  */
int
dmem_stack_cmp (const struct dmem_heap *h, uint32_t a, uint32_t b)
{
  if (a == b)
    return 0;
  const uint64_t *x = h->stacks + (size_t) a * h->depth;
  const uint64_t *y = h->stacks + (size_t) b * h->depth;
  /* Zero-filled: a shorter tuple compares below any longer one sharing its
     prefix, as PCs are non-zero.  */
  for (size_t i = 0; i < h->depth; i++)
    if (x[i] != y[i])
      return x[i] < y[i] ? -1 : 1;
  return 0;
}
