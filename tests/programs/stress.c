/* Eight threads allocate and free at random, keeping some blocks from
   keep_block; now and then each frees a block of its neighbour's while the
   neighbour runs, so that the runtime takes back a shard it had biased to
   a thread in the middle of that thread's work (runtime/heap.c); main
   then frees a third of the kept blocks (frees from another thread).
   Prints how many blocks and bytes come from keep_block, says "ready", and
   waits on stdin so a core can be taken.  */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define THREADS 8
#define ROUNDS 20000

struct kept
{
  void *block[ROUNDS];
  size_t size[ROUNDS];
  long n;
};
static struct kept kept[THREADS];
/* Blocks each thread hands to the next: the previous thread frees them.  */
static void *handoff[THREADS];
/* Rounds between handoffs: more than the runtime's 1024 entries in a row
   that bias a shard, so each handoff meets a biased shard.  */
#define HANDOFF_EVERY 1500

__attribute__ ((noinline)) static void *
keep_block (size_t size)
{
  void *p = malloc (size);
  __asm__ volatile ("" ::: "memory"); /* no tail call: keep this frame */
  return p;
}

__attribute__ ((noinline)) static void *
scratch_block (size_t size)
{
  void *p = malloc (size);
  __asm__ volatile ("" ::: "memory"); /* no tail call: keep this frame */
  return p;
}

static void *
worker (void *arg)
{
  struct kept *k = arg;
  int me = (int) (k - kept);
  uint64_t rng = 0x9e3779b97f4a7c15ULL ^ (uint64_t) (uintptr_t) arg;
  for (int i = 0; i < ROUNDS; i++)
    {
      rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
      size_t size = rng % 700;
      void *s = scratch_block (size + 1);
      if (rng & 1)
        {
          k->size[k->n] = size;
          k->block[k->n++] = keep_block (size);
        }
      else if (k->n > 0 && (rng & 2))
        {
          /* Free a random kept block: swap the last one into its place.  */
          long j = (long) ((rng >> 8) % (uint64_t) k->n);
          free (k->block[j]);
          k->block[j] = k->block[--k->n];
          k->size[j] = k->size[k->n];
        }
      if (i % HANDOFF_EVERY == HANDOFF_EVERY - 1)
        {
          free (__atomic_exchange_n (&handoff[me], scratch_block (size), __ATOMIC_ACQ_REL));
          free (__atomic_exchange_n (&handoff[(me + 1) % THREADS], NULL, __ATOMIC_ACQ_REL));
        }
      free (s);
    }
  return NULL;
}

int
main (void)
{
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++)
    pthread_create (&t[i], NULL, worker, &kept[i]);
  for (int i = 0; i < THREADS; i++)
    pthread_join (t[i], NULL);
  for (int i = 0; i < THREADS; i++)
    free (handoff[i]);
  long blocks = 0, bytes = 0;
  for (int i = 0; i < THREADS; i++)
    for (long j = 0; j < kept[i].n; j++)
      {
        if (j % 3 == 0)
          {
            free (kept[i].block[j]);
            kept[i].block[j] = NULL;
            continue;
          }
        blocks++;
        bytes += (long) kept[i].size[j];
      }
  printf ("holding %ld blocks, %ld bytes\n", blocks, bytes);
  printf ("ready\n");
  fflush (stdout);
  getchar ();
  return 0;
}
