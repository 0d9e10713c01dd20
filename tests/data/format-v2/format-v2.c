/* The program of the format-v2 core kept in tests/data/format-v2: a leak, an
   indirect leak behind it, reachable blocks, two stacks.  */
#include <stdlib.h>
#include <string.h>

struct node { struct node *next; char payload[56]; };
struct node *kept;                      /* reachable through a global */

#define DROP(p) __asm__ volatile ("" : "+r" (p) : : "memory")

static __attribute__ ((noinline)) void
keep_three (void)
{
  for (int i = 0; i < 3; i++)
    {
      struct node *n = malloc (sizeof *n);
      memset (n, 'k', sizeof *n);
      n->next = kept;
      kept = n;
    }
}

static __attribute__ ((noinline)) void
leak_pair (void)
{
  struct node *a = malloc (sizeof *a), *b = malloc (sizeof *b);
  memset (a, 'a', sizeof *a);
  memset (b, 'b', sizeof *b);
  a->next = b;                          /* b is an indirect leak */
  b->next = NULL;
  DROP (a);
}

int
main (void)
{
  keep_three ();
  leak_pair ();
  char *s = malloc (1000);
  memset (s, 's', 1000);
  DROP (s);
  return 0;
}
