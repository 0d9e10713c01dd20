/* 3^8 = 6561 distinct allocation stacks, for dmem report on a core with thousands of them: 8 levels of calls, each through one of three functions; every other block is dropped (a leak).  With an argument N, N threads each allocate the same 6561 blocks: 6561 * N distinct (thread, stack) origins.  */
#include <pthread.h>
#include <stdlib.h>

#define STACKS 6561

void **kept;
static __thread long n;

typedef void step_fn (int depth, int path);
static step_fn step0, step1, step2;
static step_fn *const steps[3] = { step0, step1, step2 };

/* At depth 8 allocate one block (16..215 bytes); above, call each step.  */
static inline void
level (int depth, int path)
{
  if (depth == 8)
    {
      void *p = malloc (16 + path % 200);
      if (path % 2 == 0)
	kept[n] = p;
      n++;
      return;
    }
  for (int k = 0; k < 3; k++)
    steps[k] (depth + 1, path * 3 + k);
  __asm__ volatile ("" ::: "memory");   /* no tail call: each level is a frame */
}

#define STEP(k) static __attribute__ ((noinline)) void \
  step##k (int depth, int path) \
  { level (depth, path); __asm__ volatile ("" ::: "memory"); }
STEP (0)
STEP (1)
STEP (2)

/* Thread I's blocks, after those of the threads before it.  */
static void *
allocate (void *i)
{
  n = (long) i * STACKS;
  step0 (0, 0);
  return NULL;
}

int
main (int argc, char **argv)
{
  long threads = argc > 1 ? atol (argv[1]) : 0;
  kept = calloc (STACKS * (threads > 0 ? threads : 1), sizeof *kept);
  if (threads == 0)
    step0 (0, 0);
  for (long i = 0; i < threads; i++)   /* one after the other */
    {
      pthread_t th;
      if (pthread_create (&th, NULL, allocate, (void *) i) != 0
	  || pthread_join (th, NULL) != 0)
	return 1;
    }
  return 0;
}
