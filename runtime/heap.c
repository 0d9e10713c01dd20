/* Tracked blocks: headers, shard lists, the allocator below us, start-up and
   fork.  */
#define _GNU_SOURCE
#include "heap.h"

#include <dlfcn.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "depot.h"
#include "failinject.h"
#include "integrity.h"
#include "options.h"
#include "pagestart.h"
#include "stop.h"
#include "unwind.h"

#define HDR sizeof (struct dmem_block)
/* Bytes added to each request: the header before, the guard after.  */
#define SPARE (HDR + DMEM_GUARD_SIZE)
/* Largest request we pass on: glibc refuses more than PTRDIFF_MAX too.  */
#define MAX_REQUEST ((size_t) PTRDIFF_MAX - 2 * 4096)

struct dmem_state dmem__state;

/* The descriptor readers look up by name; see include/dmem/format.h.  Not
   const: in .data it is in every core, so a core is read with the layout of
   the runtime that wrote it, not that of whatever libdmem.so is on disk.  */
#define ADDR(x) ((uint64_t) (uintptr_t) (x))
__attribute__ ((visibility ("default"))) uint64_t dmem_descriptor[DMEM_DESC_COUNT] = {
  [DMEM_DESC_MAGIC] = DMEM_DESCRIPTOR_MAGIC,
  [DMEM_DESC_VERSION] = DMEM_FORMAT_VERSION,
  [DMEM_DESC_FIELDS] = DMEM_DESC_COUNT,
  [DMEM_DESC_HEADER_SIZE] = HDR,
  [DMEM_DESC_STACK_DEPTH] = DMEM_STACK_DEPTH,
  [DMEM_DESC_OFF_NEXT] = offsetof (struct dmem_block, next),
  [DMEM_DESC_OFF_PREV] = offsetof (struct dmem_block, prev),
  [DMEM_DESC_OFF_SIZE] = offsetof (struct dmem_block, size),
  [DMEM_DESC_OFF_THREAD] = DMEM_DESC_ABSENT,
  [DMEM_DESC_OFF_TID] = offsetof (struct dmem_block, tid),
  [DMEM_DESC_OFF_ALIGN_PAD] = offsetof (struct dmem_block, align_pad),
  [DMEM_DESC_OFF_PCS] = DMEM_DESC_ABSENT,
  [DMEM_DESC_OFF_MAGIC] = offsetof (struct dmem_block, magic),
  [DMEM_DESC_BLOCK_MAGIC] = DMEM_BLOCK_MAGIC,
  [DMEM_DESC_FREED_MAGIC] = DMEM_FREED_MAGIC,
  [DMEM_DESC_SHARD_COUNT] = DMEM_SHARD_COUNT,
  [DMEM_DESC_SHARD_SIZE] = sizeof (struct dmem_shard),
  [DMEM_DESC_SHARD_OFF_FIRST] = offsetof (struct dmem_shard, first),
  [DMEM_DESC_SHARD_OFF_BLOCKS] = offsetof (struct dmem_shard, blocks),
  [DMEM_DESC_SHARD_OFF_BYTES] = offsetof (struct dmem_shard, bytes),
  [DMEM_DESC_SHARD_OFF_ALLOCS] = offsetof (struct dmem_shard, allocs),
  [DMEM_DESC_SHARD_OFF_FREES] = offsetof (struct dmem_shard, frees),
  [DMEM_DESC_SHARDS] = ADDR (&dmem__state.shards),
  [DMEM_DESC_STATS] = ADDR (&dmem__state.stats),
  [DMEM_DESC_STAT_COUNT] = DMEM_STAT_COUNT,
  [DMEM_DESC_MALLINFO_LOG] = ADDR (&dmem__state.mallinfo),
  [DMEM_DESC_MALLINFO_SLOTS] = DMEM_MALLINFO_SLOTS,
  [DMEM_DESC_MALLINFO_RECORD_SIZE] = sizeof (struct dmem_mallinfo_record),
  [DMEM_DESC_STATE_START] = ADDR (&dmem__state),
  [DMEM_DESC_STATE_END] = ADDR (&dmem__state + 1),
  [DMEM_DESC_GUARD_SIZE] = DMEM_GUARD_SIZE,
  [DMEM_DESC_FAILURE_LOG] = ADDR (&dmem__state.failures),
  [DMEM_DESC_FAILURE_SLOTS] = DMEM_FAILURE_SLOTS,
  [DMEM_DESC_FAILURE_RECORD_SIZE] = sizeof (struct dmem_failure_record),
  [DMEM_DESC_GUARD_BYTE] = DMEM_GUARD_BYTE,
  [DMEM_DESC_QUARANTINE] = ADDR (dmem__state.quarantine),
  [DMEM_DESC_QUARANTINE_SLOTS] = DMEM_QUARANTINE_SLOTS,
  [DMEM_DESC_POISON_BYTE] = DMEM_POISON_BYTE,
  [DMEM_DESC_ERROR_LOG] = ADDR (&dmem__state.errors),
  [DMEM_DESC_ERROR_SLOTS] = DMEM_ERROR_SLOTS,
  [DMEM_DESC_ERROR_RECORD_SIZE] = sizeof (struct dmem_error_record),
  [DMEM_DESC_OFF_STACK] = offsetof (struct dmem_block, stack),
  [DMEM_DESC_OFF_KIND] = offsetof (struct dmem_block, kind),
  [DMEM_DESC_DEPOT] = ADDR (&dmem__state.depot),
  [DMEM_DESC_DEPOT_OFF_CHUNKS] = offsetof (struct dmem_depot, chunks),
  [DMEM_DESC_DEPOT_CHUNKS] = DMEM_DEPOT_CHUNKS,
  [DMEM_DESC_DEPOT_CHUNK_STACKS] = DMEM_DEPOT_CHUNK_STACKS,
  [DMEM_DESC_DEPOT_STACK_SIZE] = sizeof (struct dmem_depot_stack),
  [DMEM_DESC_DEPOT_OFF_PCS] = offsetof (struct dmem_depot_stack, pcs),
  [DMEM_DESC_DEPOT_OFF_HASH] = offsetof (struct dmem_depot_stack, hash),
  [DMEM_DESC_DEPOT_OFF_STACKS] = offsetof (struct dmem_depot, stacks),
  [DMEM_DESC_DEPOT_OFF_NOT_KEPT] = offsetof (struct dmem_depot, not_kept),
  [DMEM_DESC_OFF_SHARD] = offsetof (struct dmem_block, shard),
  [DMEM_DESC_PENDING_MAGIC] = DMEM_PENDING_MAGIC,
};

