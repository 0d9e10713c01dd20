/* The stack depot: each distinct allocation stack kept once, named by id.

   Lookups take no lock: a bucket's chain is a list of ids whose entries are
   complete before the compare-and-swap that publishes them, and never change
   after.  An insert takes an id with one atomic add, fills the entry and
   pushes it on its bucket.  Two threads inserting the same new stack at once
   may both get an id; readers merge equal stacks, so that costs one entry.
   Chunks of entries are mapped as ids reach them; if a chunk cannot be
   mapped, the stack is not kept and the block says so.  */
#define _GNU_SOURCE
#include "depot.h"

#include <string.h>
#include <sys/mman.h>

#include "heap.h"

#define CHUNK_BYTES (DMEM_DEPOT_CHUNK_STACKS * sizeof (struct dmem_depot_stack))
#define MAX_ID ((uint32_t) DMEM_DEPOT_CHUNKS * DMEM_DEPOT_CHUNK_STACKS)
_Static_assert ((DMEM_DEPOT_BUCKETS & (DMEM_DEPOT_BUCKETS - 1)) == 0,
                "a power of two of buckets");

static struct dmem_depot *const depot = &dmem__state.depot;

/* A hash of the PCs, never 0 (0 marks an entry not filled yet).  The
   multiplies are independent, so they overlap.  */
static inline uint32_t
hash_pcs (const uint64_t *pcs)
{
  uint64_t h = 0;
  for (int i = 0; i < DMEM_STACK_DEPTH; i++)
    h += (pcs[i] ^ (pcs[i] >> 31)) * (0x9e3779b97f4a7c15ULL + 2 * (uint64_t) i);
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ULL;
  return (uint32_t) (h >> 32) | 1;
}

static inline int
same_pcs (const uint64_t *a, const uint64_t *b)
{
  uint64_t d = 0;
#pragma GCC unroll 16
  for (int i = 0; i < DMEM_STACK_DEPTH; i++)
    d |= a[i] ^ b[i];
  return d == 0;
}

/* This thread's last stack and its id: allocations in a loop repeat it, and
   comparing with it costs less than hashing.  */
static __thread uint64_t last_pcs[DMEM_STACK_DEPTH];
static __thread uint32_t last_id;

static inline struct dmem_depot_stack *
entry (uint32_t id)
{
  uint64_t chunk = __atomic_load_n (&depot->chunks[id / DMEM_DEPOT_CHUNK_STACKS],
                                    __ATOMIC_ACQUIRE);
  if (chunk == 0)
    return NULL;
  return (struct dmem_depot_stack *) (uintptr_t) chunk + id % DMEM_DEPOT_CHUNK_STACKS;
}

/* The chunk of ID, mapped now if it is not yet.  */
static struct dmem_depot_stack *
entry_mapping (uint32_t id)
{
  struct dmem_depot_stack *e = entry (id);
  if (likely (e != NULL))
    return e;
  void *m = mmap (NULL, CHUNK_BYTES, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED)
    return NULL;
  uint64_t none = 0;
  if (!__atomic_compare_exchange_n (&depot->chunks[id / DMEM_DEPOT_CHUNK_STACKS],
                                    &none, (uint64_t) (uintptr_t) m, 0,
                                    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
    munmap (m, CHUNK_BYTES); /* another thread mapped it first */
  return entry (id);
}

/* The id of PCS in the chain starting at FIRST, or 0.  */
static inline uint32_t
find (uint32_t first, uint32_t hash, const uint64_t *pcs)
{
  for (uint32_t id = first; id != 0;)
    {
      const struct dmem_depot_stack *e = entry (id);
      if (e->hash == hash && same_pcs (e->pcs, pcs))
        return id;
      id = e->chain;
    }
  return 0;
}

static uint32_t
put (const uint64_t pcs[DMEM_STACK_DEPTH])
{
  uint32_t hash = hash_pcs (pcs);
  uint32_t *bucket = &depot->buckets[hash & (DMEM_DEPOT_BUCKETS - 1)];
  uint32_t first = __atomic_load_n (bucket, __ATOMIC_ACQUIRE);
  uint32_t id = find (first, hash, pcs);
  if (likely (id != 0))
    return id;
  /* New: take an id (the count stops near MAX_ID however many threads
     race, so it never wraps).  */
  id = __atomic_load_n (&depot->stacks, __ATOMIC_RELAXED) + 1;
  if (id < MAX_ID)
    id = __atomic_fetch_add (&depot->stacks, 1, __ATOMIC_RELAXED) + 1;
  struct dmem_depot_stack *e = id < MAX_ID ? entry_mapping (id) : NULL;
  if (unlikely (e == NULL))
    {
      __atomic_add_fetch (&depot->not_kept, 1, __ATOMIC_RELAXED);
      return DMEM_STACK_NOT_KEPT;
    }
  memcpy (e->pcs, pcs, sizeof e->pcs);
  e->hash = hash;
  do
    e->chain = first;
  while (!__atomic_compare_exchange_n (bucket, &first, id, 1, __ATOMIC_RELEASE,
                                       __ATOMIC_ACQUIRE));
  return id;
}

uint32_t
dmem__depot_put (const uint64_t pcs[DMEM_STACK_DEPTH])
{
  if (likely (last_id != 0 && same_pcs (pcs, last_pcs)))
    return last_id;
  uint32_t id = put (pcs);
  if (id != DMEM_STACK_NOT_KEPT)
    {
      memcpy (last_pcs, pcs, sizeof last_pcs);
      last_id = id;
    }
  return id;
}

const uint64_t *
dmem__depot_get (uint32_t id)
{
  if (id == DMEM_STACK_NOT_KEPT || id >= MAX_ID)
    return NULL;
  const struct dmem_depot_stack *e = entry (id);
  return e != NULL && e->hash != 0 ? e->pcs : NULL;
}
