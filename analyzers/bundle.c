/* Support bundles: one zstd-compressed tar stream holding a core, the files of its modules by build ID, their debug info, and a manifest (docs/bundle.md).  */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <gelf.h>
#include <gnu/libc-version.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>
#include <elfutils/libdwelf.h>
#include "dmem.h"

#define MANIFEST "dmem-bundle.json"
#define MAX_MANIFEST (16 << 20)
#define MAX_MEMBERS 100000
#define MAX_ID 64
#define CHUNK (1 << 20)

/* One module file or debug file of a bundle, in a memory file.  */
struct bundle_file
{
  unsigned char id[MAX_ID];
  size_t len;
  int debug;
  int fd;
  char *name;
};

struct dmem_bundle
{
  struct bundle_file *files;
  size_t nfiles;
};

/* ---- the tar stream ---- */

/* The value of tar number field F (N bytes): octal, or GNU base-256 (the
   high bit of the first byte set).  UINT64_MAX when malformed.  */
static uint64_t
tar_number (const unsigned char *f, size_t n)
{
  uint64_t v = 0;
  if (f[0] & 0x80)
    {
      if (f[0] != 0x80)
	return UINT64_MAX;  /* negative, or too large */
      for (size_t i = 1; i < n; i++)
	{
	  if (v >> 55)
	    return UINT64_MAX;
	  v = v << 8 | f[i];
	}
      return v;
    }
  size_t i = 0;
  while (i < n && f[i] == ' ')
    i++;
  for (; i < n && f[i] >= '0' && f[i] <= '7'; i++)
    {
      if (v >> 60)
	return UINT64_MAX;
      v = v * 8 + (f[i] - '0');
    }
  for (; i < n; i++)
    if (f[i] != '\0' && f[i] != ' ')
      return UINT64_MAX;
  return v;
}

/* Whether the 512-byte tar header H has a right checksum.  */
static int
tar_checksum_ok (const unsigned char *h)
{
  uint64_t want = tar_number (h + 148, 8), sum = 0;
  for (int i = 0; i < 512; i++)
    sum += i >= 148 && i < 156 ? ' ' : h[i];
  return want == sum;
}

/* The member name of header H (NUL-terminated into NAME, 256 bytes).  */
static void
tar_name (const unsigned char *h, char *name)
{
  char prefix[156] = "", base[101];
  memcpy (base, h, 100);
  base[100] = '\0';
  if (memcmp (h + 257, "ustar", 5) == 0)
    {
      memcpy (prefix, h + 345, 155);
      prefix[155] = '\0';
    }
  snprintf (name, 256, "%s%s%s", prefix, prefix[0] ? "/" : "", base);
}

/* See dmem.h.  */
int
dmem_bundle_is (const unsigned char *head, size_t n)
{
  char name[256];
  if (n < 512 || memcmp (head + 257, "ustar", 5) != 0)
    return 0;
  tar_name (head, name);
  return strcmp (name, MANIFEST) == 0;
}

/* Parse "build-id/XX/YYYY[.debug]" into F's id and kind.  Returns 0, or
   -1 when NAME is no such member.  */
static int
parse_build_id_name (const char *name, struct bundle_file *f)
{
  if (strncmp (name, "build-id/", 9) != 0)
    return -1;
  const char *p = name + 9;
  char hex[2 * MAX_ID + 1];
  size_t n = 0;
  for (; *p && n < sizeof hex - 1; p++)
    {
      if (p - name == 11 && *p == '/')
	continue;
      if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
	break;
      hex[n++] = *p;
    }
  if (name[11] != '/' || n < 2 || n % 2 != 0)
    return -1;
  if (strcmp (p, ".debug") == 0)
    f->debug = 1;
  else if (*p != '\0')
    return -1;
  else
    f->debug = 0;
  f->len = n / 2;
  for (size_t i = 0; i < f->len; i++)
    {
      unsigned v;
      sscanf (hex + 2 * i, "%2x", &v);
      f->id[i] = v;
    }
  return 0;
}

