/* Heap errors at the scene from static functions (no -rdynamic: their
   names are only in .symtab and the debug info), built at -O2:
     overrun   allocate_static writes one byte past the end; free_static
               frees it: the guard is found broken at the free
     double    free_static frees a block twice
   Prints "survived" if the runtime let it go on (keep-going).  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#pragma GCC diagnostic ignored "-Wuse-after-free"

void *volatile sink;

static __attribute__ ((noinline)) char *
allocate_static (size_t n)
{
  char *p = malloc (n);
  __asm__ volatile ("" : : "r" (p) : "memory");
  return p;
}

static __attribute__ ((noinline)) void
overrun_static (char *p, size_t n)
{
  p[n] = 'X';
  __asm__ volatile ("" : : "r" (p) : "memory");
}

static __attribute__ ((noinline)) void
free_static (char *p)
{
  free (p);
  __asm__ volatile ("" ::: "memory"); /* not a tail call */
}

int
main (int argc, char **argv)
{
  const char *mode = argc > 1 ? argv[1] : "";
  char *p = allocate_static (100);
  if (strcmp (mode, "overrun") == 0)
    {
      overrun_static (p, 100);
      free_static (p);
    }
  else if (strcmp (mode, "double") == 0)
    {
      free_static (p);
      sink = malloc (7);
      free_static (p);
    }
  else
    return 2;
  puts ("survived");
  return 0;
}
