/* Heap integrity: guards after blocks, double and invalid frees, and the
   quarantine that catches writes after free.  Errors are reported at once
   (what, which block, its allocation stack, where it was found), recorded in
   the runtime state for readers of a core, and abort the program unless
   DMEM_OPTS has keep-going, so the core is taken at the scene.  */
#define _GNU_SOURCE
#include "integrity.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "depot.h"
#include "options.h"
#include "symbolize.h"
#include "unwind.h"

static const char *const kind_names[] = { DMEM_ERROR_KIND_NAMES };

/* Offset of the first guard byte of B that was changed, or -1.  */
static int
guard_damage (const struct dmem_block *b)
{
  const unsigned char *g = (const unsigned char *) (b + 1) + b->size;
  for (int i = 0; i < DMEM_GUARD_SIZE; i++)
    if (g[i] != DMEM_GUARD_BYTE)
      return i;
  return -1;
}

/* Report and record an error of KIND about block B (its header may be
   stale: freed), at ADDRESS; FREE_PCS may be NULL.  Aborts unless
   keep-going.  */
static void
heap_error_as (enum dmem_error_kind kind, const struct dmem_block *b,
               uint64_t address, const char *what, const uint64_t *free_pcs,
               int freed_by)
{
  struct dmem_error_log *log = &dmem__state.errors;
  uint64_t seq = __atomic_add_fetch (&log->errors, 1, __ATOMIC_RELAXED);
  struct dmem_error_record *r = &log->slots[(seq - 1) % DMEM_ERROR_SLOTS];
  __atomic_store_n (&r->seq, 0, __ATOMIC_RELAXED);
  r->kind = kind;
  r->block = (uint64_t) (uintptr_t) b;
  r->size = b->size;
  r->address = address;
  r->tid = (uint64_t) dmem__tid ();
  r->allocated_by = b->kind;
  r->freed_by = (uint64_t) freed_by;
  const uint64_t *alloc_pcs = dmem__depot_get (b->stack);
  if (alloc_pcs)
    memcpy (r->alloc_pcs, alloc_pcs, sizeof r->alloc_pcs);
  else
    memset (r->alloc_pcs, 0, sizeof r->alloc_pcs);
  if (free_pcs)
    memcpy (r->free_pcs, free_pcs, sizeof r->free_pcs);
  else
    memset (r->free_pcs, 0, sizeof r->free_pcs);
  dmem__capture_stack (r->found_pcs, DMEM_STACK_DEPTH);
  __atomic_store_n (&r->seq, seq, __ATOMIC_RELEASE);

  struct dmem_line l = { .len = 0 };
  dmem__put (&l, "dmem: ");
  dmem__put (&l, kind_names[kind]);
  dmem__put (&l, ": ");
  dmem__put (&l, what);
  dmem__put (&l, " ");
  dmem__put_hex (&l, address);
  dmem__put (&l, ", block ");
  dmem__put_hex (&l, (uint64_t) (uintptr_t) (b + 1));
  dmem__put (&l, " (");
  dmem__put_dec (&l, b->size);
  dmem__put (&l, " bytes) allocated by thread ");
  dmem__put_dec (&l, b->tid);
  dmem__put (&l, "\n");
  /* Each frame named as the analyzer names it (symbolize.c).  */
  const char *const titles[] = { "allocated at", "freed at", "found at" };
  const uint64_t *const stacks[] = { r->alloc_pcs, r->free_pcs, r->found_pcs };
  dmem__put_stacks (&l, STDERR_FILENO, 3, titles, stacks);
  if (!dmem__options.keep_going)
    abort ();
}

static void
heap_error (enum dmem_error_kind kind, const struct dmem_block *b,
            uint64_t address, const char *what, const uint64_t *free_pcs)
{
  heap_error_as (kind, b, address, what, free_pcs, 0);
}

void
dmem__report_overrun (const struct dmem_block *b)
{
  int at = guard_damage (b);
  heap_error (DMEM_ERROR_OVERRUN, b,
              (uint64_t) (uintptr_t) (b + 1) + b->size + (uint64_t) (at < 0 ? 0 : at),
              "write past the end at", NULL);
}

/* The free stack of B if it is in quarantine, else NULL.  */
static const uint64_t *
quarantined_free_stack (const struct dmem_block *b)
{
  for (int r = 0; r < DMEM_QUARANTINE_RINGS; r++)
    {
      struct dmem_quarantine *q = &dmem__state.quarantine[r];
      for (int i = 0; i < DMEM_QUARANTINE_SLOTS; i++)
        if (__atomic_load_n (&q->slots[i].block, __ATOMIC_RELAXED) == (uint64_t) (uintptr_t) b)
          return q->slots[i].pcs;
    }
  return NULL;
}

void
dmem__report_double_free (const struct dmem_block *b, const void *p)
{
  heap_error (DMEM_ERROR_DOUBLE_FREE, b, (uint64_t) (uintptr_t) p,
              "free of a freed block at", quarantined_free_stack (b));
}

const struct dmem_block *
dmem__block_containing (const void *p)
{
  /* Scan back within P's page (mapped, since P points into it) for the
     magic of a live header whose block holds P.  */
  uintptr_t u = (uintptr_t) p & ~(uintptr_t) 15;
  uintptr_t page = (uintptr_t) p & ~(uintptr_t) 4095;
  for (uintptr_t q = u; q >= page + 8 && q + 128 > q; q -= 16)
    {
      const struct dmem_block *b = (const struct dmem_block *) q - 1;
      if (*(const uint64_t *) (q - 8) != (DMEM_BLOCK_MAGIC ^ (uint64_t) (uintptr_t) b))
        continue;
      if ((uintptr_t) p > q && (uintptr_t) p < q + b->size + DMEM_GUARD_SIZE)
        return b;
      return NULL; /* the nearest block below P does not hold it */
    }
  return NULL;
}

