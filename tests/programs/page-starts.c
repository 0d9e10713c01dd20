/* Blocks of ours whose user memory starts a page are freed, reallocated
   and sized like any other, and their frees need no mincore (the test
   counts those calls).  Prints how many such blocks it met.  */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRIES 20000

static void *blocks[TRIES];

int
main (void)
{
  int starts = 0, failures = 0;
  for (int i = 0; i < TRIES; i++)
    {
      blocks[i] = malloc (16 + (size_t) (i * 7) % 300);
      if (((uintptr_t) blocks[i] & 4095) != 0)
        continue;
      starts++;
      memset (blocks[i], 'p', 16);
      if (malloc_usable_size (blocks[i]) < 16)
        failures++;
      if (starts % 2)
        {
          /* realloc in place or not; the contents stay.  */
          char *q = realloc (blocks[i], 20);
          if (q == NULL || memcmp (q, "pppppppppppppppp", 16) != 0)
            failures++;
          blocks[i] = q;
        }
    }
  for (int i = 0; i < TRIES; i++)
    free (blocks[i]);
  printf ("page starts: %d, failures: %d\n", starts, failures);
  return failures != 0;
}
