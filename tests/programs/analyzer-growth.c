/* A service whose cache grows: entries inserted from one stack, some evicted,
   scratch blocks born and freed elsewhere.  Commands on stdin, one a line:
     grow N        insert N cache entries (48 bytes each)
     evict N       free the N oldest entries
     later N S     after S seconds, insert N entries
     crash         abort (), for a kernel core
   After each command it prints "ready" (once its heap is set up, too).  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct entry
{
  struct entry *next;
  char key[40];
};

static struct entry *cache, **tail = &cache;   /* oldest first */

/* Insert one entry at the tail of the cache.  */
static __attribute__ ((noinline)) void
cache_insert (int n)
{
  struct entry *e = malloc (sizeof *e);
  if (e == NULL)
    abort ();
  snprintf (e->key, sizeof e->key, "key-%d", n);
  e->next = NULL;
  *tail = e;
  tail = &e->next;
}

/* Free the oldest entry.  */
static __attribute__ ((noinline)) void
cache_evict (void)
{
  struct entry *e = cache;
  if (e == NULL)
    return;
  cache = e->next;
  if (cache == NULL)
    tail = &cache;
  free (e);
}

int
main (void)
{
  char line[64];
  int inserted = 0;
  setvbuf (stdout, NULL, _IONBF, 0);
  for (int i = 0; i < 20; i++)
    cache_insert (inserted++);
  puts ("ready");
  while (fgets (line, sizeof line, stdin) != NULL)
    {
      int n = 0, s = 0;
      if (sscanf (line, "grow %d", &n) == 1)
	while (n-- > 0)
	  cache_insert (inserted++);
      else if (sscanf (line, "evict %d", &n) == 1)
	while (n-- > 0)
	  cache_evict ();
      else if (strncmp (line, "crash", 5) == 0)
	abort ();
      else if (sscanf (line, "later %d %d", &n, &s) == 2)
	{
	  sleep (s);
	  while (n-- > 0)
	    cache_insert (inserted++);
	}
      puts ("ready");
    }
  return 0;
}