/* Copy SIZE bytes of member NAME from S to FD (-1: skip them), then the
   padding to 512.  Returns 0 or -1 after dmem_fail naming PATH.  */
static int
copy_member (struct dmem_target *t, struct dmem_stream *s, uint64_t size,
	     int fd, const char *name, const char *path)
{
  unsigned char *buf = dmem_xmalloc (CHUNK);
  uint64_t left = size + (512 - size % 512) % 512, done = 0;
  while (left > 0)
    {
      size_t want = left < CHUNK ? left : CHUNK;
      ssize_t n = dmem_stream_read (s, buf, want);
      uint64_t got = n < 0 ? 0 : (uint64_t) n;
      if (n < 0)
	{
	  free (buf);
	  const char *why = dmem_stream_error (s);
	  return dmem_fail (t, "%s: %s bundle: %s (in member %s)", path,
			    strncmp (why, "truncated", 9) == 0 ? "truncated"
			    : "corrupt", why, name);
	}
      if (got < want)
	{
	  free (buf);
	  return dmem_fail (t, "%s: truncated bundle: member %s has %" PRIu64
			    " of its %" PRIu64 " bytes", path, name,
			    done + got < size ? done + got : size, size);
	}
      uint64_t data = done < size ? size - done : 0;
      if (fd >= 0 && data > 0
	  && dmem_write_all (fd, buf, data < got ? data : got) != 0)
	{
	  free (buf);
	  return dmem_fail (t, "%s: cannot unpack member %s: %s", path, name,
			    strerror (errno));
	}
      done += got;
      left -= got;
      if (size > CHUNK)
	dmem_progress (t, "reading the bundle", done, size);
    }
  free (buf);
  return 0;
}

/* See dmem.h: every member streamed once; the core to a temporary file,
   module and debug files to memory files.  */
int
dmem_bundle_read (struct dmem_target *t, struct dmem_stream *s,
		  const unsigned char *head, size_t n, const char *path)
{
  struct dmem_bundle *b = dmem_xcalloc (1, sizeof *b);
  t->bundle = b;
  int core = -1, zeros = 0;
  unsigned char h[512];
  memcpy (h, head, n < 512 ? n : 512);
  for (size_t member = 0;; member++)
    {
      if (member > 0)
	{
	  ssize_t got = dmem_stream_read (s, h, 512);
	  if (got < 0)
	    {
	      dmem_fail (t, "%s: corrupt bundle: %s", path,
			 dmem_stream_error (s));
	      goto fail;
	    }
	  if (got == 0 && core >= 0)
	    break;    /* no end blocks: what tar also accepts */
	  if (got < 512)
	    {
	      dmem_fail (t, "%s: truncated bundle: it ends inside a member "
			 "header (member %zu)", path, member + 1);
	      goto fail;
	    }
	}
      int zero = 1;
      for (int i = 0; i < 512 && zero; i++)
	zero = h[i] == 0;
      if (zero)
	{
	  if (++zeros == 2)
	    break;
	  continue;
	}
      zeros = 0;
      if (!tar_checksum_ok (h) || member >= MAX_MEMBERS)
	{
	  dmem_fail (t, "%s: corrupt bundle: member %zu has a broken tar "
		     "header", path, member + 1);
	  goto fail;
	}
      char name[256];
      tar_name (h, name);
      uint64_t size = tar_number (h + 124, 12);
      if (size == UINT64_MAX || size > ((uint64_t) 1 << 46))
	{
	  dmem_fail (t, "%s: corrupt bundle: member %s has a bad size", path,
		     name);
	  goto fail;
	}
      int regular = h[156] == '0' || h[156] == '\0';
      int fd = -1;
      struct bundle_file f = { .fd = -1 };
      if (!regular)
	;
      else if (member == 0 && strcmp (name, MANIFEST) == 0)
	{
	  if (size > MAX_MANIFEST)
	    {
	      dmem_fail (t, "%s: corrupt bundle: the manifest is %" PRIu64
			 " bytes", path, size);
	      goto fail;
	    }
	  fd = memfd_create ("manifest", MFD_CLOEXEC);
	}
      else if (strcmp (name, "core") == 0 && core < 0)
	{
	  char why[256];
	  fd = core = dmem_temp_file (why, sizeof why);
	  if (core < 0)
	    {
	      dmem_fail (t, "%s: %s", path, why);
	      goto fail;
	    }
	}
      else if (parse_build_id_name (name, &f) == 0)
	{
	  int known = 0;
	  for (size_t i = 0; i < b->nfiles; i++)
	    known |= b->files[i].len == f.len && b->files[i].debug == f.debug
		     && memcmp (b->files[i].id, f.id, f.len) == 0;
	  if (!known)
	    fd = f.fd = memfd_create (name + 9, MFD_CLOEXEC);
	}
      if (copy_member (t, s, size, fd, name, path) != 0)
	{
	  if (fd != core && fd >= 0)
	    close (fd);
	  goto fail;
	}
      if (member == 0 && fd >= 0)
	{
	  t->manifest = dmem_xmalloc (size + 1);
	  if (pread (fd, t->manifest, size, 0) != (ssize_t) size)
	    size = 0;
	  t->manifest[size] = '\0';
	  close (fd);
	}
      else if (f.fd >= 0)
	{
	  f.name = strdup (name);
	  b->files = dmem_xrealloc (b->files, b->nfiles + 1, sizeof *b->files);
	  b->files[b->nfiles++] = f;
	}
    }
  dmem_progress_end (t);
  if (core < 0)
    {
      dmem_fail (t, "%s: corrupt bundle: no core inside", path);
      return -1;
    }
  return core;

 fail:
  dmem_progress_end (t);
  if (core >= 0)
    close (core);
  return -1;
}

