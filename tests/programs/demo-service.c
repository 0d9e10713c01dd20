/* A small leaking "service" for the demo: worker threads handle requests;
   an error path forgets the request buffer, and a cache eviction drops a
   whole linked list of sessions.  With --wait it prints "ready" and waits
   on stdin before exiting, so a core can be taken from outside.  */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct session
{
  struct session *next;
  char user[48];
};

static struct session *sessions; /* the cache: reachable from a global */
static pthread_mutex_t sessions_lock = PTHREAD_MUTEX_INITIALIZER;

__attribute__ ((noinline)) static char *
read_request (int id)
{
  char *buf = malloc (256);
  snprintf (buf, 256, "GET /item/%d", id);
  return buf;
}

__attribute__ ((noinline)) static int
handle_request (int id)
{
  char *req = read_request (id);
  if (id % 10 == 7)
    return -1; /* bug: the error path forgets req */
  struct session *s = calloc (1, sizeof *s);
  snprintf (s->user, sizeof s->user, "user%d", id);
  pthread_mutex_lock (&sessions_lock);
  s->next = sessions;
  sessions = s;
  pthread_mutex_unlock (&sessions_lock);
  free (req);
  return 0;
}

/* bug: evicting the cache drops the list instead of freeing it.  */
__attribute__ ((noinline)) static void
evict_sessions (void)
{
  pthread_mutex_lock (&sessions_lock);
  sessions = NULL;
  pthread_mutex_unlock (&sessions_lock);
}

static void *
worker (void *arg)
{
  int base = (int) (long) arg;
  for (int i = 0; i < 50; i++)
    handle_request (base + i);
  return NULL;
}

int
main (int argc, char **argv)
{
  pthread_t t[4];
  for (long i = 0; i < 4; i++)
    pthread_create (&t[i], NULL, worker, (void *) (i * 1000));
  for (int i = 0; i < 4; i++)
    pthread_join (t[i], NULL);
  evict_sessions ();
  handle_request (1);     /* the cache now holds one live session */
  printf ("served 201 requests\n");
  if (argc > 1 && strcmp (argv[1], "--wait") == 0)
    {
      printf ("ready\n");
      fflush (stdout);
      getchar ();
    }
  return 0;
}
