/* A return address that is the next function's first byte: calls_noreturn ends with a call to a function that allocates 4321 bytes and aborts (build with -falign-functions=1 -fno-toplevel-reorder -fno-reorder-functions).  */
#include <stdlib.h>

#define ESCAPE(p) __asm__ volatile ("" : : "r" (p) : "memory")

__attribute__ ((noinline, noreturn)) static void
alloc_then_abort (void)
{
  void *p = malloc (4321);
  ESCAPE (p);
  abort ();
}

/* Its last instruction is the call: nothing follows it.  */
__attribute__ ((noinline)) void
calls_noreturn (void)
{
  alloc_then_abort ();  /* line: noreturn-call */
}

/* Placed right after calls_noreturn.  */
__attribute__ ((noinline)) int
next_function (int x)
{
  return 3 * x + 1;
}

int
main (int argc, char **argv)
{
  (void) argv;
  if (argc > 5)
    return next_function (argc);
  calls_noreturn ();
}
