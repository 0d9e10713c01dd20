/* fork while other threads allocate: neither parent nor child may deadlock,
   and the child's heap works.  The test runs this under a timeout.  */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int stop;

static void *
churn (void *arg)
{
  (void) arg;
  void *keep[64] = { 0 };
  unsigned i = 0;
  while (!stop)
    {
      unsigned k = (i * 2654435761u) % 64;
      free (keep[k]);
      keep[k] = malloc (16 + i % 2000);
      i++;
    }
  for (int k = 0; k < 64; k++)
    free (keep[k]);
  return NULL;
}

int
main (void)
{
  pthread_t t[4];
  for (int i = 0; i < 4; i++)
    pthread_create (&t[i], NULL, churn, NULL);
  int bad = 0;
  for (int f = 0; f < 200; f++)
    {
      pid_t pid = fork ();
      if (pid == 0)
        {
          /* Allocate in the child, on a new thread too.  */
          char *s = strdup ("child");
          pthread_t c;
          if (pthread_create (&c, NULL, churn, NULL) == 0)
            {
              stop = 1;
              pthread_join (c, NULL);
            }
          free (s);
          _exit (0);
        }
      int status;
      if (pid < 0 || waitpid (pid, &status, 0) != pid || !WIFEXITED (status)
          || WEXITSTATUS (status) != 0)
        bad++;
    }
  stop = 1;
  for (int i = 0; i < 4; i++)
    pthread_join (t[i], NULL);
  printf ("%d forks, %d bad\n", 200, bad);
  return bad != 0;
}