/* See dmem.h.  */
int
dmem_bundle_find (const struct dmem_target *t, const unsigned char *bits,
		  size_t len, int debug, char **name)
{
  const struct dmem_bundle *b = t->bundle;
  for (size_t i = 0; b != NULL && i < b->nfiles; i++)
    if (b->files[i].len == len && b->files[i].debug == debug
	&& memcmp (b->files[i].id, bits, len) == 0)
      {
	if (name != NULL && asprintf (name, "bundle:%s", b->files[i].name) < 0)
	  *name = NULL;
	return fcntl (b->files[i].fd, F_DUPFD_CLOEXEC, 0);
      }
  return -1;
}

/* See dmem.h.  */
void
dmem_bundle_free (struct dmem_bundle *b)
{
  if (b == NULL)
    return;
  for (size_t i = 0; i < b->nfiles; i++)
    {
      close (b->files[i].fd);
      free (b->files[i].name);
    }
  free (b->files);
  free (b);
}

/* ---- writing a bundle ---- */

/* The zstd-compressed output.  */
struct writer
{
  int fd;
  ZSTD_CCtx *cctx;
  unsigned char *out;
  size_t out_size;
  uint64_t written;      /* compressed bytes */
  const char *path;
};

/* Compress LEN bytes of BUF (END: finish the frame).  0 or -1.  */
static int
put (struct writer *w, const void *buf, size_t len, int end)
{
  ZSTD_inBuffer in = { buf, len, 0 };
  for (;;)
    {
      ZSTD_outBuffer out = { w->out, w->out_size, 0 };
      size_t r = ZSTD_compressStream2 (w->cctx, &out, &in,
				       end ? ZSTD_e_end : ZSTD_e_continue);
      if (ZSTD_isError (r))
	{
	  fprintf (stderr, "dmem: bundle: zstd: %s\n", ZSTD_getErrorName (r));
	  return -1;
	}
      if (dmem_write_all (w->fd, w->out, out.pos) != 0)
	{
	  fprintf (stderr, "dmem: bundle: cannot write %s: %s\n", w->path,
		   strerror (errno));
	  return -1;
	}
      w->written += out.pos;
      if (end ? r == 0 : in.pos == in.size)
	return 0;
    }
}

