/* The table of live blocks whose user memory starts a page: open
   addressing over header addresses, under one lock (it is touched by about
   one allocation in 256), grown by mapping a table twice the size.

   Keys are stored XORed with a constant: the table is anonymous memory,
   which readers of a core scan for pointers, and a block named here must
   not look referenced.  */
#define _GNU_SOURCE
#include "pagestart.h"

#include <stdint.h>
#include <sys/mman.h>

#define HIDE 0x5a17c0de5a17c0deULL
#define EMPTY 0
#define GONE 1 /* a removed key: lookups go on past it */
#define FIRST_SLOTS 512

static struct
{
  int lock;
  uint64_t *slots;
  size_t mask;  /* slots - 1 */
  size_t taken; /* keys and GONE marks */
} table;

static inline uint64_t
key_of (const void *header)
{
  return (uint64_t) (uintptr_t) header ^ HIDE;
}

/* The slot holding KEY, or the empty slot ending its probe sequence.  */
static uint64_t *
find (uint64_t key)
{
  size_t i = (size_t) ((key >> 12) * 0x9e3779b97f4a7c15ULL >> 29) & table.mask;
  while (table.slots[i] != key && table.slots[i] != EMPTY)
    i = (i + 1) & table.mask;
  return &table.slots[i];
}

/* Move to a table with room for twice as many keys; GONE marks are left
   behind.  Returns 0, or -1 if no memory could be mapped.  */
static int
grow (void)
{
  size_t keys = 0;
  for (size_t i = 0; table.slots && i <= table.mask; i++)
    keys += table.slots[i] > GONE;
  size_t n = FIRST_SLOTS;
  while (n < 4 * (keys + 1))
    n *= 2;
  uint64_t *slots = mmap (NULL, n * sizeof *slots, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (slots == MAP_FAILED)
    return -1;
  uint64_t *old = table.slots;
  size_t old_n = old ? table.mask + 1 : 0;
  table.slots = slots;
  table.mask = n - 1;
  table.taken = keys;
  for (size_t i = 0; i < old_n; i++)
    if (old[i] > GONE)
      *find (old[i]) = old[i];
  if (old)
    munmap (old, old_n * sizeof *old);
  return 0;
}

void
dmem__page_start_add (const void *header)
{
  dmem__lock (&table.lock);
  if (table.slots == NULL || 4 * (table.taken + 1) > 3 * (table.mask + 1))
    if (grow () != 0)
      {
        dmem__unlock (&table.lock);
        return;
      }
  uint64_t *s = find (key_of (header));
  if (*s == EMPTY)
    table.taken++;
  *s = key_of (header);
  dmem__unlock (&table.lock);
}

void
dmem__page_start_remove (const void *header)
{
  dmem__lock (&table.lock);
  if (table.slots)
    {
      uint64_t *s = find (key_of (header));
      if (*s != EMPTY)
        *s = GONE;
    }
  dmem__unlock (&table.lock);
}

int
dmem__page_start_known (const void *header)
{
  dmem__lock (&table.lock);
  int known = table.slots && *find (key_of (header)) != EMPTY;
  dmem__unlock (&table.lock);
  return known;
}

void
dmem__page_start_fork_prepare (void)
{
  dmem__lock (&table.lock);
}

void
dmem__page_start_fork_parent (void)
{
  dmem__unlock (&table.lock);
}

void
dmem__page_start_fork_child (void)
{
  table.lock = 0;
}
