/* Fault injection: fail the first allocation from each allocation stack not
   failed before (DMEM_OPTS=fail-once), remembering stacks in a file so the
   next run gets further; or fail at random (fail-one-in=N).

   A stack is named by a hash of (module name, offset in module) of its
   return addresses, so it is the same in every run whatever the load
   addresses.  Each failure is appended to FILE.log with its stack, and a
   crash handler appends the crash stack, which `dmem failsweep` reads.  */
#define _GNU_SOURCE
#include "failinject.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <string.h>
#include <sys/ucontext.h>
#include <time.h>
#include <unistd.h>

#include "heap.h"
#include "options.h"
#include "unwind.h"

int dmem__failing;

#define DEFAULT_FAIL_FILE "dmem-fail-stacks"

/* Hashes of stacks already failed (or ignored): filled once per slot with a
   compare-and-swap, never emptied, so lookups need no lock.  */
#define SET_BITS 16
#define SET_SIZE (1u << SET_BITS)
#define SET_LIMIT (SET_SIZE / 4 * 3)
static uint64_t failed_set[SET_SIZE];
static unsigned failed_count;

static int file_fd = -1, log_fd = -1;
static uint64_t allocations;
static char program[512]; /* /proc/self/exe: the main program's path */

/* Whether H is in the set.  */
static int
set_contains (uint64_t h)
{
  for (uint32_t i = 0, k = (uint32_t) (h >> (64 - SET_BITS));; i++, k = (k + 1) & (SET_SIZE - 1))
    {
      uint64_t v = __atomic_load_n (&failed_set[k], __ATOMIC_ACQUIRE);
      if (v == h)
        return 1;
      if (v == 0 || i == SET_SIZE)
        return 0;
    }
}

/* Add H; returns 1 if this call added it, 0 if it was there or the set is
   full.  */
