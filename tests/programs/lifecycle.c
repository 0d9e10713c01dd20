/* Threads that come and go, modules loaded and unloaded, signals landing in
   the middle of malloc: the runtime must not be upset by any of them.  */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "dmem/format.h"

static volatile sig_atomic_t signals;

static void
on_alarm (int sig)
{
  (void) sig;
  signals++;
}

static void *
short_lived (void *arg)
{
  void **slot = arg;
  for (int i = 0; i < 100; i++)
    free (malloc (i * 8));
  *slot = malloc (24); /* outlives its thread */
  return NULL;
}

static int
tracked (void *p)
{
  const struct dmem_block *b = (const struct dmem_block *) p - 1;
  return b->magic == (DMEM_BLOCK_MAGIC ^ (uint64_t) (uintptr_t) b);
}

int
main (void)
{
  int bad = 0;
  struct sigaction sa;
  memset (&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;
  sigaction (SIGALRM, &sa, NULL);
  struct itimerval it = { { 0, 100 }, { 0, 100 } };
  setitimer (ITIMER_REAL, &it, NULL);

  void *kept[200];
  for (int round = 0; round < 200; round++)
    {
      pthread_t t;
      pthread_create (&t, NULL, short_lived, &kept[round]);
      pthread_join (t, NULL);
      if (!tracked (kept[round]))
        bad++;
      /* Load and unload a module whose code allocates.  */
      void *h = dlopen ("libz.so.1", RTLD_NOW | RTLD_LOCAL);
      if (h == NULL)
        h = dlopen ("libm.so.6", RTLD_NOW | RTLD_LOCAL);
      if (h == NULL || dlclose (h) != 0)
        bad++;
    }
  for (int i = 0; i < 200; i++)
    free (kept[i]);
  struct itimerval off = { { 0, 0 }, { 0, 0 } };
  setitimer (ITIMER_REAL, &off, NULL);
  printf ("lifecycle: %d bad, %s signals\n", bad, signals ? "some" : "no");
  return bad != 0;
}
