/* Frees of another thread's blocks, caught waiting: a producer thread
   allocates 2000 blocks from produce() and stays alive without allocating
   again; the main thread frees every other one.  Those frees wait on the
   producer's shard (the runtime's pending frees), so a core taken now holds
   1000 blocks the program no longer has.  Prints the blocks it holds, then
   "ready", and waits on stdin.  */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define BLOCKS 2000

static void *blocks[BLOCKS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t made = PTHREAD_COND_INITIALIZER, done = PTHREAD_COND_INITIALIZER;
static int produced, finished;

static __attribute__ ((noinline)) void *
produce (size_t size)
{
  void *p = malloc (size);
  __asm__ volatile ("" : : "r" (p) : "memory");
  return p;
}

static void *
producer (void *arg __attribute__ ((unused)))
{
  for (int i = 0; i < BLOCKS; i++)
    blocks[i] = produce (16 + i % 200);
  pthread_mutex_lock (&lock);
  produced = 1;
  pthread_cond_signal (&made);
  while (!finished)   /* alive, allocating nothing more */
    pthread_cond_wait (&done, &lock);
  pthread_mutex_unlock (&lock);
  return NULL;
}

int
main (void)
{
  pthread_t t;
  if (pthread_create (&t, NULL, producer, NULL) != 0)
    return 1;
  pthread_mutex_lock (&lock);
  while (!produced)
    pthread_cond_wait (&made, &lock);
  pthread_mutex_unlock (&lock);
  size_t held = 0, bytes = 0;
  for (int i = 0; i < BLOCKS; i++)
    if (i % 2)
      {
	free (blocks[i]);
	blocks[i] = NULL;
      }
    else
      {
	held++;
	bytes += 16 + i % 200;
      }
  printf ("holding %zu blocks, %zu bytes from produce\n", held, bytes);
  printf ("ready\n");
  fflush (stdout);
  getchar ();
  pthread_mutex_lock (&lock);
  finished = 1;
  pthread_cond_signal (&done);
  pthread_mutex_unlock (&lock);
  pthread_join (t, NULL);
  return 0;
}
