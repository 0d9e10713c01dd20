/* More threads than the engine's block records name by index (255), and a
   block too big for their size field (8 MiB and more): 300 threads each
   leak one block of 100 + i bytes from one site, main leaks one of 16 MiB
   from another.  Prints each thread's kernel tid, for the test to compare
   with what the engine reads back.  */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#define THREADS 300

static pid_t tids[THREADS];

__attribute__ ((noinline)) void *
leak_small (size_t n)
{
  void *p = malloc (n);
  __asm__ volatile ("" : : "r" (p) : "memory");
  return p;
}

__attribute__ ((noinline)) void *
leak_big (size_t n)
{
  void *p = malloc (n);
  __asm__ volatile ("" : : "r" (p) : "memory");
  return p;
}

static void *
run (void *arg)
{
  long i = (long) arg;
  tids[i] = (pid_t) syscall (SYS_gettid);
  leak_small (100 + (size_t) i);   /* the pointer is dropped: a leak */
  return NULL;
}

int
main (void)
{
  pthread_t th[THREADS];
  /* In turn, so that every tid is another thread's.  */
  for (long i = 0; i < THREADS; i++)
    if (pthread_create (&th[i], NULL, run, (void *) i) != 0
        || pthread_join (th[i], NULL) != 0)
      return 1;
  leak_big (16u << 20);
  for (int i = 0; i < THREADS; i++)
    printf ("tid %d\n", (int) tids[i]);
  fflush (stdout);
  return 0;
}
