/* dmem_check_leaks at points of the program's choosing, as a test suite
   calls it:
     (no argument)  leak 2 blocks in leak_two, check (prints "first N");
                    free the block kept, leak 3 more in leak_three, check
                    again (prints "second N")
     threads        the same while 4 threads allocate, free and keep
                    blocks the whole time
   Exits 0; the counts are for the test to compare.  */
#include <dmem/dmem.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *volatile kept;

static __attribute__ ((noinline)) void
leak_two (void)
{
  for (int i = 0; i < 2; i++)
    {
      char *p = malloc (48);
      __asm__ volatile ("" : : "r" (p) : "memory");
    }
}

static __attribute__ ((noinline)) void
leak_three (void)
{
  for (int i = 0; i < 3; i++)
    {
      char *p = malloc (80);
      __asm__ volatile ("" : : "r" (p) : "memory");
    }
}

static volatile int stop;
static pthread_barrier_t started;

/* Allocate and free all the time, always holding what it allocated (in a
   global slot): never a leak.  */
static void *
churn (void *arg)
{
  void *volatile *slot = arg;
  pthread_barrier_wait (&started);
  while (!stop)
    {
      void *p = malloc (64);
      void *old = *slot;
      *slot = p;
      free (old);
    }
  return NULL;
}

int
main (int argc, char **argv)
{
  int threads = argc > 1 && strcmp (argv[1], "threads") == 0;
  static void *volatile slots[4];
  pthread_t t[4];
  if (threads)
    {
      pthread_barrier_init (&started, NULL, 5);
      for (int i = 0; i < 4; i++)
        pthread_create (&t[i], NULL, churn, (void *) &slots[i]);
      pthread_barrier_wait (&started);
    }
  kept = malloc (32);
  leak_two ();
  int first = dmem_check_leaks ();
  printf ("first %d\n", first);
  fflush (stdout);
  free (kept);
  kept = NULL;
  leak_three ();
  int second = dmem_check_leaks ();
  printf ("second %d\n", second);
  if (threads)
    {
      stop = 1;
      for (int i = 0; i < 4; i++)
        pthread_join (t[i], NULL);
      for (int i = 0; i < 4; i++)
        free (slots[i]);
    }
  return 0;
}