/* ---- the allocator below us ------------------------------------------- */

static struct
{
  void *(*malloc) (size_t);
  void (*free) (void *);
  void *(*calloc) (size_t, size_t);
  void *(*realloc) (void *, size_t);
  int (*posix_memalign) (void **, size_t, size_t);
  size_t (*usable_size) (void *);
  struct mallinfo2 (*mallinfo2) (void);
} next;

enum { UNBOUND, BINDING, BOUND };
static int bind_state;

/* Allocations made while we look up the allocator below us (dlsym itself
   allocates) come from this buffer.  They are never freed.  */
static char boot[64 * 1024] __attribute__ ((aligned (16)));
static size_t boot_used;

static int
is_boot (const void *p)
{
  return (const char *) p >= boot && (const char *) p < boot + sizeof boot;
}

/* A zeroed block of SIZE from the start-up buffer; its size is kept in the
   16 bytes before it.  */
static void *
boot_alloc (size_t size)
{
  size_t need = 16 + ((size + 15) & ~(size_t) 15);
  if (size > sizeof boot)
    return NULL;
  size_t at = __atomic_fetch_add (&boot_used, need, __ATOMIC_RELAXED);
  if (at + need > sizeof boot)
    {
      errno = ENOMEM;
      return NULL;
    }
  *(size_t *) (boot + at) = size;
  return boot + at + 16;
}

static size_t
boot_size (const void *p)
{
  return *(const size_t *) ((const char *) p - 16);
}

/* Find the next allocator in link order.  Returns nonzero once bound; zero
   while binding is under way (the caller then uses the start-up buffer).  */
