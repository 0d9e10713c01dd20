/* Heap corruption, one kind per run, each from a function named after it
   (built -rdynamic so the runtime's report can name them):
     overrun     write one byte past the end of a block, then free it
     double      free a block twice
     middle      free a pointer into the middle of a block
     reuse       free a block, let its memory be reused, free it again
     uaf         write to a block after freeing it (needs quarantine)
     overrun-live  overrun a block and keep it, then wait for a core
   Prints "survived" if the runtime let it go on (keep-going).  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#pragma GCC diagnostic ignored "-Wfree-nonheap-object"
#pragma GCC diagnostic ignored "-Wuse-after-free"

void *volatile sink;

/* Keep calls to free from becoming tail calls, so the function making
   them is on the stack the runtime reports.  */
#define NO_TAIL_CALL() __asm__ volatile ("" ::: "memory")

__attribute__ ((noinline)) char *
allocate_victim (size_t n)
{
  char *p = malloc (n);
  __asm__ volatile ("" ::: "memory");
  return p;
}

__attribute__ ((noinline)) void
overrun_by_one (char *p, size_t n)
{
  p[n] = 'X';
}

__attribute__ ((noinline)) void
free_twice (char *p)
{
  free (p);
  sink = malloc (7); /* a different size: the freed block stays freed */
  free (p);
  NO_TAIL_CALL ();
}

__attribute__ ((noinline)) void
free_middle (char *p)
{
  free (p + 32);
  NO_TAIL_CALL ();
}

__attribute__ ((noinline)) void
free_after_reuse (char *p, size_t n)
{
  free (p);
  sink = malloc (n); /* may reuse p's memory */
  free (p);
  NO_TAIL_CALL ();
}

__attribute__ ((noinline)) void
write_after_free (char *p)
{
  free (p);
  ((volatile char *) p)[5] = 'U';
  for (int i = 0; i < 64; i++) /* push it out of a small quarantine */
    {
      sink = malloc (200);
      free (sink);
    }
}

int
main (int argc, char **argv)
{
  const char *mode = argc > 1 ? argv[1] : "";
  char *p = allocate_victim (100);
  if (strcmp (mode, "overrun") == 0)
    {
      overrun_by_one (p, 100);
      free (p);
      NO_TAIL_CALL ();
    }
  else if (strcmp (mode, "double") == 0)
    free_twice (p);
  else if (strcmp (mode, "middle") == 0)
    free_middle (p);
  else if (strcmp (mode, "reuse") == 0)
    free_after_reuse (p, 100);
  else if (strcmp (mode, "uaf") == 0)
    write_after_free (p);
  else if (strcmp (mode, "overrun-live") == 0)
    {
      overrun_by_one (p, 100);
      printf ("ready\n");
      fflush (stdout);
      getchar ();
      return 0;
    }
  else
    {
      fprintf (stderr, "usage: corrupt overrun|double|middle|reuse|uaf|overrun-live\n");
      return 2;
    }
  printf ("survived\n");
  return 0;
}
