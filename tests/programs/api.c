/* Every allocation entry point under the runtime: sizes, alignment, errno,
   and that each block it returns carries a dmem header.  */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "block-stack.h"

static int failures;

#define EXPECT(cond)                                                    \
  do {                                                                  \
    if (!(cond))                                                        \
      {                                                                 \
        fprintf (stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond); \
        failures++;                                                     \
      }                                                                 \
  } while (0)

/* Whether P is a live dmem block of SIZE requested bytes.  */
static int
tracked (void *p, size_t size)
{
  const struct dmem_block *b = (const struct dmem_block *) p - 1;
  return b->magic == (DMEM_BLOCK_MAGIC ^ (uint64_t) (uintptr_t) b)
         && b->size == size && b->tid == (uint32_t) gettid () && block_pcs (b) != NULL
         && block_pcs (b)[0] != 0;
}

static void
check_block (void *p, size_t size, size_t align)
{
  EXPECT (p != NULL);
  if (p == NULL)
    return;
  EXPECT ((uintptr_t) p % align == 0);
  EXPECT (tracked (p, size));
  EXPECT (malloc_usable_size (p) >= size);
  memset (p, 0xab, size); /* all of it is ours to write */
}

/* Allocated before main, from a constructor.  */
static void *early;
__attribute__ ((constructor)) static void
allocate_early (void)
{
  early = malloc (33);
}

/* Impossible sizes, hidden from the compiler's size warnings.  */
static volatile size_t huge = SIZE_MAX - 10, half = SIZE_MAX / 2,
                       quarter = SIZE_MAX / 4, maxdiff = PTRDIFF_MAX;

int
main (void)
{
  check_block (early, 33, 16);
  free (early);

  for (size_t n = 0; n < 5000; n = n * 2 + 1)
    {
      void *p = malloc (n);
      check_block (p, n, 16);
      free (p);
    }
  free (NULL);

  char *c = calloc (10, 100);
  check_block (c, 1000, 16);
  free (c);
  c = calloc (7, 9);
  EXPECT (c && tracked (c, 63));
  for (int i = 0; i < 63; i++)
    EXPECT (c[i] == 0);
  free (c);
  errno = 0;
  EXPECT (calloc (half, 3) == NULL && errno == ENOMEM);
  errno = 0;
  EXPECT (malloc (huge) == NULL && errno == ENOMEM);
  errno = 0;
  EXPECT (malloc (maxdiff) == NULL && errno == ENOMEM);

  /* realloc keeps contents, grows and shrinks, and follows glibc at 0.  */
  char *r = realloc (NULL, 10);
  check_block (r, 10, 16);
  memcpy (r, "0123456789", 10);
  r = realloc (r, 100000);
  check_block (r, 100000, 16); /* note: overwrites, so check the copy first */
  r = realloc (r, 20);
  memcpy (r, "abcdefghij", 10);
  r = realloc (r, 5000);
  EXPECT (r && memcmp (r, "abcdefghij", 10) == 0 && tracked (r, 5000));
  r = realloc (r, 3);
  EXPECT (r && memcmp (r, "abc", 3) == 0 && tracked (r, 3));
  errno = 0;
  EXPECT (realloc (r, huge) == NULL && errno == ENOMEM);
  EXPECT (tracked (r, 3)); /* a failed realloc leaves the block as it was */
  EXPECT (realloc (r, 0) == NULL);

  char *ra = reallocarray (NULL, 10, 12);
  check_block (ra, 120, 16);
  errno = 0;
  EXPECT (reallocarray (ra, quarter, 8) == NULL && errno == ENOMEM);
  ra = reallocarray (ra, 20, 12);
  check_block (ra, 240, 16);
  free (ra);

  /* Every alignment request is honoured.  */
  for (size_t a = 8; a <= 65536; a *= 2)
    {
      void *p = NULL;
      EXPECT (posix_memalign (&p, a, 100) == 0);
      check_block (p, 100, a);
      p = realloc (p, 300); /* realloc of an aligned block */
      check_block (p, 300, 16);
      free (p);
      p = aligned_alloc (a, 3 * a);
      check_block (p, 3 * a, a);
      free (p);
      p = memalign (a, 7);
      check_block (p, 7, a);
      free (p);
    }
  void *p = (void *) 1;
  EXPECT (posix_memalign (&p, 24, 100) == EINVAL && p == (void *) 1);
  EXPECT (posix_memalign (&p, 4, 100) == EINVAL);
  errno = 0;
  EXPECT (aligned_alloc (24, 100) == NULL && errno == EINVAL);
  p = memalign (48, 10); /* glibc rounds up to 64 */
  check_block (p, 10, 64);
  free (p);
  long page = sysconf (_SC_PAGESIZE);
  p = valloc (10);
  check_block (p, 10, (size_t) page);
  free (p);
  p = pvalloc (10);
  check_block (p, (size_t) page, (size_t) page);
  free (p);
  EXPECT (malloc_usable_size (NULL) == 0);

  /* Out of memory below us: NULL with ENOMEM, and the heap goes on.  */
  struct rlimit lim = { 512 << 20, 512 << 20 };
  EXPECT (setrlimit (RLIMIT_AS, &lim) == 0);
  errno = 0;
  EXPECT (malloc (1024u << 20) == NULL && errno == ENOMEM);
  errno = 0;
  EXPECT (calloc (1, 1024u << 20) == NULL && errno == ENOMEM);
  void *big = NULL;
  EXPECT (posix_memalign (&big, 4096, 1024u << 20) == ENOMEM);
  p = malloc (100);
  check_block (p, 100, 16);
  free (p);

  if (failures)
    fprintf (stderr, "%d checks failed\n", failures);
  else
    printf ("all entry points behave\n");
  return failures != 0;
}
