/* Allocation-heavy work for comparing dmem with glibc and its peers: several
   threads, each allocating from a call stack about a dozen frames deep (built
   -O2 without frame pointers), keeping a window of live blocks and touching
   what it allocates.  Usage: alloc-bench THREADS ITERATIONS LIVE WORK
   WORK is how many bytes of each block are written and read back (0: none).  */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long iterations, live, work;

struct ctx
{
  void **window;
  uint64_t rng, sum;
};

static uint64_t
next_random (struct ctx *c)
{
  c->rng ^= c->rng << 13;
  c->rng ^= c->rng >> 7;
  c->rng ^= c->rng << 17;
  return c->rng;
}

/* The leaf: replace one block of the window with a new one.  */
__attribute__ ((noinline)) static void
leaf (struct ctx *c)
{
  uint64_t r = next_random (c);
  size_t size = 16 + (r & 511);
  size_t slot = (r >> 16) % (size_t) live;
  free (c->window[slot]);
  unsigned char *p = malloc (size);
  if (p == NULL)
    abort ();
  size_t n = (size_t) work < size ? (size_t) work : size;
  memset (p, (int) r, n);
  for (size_t i = 0; i < n; i += 8)
    c->sum += p[i];
  c->window[slot] = p;
}

/* Twelve distinct frames between the thread's loop and malloc.  */
#define LEVEL(name, below)                                              \
  __attribute__ ((noinline)) static void name (struct ctx *c, int k)    \
  {                                                                     \
    c->sum += (uint64_t) k;                                             \
    below (c, k + 1);                                                   \
    __asm__ volatile ("" ::: "memory");                                 \
  }
static void leaf_call (struct ctx *c, int k) { (void) k; leaf (c); }
LEVEL (l11, leaf_call) LEVEL (l10, l11) LEVEL (l9, l10) LEVEL (l8, l9)
LEVEL (l7, l8) LEVEL (l6, l7) LEVEL (l5, l6) LEVEL (l4, l5) LEVEL (l3, l4)
LEVEL (l2, l3) LEVEL (l1, l2)

static void *
run (void *arg)
{
  struct ctx c = { calloc ((size_t) live, sizeof (void *)),
                   0x9e3779b97f4a7c15ULL ^ (uintptr_t) arg, 0 };
  for (long i = 0; i < iterations; i++)
    l1 (&c, (int) (i & 3));
  for (long i = 0; i < live; i++)
    free (c.window[i]);
  free (c.window);
  return (void *) (uintptr_t) c.sum;
}

int
main (int argc, char **argv)
{
  if (argc != 5)
    {
      fprintf (stderr, "usage: alloc-bench THREADS ITERATIONS LIVE WORK\n");
      return 64;
    }
  int threads = atoi (argv[1]);
  iterations = atol (argv[2]);
  live = atol (argv[3]);
  work = atol (argv[4]);
  if (threads < 1 || threads > 256 || iterations < 1 || live < 1)
    return 64;
  struct timespec t0, t1;
  clock_gettime (CLOCK_MONOTONIC, &t0);
  pthread_t t[256];
  for (int i = 0; i < threads; i++)
    pthread_create (&t[i], NULL, run, (void *) (uintptr_t) (i + 1));
  uint64_t sum = 0;
  for (int i = 0; i < threads; i++)
    {
      void *r;
      pthread_join (t[i], &r);
      sum += (uintptr_t) r;
    }
  clock_gettime (CLOCK_MONOTONIC, &t1);
  double s = (double) (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf ("%.3f s, %.1f ns per allocation per thread (checksum %llu)\n", s,
          s * 1e9 / (double) iterations, (unsigned long long) (sum & 0xffff));
  return 0;
}
