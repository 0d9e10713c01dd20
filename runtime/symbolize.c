/* The frames of the stacks the runtime reports at a heap error, named as
   the analyzer's reports name them.  First choice: start the installed
   analyzer on our own process (dmem symbolize --pid: demangled names,
   inlined calls, file:line from the debug info).  When it cannot be
   started or fails: our own lookup in the symbol tables (.symtab, else
   .dynsym) of the module files /proc/self/maps names, which finds static
   functions too.  Nothing here allocates through malloc or takes a lock:
   the heap may be corrupt and the reporting thread may hold a shard lock.  */
#define _GNU_SOURCE
#include "symbolize.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "analyzer.h"
#include "dmem/format.h"

#define MAX_STACKS 8
/* The analyzer's output is read into this much memory (mapped).  */
#define OUTPUT_MAX (256 * 1024)
/* A hung analyzer is killed after this long and our own names are used.  */
#define ANALYZER_TIMEOUT_MS 60000
/* /proc/self/maps is read into this much memory (mapped).  */
#define MAPS_MAX (4 * 1024 * 1024)

/* Write LEN bytes of S to FD, retrying on EINTR and short writes.  */
static void
write_all (int fd, const char *s, size_t len)
{
  while (len > 0)
    {
      ssize_t w = write (fd, s, len);
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0)
        return;
      s += w;
      len -= (size_t) w;
    }
}

/* V in BASE (10 or 16, with 0x) at P; returns the end (NUL written).  */
static char *
put_number (char *p, uint64_t v, int base)
{
  char tmp[24];
  int n = 0;
  do
    tmp[n++] = "0123456789abcdef"[v % (unsigned) base];
  while ((v /= (unsigned) base) != 0);
  if (base == 16)
    *p++ = '0', *p++ = 'x';
  while (n > 0)
    *p++ = tmp[--n];
  *p = 0;
  return p;
}

static long
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read what the analyzer writes on FD into BUF (SIZE bytes) until it
   closes it; returns how many bytes, or -1 when it takes too long, writes
   too much or the read fails.  */
static ssize_t
read_output (int fd, char *buf, size_t size)
{
  size_t len = 0;
  long deadline = now_ms () + ANALYZER_TIMEOUT_MS;
  for (;;)
    {
      long left = deadline - now_ms ();
      if (left <= 0)
        return -1;
      struct pollfd p = { .fd = fd, .events = POLLIN };
      int r = poll (&p, 1, (int) left);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        return -1;
      if (len == size)
        return -1;
      ssize_t got = read (fd, buf + len, size - len);
      if (got < 0 && errno == EINTR)
        continue;
      if (got < 0)
        return -1;
      if (got == 0)
        return (ssize_t) len;
      len += (size_t) got;
    }
}

/* "  TITLE:\n" to FD.  */
static void
put_title (int fd, const char *title)
{
  struct dmem_line l = { .len = 0 };
  dmem__put (&l, "  ");
  dmem__put (&l, title);
  dmem__put (&l, ":\n");
  dmem__flush (&l, fd);
}

/* The stacks named by the analyzer (see dmem__put_stacks).  Returns 1 when
   they were written, 0 when nothing was (the analyzer cannot be started,
   fails or hangs).  */
