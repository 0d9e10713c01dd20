/* Known leaks for the analyzer: threads leaking from distinct functions, a dropped list, a global list and a block on a blocked thread's stack.  */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct node
{
  struct node *next;
  char payload[40];
};

/* Reachable: a list kept in a global.  */
struct node *kept_list;

static int block_pipe[2];

/* Drop P so no register or live stack slot keeps it.  */
#define DROP(p) __asm__ volatile ("" : "+r" (p) : : "memory")

/* Build a list of N nodes and return its head.  */
static __attribute__ ((noinline)) struct node *
make_list (int n)
{
  struct node *head = NULL;
  for (int i = 0; i < n; i++)
    {
      struct node *x = malloc (sizeof *x);
      memset (x, 0, sizeof *x);
      x->next = head;
      head = x;
    }
  return head;
}

/* 3 blocks of 100 bytes, leaked from thread A.  */
static __attribute__ ((noinline)) void
leak_in_worker_a (void)
{
  for (int i = 0; i < 3; i++)
    {
      char *p = malloc (100);
      memset (p, 'a', 100);
      DROP (p);
    }
}

/* 2 blocks of 1000 bytes, leaked from thread B.  */
static __attribute__ ((noinline)) void
leak_in_worker_b (void)
{
  for (int i = 0; i < 2; i++)
    {
      char *p = malloc (1000);
      memset (p, 'b', 1000);
      DROP (p);
    }
}

static void *
worker_a (void *arg)
{
  leak_in_worker_a ();
  return arg;
}

static void *
worker_b (void *arg)
{
  leak_in_worker_b ();
  return arg;
}

/* Hold a 777-byte block only in this thread's stack, then block forever.  */
static void *
blocked_worker (void *arg)
{
  char *volatile held = malloc (777);
  memset (held, 'h', 777);
  char c;
  while (read (block_pipe[0], &c, 1) < 0)
    ;
  return held == NULL ? arg : NULL;
}

/* Drop a list of 10 nodes: 1 direct leak, 9 indirect.  */
static __attribute__ ((noinline)) void
drop_list (void)
{
  struct node *l = make_list (10);
  DROP (l);
}

int
main (int argc, char **argv)
{
  pthread_t a, b, blocked;
  if (pipe (block_pipe) != 0)
    return 1;
  kept_list = make_list (5);
  drop_list ();
  pthread_create (&a, NULL, worker_a, NULL);
  pthread_join (a, NULL);
  pthread_create (&b, NULL, worker_b, NULL);
  pthread_join (b, NULL);
  pthread_create (&blocked, NULL, blocked_worker, NULL);
  usleep (100000);   /* let it allocate and block */
  if (argc > 1 && strcmp (argv[1], "wait") == 0)
    {
      char line[16];
      /* stdin's buffer is given now, not malloc'd by the first fgets: a
         reader looking while the process waits must see the same heap
         however far main got.  */
      static char in_buf[BUFSIZ];
      setvbuf (stdin, in_buf, _IOFBF, sizeof in_buf);
      printf ("ready\n");
      fflush (stdout);
      if (fgets (line, sizeof line, stdin) == NULL)
	return 0;
    }
  return 0;
}
