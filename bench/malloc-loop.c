/* A pure allocator loop in the manner of glibc's malloc benchtests: one
   thread replaces a random block of a window of LIVE live blocks with a new
   one of a random size between 16 and 4096 bytes, ITERATIONS times, touching
   only the first and last byte of each block.  Nothing else runs, so it
   shows what an allocator or a tool adds per malloc/free pair.
   Usage: malloc-loop ITERATIONS LIVE  */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int
main (int argc, char **argv)
{
  if (argc != 3)
    {
      fprintf (stderr, "usage: malloc-loop ITERATIONS LIVE\n");
      return 64;
    }
  long iterations = atol (argv[1]), live = atol (argv[2]);
  if (iterations < 1 || live < 1)
    return 64;
  unsigned char **window = calloc ((size_t) live, sizeof *window);
  if (window == NULL)
    return 1;
  uint64_t rng = 0x9e3779b97f4a7c15ULL, sum = 0;
  struct timespec t0, t1;
  clock_gettime (CLOCK_MONOTONIC, &t0);
  for (long i = 0; i < iterations; i++)
    {
      rng ^= rng << 13;
      rng ^= rng >> 7;
      rng ^= rng << 17;
      size_t size = 16 + (rng & 4095) % 4081;
      size_t slot = (rng >> 20) % (size_t) live;
      free (window[slot]);
      unsigned char *p = malloc (size);
      if (p == NULL)
        abort ();
      p[0] = (unsigned char) rng;
      p[size - 1] = (unsigned char) i;
      sum += p[0];
      window[slot] = p;
    }
  clock_gettime (CLOCK_MONOTONIC, &t1);
  for (long i = 0; i < live; i++)
    free (window[i]);
  free (window);
  double s = (double) (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf ("%.3f s, %.1f ns per malloc/free pair (checksum %llu)\n", s,
          s * 1e9 / (double) iterations, (unsigned long long) (sum & 0xffff));
  return 0;
}
