/* Reader test program for the mallinfo diagnosis: 3 GiB in one mmapped
   block (glibc's hblkhd passes INT_MAX), then mallinfo() from main, whose
   int fields the runtime saturates and logs.  The block is never touched,
   so the core stays small.  */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

void *volatile big;

int
main (void)
{
  big = malloc (3UL << 30);
  if (big == NULL)
    return 1;
  struct mallinfo mi = mallinfo ();
  printf ("hblkhd %d\n", mi.hblkhd);
  return 0;
}
