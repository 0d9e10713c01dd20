/* An ELF core of a live process, written from the engine's snapshot (dmem bundle --pid: no gdb needed).  */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "dmem.h"

#define PAGE 4096
#define PRSTATUS_SIZE 336
#define PRPSINFO_SIZE 136

/* One mapping of /proc/PID/maps.  */
struct mapping
{
  uint64_t start, end, offset;
  int readable, writable;
  int written;  /* holds anonymous pages (relocated, copied on write) */
  char *path;   /* NULL: anonymous */
};

/* Append note NAME/TYPE with DESC (SIZE bytes) to *BUF.  */
static void
add_note (char **buf, size_t *len, uint32_t type, const void *desc,
	  size_t size)
{
  size_t need = 12 + 8 + ((size + 3) & ~(size_t) 3);
  *buf = dmem_xrealloc (*buf, *len + need, 1);
  char *p = *buf + *len;
  memset (p, 0, need);
  uint32_t h[3] = { 5, (uint32_t) size, type };
  memcpy (p, h, 12);
  memcpy (p + 12, "CORE", 5);
  memcpy (p + 20, desc, size);
  *len += need;
}

/* The whole of a small /proc file (caller frees), or NULL.  */
static char *
slurp (const char *path, size_t *len)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return NULL;
  size_t cap = 4096;
  char *buf = dmem_xmalloc (cap);
  *len = 0;
  ssize_t n;
  while ((n = read (fd, buf + *len, cap - *len)) > 0)
    {
      *len += n;
      if (*len == cap)
	buf = dmem_xrealloc (buf, cap *= 2, 1);
    }
  close (fd);
  return buf;
}

/* /proc/PID/smaps as mappings, each marked written when it holds
   anonymous (copied-on-write) pages.  */
static struct mapping *
read_mappings (pid_t pid, size_t *n)
{
  char path[64];
  snprintf (path, sizeof path, "/proc/%d/smaps", (int) pid);
  FILE *f = fopen (path, "re");
  struct mapping *m = NULL;
  *n = 0;
  if (f == NULL)
    return NULL;
  char line[4096 + 256];
  while (fgets (line, sizeof line, f) != NULL)
    {
      unsigned long long start, end, offset, inode, kb;
      char perms[8];
      int at = 0;
      if (*n > 0 && sscanf (line, "Anonymous: %llu kB", &kb) == 1)
	{
	  m[*n - 1].written = kb > 0;
	  continue;
	}
      if (sscanf (line, "%llx-%llx %7s %llx %*s %llu %n", &start, &end,
		  perms, &offset, &inode, &at) < 5)
	continue;
      char *name = line + at;
      name[strcspn (name, "\n")] = '\0';
      m = dmem_xrealloc (m, *n + 1, sizeof *m);
      m[*n] = (struct mapping) { start, end, offset, perms[0] == 'r',
	perms[1] == 'w', 0,
	inode != 0 && name[0] == '/' ? strdup (name) : NULL };
      (*n)++;
    }
  fclose (f);
  return m;
}

