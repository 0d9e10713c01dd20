/* Memory per block: allocates COUNT blocks of SIZE bytes, writes them, and
   prints how much the resident set grew, per block.  Run it with and
   without a preloaded allocator/tool to see what each adds per block.
   Usage: block-overhead COUNT SIZE  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static long
resident_bytes (void)
{
  long pages = 0, resident = 0;
  FILE *f = fopen ("/proc/self/statm", "r");
  if (f == NULL || fscanf (f, "%ld %ld", &pages, &resident) != 2)
    exit (2);
  fclose (f);
  return resident * sysconf (_SC_PAGESIZE);
}

int
main (int argc, char **argv)
{
  if (argc != 3)
    {
      fprintf (stderr, "usage: block-overhead COUNT SIZE\n");
      return 64;
    }
  long count = atol (argv[1]);
  size_t size = (size_t) atol (argv[2]);
  char **blocks = malloc ((size_t) count * sizeof *blocks);
  memset (blocks, 0, (size_t) count * sizeof *blocks);
  long before = resident_bytes ();
  for (long i = 0; i < count; i++)
    {
      blocks[i] = malloc (size);
      memset (blocks[i], 1, size);
    }
  long after = resident_bytes ();
  printf ("%.1f bytes resident per block of %zu\n",
          (double) (after - before) / (double) count, size);
  for (long i = 0; i < count; i++)
    free (blocks[i]);
  free (blocks);
  return 0;
}
