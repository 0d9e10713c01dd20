/* Reader test and benchmark program: N live blocks (argv[1], default 3000)
   from a few dozen distinct stacks, most held in lists reachable from a
   global, every tenth list dropped (1 direct + 9 indirect leaks), and a
   dropped pair of blocks from one stack.  With
   "wait" as argv[2] it prints "ready" and waits on stdin.  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct node { struct node *next; size_t payload[]; };

struct node **lists;   /* reachable: every kept list's head */

/* One node of SIZE payload bytes, allocated DEPTH frames further down so
   blocks come from different stacks.  */
static __attribute__ ((noinline)) struct node *
alloc_node (int depth, size_t size)
{
  if (depth > 0)
    {
      struct node *n = alloc_node (depth - 1, size);
      __asm__ volatile ("" : : "r" (n) : "memory");
      return n;
    }
  struct node *n = malloc (sizeof *n + size);
  memset (n, 0, sizeof *n + size);
  return n;
}

/* A list of 10 nodes whose shape depends on I.  */
static __attribute__ ((noinline)) struct node *
make_list (long i)
{
  struct node *head = NULL;
  for (int k = 0; k < 10; k++)
    {
      struct node *n = alloc_node ((int) (i % 7), 16 + 8 * ((i + k) % 30));
      n->next = head;
      head = n;
    }
  return head;
}

/* N nodes of 32 bytes from one call site, chained; returns the head.  */
static __attribute__ ((noinline)) struct node *
make_chain (int n)
{
  struct node *head = NULL;
  for (int k = 0; k < n; k++)
    {
      struct node *x = alloc_node (0, 32);
      x->next = head;
      head = x;
    }
  return head;
}

int
main (int argc, char **argv)
{
  long blocks = argc > 1 ? atol (argv[1]) : 3000;
  long count = blocks / 10;
  lists = calloc (count, sizeof *lists);
  for (long i = 0; i < count; i++)
    {
      struct node *l = make_list (i);
      if (i % 10 != 3)
        lists[i] = l;
    }
  /* A dropped pair from one stack: a leak and an indirect leak of the same
     stack, bytes and count, which the readers must order alike.  */
  struct node *pair = make_chain (argc > 99 ? 3 : 2);
  __asm__ volatile ("" : : "r" (pair) : "memory");
  pair = NULL;
  if (argc > 2 && strcmp (argv[2], "wait") == 0)
    {
      char line[16];
      printf ("ready\n");
      fflush (stdout);
      if (!fgets (line, sizeof line, stdin))
        return 0;
    }
  return 0;
}