/* See dmem.h.  */
int
dmem_write_core (struct dmem_target *t, int fd)
{
  size_t nmaps;
  struct mapping *maps = read_mappings (t->pid, &nmaps);
  if (maps == NULL)
    return dmem_fail (t, "cannot read the mappings of process %d",
		      (int) t->pid);
  char *notes = NULL;
  size_t notes_len = 0;

  /* NT_PRPSINFO: the name and command line.  */
  unsigned char ps[PRPSINFO_SIZE];
  memset (ps, 0, sizeof ps);
  char path[64];
  size_t len;
  snprintf (path, sizeof path, "/proc/%d/cmdline", (int) t->pid);
  char *cmdline = slurp (path, &len);
  if (cmdline != NULL)
    {
      for (size_t i = 0; i + 1 < len; i++)
	if (cmdline[i] == '\0')
	  cmdline[i] = ' ';
      memcpy (ps + 56, cmdline, len < 80 ? len : 79);
      free (cmdline);
    }
  snprintf (path, sizeof path, "/proc/%d/comm", (int) t->pid);
  char *comm = slurp (path, &len);
  if (comm != NULL)
    {
      memcpy (ps + 40, comm, len < 16 ? len : 15);
      ps[40 + strcspn ((char *) ps + 40, "\n")] = '\0';
      free (comm);
    }
  int32_t pid = t->pid;
  memcpy (ps + 24, &pid, 4);

  /* NT_PRSTATUS per thread, the first one first (libdwfl takes it as the
     thread that dumped).  */
  for (size_t i = 0; i < t->nthreads; i++)
    {
      unsigned char st[PRSTATUS_SIZE];
      memset (st, 0, sizeof st);
      int32_t tid = t->threads[i].tid;
      memcpy (st + 32, &tid, 4);
      memcpy (st + 112, t->threads[i].regs, DMEM_NREGS * 8);
      add_note (&notes, &notes_len, NT_PRSTATUS, st, sizeof st);
      if (i == 0)
	add_note (&notes, &notes_len, NT_PRPSINFO, ps, sizeof ps);
    }
  snprintf (path, sizeof path, "/proc/%d/auxv", (int) t->pid);
  char *auxv = slurp (path, &len);
  if (auxv != NULL)
    {
      add_note (&notes, &notes_len, NT_AUXV, auxv, len);
      free (auxv);
    }
  /* NT_FILE: the file mappings, as the kernel writes it.  */
  size_t nfile = 0, names = 0;
  for (size_t i = 0; i < nmaps; i++)
    if (maps[i].path != NULL)
      nfile++, names += strlen (maps[i].path) + 1;
  size_t fsize = 16 + 24 * nfile + names;
  unsigned char *fnote = dmem_xcalloc (1, fsize);
  uint64_t head[2] = { nfile, PAGE };
  memcpy (fnote, head, 16);
  size_t k = 0, at = 16 + 24 * nfile;
  for (size_t i = 0; i < nmaps; i++)
    if (maps[i].path != NULL)
      {
	uint64_t e[3] = { maps[i].start, maps[i].end, maps[i].offset / PAGE };
	memcpy (fnote + 16 + 24 * k++, e, 24);
	strcpy ((char *) fnote + at, maps[i].path);
	at += strlen (maps[i].path) + 1;
      }
  add_note (&notes, &notes_len, NT_FILE, fnote, fsize);
  free (fnote);

  /* What each mapping's PT_LOAD holds, as the kernel's default filter:
     writable and anonymous memory and file mappings with pages written
     (relocated read-only data: the link map's .dynamic) in full, the
     first page of another file mapping at offset 0 (its ELF header and
     build ID).  */
  size_t nphdr = nmaps + 1;
  GElf_Phdr *ph = dmem_xcalloc (nphdr, sizeof *ph);
  uint64_t offset = (64 + nphdr * 56 + notes_len + PAGE - 1) & ~(uint64_t) (PAGE - 1);
  ph[0] = (GElf_Phdr) { .p_type = PT_NOTE, .p_offset = 64 + nphdr * 56,
    .p_filesz = notes_len, .p_align = 4 };
  for (size_t i = 0; i < nmaps; i++)
    {
      struct mapping *m = &maps[i];
      uint64_t want = 0;
      if (m->readable && (m->writable || m->written || m->path == NULL))
	want = m->end - m->start;
      else if (m->readable && m->offset == 0)
	want = PAGE;
      ph[i + 1] = (GElf_Phdr) { .p_type = PT_LOAD, .p_offset = offset,
	.p_vaddr = m->start, .p_memsz = m->end - m->start, .p_align = PAGE,
	.p_flags = (m->readable ? PF_R : 0) | (m->writable ? PF_W : 0) };
      ph[i + 1].p_filesz = want;
      offset += want;
    }

  /* The headers, the notes, then each segment's bytes.  */
  Elf64_Ehdr eh;
  memset (&eh, 0, sizeof eh);
  memcpy (eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = ET_CORE;
  eh.e_machine = EM_X86_64;
  eh.e_version = EV_CURRENT;
  eh.e_phoff = 64;
  eh.e_ehsize = 64;
  eh.e_phentsize = 56;
  eh.e_phnum = nphdr;
  int ok = dmem_write_all (fd, &eh, sizeof eh) == 0;
  for (size_t i = 0; ok && i < nphdr; i++)
    {
      Elf64_Phdr p = { ph[i].p_type, ph[i].p_flags, ph[i].p_offset,
	ph[i].p_vaddr, 0, ph[i].p_filesz, ph[i].p_memsz, ph[i].p_align };
      ok = dmem_write_all (fd, &p, sizeof p) == 0;
    }
  ok = ok && dmem_write_all (fd, notes, notes_len) == 0;
  unsigned char *buf = dmem_xmalloc (1 << 20);
  for (size_t i = 0; ok && i < nmaps; i++)
    {
      GElf_Phdr *p = &ph[i + 1];
      for (uint64_t done = 0; ok && done < p->p_filesz;)
	{
	  size_t n = p->p_filesz - done < (1 << 20) ? p->p_filesz - done
						    : (1 << 20);
	  /* Bytes not readable (a guard page) are zeros, as the kernel
	     writes them.  */
	  if (dmem_read (t, p->p_vaddr + done, buf, n) != 0)
	    {
	      memset (buf, 0, n);
	      for (size_t o = 0; o < n; o += PAGE)
		dmem_read (t, p->p_vaddr + done + o, buf + o,
			   n - o < PAGE ? n - o : PAGE);
	    }
	  ok = pwrite (fd, buf, n, p->p_offset + done) == (ssize_t) n;
	  done += n;
	}
    }
  free (buf);
  free (notes);
  free (ph);
  for (size_t i = 0; i < nmaps; i++)
    free (maps[i].path);
  free (maps);
  if (!ok)
    return dmem_fail (t, "cannot write the core of process %d: %s",
		      (int) t->pid, strerror (errno));
  return 0;
}
