/* Compressed debug files expanded once into the user's cache.

   Debian's -dbg and -dbgsym packages install debug files whose DWARF
   sections are compressed (SHF_COMPRESSED).  libdw inflates every such
   section into memory when it opens the file: for glibc's that is 10 MiB
   of the analyzer's own memory and ~60 ms of zlib at each start.
   So the first time a compressed debug file is used, its sections are
   inflated into a plain copy in $XDG_CACHE_HOME/dmem (~/.cache/dmem),
   named by its build ID, as the debuginfod client keeps its downloads in
   ~/.cache/debuginfod_client; libdw maps that copy's sections from then
   on.  The copy is written beside its final name and renamed into place
   whole, so a reader never sees half of one; one that is not a valid ELF
   file of its build ID is not used.  Whatever fails (no home, a full
   disk, a damaged section), the original file is used as before.  Only
   the files installed in the debug directories are kept so (target.c): a
   copy outlives the analysis, and a bundle's files are untrusted.  Those,
   and all of them where there is no cache directory, are expanded into
   an unlinked file in $TMPDIR at each start.  */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>
#include "dmem.h"

#ifndef ELFCOMPRESS_ZSTD
#define ELFCOMPRESS_ZSTD 2
#endif

/* A copy larger than this, or than this many times the file, is not made
   (a damaged file could claim any size): libdw then inflates the file in
   memory, as it would anyway.  DWARF shrinks 3-5 times.  */
#define MAX_EXPANDED (1ULL << 30)
#define MAX_RATIO 32
/* Sections of debug files are aligned to a few bytes, or a page.  */
#define MAX_ALIGN 65536

/* The cache directory, created (0700) if missing, or NULL.  Caller
   frees.  */
static char *
cache_dir (void)
{
  const char *xdg = getenv ("XDG_CACHE_HOME"), *home = getenv ("HOME");
  char *base = NULL, *dir = NULL;
  if (xdg != NULL && xdg[0] == '/')
    base = strdup (xdg);
  else if (home != NULL && home[0] == '/'
	   && asprintf (&base, "%s/.cache", home) < 0)
    base = NULL;
  if (base == NULL)
    return NULL;
  if ((mkdir (base, 0700) == 0 || errno == EEXIST)
      && asprintf (&dir, "%s/dmem", base) >= 0
      && mkdir (dir, 0700) != 0 && errno != EEXIST)
    {
      free (dir);
      dir = NULL;
    }
  free (base);
  return dir;
}

/* Whether the ELF file FD's build ID is BITS (LEN bytes).  */
static int
has_build_id (int fd, const unsigned char *bits, size_t len)
{
  Elf *elf = NULL;
  char got[129];
  int m = dmem_file_matches (fd, &elf, bits, len, got);
  elf_end (elf);
  return m == 1;
}

/* The copy being written.  */
struct copy
{
  FILE *out;
  uint64_t written;   /* bytes so far */
  uint64_t limit;     /* at most this many in all */
};

/* Write N bytes of BUF at C's end.  */
static int
put (struct copy *c, const void *buf, size_t n)
{
  if (n > c->limit - c->written)
    return -1;
  c->written += n;
  return n == 0 || fwrite (buf, 1, n, c->out) == n ? 0 : -1;
}

/* Zero bytes up to a multiple of ALIGN (at most MAX_ALIGN).  */
static int
pad (struct copy *c, uint64_t align)
{
  static const char zero[64];
  if (align > MAX_ALIGN)
    return -1;
  while (align > 1 && c->written % align != 0)
    {
      uint64_t n = align - c->written % align;
      if (put (c, zero, n < sizeof zero ? n : sizeof zero) != 0)
	return -1;
    }
  return 0;
}

/* Inflate the N bytes IN (compressed with TYPE) to C: exactly WANT
   bytes, or -1.  */
