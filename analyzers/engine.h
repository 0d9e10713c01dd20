/* The analysis engine's API: what the dmem command, gdb and drgn (through ctypes) call.

   An engine holds one target (a core, a live process, or a process a
   debugger holds) and its heap; engines share nothing, so several can be
   open at once.  Every report is one call of dmem_engine_command with the
   subcommand's words, exactly as `dmem` takes them after the target.  */
#ifndef DMEM_ENGINE_H
#define DMEM_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define DMEM_API __attribute__ ((visibility ("default")))

typedef struct dmem_engine dmem_engine;
struct dmem_source;

/* A block as the iteration API gives it (drgn's for_each_block).  */
struct dmem_block_info
{
  uint64_t header;   /* header address */
  uint64_t address;  /* user address */
  uint64_t size;     /* bytes requested */
  uint32_t tid;      /* allocating thread */
  uint32_t stack;    /* stack id: dmem_engine_stack */
};

/* A new engine with no target; reports go to memory buffers (read with
   dmem_engine_output) until dmem_engine_set_streams.  NULL when out of
   memory.  */
DMEM_API dmem_engine *dmem_engine_new (void);
/* Send reports to OUT and warnings to ERR instead of memory buffers.  */
DMEM_API void dmem_engine_set_streams (dmem_engine *e, FILE *out, FILE *err);
/* Open a core file (EXECUTABLE, SYSROOT, DEBUG_DIRS may be NULL; DEBUG_DIRS
   is a colon-separated list of debug-file directories).  Returns 0, or -1
   with dmem_engine_error set.  */
DMEM_API int dmem_engine_open_core (dmem_engine *e, const char *path,
				    const char *executable,
				    const char *sysroot,
				    const char *debug_dirs);
/* Open a live process: its threads are stopped only while it is read.  */
DMEM_API int dmem_engine_open_pid (dmem_engine *e, int pid,
				   const char *sysroot,
				   const char *debug_dirs);
/* Open a live process for symbolising only (dmem symbolize): its modules
   from /proc/PID/maps and their files.  It is not stopped and its memory
   is not read, so no ptrace permission is needed.  */
DMEM_API int dmem_engine_open_modules (dmem_engine *e, int pid,
				       const char *sysroot,
				       const char *debug_dirs);
/* Open a live process that a debugger holds stopped, through callbacks
   (struct dmem_source in dmem.h: pid, read, threads).  SOURCE must stay
   valid until dmem_engine_free.  */
DMEM_API int dmem_engine_open_source (dmem_engine *e,
				      const struct dmem_source *source,
				      const char *sysroot,
				      const char *debug_dirs);
/* Why the last open or command failed, one line.  */
DMEM_API const char *dmem_engine_error (const dmem_engine *e);

/* Run report ARGV[0] (stacks, leaks, stats, mallinfo, verify, ...) with its
   options ARGV[1..ARGC-1] on the open target.  Returns the exit status of
   `dmem`: 0 analysed, 1 found heap errors (verify), N found direct leaks
   (leaks --error-exitcode=N), 2 the target cannot be analysed, 64 usage
   error.  */
DMEM_API int dmem_engine_command (dmem_engine *e, int argc,
				  const char *const *argv);
/* The report text and the warning lines of the last command (memory
   buffers only); valid until the next command.  */
DMEM_API const char *dmem_engine_output (dmem_engine *e);
DMEM_API const char *dmem_engine_messages (dmem_engine *e);
/* The help text of subcommand NAME (summary line, usage, options), or
   NULL if there is no such subcommand.  */
DMEM_API const char *dmem_engine_help (const char *name);

/* Copy up to MAX live blocks from index FIRST on (address order) to OUT;
   returns how many.  Loads the heap on first use (-1 if it cannot).  */
DMEM_API long dmem_engine_blocks (dmem_engine *e, size_t first,
				  struct dmem_block_info *out, size_t max);
/* Copy the PCs of stack STACK (at most MAX) to OUT; returns how many.  */
DMEM_API size_t dmem_engine_stack (dmem_engine *e, uint32_t stack,
				   uint64_t *out, size_t max);
/* The walk problems of the loaded heap: how many, and the I-th one in the
   words of the report's warning, in BUF (SIZE bytes), when it cut a
   shard's walk short (a broken or cyclic list); else NULL.  */
DMEM_API long dmem_engine_problem_count (dmem_engine *e);
DMEM_API const char *dmem_engine_problem (dmem_engine *e, size_t i,
					  char *buf, size_t size);
/* Copy the frames of return address PC (struct dmem_frame in dmem.h:
   innermost inlined call first, at most MAX) to OUT; returns how many.
   Their strings live until dmem_engine_free.  */
struct dmem_frame;
DMEM_API size_t dmem_engine_symbolize (dmem_engine *e, uint64_t pc,
				       struct dmem_frame *out, size_t max);
/* Close the target and free E.  */
DMEM_API void dmem_engine_free (dmem_engine *e);

#endif
