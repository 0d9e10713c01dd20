/* libFuzzer target: a byte string as a target file through the engine's API (a core, a compressed core or a bundle: the engine tells them by their magic), every report in every format.  */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include "dmem.h"
#include "engine.h"

/* Needs: nothing.  Promises: never crashes or hangs on any input; the
   reports and warnings go to /dev/null.  */
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
  dmem_engine *e = dmem_engine_new ();
  dmem_engine_set_streams (e, null, null);
  if (dmem_engine_open_core (e, path, NULL, NULL, NULL) == 0)
    {
      static const char *const reports[][2] = {
	{ "leaks", "--format=json" }, { "leaks", "--format=folded" },
	{ "stacks", "--all" }, { "stats", "--format=json" },
	{ "verify", "--format=text" }, { "mallinfo", "--format=json" } };
      for (size_t i = 0; i < sizeof reports / sizeof *reports; i++)
	dmem_engine_command (e, 2, reports[i]);
    }
  dmem_engine_free (e);
  close (fd);
  return 0;
}