static int
inflate_to (struct copy *c, int type, const unsigned char *in, size_t n,
	    uint64_t want)
{
  enum { BUF = 1 << 16 };
  unsigned char *buf = dmem_xmalloc (BUF);
  uint64_t start = c->written;
  int ok = 0;
  if (type == ELFCOMPRESS_ZLIB)
    {
      z_stream z;
      memset (&z, 0, sizeof z);
      if (inflateInit (&z) != Z_OK)
	{
	  free (buf);
	  return -1;
	}
      z.next_in = (unsigned char *) in;
      z.avail_in = n > UINT32_MAX ? UINT32_MAX : n;
      int rc = Z_OK;
      while (rc == Z_OK && c->written - start <= want)
	{
	  z.next_out = buf;
	  z.avail_out = BUF;
	  rc = inflate (&z, Z_NO_FLUSH);
	  if ((rc != Z_OK && rc != Z_STREAM_END)
	      || put (c, buf, BUF - z.avail_out) != 0)
	    break;
	}
      ok = rc == Z_STREAM_END;
      inflateEnd (&z);
    }
  else if (type == ELFCOMPRESS_ZSTD)
    {
      ZSTD_DStream *z = ZSTD_createDStream ();
      ZSTD_inBuffer zin = { in, n, 0 };
      size_t rc = z != NULL ? ZSTD_initDStream (z) : 1;
      while (z != NULL && !ZSTD_isError (rc) && c->written - start <= want)
	{
	  ZSTD_outBuffer zout = { buf, BUF, 0 };
	  rc = ZSTD_decompressStream (z, &zout, &zin);
	  if (ZSTD_isError (rc) || put (c, buf, zout.pos) != 0)
	    break;
	  if (rc == 0)   /* a frame ended: the section is one frame */
	    {
	      ok = 1;
	      break;
	    }
	  if (zout.pos == 0 && zin.pos == zin.size)
	    break;   /* truncated */
	}
      ZSTD_freeDStream (z);
    }
  free (buf);
  return ok && c->written - start == want ? 0 : -1;
}

/* Write to OUT the ELF file ELF (its bytes RAW, SIZE long) with each
   compressed section inflated: the ELF header, the program headers, the
   sections in order and the section headers, the file offsets in the
   headers moved with the sections.  Only what x86-64 debug files are:
   ELF64, little-endian.  Returns 0, or -1 on failure.  */
static int
expand (Elf *elf, const unsigned char *raw, size_t size, FILE *out)
{
  Elf64_Ehdr eh;
  size_t shnum;
  if (size < sizeof eh || raw[EI_CLASS] != ELFCLASS64
      || raw[EI_DATA] != ELFDATA2LSB || elf_getshdrnum (elf, &shnum) != 0
      || shnum == 0)
    return -1;
  memcpy (&eh, raw, sizeof eh);
  size_t phsize = (size_t) eh.e_phnum * sizeof (Elf64_Phdr);
  if ((eh.e_phnum && eh.e_phentsize != sizeof (Elf64_Phdr))
      || eh.e_phoff > size || size - eh.e_phoff < phsize
      || eh.e_shoff > size || size - eh.e_shoff < sizeof (Elf64_Shdr))
    return -1;
  Elf64_Shdr *sh = dmem_xcalloc (shnum, sizeof *sh);
  uint64_t *old = dmem_xcalloc (shnum, sizeof *old);   /* sh_offset before */
  Elf64_Phdr *ph = dmem_xcalloc (eh.e_phnum + 1, sizeof *ph);
  memcpy (ph, raw + eh.e_phoff, phsize);
  struct copy c = { out, 0, size < MAX_EXPANDED / MAX_RATIO
				? size * MAX_RATIO : MAX_EXPANDED };
  int rc = -1;
  for (size_t i = 0; i < shnum; i++)
    {
      Elf_Scn *scn = elf_getscn (elf, i);
      if (scn == NULL || gelf_getshdr (scn, &sh[i]) == NULL)
	goto out;
      if (sh[i].sh_type != SHT_NOBITS
	  && (sh[i].sh_offset > size || sh[i].sh_size > size - sh[i].sh_offset))
	goto out;
      old[i] = sh[i].sh_offset;
    }
  /* The headers first (written again at the end, with the new offsets).  */
  eh.e_phoff = eh.e_phnum ? sizeof eh : 0;
  if (put (&c, &eh, sizeof eh) != 0 || put (&c, ph, phsize) != 0)
    goto out;
  for (size_t i = 1; i < shnum; i++)
    {
      const unsigned char *data = raw + old[i];
      if (sh[i].sh_type == SHT_NOBITS)
	{
	  sh[i].sh_offset = c.written;
	  continue;
	}
      if ((sh[i].sh_flags & SHF_COMPRESSED) == 0)
	{
	  if (pad (&c, sh[i].sh_addralign) != 0)
	    goto out;
	  sh[i].sh_offset = c.written;
	  if (put (&c, data, sh[i].sh_size) != 0)
	    goto out;
	  continue;
	}
      Elf64_Chdr ch;
      if (sh[i].sh_size < sizeof ch)
	goto out;
      memcpy (&ch, data, sizeof ch);
      if (pad (&c, ch.ch_addralign) != 0 || ch.ch_size > c.limit - c.written)
	goto out;
      sh[i].sh_offset = c.written;
      if (inflate_to (&c, ch.ch_type, data + sizeof ch,
		      sh[i].sh_size - sizeof ch, ch.ch_size) != 0)
	goto out;
      sh[i].sh_flags &= ~(uint64_t) SHF_COMPRESSED;
      sh[i].sh_size = ch.ch_size;
      sh[i].sh_addralign = ch.ch_addralign;
    }
  /* A program header's bytes move with the section holding them (a debug
     file's are mostly the stripped file's, holding no bytes here).  */
  for (size_t k = 0; k < eh.e_phnum; k++)
    for (size_t i = 1; i < shnum; i++)
      if (sh[i].sh_type != SHT_NOBITS && (sh[i].sh_flags & SHF_COMPRESSED) == 0
	  && ph[k].p_filesz > 0 && ph[k].p_offset >= old[i]
	  && ph[k].p_offset - old[i] < sh[i].sh_size)
	{
	  ph[k].p_offset = ph[k].p_offset - old[i] + sh[i].sh_offset;
	  break;
	}
  if (pad (&c, 8) != 0)
    goto out;
  /* Section 0 as it was: it may hold the extended counts.  */
  memcpy (&sh[0], raw + eh.e_shoff, sizeof *sh);
  eh.e_shoff = c.written;
  if (shnum > c.limit / sizeof *sh || put (&c, sh, shnum * sizeof *sh) != 0
      || fseek (out, 0, SEEK_SET) != 0
      || fwrite (&eh, sizeof eh, 1, out) != 1
      || (phsize && fwrite (ph, phsize, 1, out) != 1) || fflush (out) != 0)
    goto out;
  rc = 0;
out:
  free (ph);
  free (old);
  free (sh);
  return rc;
}