/* A tar header for regular file NAME of SIZE bytes.  */
static int
put_header (struct writer *w, const char *name, uint64_t size, time_t mtime)
{
  unsigned char h[512];
  memset (h, 0, sizeof h);
  snprintf ((char *) h, 100, "%s", name);
  memcpy (h + 100, "0000644", 8);
  memcpy (h + 108, "0000000", 8);
  memcpy (h + 116, "0000000", 8);
  if (size < (uint64_t) 1 << 33)
    snprintf ((char *) h + 124, 12, "%011" PRIo64, size);
  else
    {
      /* GNU base-256 for files of 8 GiB and more.  */
      h[124] = 0x80;
      for (int i = 0; i < 8; i++)
	h[135 - i] = size >> (8 * i);
    }
  snprintf ((char *) h + 136, 12, "%011llo", (unsigned long long) mtime);
  h[156] = '0';
  memcpy (h + 257, "ustar", 6);
  memcpy (h + 263, "00", 2);
  memcpy (h + 265, "dmem", 5);
  memcpy (h + 297, "dmem", 5);
  unsigned sum = 0;
  memset (h + 148, ' ', 8);
  for (int i = 0; i < 512; i++)
    sum += h[i];
  snprintf ((char *) h + 148, 8, "%06o", sum);
  h[155] = ' ';
  return put (w, h, 512, 0);
}

/* Member NAME holding the bytes of FD (SIZE of them).  0 or -1.  */
static int
put_file (struct dmem_target *t, struct writer *w, const char *name, int fd,
	  uint64_t size, const char *what)
{
  if (put_header (w, name, size, time (NULL)) != 0)
    return -1;
  unsigned char *buf = dmem_xmalloc (CHUNK);
  uint64_t done = 0;
  while (done < size)
    {
      size_t want = size - done < CHUNK ? size - done : CHUNK;
      ssize_t got = pread (fd, buf, want, done);
      if (got <= 0)
	{
	  fprintf (stderr, "dmem: bundle: cannot read %s: %s\n", what,
		   got < 0 ? strerror (errno) : "it got shorter");
	  free (buf);
	  return -1;
	}
      if (put (w, buf, got, 0) != 0)
	{
	  free (buf);
	  return -1;
	}
      done += got;
      dmem_progress (t, "bundling", done, size);
    }
  free (buf);
  static const unsigned char pad[512];
  return put (w, pad, (512 - size % 512) % 512, 0);
}

/* One module of the core as the manifest lists it.  */
struct module
{
  char *name, *build_id, *file, *path, *debug, *debug_path, *note;
  int file_fd, debug_fd;
};

struct modules
{
  struct dmem_target *t;
  struct module *m;
  size_t n;
};

/* BITS (LEN bytes) as a hex string (caller frees).  */
static char *
hex_string (const unsigned char *bits, size_t len)
{
  char *s = dmem_xmalloc (2 * len + 1);
  dmem_hex (bits, len, s);
  return s;
}

/* Whether ELF has DWARF of its own (a .debug_info section with bytes).  */
static int
has_dwarf (Elf *elf)
{
  size_t shstrndx;
  if (elf_getshdrstrndx (elf, &shstrndx) != 0)
    return 0;
  for (Elf_Scn *scn = NULL; (scn = elf_nextscn (elf, scn)) != NULL;)
    {
      GElf_Shdr shdr;
      const char *name;
      if (gelf_getshdr (scn, &shdr) != NULL && shdr.sh_type != SHT_NOBITS
	  && shdr.sh_size > 0
	  && (name = elf_strptr (elf, shstrndx, shdr.sh_name)) != NULL
	  && (strcmp (name, ".debug_info") == 0
	      || strcmp (name, ".zdebug_info") == 0))
	return 1;
    }
  return 0;
}

/* Whether the ELF file FD has build ID BITS (LEN bytes).  */
static int
same_build_id (int fd, const unsigned char *bits, int len)
{
  Elf *elf = elf_begin (fd, ELF_C_READ_MMAP, NULL);
  const void *id;
  ssize_t n = elf ? dwelf_elf_gnu_build_id (elf, &id) : -1;
  int same = n == len && memcmp (id, bits, len) == 0;
  elf_end (elf);
  return same;
}