static __attribute__ ((noinline)) int
bind_now (void)
{
  int s = UNBOUND;
  if (!__atomic_compare_exchange_n (&bind_state, &s, BINDING, 0,
                                    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
    return 0; /* we are inside dlsym, or another thread binds */
  next.malloc = dlsym (RTLD_NEXT, "malloc");
  next.free = dlsym (RTLD_NEXT, "free");
  next.calloc = dlsym (RTLD_NEXT, "calloc");
  next.realloc = dlsym (RTLD_NEXT, "realloc");
  next.posix_memalign = dlsym (RTLD_NEXT, "posix_memalign");
  next.usable_size = dlsym (RTLD_NEXT, "malloc_usable_size");
  next.mallinfo2 = dlsym (RTLD_NEXT, "mallinfo2");
  if (!next.malloc || !next.free || !next.calloc || !next.realloc
      || !next.posix_memalign || !next.usable_size)
    {
      static const char msg[] = "dmem: no allocator below libdmem.so\n";
      if (write (STDERR_FILENO, msg, sizeof msg - 1) < 0)
        _exit (127);
      _exit (127);
    }
  __atomic_store_n (&bind_state, BOUND, __ATOMIC_RELEASE);
  return 1;
}

static inline int
bind (void)
{
  if (likely (__atomic_load_n (&bind_state, __ATOMIC_ACQUIRE) == BOUND))
    return 1;
  return bind_now ();
}

struct mallinfo2
dmem__next_mallinfo2 (void)
{
  struct mallinfo2 m;
  memset (&m, 0, sizeof m);
  if (bind () && next.mallinfo2)
    m = next.mallinfo2 ();
  return m;
}

/* The steps of malloc and free are written as functions for reading, and
   inlined into the entry points, which call nothing else on their common
   path: a call and return per step cost more than some of the steps.  */
#define STEP static inline __attribute__ ((always_inline))

/* ---- counters ----------------------------------------------------------- */

/* Each thread batches its changes to the process-wide counters so threads
   do not fight over one cache line on every call.  */
static __thread int64_t pending_bytes, pending_blocks;
static __thread uint64_t pending_total;

static void
raise_to (uint64_t *peak, uint64_t v)
{
  uint64_t old = __atomic_load_n (peak, __ATOMIC_RELAXED);
  while (v > old && !__atomic_compare_exchange_n (peak, &old, v, 1,
                                                  __ATOMIC_RELAXED,
                                                  __ATOMIC_RELAXED))
    ;
}

/* Publish this thread's batched changes.  */
static void
publish (void)
{
  uint64_t *st = dmem__state.stats;
  uint64_t live = __atomic_add_fetch (&st[DMEM_STAT_LIVE_BYTES],
                                      (uint64_t) pending_bytes, __ATOMIC_RELAXED);
  uint64_t nblocks = __atomic_add_fetch (&st[DMEM_STAT_LIVE_BLOCKS],
                                         (uint64_t) pending_blocks,
                                         __ATOMIC_RELAXED);
  __atomic_add_fetch (&st[DMEM_STAT_TOTAL_BYTES], pending_total, __ATOMIC_RELAXED);
  if ((int64_t) live > 0)
    raise_to (&st[DMEM_STAT_PEAK_BYTES], live);
  if ((int64_t) nblocks > 0)
    raise_to (&st[DMEM_STAT_PEAK_BLOCKS], nblocks);
  pending_bytes = pending_blocks = 0;
  pending_total = 0;
}

STEP void
count (int64_t bytes, int64_t blocks)
{
  pending_bytes += bytes;
  pending_blocks += blocks;
  if (bytes > 0)
    pending_total += (uint64_t) bytes;
  /* |x| >= BATCH as one unsigned compare each.  */
  if (unlikely ((uint64_t) (pending_bytes + DMEM_STAT_BATCH - 1)
                >= 2 * DMEM_STAT_BATCH - 1
                || (uint64_t) (pending_blocks + DMEM_STAT_BATCH_BLOCKS - 1)
                   >= 2 * DMEM_STAT_BATCH_BLOCKS - 1))
    publish ();
}

static void
count_event (enum dmem_stat which)
{
  __atomic_add_fetch (&dmem__state.stats[which], 1, __ATOMIC_RELAXED);
}

/* ---- shard lists ------------------------------------------------------------ */

/* A block's shard follows the thread that allocated it (its kernel thread
   id): a thread mostly frees what it allocated, so its shard's lock and
   list stay in its own cache instead of bouncing between cores.  */
static inline unsigned
shard_for (uint32_t tid)
{
  uint64_t h = tid * 0x9e3779b97f4a7c15ULL;
  return (unsigned) (h >> (64 - 6));
}
_Static_assert (DMEM_SHARD_COUNT == 64, "shard_for takes 6 bits");

static inline struct dmem_shard *
shard_of (const struct dmem_block *b)
{
  return &dmem__state.shards[b->shard];
}

/* Whether B's user memory starts a page (see pagestart.h).  */
static inline int
starts_page (const struct dmem_block *b)
{
  return ((uintptr_t) (b + 1) & 4095) == 0;
}

static inline uint64_t
magic_of (const struct dmem_block *b, uint64_t magic)
{
  return magic ^ (uint64_t) (uintptr_t) b;
}

/* Taking a lock is an atomic exchange: a full barrier, which waits for
   every cache miss before it.  On the malloc and free paths that was most
   of what the lists cost (alloc-bench: 1.64x glibc with the lock, 1.41x
   without).  So a shard that one thread has entered alone BIAS_AFTER times
   in a row is biased to it: that thread enters by storing `busy` and
   checking `revoked`, with no atomic.  Any other thread takes the lock
   and, if the shard is biased, revokes the bias: it sets `revoked`, has
   every thread of the process pass a full barrier (membarrier(2)), so that
   an owner already inside shows `busy` and one not yet inside sees
   `revoked`, and waits for the owner to leave.

   The owner sees `revoked` on its next entry, takes the lock and lets go
   of the shard (`owner` 0); only then may the shard be biased to another
   thread.  So `busy` is written by the owner alone, and a thread whose
   bias was revoked unseen never enters as owner of a shard now biased to
   someone else.  A shard whose owner exited stays unbiased.

   membarrier costs 1.4 us alone and 100 us with three threads running on
   a VM seen here, so each revoked bias doubles the run a shard needs
   before it is biased again, from BIAS_AFTER entries up to 1024 times
   that: shards that threads share soon stay on the lock.  Without
   membarrier no shard is biased.  */
#define BIAS_AFTER 1024
#define MAX_UNBIASED 10
static int biasing;
/* The shard biased to this thread, if any.  A hint that spares other
   threads a read of the shard's line before they take its lock.  */
static __thread struct dmem_shard *my_shard;

static void
start_biasing (void)
{
  biasing = syscall (SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
                     0, 0) == 0;
}

/* After `revoked` was set: have every thread pass a full barrier.  */
static void
barrier_all_threads (void)
{
  if (syscall (SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) != 0)
    {
      /* Forbidden since (a seccomp filter): no shard is biased again, and
         an owner's stores reach memory long before this wait ends.  */
      biasing = 0;
      struct timespec ms = { 0, 1000000 };
      nanosleep (&ms, NULL);
    }
}

/* Wait for the owner of S, whose bias is revoked, to leave it.  */
static void
wait_for_owner (const struct dmem_shard *s)
{
  for (unsigned spins = 0; __atomic_load_n (&s->busy, __ATOMIC_ACQUIRE); spins++)
    if (spins < 64)
      __builtin_ia32_pause ();
    else
      sched_yield ();
}

/* Revoke the bias of S, whose lock the caller holds.  */
static __attribute__ ((noinline)) void
unbias (struct dmem_shard *s)
{
  __atomic_store_n (&s->revoked, 1, __ATOMIC_RELAXED);
  if (s->unbiased < MAX_UNBIASED)
    s->unbiased++;
  barrier_all_threads ();
  wait_for_owner (s);
}

/* Take S's lock as thread TID, so that no owner is inside either.  */
STEP void
shard_lock (struct dmem_shard *s, uint32_t tid)
{
  dmem__lock (&s->lock);
  uint32_t owner = s->owner;
  if (unlikely (owner != 0))
    {
      if (owner != tid && !s->revoked)
        unbias (s);
      else if (owner == tid && s->revoked)
        s->owner = 0; /* our bias was revoked: let go */
    }
}

/* Enter S as thread TID; returns whether S is biased to it (leave it with
   the same value).  */
STEP int
shard_enter (struct dmem_shard *s, uint32_t tid)
{
  if (likely (s == my_shard))
    {
      __atomic_store_n (&s->busy, 1, __ATOMIC_RELAXED);
      __atomic_signal_fence (__ATOMIC_SEQ_CST);
      if (likely (!__atomic_load_n (&s->revoked, __ATOMIC_RELAXED)))
        return 1;
      __atomic_store_n (&s->busy, 0, __ATOMIC_RELEASE);
      my_shard = NULL;
    }
  shard_lock (s, tid);
  /* Alone for BIAS_AFTER entries in a row: bias S to us.  */
  if (s->streak_tid != tid)
    {
      s->streak_tid = tid;
      s->streak = 0;
    }
  if (unlikely (++s->streak >= (uint32_t) BIAS_AFTER << s->unbiased) && biasing
      && (s->owner == 0 || s->owner == tid))
    {
      s->streak = 0;
      s->owner = tid;
      __atomic_store_n (&s->revoked, 0, __ATOMIC_RELAXED);
      my_shard = s;
    }
  return 0;
}

STEP void
shard_leave (struct dmem_shard *s, int biased)
{
  if (biased)
    __atomic_store_n (&s->busy, 0, __ATOMIC_RELEASE);
  else
    dmem__unlock (&s->lock);
}

/* Take B off shard S, whose list it is on: inside S.  */
static inline void
unlink_block (struct dmem_shard *s, struct dmem_block *b)
{
  if (b->prev)
    b->prev->next = b->next;
  else
    s->first = b->next;
  if (b->next)
    b->next->prev = b->prev;
  s->blocks--;
  s->bytes -= b->size;
  s->frees++;
}

/* ---- frees of another thread's blocks ----------------------------------

   A free of a block on a shard other than the freeing thread's own takes
   no lock: the block stays on its list, marked pending (its magic says so
   to readers), and is pushed on the shard's pending stack with one atomic.
   A thread inside the shard takes the whole stack now and then (every
   TAKE_EVERY entries of its own) and frees those blocks to the allocator
   below.  So the shard stays in one thread's cache and biased to it, as
   it is when threads only free their own blocks: larson-like, where
   nearly every free is of another thread's block, went from 2.2x glibc to
   1.7x, and from 19,000 context switches to 500.

   The thread that pushes a stack past MAX_PENDING blocks takes it itself,
   past MAX_PENDING_BIASED if the shard is biased to a thread: entering
   that shard costs a revoked bias, and its owner, when it runs, takes the
   stack soon (with 4 threads on 2 cores, 32 revoked biases made
   larson-like no faster than the lock).  Blocks of PENDING_SIZE bytes or
   more are freed at once.  A thread that exits lets go of the shard
   biased to it and takes its stack.  So at most 64 KiB waits on a shard
   no thread enters any more, and 4 MiB on one whose owner is alive but
   stopped allocating.  */
#define TAKE_EVERY 8
#define MAX_PENDING 64
#define MAX_PENDING_BIASED 4096
#define PENDING_SIZE 1024
static __thread unsigned entries;

/* A pending stack's top word: its newest block, and how many it holds
   (user addresses take 47 bits).  */
#define PENDING_COUNT_SHIFT 48
static inline struct dmem_block *
pending_block (uint64_t top)
{
  return (struct dmem_block *) (uintptr_t) (top & ((1ULL << PENDING_COUNT_SHIFT) - 1));
}

/* The block after B on a pending stack.  */
static inline struct dmem_block **
pending_link (struct dmem_block *b)
{
  return (struct dmem_block **) (b + 1);
}

/* Inside shard S: take its pending blocks off its list.  Returns them, for
   finish_pending once out of S.  */
static __attribute__ ((noinline)) struct dmem_block *
take_pending (struct dmem_shard *s)
{
  struct dmem_pending *q = &dmem__state.pending[s - dmem__state.shards];
  struct dmem_block *list
    = pending_block (__atomic_exchange_n (&q->top, 0, __ATOMIC_ACQUIRE));
  for (struct dmem_block *b = list; b != NULL; b = *pending_link (b))
    unlink_block (s, b);
  return list;
}

/* B, just taken off its shard: marked freed and uncounted.  */
STEP void
mark_freed (struct dmem_block *b)
{
  if (unlikely (starts_page (b)))
    dmem__page_start_remove (b);
  /* Stale links would lie in the uninitialised tail of a later block and
     keep real leaks "reachable".  */
  b->next = b->prev = NULL;
  b->magic = magic_of (b, DMEM_FREED_MAGIC);
  count (-(int64_t) b->size, -1);
}

static void release_memory (struct dmem_block *b);

/* The blocks LIST, taken off their shard: freed, and given back.  */
static __attribute__ ((noinline)) void
finish_pending (struct dmem_block *list)
{
  while (list != NULL)
    {
      struct dmem_block *b = list;
      list = *pending_link (b);
      mark_freed (b);
      release_memory (b);
    }
}

/* Free B, a block on shard S of another thread, later: see above.  */
static __attribute__ ((noinline)) void
free_later (struct dmem_block *b, struct dmem_shard *s)
{
  struct dmem_pending *q = &dmem__state.pending[s - dmem__state.shards];
  b->magic = magic_of (b, DMEM_PENDING_MAGIC);
  uint64_t top = __atomic_load_n (&q->top, __ATOMIC_RELAXED), count;
  do
    {
      *pending_link (b) = pending_block (top);
      count = (top >> PENDING_COUNT_SHIFT) + 1;
    }
  while (!__atomic_compare_exchange_n (&q->top, &top,
                                       (uint64_t) (uintptr_t) b
                                       | count << PENDING_COUNT_SHIFT, 1,
                                       __ATOMIC_RELEASE, __ATOMIC_RELAXED));
  if (unlikely (count >= MAX_PENDING)
      && (count >= MAX_PENDING_BIASED
          || __atomic_load_n (&s->owner, __ATOMIC_RELAXED) == 0
          || __atomic_load_n (&s->revoked, __ATOMIC_RELAXED)))
    {
      uint32_t tid = (uint32_t) dmem__tid ();
      int biased = shard_enter (s, tid);
      struct dmem_block *list = take_pending (s);
      shard_leave (s, biased);
      finish_pending (list);
    }
}

/* At the exit of a thread that was made the owner of a shard (see
   note_owner): let go of it, and free what is pending on it.  */
static pthread_key_t exit_key;
static int exit_key_made;
static __thread int exit_noted;

static void
let_go (void *unused __attribute__ ((unused)))
{
  struct dmem_shard *s = my_shard;
  if (s == NULL)
    return;
  uint32_t tid = (uint32_t) dmem__tid ();
  dmem__lock (&s->lock);
  my_shard = NULL;
  if (s->owner == tid)
    s->owner = 0;
  struct dmem_block *list = take_pending (s);
  dmem__unlock (&s->lock);
  finish_pending (list);
}

/* This thread is inside the shard biased to it, and was not noted yet:
   have let_go run at its exit (out of the shard: pthread_setspecific may
   allocate).  */
static __attribute__ ((noinline)) void
note_owner (void)
{
  exit_noted = 1;
  if (exit_key_made)
    pthread_setspecific (exit_key, (void *) 1);
}

/* leave_taking_pending's every TAKE_EVERY-th time.  */
static __attribute__ ((noinline)) void
leave_taking_now (struct dmem_shard *s, int biased)
{
  struct dmem_block *taken = NULL;
  if (__atomic_load_n (&dmem__state.pending[s - dmem__state.shards].top,
                       __ATOMIC_RELAXED) != 0)
    taken = take_pending (s);
  shard_leave (s, biased);
  finish_pending (taken);
  if (biased && !exit_noted)
    note_owner ();
}

/* Leave S, entered by a malloc or free of this thread's (BIASED as
   shard_enter said): every TAKE_EVERY entries, with its pending blocks,
   freed once out, and noting a first entry as its owner (note_owner).  */
STEP void
leave_taking_pending (struct dmem_shard *s, int biased)
{
  if (unlikely (++entries % TAKE_EVERY == 0))
    leave_taking_now (s, biased);
  else
    shard_leave (s, biased);
}

/* Put B on shard S as a block of SIZE bytes, as thread TID.  Only the links
   are written inside the shard: the header's other stores come after.  */
STEP void
link_block (struct dmem_block *b, struct dmem_shard *s, uint64_t size,
            uint32_t tid)
{
  int biased = shard_enter (s, tid);
  b->prev = NULL;
  b->next = s->first;
  if (s->first)
    s->first->prev = b;
  s->first = b;
  s->blocks++;
  s->bytes += size;
  s->allocs++;
  leave_taking_pending (s, biased);
  if (unlikely (starts_page (b)))
    dmem__page_start_add (b);
  count ((int64_t) size, 1);
}

/* Track B, a new block of SIZE bytes allocated as KIND from STACK.  */
STEP void *
track (struct dmem_block *b, size_t size, uint32_t align_pad, int kind,
       const struct dmem_stack *stack)
{
  uint32_t tid = (uint32_t) dmem__tid ();
  unsigned shard = shard_for (tid);
  link_block (b, &dmem__state.shards[shard], size, tid);
  b->size = size;
  b->tid = tid;
  b->stack = stack->id;
  b->align_pad = align_pad;
  b->shard = (uint8_t) shard;
  b->kind = (uint8_t) kind;
  b->unused = 0;
  dmem__guard_set (b);
  b->magic = magic_of (b, DMEM_BLOCK_MAGIC);
  return b + 1;
}

/* Take B off its shard and mark it freed.  */
STEP void
untrack (struct dmem_block *b)
{
  struct dmem_shard *s = shard_of (b);
  int biased = shard_enter (s, (uint32_t) dmem__tid ());
  unlink_block (s, b);
  leave_taking_pending (s, biased);
  mark_freed (b);
}

/* Who owns a pointer given to free, realloc or malloc_usable_size.  */
enum owner
{
  FOREIGN, /* not ours: the allocator below takes it */
  LIVE,    /* a live block of ours */
  BAD      /* a freed block, or a pointer inside a block: reported */
};

/* Whether P is ours; *B is its header when LIVE.  Reads only memory that
   is mapped: a foreign pointer at the start of a page may have nothing
   mapped below it.  With CHECK, a freed block or a pointer inside a block
   is reported (abort unless keep-going) and BAD returned.  */
static enum owner
owner_of (void *p, struct dmem_block **bp, int check)
{
  uintptr_t u = (uintptr_t) p;
  struct dmem_block *b = (struct dmem_block *) p - 1;
  if ((u & 15) == 0 && ((u & 4095) >= 8 || dmem__page_start_known (b)
                        || dmem__page_mapped ((void *) (u - 8))))
    {
      if (likely (b->magic == magic_of (b, DMEM_BLOCK_MAGIC)))
        {
          *bp = b;
          return LIVE;
        }
      if (b->magic == magic_of (b, DMEM_FREED_MAGIC)
          || b->magic == magic_of (b, DMEM_PENDING_MAGIC))
        {
          /* Passing it on would corrupt the allocator below.  */
          if (check)
            dmem__report_double_free (b, p);
          return BAD;
        }
    }
  if (check && (u & 4095) >= 8)
    {
      const struct dmem_block *in = dmem__block_containing (p);
      if (in != NULL)
        {
          dmem__report_invalid_free (in, p);
          return BAD;
        }
    }
  return FOREIGN;
}

/* Give B's memory back to the allocator below.  */
static void
release_memory (struct dmem_block *b)
{
  next.free ((char *) b - b->align_pad);
}

/* Quarantine B, freed from FREE_PCS (taken here if NULL).  */
static __attribute__ ((noinline)) void
quarantine (struct dmem_block *b, const uint64_t *free_pcs)
{
  uint64_t pcs[DMEM_STACK_DEPTH];
  if (free_pcs == NULL)
    {
      dmem__capture_stack (pcs, DMEM_STACK_DEPTH);
      free_pcs = pcs;
    }
  dmem__quarantine (b, free_pcs, release_memory);
}

/* Free live block B: check its guard, unlist it, then quarantine it (with
   FREE_PCS, the stack freeing it, taken here if NULL) or give it back.  */
STEP void
release (struct dmem_block *b, const uint64_t *free_pcs)
{
  dmem__guard_check (b);
  struct dmem_shard *s = shard_of (b);
  if (s != my_shard
      && s != &dmem__state.shards[shard_for ((uint32_t) dmem__tid ())]
      && b->size < PENDING_SIZE && !dmem__quarantine_on ())
    {
      free_later (b, s);
      return;
    }
  untrack (b);
  if (unlikely (dmem__quarantine_on ()))
    quarantine (b, free_pcs);
  else
    release_memory (b);
}

/* ---- the allocation API -------------------------------------------------- */

/* Whether fault injection fails this allocation (errno is then ENOMEM).  */
static inline int
injected_failure (const struct dmem_stack *stack, size_t size)
{
  if (likely (!__atomic_load_n (&dmem__failing, __ATOMIC_RELAXED))
      || !dmem__should_fail (stack->pcs, size))
    return 0;
  errno = ENOMEM;
  return 1;
}

/* A new block of SIZE bytes allocated as KIND.  */
STEP void *
malloc_as (size_t size, int kind, const struct dmem_stack *stack)
{
  if (unlikely (!bind ()))
    return boot_alloc (size);
  if (unlikely (size > MAX_REQUEST))
    {
      errno = ENOMEM;
      return NULL;
    }
  if (injected_failure (stack, size))
    return NULL;
  struct dmem_block *b = next.malloc (size + SPARE);
  if (unlikely (b == NULL))
    {
      count_event (DMEM_STAT_FAILED_ALLOCS);
      return NULL;
    }
  return track (b, size, 0, kind, stack);
}

void *
dmem__malloc (size_t size, const struct dmem_stack *stack)
{
  return malloc_as (size, DMEM_ALLOC_MALLOC, stack);
}

void *
dmem__calloc (size_t n, size_t size, const struct dmem_stack *stack)
{
  size_t total;
  if (unlikely (__builtin_mul_overflow (n, size, &total) || total > MAX_REQUEST))
    {
      errno = ENOMEM;
      return NULL;
    }
  if (unlikely (!bind ()))
    return boot_alloc (total); /* the start-up buffer is zeroed */
  if (injected_failure (stack, total))
    return NULL;
  struct dmem_block *b = next.calloc (1, total + SPARE);
  if (unlikely (b == NULL))
    {
      count_event (DMEM_STAT_FAILED_ALLOCS);
      return NULL;
    }
  return track (b, total, 0, DMEM_ALLOC_MALLOC, stack);
}

/* Free P as KIND (free, or operator delete or delete[]): anything but a
   live block of ours freed as it was allocated.  */
static __attribute__ ((noinline)) void
free_other (void *p, int kind, const uint64_t *free_pcs)
{
  if (p == NULL || is_boot (p))
    return;
  struct dmem_block *b;
  switch (owner_of (p, &b, 1))
    {
    case LIVE:
      if (unlikely (b->kind != kind))
        dmem__report_mismatch (b, p, kind);
      release (b, free_pcs);
      break;
    case FOREIGN:
      count_event (DMEM_STAT_FOREIGN_FREES);
      if (bind ())
        next.free (p);
      break;
    case BAD:
      break; /* reported; with keep-going the call is dropped */
    }
}

/* Free P as KIND.  The common case, a live block of ours freed as it was
   allocated, is told by the header's magic and kind alone: P - 8 is
   readable when P is not at the start of a page.  */
STEP void
free_as (void *p, int kind, const uint64_t *free_pcs)
{
  uintptr_t u = (uintptr_t) p;
  struct dmem_block *b = (struct dmem_block *) p - 1;
  if (likely ((u & 15) == 0 && (u & 4095) >= 8 && !is_boot (p)
              && b->magic == magic_of (b, DMEM_BLOCK_MAGIC) && b->kind == kind))
    release (b, free_pcs);
  else
    free_other (p, kind, free_pcs);
}

void
dmem__free (void *p, const uint64_t *free_pcs)
{
  free_as (p, DMEM_ALLOC_MALLOC, free_pcs);
}

void
dmem__delete (void *p, int kind, const uint64_t *free_pcs)
{
  free_as (p, kind, free_pcs);
}

void *
dmem__realloc (void *p, size_t size, const struct dmem_stack *stack)
{
  if (p == NULL)
    return dmem__malloc (size, stack);
  if (size == 0)
    {
      /* glibc frees and returns NULL.  */
      dmem__free (p, stack->pcs);
      return NULL;
    }
  if (unlikely (is_boot (p) || !bind ()))
    {
      void *q = dmem__malloc (size, stack);
      if (q && is_boot (p))
        memcpy (q, p, boot_size (p) < size ? boot_size (p) : size);
      return q;
    }
  struct dmem_block *b;
  switch (owner_of (p, &b, 1))
    {
    case FOREIGN:
      return next.realloc (p, size);
    case BAD:
      errno = EINVAL;
      return NULL;
    case LIVE:
      break;
    }
  if (unlikely (b->kind != DMEM_ALLOC_MALLOC))
    dmem__report_mismatch (b, p, DMEM_FREE_REALLOC);
  if (unlikely (size > MAX_REQUEST))
    {
      errno = ENOMEM;
      return NULL;
    }
  if (b->align_pad)
    {
      /* Keep the header at a fixed distance from the underlying block:
         move the contents to an ordinary block.  */
      void *q = dmem__malloc (size, stack);
      if (q)
        {
          memcpy (q, p, b->size < size ? b->size : size);
          release (b, stack->pcs);
        }
      return q;
    }
  if (injected_failure (stack, size))
    return NULL;
  dmem__guard_check (b);
  untrack (b);
  struct dmem_block *nb = next.realloc (b, size + SPARE);
  if (unlikely (nb == NULL))
    {
      /* The old block is untouched: put it back as it was.  */
      link_block (b, shard_of (b), b->size, (uint32_t) dmem__tid ());
      b->magic = magic_of (b, DMEM_BLOCK_MAGIC);
      count_event (DMEM_STAT_FAILED_ALLOCS);
      return NULL;
    }
  return track (nb, size, 0, DMEM_ALLOC_MALLOC, stack);
}

/* A new block of SIZE bytes aligned to ALIGN, allocated as KIND.  */
static void *
aligned_as (size_t align, size_t size, int kind,
            const struct dmem_stack *stack)
{
  if (align <= 16)
    return malloc_as (size, kind, stack);
  if (unlikely (!bind ()))
    {
      errno = ENOMEM; /* never needed by dlsym */
      return NULL;
    }
  /* The user pointer is ALIGNed; the header sits just below it.  */
  size_t pad = (HDR + align - 1) & ~(align - 1);
  if (unlikely (size > MAX_REQUEST - pad || align > MAX_REQUEST / 2
                || pad - HDR > UINT32_MAX))
    {
      errno = ENOMEM;
      return NULL;
    }
  if (injected_failure (stack, size))
    return NULL;
  void *raw;
  int err = next.posix_memalign (&raw, align, pad + size + DMEM_GUARD_SIZE);
  if (unlikely (err != 0))
    {
      count_event (DMEM_STAT_FAILED_ALLOCS);
      errno = err;
      return NULL;
    }
  struct dmem_block *b = (struct dmem_block *) ((char *) raw + pad - HDR);
  return track (b, size, (uint32_t) (pad - HDR), kind, stack);
}

void *
dmem__aligned (size_t align, size_t size, const struct dmem_stack *stack)
{
  return aligned_as (align, size, DMEM_ALLOC_MALLOC, stack);
}

void *
dmem__new (size_t size, size_t align, int kind,
           const struct dmem_stack *stack)
{
  return align > 16 ? aligned_as (align, size, kind, stack)
                    : malloc_as (size, kind, stack);
}

size_t
dmem__usable_size (void *p)
{
  if (p == NULL)
    return 0;
  if (is_boot (p))
    return boot_size (p);
  if (!bind ())
    return 0;
  struct dmem_block *b;
  switch (owner_of (p, &b, 0))
    {
    case FOREIGN:
      return next.usable_size (p);
    case BAD:
      return 0;
    case LIVE:
      break;
    }
  /* Exactly the request: the guard follows it.  */
  return b->size;
}

/* ---- start-up, fork, exit --------------------------------------------------- */

static void
fork_prepare (void)
{
  /* Every shard locked and every bias to another thread revoked, with
     one barrier.  */
  uint32_t tid = (uint32_t) dmem__tid ();
  int revoked = 0;
  for (int i = 0; i < DMEM_SHARD_COUNT; i++)
    {
      struct dmem_shard *s = &dmem__state.shards[i];
      dmem__lock (&s->lock);
      if (s->owner != 0 && s->owner != tid && !s->revoked)
        {
          __atomic_store_n (&s->revoked, 1, __ATOMIC_RELAXED);
          revoked = 1;
        }
    }
  if (revoked)
    {
      barrier_all_threads ();
      for (int i = 0; i < DMEM_SHARD_COUNT; i++)
        wait_for_owner (&dmem__state.shards[i]);
    }
  dmem__quarantine_fork_prepare ();
  dmem__unwind_fork_prepare ();
  dmem__page_start_fork_prepare ();
}

static void
fork_parent (void)
{
  dmem__page_start_fork_parent ();
  dmem__unwind_fork_parent ();
  dmem__quarantine_fork_parent ();
  for (int i = DMEM_SHARD_COUNT - 1; i >= 0; i--)
    dmem__unlock (&dmem__state.shards[i].lock);
}

static void
fork_child (void)
{
  /* Only this thread exists in the child: nobody waits on the locks.  */
  dmem__forget_tid ();
  dmem__page_start_fork_child ();
  dmem__unwind_fork_child ();
  dmem__quarantine_fork_child ();
  start_biasing (); /* the registration was the parent's */
  my_shard = NULL;
  for (int i = 0; i < DMEM_SHARD_COUNT; i++)
    {
      struct dmem_shard *s = &dmem__state.shards[i];
      s->lock = 0;
      s->owner = s->streak_tid = 0;
      s->streak = 0;
      s->busy = s->revoked = s->unbiased = 0;
    }
}

/* Registered first, so it runs after the program's own exit handlers.  */
static void
at_exit (void)
{
  publish (); /* the exiting thread's counts, for the core or dmem run */
  dmem__stop_at_exit (); /* if `dmem run` asked, it reads the heap now */
  if (dmem__options.abort_shutdown)
    {
      fflush (NULL); /* abort() would drop buffered output */
      abort ();
    }
}

__attribute__ ((constructor)) static void
dmem_start (void)
{
  bind ();
  start_biasing ();
  exit_key_made = pthread_key_create (&exit_key, let_go) == 0;
  dmem__options_read ();
  dmem__failinject_start ();
  pthread_atfork (fork_prepare, fork_parent, fork_child);
  atexit (at_exit);
}
