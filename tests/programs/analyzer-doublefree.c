/* A double free for dmem verify: the runtime catches it, logs it with its stacks and aborts, so the core shows it.  */
#include <stdlib.h>
#include <string.h>

void *volatile sink;

int
main (void)
{
  char *p = malloc (40);
  memset (p, 1, 40);
  sink = p;
  free (p);
  free (p);   /* the error */
  return 0;
}
