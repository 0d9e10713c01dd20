/* Roots of reachability for the analyzer: a block held only by a global of
   the executable, one held only from a private anonymous mmap pool, a
   block allocated uninitialised over freed blocks' headers and lost, a
   cycle a <-> b entered from c, and a block left on an exited thread's
   cached stack.  Built with -DOTHER it is another build (another build ID)
   of the same program.  */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Drop P so no register or live stack slot keeps it.  */
#define DROP(p) __asm__ volatile ("" : "+r" (p) : : "memory")

/* Held only here (the executable's .bss).  */
char *held_by_global;
/* The guard after the freed blocks, and the block allocated over them
   that is kept.  */
char *stale_guard, *stale_kept;

/* A block kept only in the global.  */
static __attribute__ ((noinline)) void
keep_in_global (void)
{
  char *p = malloc (111);
  memset (p, 'g', 111);
  held_by_global = p;
}

/* A block kept only in a private anonymous mapping nothing points to,
   between two inaccessible pages so the kernel merges it with no other
   mapping (a TLS block, a chunk glibc mmapped).  */
static __attribute__ ((noinline)) void
keep_in_pool (void)
{
  char *pool = mmap (NULL, (1 << 20) + 2 * 4096, PROT_NONE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (pool == MAP_FAILED
      || mprotect (pool + 4096, 1 << 20, PROT_READ | PROT_WRITE) != 0)
    exit (1);
  char *p = malloc (222);
  memset (p, 'p', 222);
  memcpy (pool + 4096 + 8, &p, sizeof p);
  DROP (p);
  DROP (pool);
}

/* Free ten blocks too big for the tcache (glibc merges them into one free
   chunk, their headers left inside it), then allocate two blocks over
   them without writing them: the first is kept, the second lost.  Any
   list link the freed headers kept would point from the kept block into
   the lost one.  */
static __attribute__ ((noinline)) void
make_stale_leak (void)
{
  char *freed[10];
  for (int i = 0; i < 10; i++)
    {
      freed[i] = malloc (2000);
      memset (freed[i], 'f', 2000);
    }
  stale_guard = malloc (2000);
  memset (stale_guard, 'G', 2000);
  for (int i = 0; i < 10; i++)
    free (freed[i]);
  stale_kept = malloc (8000);
  char *lost = malloc (8000);
  DROP (lost);
}

struct node
{
  struct node *next;
  char payload[40];
};

/* Three blocks: the two lowest point to each other, the highest to the
   middle one; then all are dropped: one direct leak, two indirect.  */
static __attribute__ ((noinline)) void
make_shared_cycle (void)
{
  struct node *n[3];
  for (int i = 0; i < 3; i++)
    {
      n[i] = malloc (sizeof *n[i]);
      memset (n[i], 0, sizeof *n[i]);
    }
  /* Sort by address.  */
  for (int i = 0; i < 3; i++)
    for (int j = i + 1; j < 3; j++)
      if (n[j] < n[i])
	{
	  struct node *x = n[i];
	  n[i] = n[j];
	  n[j] = x;
	}
  n[0]->next = n[1];
  n[1]->next = n[0];
  n[2]->next = n[1];
  for (int i = 0; i < 3; i++)
    DROP (n[i]);
}

/* A block whose only pointer stays in a thread's stack after it exits.  */
static __attribute__ ((noinline)) void *
leave_on_stack (void *arg)
{
  char *volatile p = malloc (333);
  memset (p, 's', 333);
  return arg;
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
#ifdef OTHER
  puts ("another build");
#endif
  keep_in_global ();
  keep_in_pool ();
  make_stale_leak ();
  make_shared_cycle ();
  pthread_t th;
  if (pthread_create (&th, NULL, leave_on_stack, NULL) != 0
      || pthread_join (th, NULL) != 0)
    return 1;
  scrub_stack ();
  return 0;
}