void
dmem__report_invalid_free (const struct dmem_block *b, const void *p)
{
  heap_error (DMEM_ERROR_INVALID_FREE, b, (uint64_t) (uintptr_t) p,
              "free of a pointer inside a block:", NULL);
}

static const char *const alloc_names[] = { DMEM_ALLOC_KIND_NAMES };
static const char *const free_names[] = { DMEM_FREE_KIND_NAMES };

void
dmem__report_mismatch (const struct dmem_block *b, const void *p, int freed_as)
{
  if (dmem__options.no_mismatch || dmem__operators_replaced ())
    return;
  struct dmem_line what = { .len = 0 };
  dmem__put (&what, "allocated with ");
  dmem__put (&what, alloc_names[b->kind < 3 ? b->kind : 0]);
  dmem__put (&what, freed_as == DMEM_FREE_REALLOC ? ", reallocated with "
                                                   : ", freed with ");
  dmem__put (&what, free_names[freed_as >= 0 && freed_as < 4 ? freed_as : 0]);
  dmem__put (&what, ":");
  what.buf[what.len < sizeof what.buf ? what.len : sizeof what.buf - 1] = 0;
  heap_error_as (DMEM_ERROR_MISMATCH, b, (uint64_t) (uintptr_t) p, what.buf,
                 NULL, freed_as);
}

/* ---- quarantine ----------------------------------------------------------- */

_Static_assert (DMEM_QUARANTINE_RINGS == 8, "a ring is picked by 3 bits");

/* At most this many blocks leave the quarantine per free: the budget is
   kept within a few blocks without long pauses.  */
#define EVICT_MAX 4

/* Offset of the first byte of B's user part that is not poison, or -1.  */
static int64_t
poison_damage (const struct dmem_block *b)
{
  const unsigned char *u = (const unsigned char *) (b + 1);
  const uint64_t word = 0x0101010101010101ULL * DMEM_POISON_BYTE;
  uint64_t i = 0;
  for (; i + 8 <= b->size; i += 8)
    {
      uint64_t w;
      memcpy (&w, u + i, 8);
      if (w != word)
        break;
    }
  for (; i < b->size; i++)
    if (u[i] != DMEM_POISON_BYTE)
      return (int64_t) i;
  return -1;
}

void
dmem__quarantine (struct dmem_block *b, const uint64_t *free_pcs,
                  void (*release) (struct dmem_block *))
{
  /* Threads go to different rings, as they go to different shards.  */
  struct dmem_quarantine *q
    = &dmem__state.quarantine[b->shard % DMEM_QUARANTINE_RINGS];
  uint64_t budget = (uint64_t) dmem__options.quarantine / DMEM_QUARANTINE_RINGS;
  memset (b + 1, DMEM_POISON_BYTE, b->size);
  struct dmem_quarantine_entry out[EVICT_MAX];
  int n = 0;
  dmem__lock (&q->lock);
  /* The ring holds [next - blocks, next): evict from its old end while the
     new block would not fit the budget or its slot is taken.  */
  while (q->blocks > 0 && n < EVICT_MAX
         && (q->blocks == DMEM_QUARANTINE_SLOTS
             || q->bytes + b->size > budget))
    {
      struct dmem_quarantine_entry *o
        = &q->slots[(q->next - q->blocks) % DMEM_QUARANTINE_SLOTS];
      out[n++] = *o;
      q->bytes -= ((struct dmem_block *) (uintptr_t) o->block)->size;
      q->blocks--;
      o->block = 0;
    }
  if (q->blocks < DMEM_QUARANTINE_SLOTS)
    {
      struct dmem_quarantine_entry *e = &q->slots[q->next % DMEM_QUARANTINE_SLOTS];
      e->block = (uint64_t) (uintptr_t) b;
      memcpy (e->pcs, free_pcs, sizeof e->pcs);
      q->next++;
      q->blocks++;
      q->bytes += b->size;
      b = NULL;
    }
  dmem__unlock (&q->lock);
  for (int k = 0; k < n; k++)
    {
      struct dmem_block *old = (struct dmem_block *) (uintptr_t) out[k].block;
      /* Its poison must be intact: anything else is a write after free.  */
      int64_t at = poison_damage (old);
      if (at >= 0)
        heap_error (DMEM_ERROR_USE_AFTER_FREE, old,
                    (uint64_t) (uintptr_t) (old + 1) + (uint64_t) at,
                    "write after free at", out[k].pcs);
      release (old);
    }
  if (b != NULL)
    release (b); /* the ring was full of blocks we could not evict */
}

void
dmem__quarantine_fork_prepare (void)
{
  for (int r = 0; r < DMEM_QUARANTINE_RINGS; r++)
    dmem__lock (&dmem__state.quarantine[r].lock);
}

void
dmem__quarantine_fork_parent (void)
{
  for (int r = DMEM_QUARANTINE_RINGS - 1; r >= 0; r--)
    dmem__unlock (&dmem__state.quarantine[r].lock);
}

void
dmem__quarantine_fork_child (void)
{
  for (int r = 0; r < DMEM_QUARANTINE_RINGS; r++)
    dmem__state.quarantine[r].lock = 0;
}