/* dwfl_getmodules callback: find MOD's files as the analysis would.  */
static int
list_module (Dwfl_Module *mod, void **userdata __attribute__ ((unused)),
	     const char *name, Dwarf_Addr start __attribute__ ((unused)),
	     void *arg)
{
  struct modules *ms = arg;
  struct dmem_target *t = ms->t;
  struct module m = { .file_fd = -1, .debug_fd = -1 };
  m.name = strdup (name ? name : "?");
  const unsigned char *bits;
  GElf_Addr vaddr;
  int len = dwfl_module_build_id (mod, &bits, &vaddr);
  GElf_Addr bias;
  Elf *elf = dwfl_module_getelf (mod, &bias);
  const char *mainfile = NULL, *debugfile = NULL;
  if (len <= 0 && elf != NULL)
    {
      /* Not in the core's memory: the file's own, to name it by.  */
      const void *id;
      ssize_t n = dwelf_elf_gnu_build_id (elf, &id);
      if (n > 0 && n <= MAX_ID)
	{
	  bits = id;
	  len = n;
	  m.note = strdup ("build ID not in the core: the file's own");
	}
    }
  if (len > 0)
    m.build_id = hex_string (bits, len);
  char *by_id = NULL;
  if (elf != NULL && !has_dwarf (elf) && len > 0)
    {
      /* Where Debian's -dbg packages put it: no need to load the DWARF.  */
      char *hex = hex_string (bits, len);
      if (asprintf (&by_id, "/usr/lib/debug/.build-id/%.2s/%s.debug", hex,
		    hex + 2) >= 0 && access (by_id, R_OK) != 0)
	{
	  free (by_id);
	  by_id = NULL;
	}
      free (hex);
      if (by_id == NULL)
	dwfl_module_getdwarf (mod, &bias);  /* debuglink, debuginfod */
    }
  dwfl_module_info (mod, NULL, NULL, NULL, NULL, NULL, &mainfile, &debugfile);
  if (by_id != NULL)
    debugfile = by_id;
  /* libdwfl names no file for what it found at the module's path.  */
  if (mainfile == NULL && name != NULL && name[0] == '/')
    mainfile = name;
  if (name != NULL && (strncmp (name, "[vdso", 5) == 0
		       || strncmp (name, "linux-vdso", 10) == 0))
    m.note = strdup ("the vDSO: in the core's memory");
  else if (elf == NULL)
    m.note = strdup ("no file found on this machine");
  else if (dmem_module_mismatched (t, mod))
    m.note = strdup ("the file found has another build ID: not bundled");
  else if (len <= 0)
    m.note = strdup ("no build ID: not bundled");
  else if (mainfile != NULL)
    {
      m.path = strdup (mainfile);
      m.file_fd = open (mainfile, O_RDONLY | O_CLOEXEC);
      if (asprintf (&m.file, "build-id/%.2s/%s", m.build_id, m.build_id + 2)
	  < 0)
	m.file = NULL;
      if (debugfile != NULL && strcmp (debugfile, mainfile) != 0)
	{
	  m.debug_path = strdup (debugfile);
	  m.debug_fd = open (debugfile, O_RDONLY | O_CLOEXEC);
	  if (asprintf (&m.debug, "%s.debug", m.file) < 0)
	    m.debug = NULL;
	}
    }
  if (m.file_fd >= 0 && !same_build_id (m.file_fd, bits, len))
    {
      close (m.file_fd);
      m.file_fd = -1;
      dmem_warn (t, "module %s: %s is not the file the core ran (another "
		 "build ID): not bundled", m.name, m.path);
    }
  if (m.debug_fd >= 0 && !same_build_id (m.debug_fd, bits, len))
    {
      close (m.debug_fd);
      m.debug_fd = -1;
    }
  if (m.path != NULL && m.file_fd < 0)
    {
      free (m.file);
      m.file = NULL;
      free (m.note);
      m.note = strdup ("its file cannot be read, or is another build");
    }
  if (m.debug_path != NULL && m.debug_fd < 0)
    {
      free (m.debug);
      m.debug = NULL;
    }
  /* One copy of a file two modules share.  */
  for (size_t i = 0; m.file != NULL && i < ms->n; i++)
    if (ms->m[i].file != NULL && strcmp (ms->m[i].file, m.file) == 0)
      {
	close (m.file_fd);
	m.file_fd = -1;
	if (m.debug_fd >= 0)
	  close (m.debug_fd);
	m.debug_fd = -1;
      }
  free (by_id);
  ms->m = dmem_xrealloc (ms->m, ms->n + 1, sizeof *ms->m);
  ms->m[ms->n++] = m;
  return DWARF_CB_OK;
}

