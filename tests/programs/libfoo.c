/* A small shared library for the suppression tests: foo_leak leaks 300 bytes from inside libfoo.so.  */
#include <stdlib.h>
#include <string.h>

/* Leak 300 bytes: the block's stack starts in this library.  */
__attribute__ ((noinline)) void
foo_leak (void)
{
  char *p = malloc (300);
  memset (p, 'f', 300);
  __asm__ volatile ("" : : "r" (p) : "memory");
}
