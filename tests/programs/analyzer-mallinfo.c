/* mallinfo() past 2 GiB for the analyzer: 3 blocks of 800 MiB (mmapped, never touched), one mallinfo() call from a known function.  */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

void *big[3];

/* The caller whose stack the runtime records with the call.  */
static __attribute__ ((noinline)) int
report_heap (void)
{
  struct mallinfo m = mallinfo ();
  printf ("hblkhd %d arena %d\n", m.hblkhd, m.arena);
  return m.hblkhd;
}

int
main (void)
{
  for (int i = 0; i < 3; i++)
    big[i] = malloc (800u << 20);
  return report_heap () < 0;   /* glibc's own mallinfo would wrap negative */
}
