/* Allocation sites for the fault-injection tests.  Every site checks for
   NULL except unchecked_site (unless run with "all-checked").  Prints
   "done" when it gets through.  Options: all-checked, threads, fork, and
   hang (waits forever when the configuration cannot be allocated).  */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int all_checked;

#define SITE(name, size)                                        \
  __attribute__ ((noinline)) static int name (void)             \
  {                                                             \
    char *p = malloc (size);                                    \
    if (p == NULL)                                              \
      return -1;                                                \
    memset (p, 1, size);                                        \
    free (p);                                                   \
    return 0;                                                   \
  }
SITE (parse_config, 100)
SITE (open_session, 200)
SITE (load_table, 300)

/* Exported (with -rdynamic) so fail-ignore can name it.  */
__attribute__ ((noinline)) int unchecked_site (void);
__attribute__ ((noinline)) int
unchecked_site (void)
{
  volatile char *p = calloc (1, 400);
  if (all_checked && p == NULL)
    return -1;
  p[10] = 'x'; /* the bug: no NULL check */
  int c = p[10];
  free ((void *) p);
  return c == 'x' ? 0 : 1;
}

static void *
thread_sites (void *arg)
{
  (void) arg;
  open_session ();
  load_table ();
  return NULL;
}

int
main (int argc, char **argv)
{
  int threads = 0, forks = 0, hang = 0;
  for (int i = 1; i < argc; i++)
    {
      all_checked |= strcmp (argv[i], "all-checked") == 0;
      threads |= strcmp (argv[i], "threads") == 0;
      forks |= strcmp (argv[i], "fork") == 0;
      hang |= strcmp (argv[i], "hang") == 0;
    }
  if (parse_config () != 0)
    {
      while (hang)
        nanosleep (&(struct timespec) { 1, 0 }, NULL);
      fprintf (stderr, "no memory for the configuration\n");
      return 1;
    }
  if (threads)
    {
      pthread_t t[3];
      for (int i = 0; i < 3; i++)
        pthread_create (&t[i], NULL, thread_sites, NULL);
      for (int i = 0; i < 3; i++)
        pthread_join (t[i], NULL);
    }
  if (forks)
    {
      pid_t pid = fork ();
      if (pid == 0)
        _exit (open_session () == 0 ? 0 : 3);
      int status;
      waitpid (pid, &status, 0);
    }
  if (open_session () != 0 || load_table () != 0)
    {
      fprintf (stderr, "no memory for the session\n");
      return 1;
    }
  unchecked_site ();
  printf ("done\n");
  return 0;
}
