/* The classic libdmem driver for the reader tests: malloc 512, printf,
   free, leak 2048 bytes from main, printf.  With an argument "wait" it
   prints "ready" and waits on stdin (for gcore and live attach); with
   "corrupt" or "cycle" it damages the block lists first, with "overrun" a
   block's guard; "doublefree" frees a block twice.  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <unistd.h>

/* Header fields the corruption modes touch: next is at offset 0 of the
   48-byte header in front of each user pointer (include/dmem/format.h).  */
#define HEADER_SIZE 48

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
  /* Allocated first, so the blocks a damaged link hides are only older
     ones: the driver's own blocks stay on the walk.  */
  char *x = malloc (64);
  keep = x;
  char *a = malloc (512);
  memset (a, 0, 512);
  printf ("hello from the classic driver\n");
  free (a);
  leak_it ();
  if (strcmp (mode, "corrupt") == 0 || strcmp (mode, "cycle") == 0)
    {
      /* Damage the header of a block kept alive: its next link.  */
      uint64_t *hx = (uint64_t *) ((uintptr_t) x - HEADER_SIZE);
      __asm__ volatile ("" : "+r" (hx));
      if (strcmp (mode, "corrupt") == 0)
        hx[0] = 0x10;                 /* next -> an unreadable address */
      else
        hx[0] = (uint64_t) hx;        /* next -> itself: a cycle */
      printf ("corrupted block %p\n", (void *) hx);
    }
  if (strcmp (mode, "overrun") == 0)
    {
      /* Write past the end of a kept block, over its guard.  */
      char *volatile end = x + 64;
      end[0] = 'X';
      printf ("overran block %p\n", (void *) (x - HEADER_SIZE));
    }
  if (strcmp (mode, "doublefree") == 0)
    {
      /* The runtime catches this, logs it and aborts: a core at the scene.  */
      char *volatile y = malloc (40);
      free (y);
      free (y);
    }
  printf ("bye\n");
  if (strcmp (mode, "wait") == 0)
    {
      /* "ready" goes out first, past the stdout buffer that still holds
         the lines above, which the readers must find reachable.  */
      char line[16];
      if (write (1, "ready\n", 6) != 6)
        return 1;
      if (!fgets (line, sizeof line, stdin))
        return 0;
    }
  return 0;
}