/* Whether ELF has a compressed section.  */
static int
has_compressed (Elf *elf)
{
  for (Elf_Scn *scn = elf_nextscn (elf, NULL); scn != NULL;
       scn = elf_nextscn (elf, scn))
    {
      GElf_Shdr sh;
      if (gelf_getshdr (scn, &sh) != NULL && (sh.sh_flags & SHF_COMPRESSED))
	return 1;
    }
  return 0;
}

/* See dmem.h.  */
int
dmem_debug_expanded (int fd, const unsigned char *bits, size_t len, int keep)
{
  if (len == 0 || len > 64)
    return fd;
  char *dir = cache_dir (), *path = NULL, *tmp = NULL;
  char hex[129];
  dmem_hex (bits, len, hex);
  if (dir != NULL && asprintf (&path, "%s/%s.debug", dir, hex) < 0)
    path = NULL;
  free (dir);
  int copy = path != NULL ? open (path, O_RDONLY | O_CLOEXEC) : -1;
  if (copy >= 0 && has_build_id (copy, bits, len))
    {
      close (fd);
      free (path);
      return copy;
    }
  if (copy >= 0)
    close (copy);
  Elf *elf = elf_begin (fd, ELF_C_READ_MMAP, NULL);
  if (elf == NULL || !has_compressed (elf))
    {
      elf_end (elf);
      free (path);
      return fd;
    }
  /* Not yet expanded (or a bad copy, replaced): beside its place in the
     cache, or (without a cache, or a file not to keep) in an unlinked
     file in $TMPDIR, as a compressed core is: page cache, not the
     analyzer's memory.  */
  copy = -1;
  if (keep && path != NULL && asprintf (&tmp, "%s.XXXXXX", path) >= 0
      && (copy = mkostemp (tmp, O_CLOEXEC)) < 0)
    {
      free (tmp);
      tmp = NULL;
    }
  char error[256];
  if (copy < 0)
    copy = dmem_temp_file (error, sizeof error);
  size_t size = 0;
  const unsigned char *raw = copy >= 0
    ? (const unsigned char *) elf_rawfile (elf, &size) : NULL;
  int out_fd = raw != NULL ? dup (copy) : -1;
  FILE *out = out_fd >= 0 ? fdopen (out_fd, "w+") : NULL;
  int rc = out != NULL ? expand (elf, raw, size, out) : -1;
  if (out == NULL && out_fd >= 0)
    close (out_fd);
  if (out != NULL && fclose (out) != 0)
    rc = -1;
  elf_end (elf);
  if (rc == 0 && has_build_id (copy, bits, len))
    {
      if (tmp != NULL && rename (tmp, path) != 0)
	unlink (tmp);
      close (fd);
      fd = copy;
    }
  else
    {
      if (tmp != NULL)
	unlink (tmp);
      if (copy >= 0)
	close (copy);
    }
  free (tmp);
  free (path);
  return fd;
}
