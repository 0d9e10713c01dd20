/* Pointers dmem never handed out reach free, realloc and
   malloc_usable_size: they go to the allocator below, never crash.  */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern void *__libc_malloc (size_t);

int
main (void)
{
  int failures = 0;
  /* glibc's own entry point, bypassing the interposer.  */
  for (int i = 0; i < 1000; i++)
    {
      char *p = __libc_malloc (100 + i);
      memset (p, 'x', 100);
      if (malloc_usable_size (p) < 100u + i)
        failures++;
      p = realloc (p, 5000);
      if (p == NULL || memcmp (p, "xxxx", 4) != 0)
        failures++;
      free (p);
    }
  /* A page-aligned block with nothing mapped below it.  */
  void *(*page_block) (void) = (void *(*) (void)) dlsym (RTLD_DEFAULT, "below_page_block");
  int (*page_frees) (void) = (int (*) (void)) dlsym (RTLD_DEFAULT, "below_page_frees");
  int (*calls) (void) = (int (*) (void)) dlsym (RTLD_DEFAULT, "below_calls");
  if (page_block)
    {
      void *q = page_block ();
      free (q);
      if (page_frees () != 1)
        {
          fprintf (stderr, "the page block did not reach the allocator below\n");
          failures++;
        }
      /* Ordinary allocations went through to the allocator below too.  */
      if (calls () < 1000)
        {
          fprintf (stderr, "only %d calls reached the allocator below\n", calls ());
          failures++;
        }
    }
  printf ("%s\n", failures ? "foreign pointers mishandled" : "foreign pointers handled");
  return failures != 0;
}
