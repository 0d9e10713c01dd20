/* The classic libdmem driver for the reader tests: malloc 512, printf,
   free, leak 2048 bytes from main, printf.  With an argument "wait" it
   prints "ready" and waits on stdin (for gcore and live attach); with
   "corrupt" or "cycle" it damages the block lists first.  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>

/* Header fields the corruption modes touch: next is at offset 0 of the
   128-byte header in front of each user pointer (include/dmem/format.h).  */
#define HEADER_SIZE 128

static void *volatile keep;

/* Leak 2048 bytes; the pointer dies with this frame.  */
static __attribute__ ((noinline)) void
leak_it (void)
{
  char *p = malloc (2048);
  memset (p, 1, 2048);
  __asm__ volatile ("" : : "r" (p) : "memory");
}

int
main (int argc, char **argv)
{
  const char *mode = argc > 1 ? argv[1] : "";
  char *a = malloc (512);
  memset (a, 0, 512);
  printf ("hello from the classic driver\n");
  free (a);
  leak_it ();
  if (strcmp (mode, "corrupt") == 0 || strcmp (mode, "cycle") == 0)
    {
      /* Two blocks from this call site land on their shards; damage the
         header of the first one kept.  */
      char *x = malloc (64), *y = malloc (64);
      keep = x;
      uint64_t *hx = (uint64_t *) (x - HEADER_SIZE);
      if (strcmp (mode, "corrupt") == 0)
        hx[0] = 0x10;                 /* next -> unreadable address */
      else
        hx[0] = (uint64_t) hx;        /* next -> itself: a cycle */
      (void) y;
      printf ("corrupted block %p\n", (void *) hx);
    }
  printf ("bye\n");
  if (strcmp (mode, "wait") == 0)
    {
      char line[16];
      printf ("ready\n");
      fflush (stdout);
      if (!fgets (line, sizeof line, stdin))
        return 0;
    }
  return 0;
}
