/* Unit tests of the engine's reachability (dmem_reach) over fake targets
   built in memory: regions backed by local buffers, threads with
   registers, a heap of blocks sorted by user address, no libdwfl: roots,
   reachable through start pointers, possible through interior pointers,
   direct and indirect leaks.  Exits 0 when every check passes, 1
   otherwise.  */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dmem.h"

static int failures;

/* TEST_EQ (actual, expected): a failed check prints file:line and both.  */
#define TEST_EQ(a, b)							\
  do									\
    {									\
      long long a_ = (long long) (a), b_ = (long long) (b);		\
      if (a_ != b_)							\
	{								\
	  fprintf (stderr, "%s:%d: %s is %lld, expected %s = %lld\n",	\
		   __FILE__, __LINE__, #a, a_, #b, b_);			\
	  failures++;							\
	}								\
    }									\
  while (0)

/* Where the fake target's mappings lie.  */
#define HEAP 0x10000000ULL        /* anonymous, holds the blocks */
#define HEAP_SIZE (64ULL << 20)
#define DATA 0x20000000ULL        /* a module's .data: file-backed */
#define DATA_SIZE 0x10000ULL
#define STACK 0x30000000ULL       /* the thread's stack */
#define STACK_SIZE 0x10000ULL
#define SP (STACK + 0x8000)
#define POOL 0x40000000ULL        /* anonymous, no block: a program's pool */
#define POOL_SIZE 0x10000ULL
#define ARENA 0x44000000ULL       /* 64 MiB aligned: a glibc arena heap */
#define ARENA_SIZE 0x21000ULL
#define DEAD 0x50000000ULL        /* an exited thread's cached stack */
#define DEAD_SIZE 0x20000ULL
#define MMAPPED 0x60000000ULL     /* glibc's mmapped chunk next to a pool */
#define MMAPPED_SIZE 0x40000ULL
#define HS sizeof (struct dmem_block) /* header size */
#define STRIDE 0x100              /* blocks: one per STRIDE bytes */

#define MAX_REGIONS 8

struct fake
{
  struct dmem_target t;
  struct dmem_heap h;
  unsigned char *buf[MAX_REGIONS];
};

/* Add region [START, START+SIZE) backed by a zeroed buffer.  Regions are
   added in address order.  */
static void
add_region (struct fake *f, uint64_t start, uint64_t size, int file_backed)
{
  struct dmem_target *t = &f->t;
  size_t i = t->nregions++;
  t->regions = dmem_xrealloc (t->regions, t->nregions, sizeof *t->regions);
  f->buf[i] = dmem_xcalloc (size, 1);
  t->regions[i] = (struct dmem_region) {
    .start = start, .end = start + size, .writable = 1, .readable = 1,
    .file_backed = file_backed, .data = f->buf[i], .avail = size,
    .loaded = 1 };
}

/* A target with a heap, a module's .data, one thread on its stack.  */
static void
fake_init (struct fake *f)
{
  memset (f, 0, sizeof *f);
  dmem_target_init (&f->t, stderr);
  f->t.progress = 0;
  add_region (f, HEAP, HEAP_SIZE, 0);
  add_region (f, DATA, DATA_SIZE, 1);
  add_region (f, STACK, STACK_SIZE, 0);
  f->t.threads = dmem_xcalloc (1, sizeof *f->t.threads);
  f->t.nthreads = 1;
  f->t.threads[0].tid = 1;
  f->t.threads[0].regs[DMEM_REG_RSP] = SP;
  uint64_t *d = f->h.desc;
  d[DMEM_DESC_HEADER_SIZE] = HS;
  d[DMEM_DESC_STACK_DEPTH] = DMEM_STACK_DEPTH;
  d[DMEM_DESC_OFF_NEXT] = offsetof (struct dmem_block, next);
  d[DMEM_DESC_OFF_PREV] = offsetof (struct dmem_block, prev);
  d[DMEM_DESC_OFF_SIZE] = offsetof (struct dmem_block, size);
  d[DMEM_DESC_OFF_TID] = offsetof (struct dmem_block, tid);
  d[DMEM_DESC_OFF_ALIGN_PAD] = offsetof (struct dmem_block, align_pad);
  d[DMEM_DESC_OFF_STACK] = offsetof (struct dmem_block, stack);
  d[DMEM_DESC_OFF_MAGIC] = offsetof (struct dmem_block, magic);
  d[DMEM_DESC_STATE_START] = 0;
  d[DMEM_DESC_STATE_END] = 0;
}

static void
fake_free (struct fake *f)
{
  for (size_t i = 0; i < f->t.nregions; i++)
    free (f->buf[i]);
  free (f->h.blocks);
  free (f->h.big);
  f->h.blocks = NULL;
  dmem_target_close (&f->t);
}

/* The user address of heap block K.  */
static uint64_t
at (size_t k)
{
  return HEAP + k * STRIDE + HS;
}

/* Add a block of SIZE bytes at user address USER (in address order).  */
static size_t
add_block_at (struct fake *f, uint64_t user, uint64_t size)
{
  struct dmem_heap *h = &f->h;
  if (h->nblocks == h->capacity)
    {
      h->capacity = h->capacity ? 2 * h->capacity : 64;
      h->blocks = dmem_xrealloc (h->blocks, h->capacity, sizeof *h->blocks);
    }
  uint32_t small = size;
  if (size >= DMEM_BIG_SIZE)   /* the big-block table, as the load's */
    {
      h->big = dmem_xrealloc (h->big, h->nbig + 1, sizeof *h->big);
      h->big[h->nbig++] = (struct dmem_big_block) { user, size };
      small = DMEM_BIG_SIZE;
    }
  h->blocks[h->nblocks] = (struct dmem_block_ref) { .user = user,
						     .small_size = small };
  return h->nblocks++;
}

/* Blocks 0 .. N-1 of 64 bytes in the heap.  */
static void
add_blocks (struct fake *f, size_t n)
{
  for (size_t k = 0; k < n; k++)
    add_block_at (f, at (k), 64);
}

/* Store V at target address ADDR.  */
static void
put (struct fake *f, uint64_t addr, uint64_t v)
{
  for (size_t i = 0; i < f->t.nregions; i++)
    {
      struct dmem_region *r = &f->t.regions[i];
      if (r->start <= addr && addr + 8 <= r->end)
	{
	  memcpy (f->buf[i] + (addr - r->start), &v, 8);
	  return;
	}
    }
  fprintf (stderr, "put: 0x%llx is not mapped\n", (unsigned long long) addr);
  exit (1);
}

/* Block A points to block B (at word W of its user part).  */
static void
link_at (struct fake *f, size_t a, size_t w, size_t b)
{
  put (f, at (a) + 8 * w, at (b));
}

static void
link (struct fake *f, size_t a, size_t b)
{
  link_at (f, a, b % 8, b);
}

/* Block A points into the middle of block B (at word W of A's user
   part): an interior pointer, 24 bytes past B's start.  */
static void
link_inside (struct fake *f, size_t a, size_t w, size_t b)
{
  put (f, at (a) + 8 * w, at (b) + 24);
}

/* A root in the module's .data points to block K.  */
static void
root (struct fake *f, size_t k)
{
  put (f, DATA + 8 * k, at (k));
}

/* A root in the module's .data points into the middle of block K.  */
static void
root_inside (struct fake *f, size_t k)
{
  put (f, DATA + 0x8000 + 8 * k, at (k) + 24);
}

/* Marks of the fake target's blocks, counted.  */
struct result
{
  unsigned char *mark;
  size_t reachable, direct, indirect, possible;
};

static struct result
reach (struct fake *f)
{
  struct result r = { dmem_reach (&f->t, &f->h), 0, 0, 0, 0 };
  for (size_t i = 0; i < f->h.nblocks; i++)
    {
      r.reachable += r.mark[i] == DMEM_REACHABLE;
      r.direct += r.mark[i] == DMEM_LEAK;
      r.indirect += r.mark[i] == DMEM_INDIRECT;
      r.possible += r.mark[i] == DMEM_POSSIBLE;
    }
  return r;
}

/* Every block reachable from a root through a chain.  */
static void
test_chain_from_root (void)
{
  struct fake f;
  fake_init (&f);
  add_blocks (&f, 4);
  root (&f, 3);
  link (&f, 3, 1);
  link (&f, 1, 2);
  link (&f, 2, 0);
  struct result r = reach (&f);
  TEST_EQ (r.reachable, 4);
  free (r.mark);
  fake_free (&f);
}

/* A leaked chain a -> b -> c, its head at the highest address.  */
static void
test_leaked_chain (void)
{
  struct fake f;
  fake_init (&f);
  add_blocks (&f, 3);
  link (&f, 2, 1);
  link (&f, 1, 0);
  struct result r = reach (&f);
  TEST_EQ (r.mark[2], DMEM_LEAK);
  TEST_EQ (r.mark[1], DMEM_INDIRECT);
  TEST_EQ (r.mark[0], DMEM_INDIRECT);
  TEST_EQ (r.direct, 1);
  TEST_EQ (r.indirect, 2);
  free (r.mark);
  fake_free (&f);
}

/* A cycle a <-> b: one direct leak, the lower address.  */
static void
test_cycle (void)
{
  struct fake f;
  fake_init (&f);
  add_blocks (&f, 6);
  link (&f, 4, 1);
  link (&f, 1, 4);
  struct result r = reach (&f);
  TEST_EQ (r.mark[1], DMEM_LEAK);
  TEST_EQ (r.mark[4], DMEM_INDIRECT);
  /* The others: unlinked, each its own direct leak.  */
  TEST_EQ (r.direct, 5);
  TEST_EQ (r.indirect, 1);
  free (r.mark);
  fake_free (&f);
}

/* A cycle a <-> b entered from c (at the highest address): c is the one
   direct leak, a and b are indirect.  */
static void
test_cycle_entered (void)
{
  struct fake f;
  fake_init (&f);
  add_blocks (&f, 3);
  link (&f, 0, 1);
  link (&f, 1, 0);
  link (&f, 2, 1);
  struct result r = reach (&f);
  TEST_EQ (r.mark[2], DMEM_LEAK);
  TEST_EQ (r.mark[0], DMEM_INDIRECT);
  TEST_EQ (r.mark[1], DMEM_INDIRECT);
  TEST_EQ (r.direct, 1);
  TEST_EQ (r.indirect, 2);
  free (r.mark);
  fake_free (&f);
}

/* A cycle of three entered from two leaks: two direct, three indirect.  */
static void
test_cycle_entered_twice (void)
{
  struct fake f;
  fake_init (&f);
  add_blocks (&f, 5);
  link (&f, 1, 2);
  link (&f, 2, 3);
  link (&f, 3, 1);
  link (&f, 0, 3);
  link (&f, 4, 2);
  struct result r = reach (&f);
  TEST_EQ (r.mark[0], DMEM_LEAK);
  TEST_EQ (r.mark[4], DMEM_LEAK);
  TEST_EQ (r.direct, 2);
  TEST_EQ (r.indirect, 3);
  free (r.mark);
  fake_free (&f);
}

/* A diamond a -> b, a -> c, b -> d, c -> d.  */
static void
test_diamond (void)
{
  struct fake f;
  fake_init (&f);
  add_blocks (&f, 4);
  link (&f, 3, 1);
  link (&f, 3, 2);
  link (&f, 1, 0);
  link (&f, 2, 0);
  struct result r = reach (&f);
  TEST_EQ (r.mark[3], DMEM_LEAK);
  TEST_EQ (r.direct, 1);
  TEST_EQ (r.indirect, 3);
  free (r.mark);
  fake_free (&f);
}

/* A block pointing to itself is one direct leak; another pointing to it
   makes it indirect.  */
static void
test_self_loop (void)
{
  struct fake f;
  fake_init (&f);
  add_blocks (&f, 3);
  link (&f, 0, 0);
  link (&f, 1, 1);
  link (&f, 2, 1);
  struct result r = reach (&f);
  TEST_EQ (r.mark[0], DMEM_LEAK);
  TEST_EQ (r.mark[1], DMEM_INDIRECT);
  TEST_EQ (r.mark[2], DMEM_LEAK);
  free (r.mark);
  fake_free (&f);
}

/* Two blocks nothing points to: two direct leaks.  */
static void
test_two_leaks (void)
{
  struct fake f;
  fake_init (&f);
  add_blocks (&f, 2);
  struct result r = reach (&f);
  TEST_EQ (r.direct, 2);
  TEST_EQ (r.indirect, 0);
  free (r.mark);
  fake_free (&f);
}

/* A pointer into the middle of a block makes it possible, one to its
   last byte too, one past its end keeps nothing; a pointer to its start
   keeps it reachable, a 0-byte block's too.  */
static void
test_interior_pointer (void)
{
  struct fake f;
  fake_init (&f);
  add_blocks (&f, 4);
  size_t empty = add_block_at (&f, at (4), 0);
  put (&f, DATA, at (0) + 40);
  put (&f, DATA + 8, at (1) + 64);
  put (&f, DATA + 16, at (2));
  put (&f, DATA + 24, at (3) + 63);
  put (&f, DATA + 32, at (4));
  struct result r = reach (&f);
  TEST_EQ (r.mark[0], DMEM_POSSIBLE);
  TEST_EQ (r.mark[1], DMEM_LEAK);
  TEST_EQ (r.mark[2], DMEM_REACHABLE);
  TEST_EQ (r.mark[3], DMEM_POSSIBLE);
  TEST_EQ (r.mark[empty], DMEM_REACHABLE);
  free (r.mark);
  fake_free (&f);
}

/* What only a possible block reaches is possible, through start pointers
   too; a register or a stack word pointing inside a block makes it
   possible as a global's does.  */
static void
test_possible_chain (void)
{
  struct fake f;
  fake_init (&f);
  add_blocks (&f, 8);
  root_inside (&f, 5);
  link (&f, 5, 2);                       /* start pointers from 5 on */
  link (&f, 2, 7);
  link_inside (&f, 7, 0, 0);
  f.t.threads[0].regs[3] = at (3) + 8;   /* rbx */
  put (&f, SP + 16, at (4) + 32);        /* the stack */
  link (&f, 4, 6);
  struct result r = reach (&f);
  TEST_EQ (r.mark[5], DMEM_POSSIBLE);
  TEST_EQ (r.mark[2], DMEM_POSSIBLE);
  TEST_EQ (r.mark[7], DMEM_POSSIBLE);
  TEST_EQ (r.mark[0], DMEM_POSSIBLE);
  TEST_EQ (r.mark[3], DMEM_POSSIBLE);
  TEST_EQ (r.mark[4], DMEM_POSSIBLE);
  TEST_EQ (r.mark[6], DMEM_POSSIBLE);
  TEST_EQ (r.mark[1], DMEM_LEAK);
  TEST_EQ (r.possible, 7);
  free (r.mark);
  fake_free (&f);
}

/* A block reached first through an interior pointer, then through a
   start pointer from a root or a reachable block, is reachable, and so is
   what it points to; each order of discovery: the block above or below
   the reachable one, scanned possible first or not.  */
static void
test_upgrade (void)
{
  struct fake f;
  fake_init (&f);
  add_blocks (&f, 12);
  /* Two roots, one inside, one at the start: reachable.  */
  root_inside (&f, 0);
  root (&f, 0);
  link (&f, 0, 1);
  /* Inside from a root, at the start from a reachable block above it
     (scanned possible first, then again): reachable, with its chain
     below and above.  */
  root_inside (&f, 3);
  link (&f, 3, 2);
  link (&f, 3, 4);
  link (&f, 4, 5);
  root (&f, 9);
  link (&f, 9, 3);
  /* Inside from a root, at the start from a reachable block below it
     (upgraded before it is scanned).  */
  root_inside (&f, 8);
  link (&f, 8, 6);
  root (&f, 7);
  link (&f, 7, 8);
  /* Inside from a reachable block, at the start from a possible one:
     possible.  */
  link_inside (&f, 9, 1, 10);
  link (&f, 10, 11);
  link (&f, 11, 10);
  struct result r = reach (&f);
  for (size_t k = 0; k < 10; k++)
    TEST_EQ (r.mark[k], DMEM_REACHABLE);
  TEST_EQ (r.mark[10], DMEM_POSSIBLE);
  TEST_EQ (r.mark[11], DMEM_POSSIBLE);
  free (r.mark);
  fake_free (&f);
}

/* Possible blocks are never direct or indirect leaks: a leak pointing to
   a possible block leaves it possible and is still a direct leak itself;
   the leaks it points into are indirect, through interior pointers too,
   as they were before possible blocks.  */
static void
test_possible_not_leaked (void)
{
  struct fake f;
  fake_init (&f);
  add_blocks (&f, 6);
  root_inside (&f, 1);
  link (&f, 1, 0);
  link (&f, 4, 1);              /* a leak to a possible block */
  link_inside (&f, 4, 2, 0);
  link_inside (&f, 4, 3, 5);    /* a leak inside another leak */
  link_inside (&f, 5, 0, 3);
  struct result r = reach (&f);
  TEST_EQ (r.mark[0], DMEM_POSSIBLE);
  TEST_EQ (r.mark[1], DMEM_POSSIBLE);
  TEST_EQ (r.mark[2], DMEM_LEAK);
  TEST_EQ (r.mark[4], DMEM_LEAK);
  TEST_EQ (r.mark[5], DMEM_INDIRECT);
  TEST_EQ (r.mark[3], DMEM_INDIRECT);
  TEST_EQ (r.direct, 2);
  TEST_EQ (r.indirect, 2);
  TEST_EQ (r.possible, 2);
  free (r.mark);
  fake_free (&f);
}

/* A register keeps a block; the stack keeps one from sp-128 up, not
   below.  */
static void
test_register_and_stack (void)
{
  struct fake f;
  fake_init (&f);
  add_blocks (&f, 4);
  f.t.threads[0].regs[3] = at (0);       /* rbx */
  put (&f, SP - 120, at (1));            /* the red zone */
  put (&f, STACK + STACK_SIZE - 8, at (2));
  put (&f, SP - 256, at (3));            /* a dead frame */
  struct result r = reach (&f);
  TEST_EQ (r.mark[0], DMEM_REACHABLE);
  TEST_EQ (r.mark[1], DMEM_REACHABLE);
  TEST_EQ (r.mark[2], DMEM_REACHABLE);
  TEST_EQ (r.mark[3], DMEM_LEAK);
  free (r.mark);
  fake_free (&f);
}

/* An anonymous mapping holding no block (a program's own pool) is a
   root; the heap holding the blocks is not.  */
static void
test_pool_root (void)
{
  struct fake f;
  fake_init (&f);
  add_region (&f, POOL, POOL_SIZE, 0);
  add_blocks (&f, 3);
  put (&f, POOL + 0x1230, at (1));
  put (&f, HEAP + 0x10000 - 8, at (2));  /* the heap past the blocks */
  struct result r = reach (&f);
  TEST_EQ (r.mark[0], DMEM_LEAK);
  TEST_EQ (r.mark[1], DMEM_REACHABLE);
  TEST_EQ (r.mark[2], DMEM_LEAK);
  free (r.mark);
  fake_free (&f);
}

/* A pointer to a block's header (its list links) keeps nothing.  */
static void
test_header_only (void)
{
  struct fake f;
  fake_init (&f);
  add_blocks (&f, 3);
  put (&f, DATA, at (0) - HS);           /* a root to a header */
  put (&f, DATA + 8, at (1) - 8);        /* to its magic */
  put (&f, at (2), at (1) - HS);         /* a leak to another's header */
  struct result r = reach (&f);
  TEST_EQ (r.mark[0], DMEM_LEAK);
  TEST_EQ (r.mark[1], DMEM_LEAK);
  TEST_EQ (r.mark[2], DMEM_LEAK);
  free (r.mark);
  fake_free (&f);
}

/* The runtime's own state is not a root.  */
static void
test_runtime_state (void)
{
  struct fake f;
  fake_init (&f);
  add_blocks (&f, 2);
  f.h.desc[DMEM_DESC_STATE_START] = DATA + 0x100;
  f.h.desc[DMEM_DESC_STATE_END] = DATA + 0x200;
  put (&f, DATA + 0x180, at (0));
  put (&f, DATA + 0x200, at (1));
  struct result r = reach (&f);
  TEST_EQ (r.mark[0], DMEM_LEAK);
  TEST_EQ (r.mark[1], DMEM_REACHABLE);
  free (r.mark);
  fake_free (&f);
}

/* An empty glibc arena heap (heap_info at a 64 MiB boundary) holds stale
   pointers in its free chunks: not a root.  */
static void
test_arena_heap (void)
{
  struct fake f;
  fake_init (&f);
  add_region (&f, ARENA, ARENA_SIZE, 0);
  add_blocks (&f, 1);
  put (&f, ARENA, ARENA + 0x20);         /* ar_ptr */
  put (&f, ARENA + 16, ARENA_SIZE);      /* size */
  put (&f, ARENA + 0x1000, at (0));
  struct result r = reach (&f);
  TEST_EQ (r.mark[0], DMEM_LEAK);
  free (r.mark);
  fake_free (&f);
}

/* An exited thread's cached stack (its descriptor at the top, no live
   thread's fs_base) is not a root; a live thread's TLS is.  */
static void
test_dead_stack (void)
{
  struct fake f;
  fake_init (&f);
  add_region (&f, POOL, POOL_SIZE, 0);
  add_region (&f, DEAD, DEAD_SIZE, 0);
  add_blocks (&f, 2);
  uint64_t tcb = DEAD + DEAD_SIZE - 0x940, tls = POOL + POOL_SIZE - 0x940;
  put (&f, tcb, tcb);
  put (&f, tcb + 16, tcb);
  put (&f, DEAD + 0x100, at (0));
  put (&f, tls, tls);
  put (&f, tls + 16, tls);
  put (&f, POOL + 0x100, at (1));
  f.t.threads[0].regs[DMEM_REG_FS_BASE] = tls;
  struct result r = reach (&f);
  TEST_EQ (r.mark[0], DMEM_LEAK);
  TEST_EQ (r.mark[1], DMEM_REACHABLE);
  free (r.mark);
  fake_free (&f);
  /* The same stack with a live thread on that descriptor: a root.  */
  fake_init (&f);
  add_region (&f, DEAD, DEAD_SIZE, 0);
  add_blocks (&f, 1);
  put (&f, tcb, tcb);
  put (&f, tcb + 16, tcb);
  put (&f, DEAD + 0x100, at (0));
  f.t.threads = dmem_xrealloc (f.t.threads, 2, sizeof *f.t.threads);
  f.t.nthreads = 2;
  memset (&f.t.threads[1], 0, sizeof f.t.threads[1]);
  f.t.threads[1].regs[DMEM_REG_FS_BASE] = tcb;
  r = reach (&f);
  TEST_EQ (r.mark[0], DMEM_REACHABLE);
  free (r.mark);
  fake_free (&f);
}

/* A chunk glibc mmapped for one block, merged by the kernel with a pool
   below and above it: the pool is a root, the block's own bytes are
   not.  */
static void
test_mmapped_chunk (void)
{
  struct fake f;
  fake_init (&f);
  add_region (&f, MMAPPED, MMAPPED_SIZE, 0);
  add_blocks (&f, 3);
  uint64_t chunk = MMAPPED + 0x10000, user = chunk + 16 + HS;
  size_t big = add_block_at (&f, user, 0x8000);
  put (&f, chunk, 0);                       /* prev_size: offset 0 */
  put (&f, chunk + 8, 0x10000 | 2);         /* size | IS_MMAPPED */
  put (&f, MMAPPED + 0x800, at (0));        /* the pool below */
  put (&f, MMAPPED + 0x30000, user);        /* the pool above */
  put (&f, user + 0x100, at (1));           /* inside the leaked block */
  put (&f, chunk + 0x10000 - 8, at (2));    /* its chunk's tail */
  struct result r = reach (&f);
  TEST_EQ (r.mark[0], DMEM_REACHABLE);
  TEST_EQ (r.mark[big], DMEM_REACHABLE);
  TEST_EQ (r.mark[1], DMEM_REACHABLE);      /* through the big block */
  TEST_EQ (r.mark[2], DMEM_LEAK);
  free (r.mark);
  fake_free (&f);
  /* Not a chunk of its own (no IS_MMAPPED): the mapping is a heap.  */
  fake_init (&f);
  add_region (&f, MMAPPED, MMAPPED_SIZE, 0);
  add_blocks (&f, 1);
  big = add_block_at (&f, user, 0x8000);
  put (&f, chunk + 8, 0x10000 | 1);
  put (&f, MMAPPED + 0x800, at (0));
  r = reach (&f);
  TEST_EQ (r.mark[0], DMEM_LEAK);
  TEST_EQ (r.mark[big], DMEM_LEAK);
  free (r.mark);
  fake_free (&f);
}

/* Long chains, reachable and leaked, and a long cycle: no recursion.  */
static void
test_long_chains (void)
{
  enum { N = 200000 };
  struct fake f;
  fake_init (&f);
  add_blocks (&f, N);
  /* Blocks 0 .. N/2-1: a chain from a root, from the top down.  */
  put (&f, DATA, at (N / 2 - 1));
  for (size_t k = N / 2 - 1; k > 0; k--)
    link_at (&f, k, 0, k - 1);
  /* N/2 .. N-1: a leaked cycle entered from its highest block's chain.  */
  for (size_t k = N / 2; k < N - 1000; k++)
    link_at (&f, k, 0, k + 1 < N - 1000 ? k + 1 : N / 2);
  for (size_t k = N - 1000; k < N - 1; k++)
    link_at (&f, k + 1, 1, k);
  link_at (&f, N - 1000, 1, N / 2 + 7);
  struct result r = reach (&f);
  TEST_EQ (r.reachable, N / 2);
  TEST_EQ (r.direct, 1);
  TEST_EQ (r.mark[N - 1], DMEM_LEAK);
  TEST_EQ (r.indirect, N / 2 - 1);
  free (r.mark);
  fake_free (&f);
}

/* A long chain found possible first (inside its head, from a root), then
   reachable from a block above it: every block upgraded, each scanned
   twice at most, no recursion.  And a long chain below a possible head
   stays possible.  */
static void
test_long_upgrade (void)
{
  enum { N = 200000 };
  struct fake f;
  fake_init (&f);
  add_blocks (&f, N + 1);
  /* 0 .. N/2-1: a chain from the top down, inside its head from a root;
     block N points to its head's start and is a root's.  */
  put (&f, DATA, at (N / 2 - 1) + 8);
  for (size_t k = N / 2 - 1; k > 0; k--)
    link_at (&f, k, 0, k - 1);
  put (&f, DATA + 16, at (N));
  link_at (&f, N, 0, N / 2 - 1);
  /* N/2 .. N-1: a chain from the bottom up, inside its head only.  */
  put (&f, DATA + 8, at (N / 2) + 16);
  for (size_t k = N / 2; k < N - 1; k++)
    link_at (&f, k, 1, k + 1);
  struct result r = reach (&f);
  TEST_EQ (r.reachable, N / 2 + 1);
  TEST_EQ (r.possible, N / 2);
  TEST_EQ (r.mark[0], DMEM_REACHABLE);
  TEST_EQ (r.mark[N - 1], DMEM_POSSIBLE);
  free (r.mark);
  fake_free (&f);
}

/* Random small graphs against the rule computed the slow way: a leak
   is direct when it is the lowest-addressed block of its strongly
   connected component and no leak outside that component reaches it.  */
static void
test_random_graphs (void)
{
  enum { MAXN = 12, ROUNDS = 3000 };
  unsigned seed = 12345;
  for (int round = 0; round < ROUNDS; round++)
    {
      seed = seed * 1103515245 + 12345;
      size_t n = 1 + (seed >> 16) % MAXN;
      int edge[MAXN][MAXN] = { { 0 } }, rooted[MAXN] = { 0 };
      struct fake f;
      fake_init (&f);
      add_blocks (&f, n);
      for (size_t a = 0; a < n; a++)
	{
	  size_t w = 0;
	  for (size_t b = 0; b < n && w < 8; b++)
	    {
	      seed = seed * 1103515245 + 12345;
	      if ((seed >> 16) % 5 == 0)
		{
		  edge[a][b] = 1;
		  link_at (&f, a, w++, b);
		}
	    }
	  seed = seed * 1103515245 + 12345;
	  if ((seed >> 16) % 9 == 0)
	    {
	      rooted[a] = 1;
	      root (&f, a);
	    }
	}
      /* reach[a][b]: b reachable from a (a itself included).  */
      int reach_[MAXN][MAXN];
      for (size_t a = 0; a < n; a++)
	for (size_t b = 0; b < n; b++)
	  reach_[a][b] = a == b || edge[a][b];
      for (size_t k = 0; k < n; k++)
	for (size_t a = 0; a < n; a++)
	  for (size_t b = 0; b < n; b++)
	    reach_[a][b] |= reach_[a][k] && reach_[k][b];
      unsigned char want[MAXN];
      for (size_t b = 0; b < n; b++)
	{
	  want[b] = 0;
	  for (size_t a = 0; a < n; a++)
	    if (rooted[a] && reach_[a][b])
	      want[b] = DMEM_REACHABLE;
	}
      for (size_t b = 0; b < n; b++)
	{
	  if (want[b])
	    continue;
	  int direct = 1;
	  for (size_t a = 0; a < n; a++)
	    {
	      if (a == b || want[a] == DMEM_REACHABLE)
		continue;
	      int same = reach_[a][b] && reach_[b][a];
	      if ((same && a < b) || (!same && reach_[a][b]))
		direct = 0;
	    }
	  want[b] = direct ? DMEM_LEAK : DMEM_INDIRECT;
	}
      struct result r = reach (&f);
      for (size_t b = 0; b < n; b++)
	if (r.mark[b] != want[b])
	  {
	    fprintf (stderr, "round %d, %zu blocks:\n", round, n);
	    TEST_EQ (r.mark[b], want[b]);
	    break;
	  }
      free (r.mark);
      fake_free (&f);
    }
}

/* Random small graphs of start and interior pointers against the rule
   computed the slow way: reachable through start pointers only from
   roots pointing to starts; possible when reached otherwise; the rest
   direct or indirect as in test_random_graphs, over every edge.  */
static void
test_random_possible (void)
{
  enum { MAXN = 12, ROUNDS = 3000 };
  unsigned seed = 54321;
  for (int round = 0; round < ROUNDS; round++)
    {
      seed = seed * 1103515245 + 12345;
      size_t n = 1 + (seed >> 16) % MAXN;
      /* edge[a][b], rooted[a]: 0 none, 1 to the start, 2 inside.  */
      int edge[MAXN][MAXN] = { { 0 } }, rooted[MAXN] = { 0 };
      struct fake f;
      fake_init (&f);
      add_blocks (&f, n);
      for (size_t a = 0; a < n; a++)
	{
	  size_t w = 0;
	  for (size_t b = 0; b < n && w < 8; b++)
	    {
	      seed = seed * 1103515245 + 12345;
	      unsigned x = (seed >> 16) % 10;
	      if (x < 2)
		{
		  edge[a][b] = 1 + x;
		  if (x == 0)
		    link_at (&f, a, w++, b);
		  else
		    link_inside (&f, a, w++, b);
		}
	    }
	  seed = seed * 1103515245 + 12345;
	  unsigned x = (seed >> 16) % 12;
	  if (x < 2)
	    {
	      rooted[a] = 1 + x;
	      if (x == 0)
		root (&f, a);
	      else
		root_inside (&f, a);
	    }
	}
      /* want: reachable by a fixpoint over start pointers, possible by one
	 over every pointer.  */
      unsigned char want[MAXN];
      for (size_t b = 0; b < n; b++)
	want[b] = rooted[b] == 1 ? DMEM_REACHABLE
		  : rooted[b] == 2 ? DMEM_POSSIBLE : 0;
      for (int changed = 1; changed;)
	{
	  changed = 0;
	  for (size_t a = 0; a < n; a++)
	    for (size_t b = 0; b < n; b++)
	      {
		if (!want[a] || !edge[a][b] || want[b] == DMEM_REACHABLE)
		  continue;
		unsigned char m = want[a] == DMEM_REACHABLE && edge[a][b] == 1
				  ? DMEM_REACHABLE : DMEM_POSSIBLE;
		if (want[b] != m)
		  {
		    want[b] = m;
		    changed = 1;
		  }
	      }
	}
      int reach_[MAXN][MAXN];
      for (size_t a = 0; a < n; a++)
	for (size_t b = 0; b < n; b++)
	  reach_[a][b] = a == b || edge[a][b];
      for (size_t k = 0; k < n; k++)
	for (size_t a = 0; a < n; a++)
	  for (size_t b = 0; b < n; b++)
	    reach_[a][b] |= reach_[a][k] && reach_[k][b];
      for (size_t b = 0; b < n; b++)
	{
	  if (want[b])
	    continue;
	  int direct = 1;
	  for (size_t a = 0; a < n; a++)
	    {
	      if (a == b || want[a] == DMEM_REACHABLE
		  || want[a] == DMEM_POSSIBLE)
		continue;
	      int same = reach_[a][b] && reach_[b][a];
	      if ((same && a < b) || (!same && reach_[a][b]))
		direct = 0;
	    }
	  want[b] = direct ? DMEM_LEAK : DMEM_INDIRECT;
	}
      struct result r = reach (&f);
      for (size_t b = 0; b < n; b++)
	if (r.mark[b] != want[b])
	  {
	    fprintf (stderr, "round %d, %zu blocks, block %zu:\n", round, n, b);
	    TEST_EQ (r.mark[b], want[b]);
	    break;
	  }
      free (r.mark);
      fake_free (&f);
    }
}

/* No blocks, no libdwfl: nothing to mark, nothing to crash on.  */
static void
test_empty (void)
{
  struct fake f;
  fake_init (&f);
  dmem_target_segments (&f.t);
  TEST_EQ (f.t.nsegments, 0);
  struct result r = reach (&f);
  TEST_EQ (r.reachable + r.direct + r.indirect + r.possible, 0);
  free (r.mark);
  fake_free (&f);
}

int
main (void)
{
  test_chain_from_root ();
  test_leaked_chain ();
  test_cycle ();
  test_cycle_entered ();
  test_cycle_entered_twice ();
  test_diamond ();
  test_self_loop ();
  test_two_leaks ();
  test_interior_pointer ();
  test_possible_chain ();
  test_upgrade ();
  test_possible_not_leaked ();
  test_register_and_stack ();
  test_pool_root ();
  test_header_only ();
  test_runtime_state ();
  test_arena_heap ();
  test_dead_stack ();
  test_mmapped_chunk ();
  test_long_chains ();
  test_long_upgrade ();
  test_random_graphs ();
  test_random_possible ();
  test_empty ();
  if (failures)
    fprintf (stderr, "engine-unit: %d checks failed\n", failures);
  return failures ? 1 : 0;
}
