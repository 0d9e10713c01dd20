/* libFuzzer target: a byte string as a core file through the target, heap walk, reachability and every report.  */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include "dmem.h"

/* Needs: nothing.  Promises: never crashes or hangs on any input; the
   analyzer's reports go to /dev/null.  */
int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static FILE *null;
  if (null == NULL)
    null = fopen ("/dev/null", "w");
  int fd = memfd_create ("core", 0);
  if (fd < 0 || write (fd, data, size) != (ssize_t) size)
    abort ();
  char path[64];
  snprintf (path, sizeof path, "/proc/self/fd/%d", fd);
  struct dmem_target t;
  if (dmem_target_open_core (&t, path, NULL, NULL) == 0)
    {
      struct dmem_heap h;
      t.preload_symbols = 1;   /* as for leaks: exercise the second thread */
      if (dmem_heap_load (&t, &h) == 0)
	{
	  struct dmem_options o = { DMEM_JSON, 0, null };
	  dmem_report_leaks (&t, &h, &o);
	  dmem_report_stats (&t, &h, &o);
	  dmem_report_verify (&t, &h, &o);
	  dmem_report_mallinfo (&t, &h, &o);
	  dmem_symbols_free ();
	  dmem_heap_free (&h);
	}
    }
  dmem_target_close (&t);
  close (fd);
  return 0;
}