/* Write the manifest of T (the core SOURCE, MS its modules) to OUT.  */
static void
write_manifest (FILE *out, struct dmem_target *t, const char *source,
		uint64_t core_size, const struct modules *ms)
{
  struct utsname u;
  uname (&u);
  char when[64];
  time_t now = time (NULL);
  strftime (when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime (&now));
  char kernel[600];
  snprintf (kernel, sizeof kernel, "%s %s %s", u.sysname, u.release,
	    u.version);
  fputs ("{\n  \"dmem_bundle\": 1,\n  \"created\": ", out);
  dmem_json_str (out, when);
  fputs (",\n  \"host\": ", out);
  dmem_json_str (out, u.nodename);
  fputs (",\n  \"kernel\": ", out);
  dmem_json_str (out, kernel);
  fputs (",\n  \"machine\": ", out);
  dmem_json_str (out, u.machine);
  fputs (",\n  \"glibc\": ", out);
  dmem_json_str (out, gnu_get_libc_version ());
  fputs (",\n  \"core\": {\"file\": \"core\", \"source\": ", out);
  dmem_json_str (out, source);
  fprintf (out, ", \"bytes\": %" PRIu64 ", \"compression\": ", core_size);
  dmem_json_str (out, t->compression ? t->compression : "none");
  fprintf (out, ", \"threads\": %zu},\n  \"program\": {\"pid\": %d, "
	   "\"name\": ", t->nthreads, t->prog_pid);
  dmem_json_str (out, t->prog_name);
  fputs (", \"command_line\": ", out);
  dmem_json_str (out, t->command_line);
  fputs ("},\n  \"modules\": [", out);
  for (size_t i = 0; i < ms->n; i++)
    {
      const struct module *m = &ms->m[i];
      const char *fields[][2] = {
	{ "name", m->name }, { "build_id", m->build_id }, { "path", m->path },
	{ "file", m->file }, { "debug_path", m->debug_path },
	{ "debug", m->debug }, { "note", m->note } };
      fputs (i ? ",\n    {" : "\n    {", out);
      for (size_t k = 0; k < sizeof fields / sizeof *fields; k++)
	{
	  fprintf (out, "%s\"%s\": ", k ? ", " : "", fields[k][0]);
	  dmem_json_str (out, fields[k][1]);
	}
      putc ('}', out);
    }
  fputs ("\n  ]", out);
  dmem_json_warnings (out, t);
  fputs ("\n}\n", out);
}

static const char bundle_help[] =
  "Make one file of a core and what it takes to analyse it elsewhere.\n"
  "\n"
  "Usage: dmem bundle (CORE | --pid PID) [-e EXE] -o FILE [--level N]\n"
  "\n"
  "Run where the core was made (the customer's machine).  FILE holds the\n"
  "core (CORE may be compressed: it is stored decompressed), every module\n"
  "the core maps (the program, its libraries, ld.so) found by the build\n"
  "ID the core holds, their separate debug info where it is installed\n"
  "(/usr/lib/debug/.build-id), and a manifest: host, kernel, glibc, the\n"
  "command line, build IDs, the time.  A file whose build ID is not the\n"
  "core's is left out, with a warning.  FILE is a tar stream compressed\n"
  "with zstd (tar --zstd -xf FILE unpacks it); every dmem subcommand takes\n"
  "it as TARGET.  Needs no root beyond reading the core.\n"
  "\n"
  "--pid PID\n"
  "  Snapshot a live process: its threads are stopped while its memory is\n"
  "  read, and dmem writes its core itself (no gdb needed).\n"
  "\n"
  "-e, --executable EXE\n"
  "  The core's main program, when it is not found by its path.\n"
  "\n"
  "-o, --output FILE\n"
  "  The bundle to write (replaced if it exists).\n"
  "\n"
  "--level N\n"
  "  zstd compression level, 1 (fast) to 19 (small); default 3.\n"
  "\n"
  "Exit status: 0 written; 2 the core cannot be read or FILE written;\n"
  "64 usage error.\n";

