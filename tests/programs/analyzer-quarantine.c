/* Heap errors the runtime never sees, for dmem verify at exit (one kind
   per run, each from a function named after it):
     overrun  a 100-byte block written one byte past its end and kept
     uaf      with the quarantine on: a 100-byte block freed and written at
              offset 5, a 48-byte one freed and written one byte past its
              end (its guard); nothing is freed after, so the runtime never
              checks their poison
     clean    with the quarantine on: 10 blocks of several sizes (0 bytes,
              a calloc, an aligned one, its realloc) freed and left alone
   With a second argument "wait", prints "ready" and waits on stdin (a live
   process); else exits (a kernel core with DMEM_OPTS=abort-shutdown).  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *volatile kept;

/* P escapes: the compiler must make the block and keep it.  */
#define ESCAPE(p) __asm__ volatile ("" : : "r" (p) : "memory")
/* Keep a call to free from becoming a tail call, so the function making
   it is on the free stack.  */
#define NO_TAIL_CALL() __asm__ volatile ("" : : : "memory")

__attribute__ ((noinline)) char *
allocate_kept (size_t n)
{
  char *p = malloc (n);
  ESCAPE (p);
  return p;
}

__attribute__ ((noinline)) char *
allocate_victim (size_t n)
{
  char *p = malloc (n);
  memset (p, 'a', n);
  ESCAPE (p);
  return p;
}

__attribute__ ((noinline)) void
overrun_by_one (char *p, size_t n)
{
  ((volatile char *) p)[n] = 'X';
}

__attribute__ ((noinline)) void
free_victim (char *p)
{
  free (p);
  NO_TAIL_CALL ();
}

/* A write through a dangling pointer: volatile, so it reaches memory.  */
__attribute__ ((noinline)) void
write_dangling (char *p, size_t at)
{
  ((volatile char *) p)[at] = 'U';
}

__attribute__ ((noinline)) void
free_clean (void)
{
  static const size_t sizes[] = { 0, 1, 7, 16, 100, 4096, 20000 };
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
    free_victim (allocate_victim (sizes[i]));
  char *c = calloc (10, 10);
  ESCAPE (c);
  free (c);
  char *a = aligned_alloc (256, 256);
  ESCAPE (a);
  a = realloc (a, 300); /* an aligned block moves: the old one is freed */
  ESCAPE (a);
  free (a);
  NO_TAIL_CALL ();
}

int
main (int argc, char **argv)
{
  const char *mode = argc > 1 ? argv[1] : "";
  if (strcmp (mode, "overrun") == 0)
    {
      char *p = allocate_kept (100);
      overrun_by_one (p, 100);
      kept = p;
    }
  else if (strcmp (mode, "uaf") == 0)
    {
      char *p = allocate_victim (100), *q = allocate_victim (48);
      free_victim (p);
      free_victim (q);
      write_dangling (p, 5);
      write_dangling (q, 48);
    }
  else if (strcmp (mode, "clean") == 0)
    free_clean ();
  else
    {
      fprintf (stderr, "usage: analyzer-quarantine overrun|uaf|clean [wait]\n");
      return 2;
    }
  if (argc > 2 && strcmp (argv[2], "wait") == 0)
    {
      printf ("ready\n");
      fflush (stdout);
      getchar ();
    }
  return 0;
}
