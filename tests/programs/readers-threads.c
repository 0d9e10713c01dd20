/* Reader test program with threads and leak shapes: blocks held from
   thread stacks, TLS and globals (reachable), a dropped 10-node list
   (1 direct + 9 indirect), a dropped 3-block cycle (1 direct + 2 indirect)
   and plain leaks from two threads.  Threads stay blocked while main exits,
   so a kernel core (abort-shutdown) or gcore ("wait") shows them all.  */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct node { struct node *next; char pad[40]; };

static __thread void *tls_block;
void *global_block;
static pthread_barrier_t ready;

/* Build a list of N nodes and return its head.  */
static __attribute__ ((noinline)) struct node *
make_list (int n)
{
  struct node *head = NULL;
  for (int i = 0; i < n; i++)
    {
      struct node *x = calloc (1, sizeof *x);
      x->next = head;
      head = x;
    }
  return head;
}

/* Drop a list and a cycle: the pointers die with this frame.  */
static __attribute__ ((noinline)) void
drop_shapes (void)
{
  struct node *list = make_list (10);
  struct node *a = calloc (1, sizeof *a), *b = calloc (1, sizeof *b),
              *c = calloc (1, sizeof *c);
  a->next = b; b->next = c; c->next = a;
  __asm__ volatile ("" : : "r" (list), "r" (a) : "memory");
}

/* Leak N bytes from a thread.  */
static __attribute__ ((noinline)) void
thread_leak (size_t n)
{
  void *p = malloc (n);
  memset (p, 7, n);
  __asm__ volatile ("" : : "r" (p) : "memory");
}

/* A worker: one block in TLS, one on its stack, one leaked; then it
   blocks forever.  */
static void *
worker (void *arg)
{
  size_t n = (size_t) arg;
  volatile void *on_stack = malloc (n + 1);
  tls_block = malloc (n + 2);
  thread_leak (n + 3);
  pthread_barrier_wait (&ready);
  for (;;)
    pause ();
  return (void *) on_stack;
}

int
main (int argc, char **argv)
{
  pthread_t t[3];
  pthread_barrier_init (&ready, NULL, 4);
  for (int i = 0; i < 3; i++)
    pthread_create (&t[i], NULL, worker, (void *) (size_t) (100 * (i + 1)));
  global_block = make_list (5);
  drop_shapes ();
  thread_leak (333);
  pthread_barrier_wait (&ready);
  if (argc > 1 && strcmp (argv[1], "wait") == 0)
    {
      char line[16];
      printf ("ready\n");
      fflush (stdout);
      if (!fgets (line, sizeof line, stdin))
        return 0;
    }
  exit (0);
}