static int
analyzer_stacks (int fd, int n, const char *const *titles,
                 const uint64_t *const *stacks)
{
  /* dmem symbolize --pid=PID STACK...: each stack one word 0xA,0xB,...  */
  char words[MAX_STACKS][DMEM_STACK_DEPTH * 19 + 1];
  char pid[32] = "--pid=";
  put_number (pid + 6, (uint64_t) getpid (), 10);
  char *argv[3 + MAX_STACKS + 1] = { "dmem", "symbolize", pid };
  int nwords = 0;
  for (int s = 0; s < n; s++)
    {
      if (stacks[s][0] == 0)
        continue;
      char *p = words[nwords];
      for (int i = 0; i < DMEM_STACK_DEPTH && stacks[s][i]; i++)
        {
          if (i > 0)
            *p++ = ',';
          p = put_number (p, stacks[s][i], 16);
        }
      argv[3 + nwords] = words[nwords];
      nwords++;
    }
  argv[3 + nwords] = NULL;
  if (nwords == 0)
    return 1;
  int out[2];
  if (pipe2 (out, O_CLOEXEC) != 0)
    return 0;
  struct dmem_child c;
  if (dmem__analyzer_start (argv, out[1], -1, -1, &c) != 0)
    {
      close (out[0]);
      close (out[1]);
      return 0;
    }
  close (out[1]);
  char *buf = mmap (NULL, OUTPUT_MAX, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ssize_t len = buf == MAP_FAILED ? -1 : read_output (out[0], buf, OUTPUT_MAX);
  if (len < 0)
    kill (c.pid, SIGKILL);
  close (out[0]);
  int status = dmem__analyzer_wait (&c);
  int ok = len > 0 && status != -1 && WIFEXITED (status)
           && WEXITSTATUS (status) == 0;
  /* Its stacks are separated by an empty line: as many as asked for, or
     it is not what we asked for.  */
  const char *seg[MAX_STACKS];
  size_t seglen[MAX_STACKS];
  int found = 0;
  if (ok)
    {
      const char *p = buf, *end = buf + len;
      while (p < end && found < nwords)
        {
          const char *q = p;
          while (q < end && !(q[0] == '\n' && (q + 1 == end || q[1] == '\n')))
            q++;
          if (q == end || q == p)
            break;
          seg[found] = p;
          seglen[found++] = (size_t) (q + 1 - p);
          p = q + 2;
        }
      ok = found == nwords && p >= end;
      /* Every line a frame: "    #K ...".  */
      for (const char *line = buf; ok && line < end;)
        {
          const char *eol = memchr (line, '\n', (size_t) (end - line));
          if (eol == NULL)
            eol = end;
          if (eol > line && (eol - line < 6 || memcmp (line, "    #", 5) != 0))
            ok = 0;
          line = eol + 1;
        }
    }
  if (ok)
    for (int s = 0, k = 0; s < n; s++)
      {
        if (stacks[s][0] == 0)
          continue;
        put_title (fd, titles[s]);
        write_all (fd, seg[k], seglen[k]);
        k++;
      }
  if (buf != MAP_FAILED)
    munmap (buf, OUTPUT_MAX);
  return ok;
}

/* ---- our own names: the modules' symbol tables ---------------------------- */

/* A module file mapped for reading its symbols.  */
struct module
{
  char path[PATH_MAX];
  const unsigned char *data; /* NULL: cannot be read */
  size_t size;
};

static void
module_close (struct module *m)
{
  if (m->data != NULL)
    munmap ((void *) m->data, m->size);
  m->data = NULL;
  m->path[0] = 0;
}

/* Map PATH (inode INODE, as the maps say) into M, unless it is M already.  */
static void
module_open (struct module *m, const char *path, size_t len, uint64_t inode)
{
  if (len >= sizeof m->path)
    len = sizeof m->path - 1;
  if (strncmp (m->path, path, len) == 0 && m->path[len] == 0)
    return;
  module_close (m);
  memcpy (m->path, path, len);
  m->path[len] = 0;
  int fd = open (m->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return;
  struct stat st;
  /* A file replaced since it was mapped would give wrong names.  */
  if (fstat (fd, &st) == 0 && (uint64_t) st.st_ino == inode
      && st.st_size >= (off_t) sizeof (Elf64_Ehdr))
    {
      void *p = mmap (NULL, (size_t) st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p != MAP_FAILED)
        {
          m->data = p;
          m->size = (size_t) st.st_size;
        }
    }
  close (fd);
}

/* Whether [OFF, OFF + LEN) lies in M.  */
static int
in_file (const struct module *m, uint64_t off, uint64_t len)
{
  return off <= m->size && len <= m->size - off;
}

/* The function of module M holding file offset OFF: its name (NUL-ended
   within M), and *START its address in the module.  *ADDR is OFF's
   address.  NULL when no symbol holds it.  */
static const char *
module_function (const struct module *m, uint64_t off, uint64_t *addr,
                 uint64_t *start)
{
  if (m->data == NULL)
    return NULL;
  const Elf64_Ehdr *eh = (const Elf64_Ehdr *) m->data;
  if (memcmp (eh->e_ident, ELFMAG, SELFMAG) != 0
      || eh->e_ident[EI_CLASS] != ELFCLASS64
      || eh->e_phentsize != sizeof (Elf64_Phdr)
      || eh->e_shentsize != sizeof (Elf64_Shdr)
      || !in_file (m, eh->e_phoff, (uint64_t) eh->e_phnum * sizeof (Elf64_Phdr))
      || !in_file (m, eh->e_shoff, (uint64_t) eh->e_shnum * sizeof (Elf64_Shdr)))
    return NULL;
  /* The file offset as an address of the module (its segments').  */
  const Elf64_Phdr *ph = (const Elf64_Phdr *) (m->data + eh->e_phoff);
  int have = 0;
  for (int i = 0; i < eh->e_phnum && !have; i++)
    if (ph[i].p_type == PT_LOAD && off >= ph[i].p_offset
        && off - ph[i].p_offset < ph[i].p_filesz)
      {
        *addr = ph[i].p_vaddr + (off - ph[i].p_offset);
        have = 1;
      }
  if (!have)
    return NULL;
  const Elf64_Shdr *sh = (const Elf64_Shdr *) (m->data + eh->e_shoff);
  /* .symtab has the static functions; .dynsym is what a stripped file
     keeps.  */
  static const uint32_t kinds[] = { SHT_SYMTAB, SHT_DYNSYM };
  for (int k = 0; k < 2; k++)
    for (int i = 0; i < eh->e_shnum; i++)
      {
        if (sh[i].sh_type != kinds[k] || sh[i].sh_link >= eh->e_shnum
            || sh[i].sh_entsize != sizeof (Elf64_Sym)
            || !in_file (m, sh[i].sh_offset, sh[i].sh_size))
          continue;
        const Elf64_Shdr *str = &sh[sh[i].sh_link];
        if (!in_file (m, str->sh_offset, str->sh_size) || str->sh_size == 0)
          continue;
        const char *names = (const char *) m->data + str->sh_offset;
        const Elf64_Sym *sym = (const Elf64_Sym *) (m->data + sh[i].sh_offset);
        const Elf64_Sym *best = NULL;
        for (uint64_t s = 0; s < sh[i].sh_size / sizeof *sym; s++)
          {
            int type = ELF64_ST_TYPE (sym[s].st_info);
            if ((type != STT_FUNC && type != STT_GNU_IFUNC)
                || sym[s].st_shndx == SHN_UNDEF || sym[s].st_value > *addr
                || *addr - sym[s].st_value >= sym[s].st_size
                || sym[s].st_name >= str->sh_size)
              continue;
            if (best == NULL || sym[s].st_size < best->st_size)
              best = &sym[s];
          }
        if (best != NULL
            && memchr (names + best->st_name, 0, str->sh_size - best->st_name))
          {
            *start = best->st_value;
            return names + best->st_name;
          }
      }
  return NULL;
}

/* The number in BASE at *Q (before EOL), stepping past it and the
   spaces after it.  */
static uint64_t
number (const char **q, const char *eol, unsigned base)
{
  uint64_t v = 0;
  for (; *q < eol; ++*q)
    {
      char c = **q;
      unsigned d = c >= '0' && c <= '9' ? (unsigned) (c - '0')
                   : c >= 'a' && c <= 'f' ? (unsigned) (c - 'a' + 10) : 99;
      if (d >= base)
        break;
      v = v * base + d;
    }
  while (*q < eol && **q == ' ')
    ++*q;
  return v;
}

/* Step *Q past a word and the spaces after it.  */
static void
skip_word (const char **q, const char *eol)
{
  while (*q < eol && **q != ' ')
    ++*q;
  while (*q < eol && **q == ' ')
    ++*q;
}

/* The mapping of MAPS (LEN bytes of /proc/self/maps) holding ADDR: ADDR's
   file offset (*OFF), the mapped file's path (*PATH, *PATH_LEN; 0 when
   anonymous) and inode.  Returns 0 when no mapping holds it.  */
static int
mapping_of (const char *maps, size_t len, uint64_t addr, uint64_t *off,
            const char **path, size_t *path_len, uint64_t *inode)
{
  for (const char *p = maps, *end = maps + len; p < end;)
    {
      const char *eol = memchr (p, '\n', (size_t) (end - p));
      if (eol == NULL)
        eol = end;
      /* start-end perms offset dev inode path */
      const char *q = p;
      uint64_t start = number (&q, eol, 16);
      if (q < eol && *q == '-')
        q++;
      uint64_t stop = number (&q, eol, 16);
      skip_word (&q, eol);
      uint64_t offset = number (&q, eol, 16);
      skip_word (&q, eol);
      uint64_t ino = number (&q, eol, 10);
      if (addr >= start && addr < stop)
        {
          *off = addr - start + offset;
          *inode = ino;
          *path = q;
          *path_len = (size_t) (eol - q);
          return 1;
        }
      p = eol + 1;
    }
  return 0;
}

/* The stacks named from the symbol tables (see dmem__put_stacks).  */
static void
own_stacks (int fd, int n, const char *const *titles,
            const uint64_t *const *stacks)
{
  /* The module (PATH_MAX) is kept there too: off the reporter's stack.  */
  size_t size = MAPS_MAX + sizeof (struct module);
  char *maps = mmap (NULL, size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (maps == MAP_FAILED)
    maps = NULL; /* the addresses alone, then */
  struct module *m = maps ? (struct module *) (maps + MAPS_MAX) : NULL;
  size_t len = 0;
  int mfd = maps ? open ("/proc/self/maps", O_RDONLY | O_CLOEXEC) : -1;
  ssize_t got;
  while (mfd >= 0 && len < MAPS_MAX
         && ((got = read (mfd, maps + len, MAPS_MAX - len)) > 0
             || (got < 0 && errno == EINTR)))
    len += got > 0 ? (size_t) got : 0;
  if (mfd >= 0)
    close (mfd);
  for (int s = 0; s < n; s++)
    {
      if (stacks[s][0] == 0)
        continue;
      put_title (fd, titles[s]);
      for (int i = 0; i < DMEM_STACK_DEPTH && stacks[s][i]; i++)
        {
          uint64_t pc = stacks[s][i], off, inode, addr, start;
          const char *path = NULL, *name = NULL;
          size_t plen = 0;
          struct dmem_line l = { .len = 0 };
          dmem__put (&l, "    #");
          dmem__put_dec (&l, (uint64_t) i);
          dmem__put (&l, " ");
          /* PC - 1: the call, as the analyzer looks return addresses up.  */
          if (maps != NULL
              && mapping_of (maps, len, pc - 1, &off, &path, &plen, &inode)
              && plen > 0 && path[0] == '/')
            {
              module_open (m, path, plen, inode);
              name = module_function (m, off, &addr, &start);
            }
          if (name != NULL)
            {
              dmem__put (&l, name);
              dmem__put (&l, "+");
              dmem__put_hex (&l, addr + 1 - start);
            }
          else
            dmem__put_hex (&l, pc);
          if (plen > 0)
            {
              const char *base = path;
              for (size_t k = 0; k < plen; k++)
                if (path[k] == '/')
                  base = path + k + 1;
              dmem__put (&l, " [");
              size_t blen = (size_t) (path + plen - base);
              size_t room = sizeof l.buf - l.len;
              memcpy (l.buf + l.len, base, blen < room ? blen : room);
              l.len += blen < room ? blen : room;
              dmem__put (&l, "]");
            }
          dmem__put (&l, "\n");
          dmem__flush (&l, fd);
        }
    }
  if (maps != NULL)
    {
      module_close (m);
      munmap (maps, size);
    }
}

void
dmem__put_stacks (struct dmem_line *l, int fd, int n,
                  const char *const *titles, const uint64_t *const *stacks)
{
  int saved = errno;
  dmem__flush (l, fd);
  if (n > MAX_STACKS)
    n = MAX_STACKS;
  if (!analyzer_stacks (fd, n, titles, stacks))
    own_stacks (fd, n, titles, stacks);
  errno = saved;
}
