/* Possible leaks for the analyzer: a block held only by a global pointing
   16 bytes into it (possible); a block held only by a pointer into its
   middle that holds the start of another block (both possible); a block
   held by a pointer into it and by one to its start (reachable); a block
   nothing points to (a direct leak).  */
#include <stdlib.h>
#include <string.h>

/* Drop P so no register or live stack slot keeps it.  */
#define DROP(p) __asm__ volatile ("" : "+r" (p) : : "memory")

/* Only interior pointers (the executable's .bss).  */
char *inside_only, *inside_chain;
/* One block, pointed to inside and at its start.  */
char *both_inside, *both_start;

struct holder
{
  char pad[16];
  char *child;
  char rest[40];
};

/* A 100-byte block held only 16 bytes past its start.  */
static __attribute__ ((noinline)) void
keep_inside (void)
{
  char *p = malloc (100);
  memset (p, 'i', 100);
  inside_only = p + 16;
  DROP (p);
}

/* A 64-byte holder held only 8 bytes past its start, holding the start
   of a 200-byte child: the child is possible too.  */
static __attribute__ ((noinline)) void
keep_inside_chain (void)
{
  struct holder *h = malloc (sizeof *h);
  memset (h, 0, sizeof *h);
  h->child = malloc (200);
  memset (h->child, 'c', 200);
  inside_chain = (char *) h + 8;
  DROP (h);
}

/* A 300-byte block held inside and at its start: reachable.  */
static __attribute__ ((noinline)) void
keep_both (void)
{
  char *p = malloc (300);
  memset (p, 'b', 300);
  both_inside = p + 100;
  both_start = p;
  DROP (p);
}

/* A 400-byte block nothing points to.  */
static __attribute__ ((noinline)) void
lose (void)
{
  char *p = malloc (400);
  memset (p, 'l', 400);
  DROP (p);
}

/* Overwrite what earlier calls left below main's frame.  */
static __attribute__ ((noinline)) void
scrub_stack (void)
{
  char buf[32768];
  memset (buf, 0, sizeof buf);
  __asm__ volatile ("" : : "r" (buf) : "memory");
}

int
main (void)
{
  keep_inside ();
  keep_inside_chain ();
  keep_both ();
  lose ();
  scrub_stack ();
  return 0;
}