/* Free what list_module kept.  */
static void
free_modules (struct modules *ms)
{
  for (size_t i = 0; i < ms->n; i++)
    {
      struct module *m = &ms->m[i];
      free (m->name);
      free (m->build_id);
      free (m->file);
      free (m->path);
      free (m->debug);
      free (m->debug_path);
      free (m->note);
      if (m->file_fd >= 0)
	close (m->file_fd);
      if (m->debug_fd >= 0)
	close (m->debug_fd);
    }
  free (ms->m);
}

/* See dmem.h.  */
int
dmem_bundle_command (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "executable", required_argument, NULL, 'e' },
    { "output", required_argument, NULL, 'o' },
    { "pid", required_argument, NULL, 'p' },
    { "level", required_argument, NULL, 'l' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 } };
  const char *exe = NULL, *output = NULL;
  long pid = 0, level = 3;
  int c;
  optind = 0;
  opterr = 0;
  while ((c = getopt_long (argc, argv, ":e:o:h", longopts, NULL)) != -1)
    switch (c)
      {
      case 'e':
	exe = optarg;
	break;
      case 'o':
	output = optarg;
	break;
      case 'p':
      case 'l':
	{
	  char *end;
	  errno = 0;
	  long v = strtol (optarg, &end, 10);
	  if (*end || end == optarg || errno || v <= 0 || v > INT32_MAX
	      || (c == 'l' && v > 19))
	    return dmem_usage_error (c == 'p' ? "bundle: bad process id '%s'"
				     : "bundle: --level needs 1 to 19, not "
				     "'%s'", optarg);
	  if (c == 'p')
	    pid = v;
	  else
	    level = v;
	  break;
	}
      case 'h':
	fputs (bundle_help, stdout);
	return DMEM_EXIT_OK;
      case ':':
	return dmem_usage_error ("bundle: %s needs an argument",
				 argv[optind - 1]);
      default:
	return dmem_usage_error ("bundle: unknown option '%s'",
				 argv[optind - 1]);
      }
  if ((pid != 0) + (argc - optind) != 1)
    return dmem_usage_error ("%s", "bundle: give one core file or --pid PID");
  if (output == NULL)
    return dmem_usage_error ("%s", "bundle: which file? (-o FILE)");
  const char *core = pid ? NULL : argv[optind];

  struct dmem_target t;
  dmem_target_init (&t, stderr);
  char source[64];
  int status = DMEM_EXIT_BAD_INPUT, snapshot = -1;
  if (pid != 0)
    {
      /* The live process's core, written by the engine from a snapshot,
	 then read back as any core is.  */
      char why[256];
      snprintf (source, sizeof source, "process %ld", pid);
      if (dmem_target_open_pid (&t, pid, NULL, NULL) != 0)
	{
	  fprintf (stderr, "dmem: %s\n", dmem_failure (&t));
	  dmem_target_close (&t);
	  return DMEM_EXIT_BAD_INPUT;
	}
      snapshot = dmem_temp_file (why, sizeof why);
      if (snapshot < 0 || dmem_write_core (&t, snapshot) != 0)
	{
	  fprintf (stderr, "dmem: %s\n", snapshot < 0 ? why : dmem_failure (&t));
	  dmem_target_close (&t);
	  if (snapshot >= 0)
	    close (snapshot);
	  return DMEM_EXIT_BAD_INPUT;
	}
      dmem_target_close (&t);
      static char path[64];
      snprintf (path, sizeof path, "/proc/self/fd/%d", snapshot);
      core = path;
    }
  if (dmem_target_open_core (&t, core, exe, NULL, NULL) != 0)
    {
      fprintf (stderr, "dmem: %s\n", dmem_failure (&t));
      dmem_target_close (&t);
      if (snapshot >= 0)
	close (snapshot);
      return DMEM_EXIT_BAD_INPUT;
    }
  struct modules ms = { &t, NULL, 0 };
  dwfl_getmodules (t.dwfl, list_module, &ms, 0);

  struct stat st;
  fstat (t.fd, &st);
  char *manifest = NULL;
  size_t manifest_len = 0;
  FILE *mf = open_memstream (&manifest, &manifest_len);
  write_manifest (mf, &t, pid ? source : t.core_file ? t.core_file : core,
		  st.st_size, &ms);
  fclose (mf);

  struct writer w = { .path = output };
  w.fd = open (output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  w.cctx = ZSTD_createCCtx ();
  w.out_size = ZSTD_CStreamOutSize ();
  w.out = dmem_xmalloc (w.out_size);
  if (w.fd < 0)
    fprintf (stderr, "dmem: bundle: cannot write %s: %s\n", output,
	     strerror (errno));
  else if (w.cctx == NULL
	   || ZSTD_isError (ZSTD_CCtx_setParameter (w.cctx,
						    ZSTD_c_compressionLevel,
						    level))
	   || ZSTD_isError (ZSTD_CCtx_setParameter (w.cctx,
						    ZSTD_c_checksumFlag, 1)))
    fprintf (stderr, "dmem: bundle: cannot start zstd\n");
  else
    {
      /* One compression thread beside the reading, as tar | zstd has (a
	 libzstd built without threads compresses here: same output).  */
      ZSTD_CCtx_setParameter (w.cctx, ZSTD_c_nbWorkers, 1);
      int ok = put_header (&w, MANIFEST, manifest_len, time (NULL)) == 0
	       && put (&w, manifest, manifest_len, 0) == 0;
      static const unsigned char pad[512];
      ok = ok && put (&w, pad, (512 - manifest_len % 512) % 512, 0) == 0;
      ok = ok && put_file (&t, &w, "core", t.fd, st.st_size, "the core") == 0;
      size_t nfiles = 0, ndebug = 0;
      for (size_t i = 0; ok && i < ms.n; i++)
	{
	  struct module *m = &ms.m[i];
	  struct stat fs;
	  if (m->file_fd >= 0 && fstat (m->file_fd, &fs) == 0)
	    {
	      ok = put_file (&t, &w, m->file, m->file_fd, fs.st_size,
			     m->path) == 0;
	      nfiles++;
	    }
	  if (ok && m->debug_fd >= 0 && fstat (m->debug_fd, &fs) == 0)
	    {
	      ok = put_file (&t, &w, m->debug, m->debug_fd, fs.st_size,
			     m->debug_path) == 0;
	      ndebug++;
	    }
	}
      ok = ok && put (&w, pad, 512, 0) == 0 && put (&w, pad, 512, 1) == 0;
      dmem_progress_end (&t);
      if (ok && fsync (w.fd) == 0)
	{
	  status = DMEM_EXIT_OK;
	  printf ("%s: the core (%" PRIu64 " bytes), %zu of %zu modules' "
		  "files, %zu debug files; %" PRIu64 " bytes\n", output,
		  (uint64_t) st.st_size, nfiles, ms.n, ndebug, w.written);
	  for (size_t i = 0; i < ms.n; i++)
	    if (ms.m[i].file == NULL)
	      printf ("  not bundled: %s (%s)\n", ms.m[i].name,
		      ms.m[i].note ? ms.m[i].note : "?");
	}
    }
  if (w.fd >= 0)
    {
      close (w.fd);
      if (status != DMEM_EXIT_OK)
	unlink (output);
    }
  ZSTD_freeCCtx (w.cctx);
  free (w.out);
  free (manifest);
  free_modules (&ms);
  dmem_target_close (&t);
  if (snapshot >= 0)
    close (snapshot);
  return status;
}