static int
set_insert (uint64_t h)
{
  if (__atomic_load_n (&failed_count, __ATOMIC_RELAXED) >= SET_LIMIT)
    return 0;
  for (uint32_t k = (uint32_t) (h >> (64 - SET_BITS));; k = (k + 1) & (SET_SIZE - 1))
    {
      uint64_t v = 0;
      if (__atomic_compare_exchange_n (&failed_set[k], &v, h, 0,
                                       __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        {
          __atomic_add_fetch (&failed_count, 1, __ATOMIC_RELAXED);
          return 1;
        }
      if (v == h)
        return 0;
    }
}

/* The module holding return address PC: its path and load bias.  */
static int
module_of (uint64_t pc, const char **path, uint64_t *bias)
{
  struct dl_find_object dlfo;
  if (_dl_find_object ((void *) (uintptr_t) (pc - 1), &dlfo) != 0
      || dlfo.dlfo_link_map == NULL)
    return 0;
  *bias = dlfo.dlfo_link_map->l_addr;
  *path = dlfo.dlfo_link_map->l_name;
  if (*path == NULL || **path == 0)
    *path = program[0] ? program : "(main)";
  return 1;
}

static const char *
base_name (const char *path)
{
  const char *slash = strrchr (path, '/');
  return slash ? slash + 1 : path;
}

/* The stack's hash: FNV-1a over each frame's module name and offset.  Never
   0 (0 marks an empty slot of the set).  */
static uint64_t
stack_hash (const uint64_t *pcs)
{
  uint64_t h = 0xcbf29ce484222325ULL;
  for (int i = 0; i < DMEM_STACK_DEPTH && pcs[i]; i++)
    {
      const char *path;
      uint64_t bias = 0, off = pcs[i];
      if (module_of (pcs[i], &path, &bias))
        {
          for (const char *c = base_name (path); *c; c++)
            h = (h ^ (uint8_t) *c) * 0x100000001b3ULL;
          off -= bias;
        }
      for (int b = 0; b < 8; b++)
        h = (h ^ ((off >> (8 * b)) & 0xff)) * 0x100000001b3ULL;
    }
  return h ? h : 1;
}

/* Append " MODULE+0xOFFSET" for each of the N frames of PCS to L.  */
static void
put_frames (struct dmem_line *l, const uint64_t *pcs, int n)
{
  for (int i = 0; i < n && pcs[i]; i++)
    {
      const char *path;
      uint64_t bias;
      dmem__put (l, " ");
      if (module_of (pcs[i], &path, &bias))
        {
          dmem__put (l, path);
          dmem__put (l, "+");
          dmem__put_hex (l, pcs[i] - bias);
        }
      else
        dmem__put_hex (l, pcs[i]);
    }
}

/* Whether a frame of PCS is in a module or exported function named by
   fail-ignore (substrings separated by ';').  */
static int
ignored (const uint64_t *pcs)
{
  const char *list = dmem__options.fail_ignore;
  if (list[0] == 0)
    return 0;
  for (int i = 0; i < DMEM_STACK_DEPTH && pcs[i]; i++)
    {
      Dl_info info;
      if (!dladdr ((void *) (uintptr_t) (pcs[i] - 1), &info))
        continue;
      for (const char *s = list; *s;)
        {
          const char *end = strchr (s, ';');
          size_t len = end ? (size_t) (end - s) : strlen (s);
          char want[128];
          if (len > 0 && len < sizeof want)
            {
              memcpy (want, s, len);
              want[len] = 0;
              if ((info.dli_fname && strstr (info.dli_fname, want))
                  || (info.dli_sname && strstr (info.dli_sname, want)))
                return 1;
            }
          s += len + (end != NULL);
        }
    }
  return 0;
}

/* Keep the failure where a core shows it, and say it in the log.  */
static void
record (const uint64_t *pcs, size_t size, uint64_t hash)
{
  struct dmem_failure_log *log = &dmem__state.failures;
  uint64_t seq = __atomic_add_fetch (&log->failures, 1, __ATOMIC_RELAXED);
  struct dmem_failure_record *r = &log->slots[(seq - 1) % DMEM_FAILURE_SLOTS];
  __atomic_store_n (&r->seq, 0, __ATOMIC_RELAXED);
  r->tid = (uint64_t) dmem__tid ();
  r->size = size;
  r->stack_hash = hash;
  memcpy (r->pcs, pcs, sizeof r->pcs);
  __atomic_store_n (&r->seq, seq, __ATOMIC_RELEASE);

  struct dmem_line l = { .len = 0 };
  dmem__put (&l, "fail pid=");
  dmem__put_dec (&l, (uint64_t) getpid ());
  dmem__put (&l, " tid=");
  dmem__put_dec (&l, (uint64_t) dmem__tid ());
  dmem__put (&l, " size=");
  dmem__put_dec (&l, size);
  dmem__put (&l, " hash=");
  dmem__put_hex (&l, hash);
  put_frames (&l, pcs, DMEM_STACK_DEPTH);
  dmem__put (&l, "\n");
  if (dmem__options.trace_stderr)
    {
      struct dmem_line t = l;
      dmem__flush (&t, STDERR_FILENO);
    }
  if (log_fd >= 0)
    dmem__flush (&l, log_fd);
}

static uint64_t
random_u64 (void)
{
  static __thread uint64_t state;
  if (state == 0)
    {
      struct timespec ts;
      clock_gettime (CLOCK_MONOTONIC, &ts);
      state = ((uint64_t) ts.tv_nsec << 20) ^ (uint64_t) dmem__tid () ^ 0x9e3779b97f4a7c15ULL;
    }
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

int
dmem__should_fail (const uint64_t *pcs, size_t size)
{
  uint64_t n = __atomic_add_fetch (&allocations, 1, __ATOMIC_RELAXED);
  if (n <= (uint64_t) dmem__options.fail_skip)
    return 0;
  if (dmem__options.fail_one_in > 0
      && random_u64 () % (uint64_t) dmem__options.fail_one_in == 0)
    {
      record (pcs, size, stack_hash (pcs));
      return 1;
    }
  if (!dmem__options.fail_once)
    return 0;
  uint64_t h = stack_hash (pcs);
  if (set_contains (h))
    return 0;
  if (ignored (pcs))
    {
      set_insert (h); /* decided: never look it up again in this run */
      return 0;
    }
  if (!set_insert (h))
    return 0; /* another thread failed it first, or the set is full */
  if (file_fd >= 0)
    {
      /* One write of a whole line to an O_APPEND file: a crash never leaves
         half a line, and processes sharing the file do not interleave.  */
      struct dmem_line l = { .len = 0 };
      dmem__put_hex (&l, h);
      dmem__put (&l, "\n");
      dmem__flush (&l, file_fd);
    }
  record (pcs, size, h);
  return 1;
}

/* Read the hashes of FILE (one 0x... per line) into the set.  */
static void
load_hashes (const char *path)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return;
  char buf[4096];
  uint64_t v = 0;
  int digits = 0;
  ssize_t got;
  while ((got = read (fd, buf, sizeof buf)) > 0)
    for (ssize_t i = 0; i < got; i++)
      {
        char c = buf[i];
        if (c == '\n')
          {
            if (digits > 0 && v != 0)
              set_insert (v);
            v = 0, digits = 0;
          }
        else if (c >= '0' && c <= '9')
          v = v << 4 | (uint64_t) (c - '0'), digits++;
        else if (c >= 'a' && c <= 'f')
          v = v << 4 | (uint64_t) (c - 'a' + 10), digits++;
        else if (c == 'x' && digits == 1 && v == 0)
          digits = 0;
        else
          digits = -1000; /* a malformed line is skipped */
      }
  close (fd);
}

/* On a crash, append its stack to the log, then die of the same signal.  */
static void
on_crash (int sig, siginfo_t *info, void *context)
{
  const ucontext_t *uc = context;
  uint64_t pcs[DMEM_STACK_DEPTH + 6];
  int n = dmem__unwind_from ((uint64_t) uc->uc_mcontext.gregs[REG_RIP],
                             (uint64_t) uc->uc_mcontext.gregs[REG_RSP],
                             (uint64_t) uc->uc_mcontext.gregs[REG_RBP],
                             pcs, (int) (sizeof pcs / sizeof pcs[0]));
  struct dmem_line l = { .len = 0 };
  dmem__put (&l, "crash pid=");
  dmem__put_dec (&l, (uint64_t) getpid ());
  dmem__put (&l, " tid=");
  dmem__put_dec (&l, (uint64_t) dmem__tid ());
  dmem__put (&l, " signal=");
  dmem__put_dec (&l, (uint64_t) sig);
  /* The first frame is the faulting instruction, not a return address:
     name it by pc+1 so put_frames' "pc-1" lands on it.  */
  pcs[0] += 1;
  put_frames (&l, pcs, n);
  dmem__put (&l, "\n");
  if (log_fd >= 0)
    dmem__flush (&l, log_fd);
  /* SA_RESETHAND restored the default action: a fault happens again on
     return; a signal sent by kill or raise must be sent again.  */
  if (info->si_code <= 0)
    raise (sig);
}

static void
catch_crashes (void)
{
  static const int signals[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };
  for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
    {
      struct sigaction old, sa;
      if (sigaction (signals[i], NULL, &old) != 0 || old.sa_handler != SIG_DFL)
        continue; /* the program has its own handler: leave it alone */
      memset (&sa, 0, sizeof sa);
      sa.sa_sigaction = on_crash;
      sa.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_NODEFER;
      sigaction (signals[i], &sa, NULL);
    }
}

void
dmem__failinject_start (void)
{
  if (!dmem__options.fail_once && dmem__options.fail_one_in <= 0)
    return;
  ssize_t len = readlink ("/proc/self/exe", program, sizeof program - 1);
  program[len > 0 ? len : 0] = 0;
  const char *path = dmem__options.fail_file[0] ? dmem__options.fail_file
                                                 : DEFAULT_FAIL_FILE;
  char log_path[sizeof dmem__options.fail_file + 8];
  size_t plen = strlen (path);
  memcpy (log_path, path, plen);
  memcpy (log_path + plen, ".log", 5);
  if (dmem__options.fail_once)
    {
      load_hashes (path);
      file_fd = open (path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    }
  log_fd = open (log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if ((dmem__options.fail_once && file_fd < 0) || log_fd < 0)
    {
      struct dmem_line l = { .len = 0 };
      dmem__put (&l, "dmem: cannot write ");
      dmem__put (&l, file_fd < 0 && dmem__options.fail_once ? path : log_path);
      dmem__put (&l, ": fault injection is off\n");
      dmem__flush (&l, STDERR_FILENO);
      return;
    }
  catch_crashes ();
  __atomic_store_n (&dmem__failing, 1, __ATOMIC_RELEASE);
}
