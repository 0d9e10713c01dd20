/* Cross-thread frees in the manner of the larson benchmark: THREADS threads
   share one array of THREADS * LIVE slots; each, ITERATIONS times, allocates
   a block of 16..512 bytes, swaps it atomically into a random slot and frees
   the block it took out, which another thread allocated most of the time.
   So nearly every free returns a block to an arena or list of another
   thread, the case that per-thread caches do not absorb.
   Usage: larson-like THREADS ITERATIONS LIVE  */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long iterations;
static size_t slots;
static unsigned char **shared;

static void *
run (void *arg)
{
  uint64_t rng = 0x9e3779b97f4a7c15ULL ^ ((uintptr_t) arg * 0x100000001b3ULL);
  uint64_t sum = 0;
  for (long i = 0; i < iterations; i++)
    {
      rng ^= rng << 13;
      rng ^= rng >> 7;
      rng ^= rng << 17;
      size_t size = 16 + (rng & 511) % 497;
      unsigned char *p = malloc (size);
      if (p == NULL)
        abort ();
      p[0] = (unsigned char) rng;
      p[size - 1] = (unsigned char) i;
      unsigned char *old = __atomic_exchange_n (&shared[(rng >> 20) % slots], p,
                                                __ATOMIC_ACQ_REL);
      if (old != NULL)
        sum += old[0];
      free (old);
    }
  return (void *) (uintptr_t) sum;
}

int
main (int argc, char **argv)
{
  if (argc != 4)
    {
      fprintf (stderr, "usage: larson-like THREADS ITERATIONS LIVE\n");
      return 64;
    }
  int threads = atoi (argv[1]);
  iterations = atol (argv[2]);
  long live = atol (argv[3]);
  if (threads < 1 || threads > 256 || iterations < 1 || live < 1)
    return 64;
  slots = (size_t) threads * (size_t) live;
  shared = calloc (slots, sizeof *shared);
  if (shared == NULL)
    return 1;
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
  for (size_t i = 0; i < slots; i++)
    free (shared[i]);
  free (shared);
  double s = (double) (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf ("%.3f s, %.1f ns per malloc/free pair per thread (checksum %llu)\n", s,
          s * 1e9 / (double) iterations, (unsigned long long) (sum & 0xffff));
  return 0;
}
