/* Every allocation entry point with its own requested size, kept live in a global, each from its own function.  */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *kept[16];

#define ENTRY(name, expr) \
  static __attribute__ ((noinline)) void name (int i) { kept[i] = (expr); }

ENTRY (with_malloc, malloc (101))
ENTRY (with_calloc, calloc (7, 13))
ENTRY (with_reallocarray, reallocarray (NULL, 5, 21))
ENTRY (with_aligned_alloc, aligned_alloc (128, 256))
ENTRY (with_memalign, memalign (32, 77))
ENTRY (with_valloc, valloc (123))
ENTRY (with_pvalloc, pvalloc (55))

static __attribute__ ((noinline)) void
with_realloc (int i)
{
  kept[i] = realloc (malloc (10), 333);
}

static __attribute__ ((noinline)) void
with_posix_memalign (int i)
{
  if (posix_memalign (&kept[i], 64, 211) != 0)
    kept[i] = NULL;
}

int
main (void)
{
  with_malloc (0);
  with_calloc (1);
  with_realloc (2);
  with_reallocarray (3);
  with_posix_memalign (4);
  with_aligned_alloc (5);
  with_memalign (6);
  with_valloc (7);
  with_pvalloc (8);
  printf ("allocated\n");
  return 0;
}
