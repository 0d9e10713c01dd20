/* The target: a core file or a stopped live process, its memory, threads and modules.  */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>
#include <elfutils/debuginfod.h>
#include <elfutils/libdwelf.h>
#include "dmem.h"

/* elf_prstatus on x86-64: pr_pid at 32, pr_reg (user_regs_struct) at 112.  */
#define PRSTATUS_PID 32
#define PRSTATUS_REGS 112

/* Live-process regions are read in chunks of this size.  */
#define READ_CHUNK (1 << 20)

/* The target being opened on this thread: libdwfl calls find_elf while
   the core's modules are reported, before each module's userdata names
   its target.  */
static __thread struct dmem_target *opening;

/* See dmem.h.  */
int
dmem_module_mismatched (const struct dmem_target *t, Dwfl_Module *mod)
{
  for (size_t i = 0; i < t->nmismatches; i++)
    if (t->mismatches[i].mod == mod)
      return 1;
  return 0;
}

/* See dmem.h.  */
void
dmem_hex (const unsigned char *bits, size_t len, char *out)
{
  for (size_t i = 0; i < len; i++)
    sprintf (out + 2 * i, "%02x", bits[i]);
  out[2 * len] = '\0';
}

/* See dmem.h.  */
int
dmem_file_matches (int fd, Elf **elfp, const unsigned char *bits, int len,
	      char *got)
{
  if (len <= 0)
    return -1;
  if (*elfp == NULL && fd >= 0)
    *elfp = elf_begin (fd, ELF_C_READ_MMAP, NULL);
  const void *id;
  ssize_t n = *elfp ? dwelf_elf_gnu_build_id (*elfp, &id) : -1;
  if (n <= 0 || n > 64)
    return -1;
  if (n == len && memcmp (id, bits, len) == 0)
    return 1;
  dmem_hex (id, n, got);
  return 0;
}

/* A file found for MOD (FD and/or *ELFP, named NAME) by WAY: kept when its
   build ID matches BITS or cannot be known; else warned about and kept
   aside in *SPARE (the first one) for when nothing better is found.
   Returns FD, or -1 when the file was put aside.  */
static int
take (struct dmem_target *t, Dwfl_Module *mod, const char *modname,
      const unsigned char *bits, int len, const char *way, int fd,
      char **file_name, Elf **elfp, int *spare_fd, Elf **spare_elf,
      char **spare_name)
{
  if (fd < 0 && *elfp == NULL)
    return -1;
  char got[129], want[129];
  if (dmem_file_matches (fd, elfp, bits, len, got) != 0)
    return fd;
  dmem_hex (bits, len, want);
  dmem_warn (t, "module %s: %s (%s) has build ID %s, the core's is %s: "
	     "not the file the program ran", modname ? modname : "?",
	     *file_name ? *file_name : "a file", way, got, want);
  if (*spare_fd < 0 && *spare_elf == NULL)
    {
      *spare_fd = fd;
      *spare_elf = *elfp;
      *spare_name = *file_name;
    }
  else
    {
      elf_end (*elfp);
      if (fd >= 0)
	close (fd);
      free (*file_name);
    }
  (void) mod;
  *elfp = NULL;
  *file_name = NULL;
  return -1;
}

/* libdebuginfod's calls, looked up in the copy libdw loads itself when
   DEBUGINFOD_URLS is set: linking it would load libcurl and some thirty
   TLS, Kerberos and LDAP libraries at every start, milliseconds of a
   run that never asks a server.  */
static struct
{
  int tried, found;
  __typeof__ (debuginfod_get_user_data) *get_user_data;
  __typeof__ (debuginfod_set_user_data) *set_user_data;
  __typeof__ (debuginfod_set_progressfn) *set_progressfn;
  __typeof__ (debuginfod_find_debuginfo) *find_debuginfo;
  __typeof__ (debuginfod_find_executable) *find_executable;
} dfd;

/* Whether dfd's calls are there.  */
static int
debuginfod_calls (void)
{
  if (!dfd.tried)
    {
      dfd.tried = 1;
      void *lib = dlopen ("libdebuginfod.so.1", RTLD_LAZY);
      if (lib == NULL)
	return 0;
      dfd.get_user_data = (__typeof__ (dfd.get_user_data))
	dlsym (lib, "debuginfod_get_user_data");
      dfd.set_user_data = (__typeof__ (dfd.set_user_data))
	dlsym (lib, "debuginfod_set_user_data");
      dfd.set_progressfn = (__typeof__ (dfd.set_progressfn))
	dlsym (lib, "debuginfod_set_progressfn");
      dfd.find_debuginfo = (__typeof__ (dfd.find_debuginfo))
	dlsym (lib, "debuginfod_find_debuginfo");
      dfd.find_executable = (__typeof__ (dfd.find_executable))
	dlsym (lib, "debuginfod_find_executable");
      dfd.found = dfd.get_user_data && dfd.set_user_data && dfd.set_progressfn
		  && dfd.find_debuginfo && dfd.find_executable;
    }
  return dfd.found;
}

/* The debuginfod client libdwfl uses for T (NULL without DEBUGINFOD_URLS),
   its progress shown on a terminal.  */
static int
debuginfod_progress (debuginfod_client *c, long done, long total)
{
  struct dmem_target *t = dfd.get_user_data (c);
  if (t != NULL)
    dmem_progress (t, "debuginfod: downloading", done > 0 ? done : 0,
		   total > 0 ? total : 0);
  return 0;
}

static debuginfod_client *
debuginfod_of (struct dmem_target *t)
{
  const char *urls = getenv ("DEBUGINFOD_URLS");
  if (urls == NULL || *urls == '\0' || t->dwfl == NULL)
    return NULL;
  debuginfod_client *c = dwfl_get_debuginfod_client (t->dwfl);
  if (c == NULL || !debuginfod_calls ())
    return NULL;
  if (dfd.get_user_data (c) != t)
    {
      dfd.set_user_data (c, t);
      if (t->progress)
	dfd.set_progressfn (c, debuginfod_progress);
    }
  return c;
}

/* libdwfl asked the debuginfod servers for WHAT of MODNAME (build ID BITS)
   and found nothing: say so, with the servers' reason the first time (one
   more query, bounded by DEBUGINFOD_TIMEOUT).  */
static void
debuginfod_missed (struct dmem_target *t, const char *modname,
		   const unsigned char *bits, int len, int debug)
{
  debuginfod_client *c = debuginfod_of (t);
  if (c == NULL || len <= 0)
    return;
  char want[129];
  dmem_hex (bits, len, want);
  if (t->debuginfod_probed)
    {
      dmem_warn (t, "module %s: no %s for build ID %s on the debuginfod "
		 "servers either", modname ? modname : "?",
		 debug ? "debug info" : "file", want);
      return;
    }
  t->debuginfod_probed = 1;
  char *path = NULL;
  int fd = debug ? dfd.find_debuginfo (c, bits, len, &path)
		 : dfd.find_executable (c, bits, len, &path);
  dmem_progress_end (t);
  if (fd >= 0)
    {
      close (fd);
      free (path);
      return;
    }
  dmem_warn (t, "module %s: no %s for build ID %s from the debuginfod "
	     "servers (%s): %s", modname ? modname : "?",
	     debug ? "debug info" : "file", want, getenv ("DEBUGINFOD_URLS"),
	     strerror (-fd));
}

/* T is a bundle without the file of MODNAME (build ID BITS): say so, and
   what was used instead (FOUND, or NULL: nothing).  */
static void
bundle_missed (struct dmem_target *t, const char *modname,
	       const unsigned char *bits, int len, const char *found)
{
  char want[129];
  dmem_hex (bits, len, want);
  if (found != NULL)
    dmem_warn (t, "module %s: build ID %s is not in the bundle; %s found on "
	       "this machine is used", modname ? modname : "?", want, found);
  else
    dmem_warn (t, "module %s: build ID %s is not in the bundle, nor found "
	       "on this machine", modname ? modname : "?", want);
}

/* find_elf for cores and processes.  In order: the bundle's file of the
   module's build ID; with --sysroot, the module's path under the sysroot;
   libdwfl's lookups by build ID (and -e, and the debuginfod servers); the
   module's own path.  A file whose build ID is not the one the core holds
   is warned about and used only when nothing else is found, its frames
   then marked.  */
static int
find_elf (Dwfl_Module *mod, void **userdata, const char *modname,
	  Dwarf_Addr base, char **file_name, Elf **elfp)
{
  struct dmem_target *t = *userdata != NULL ? *userdata : opening;
  const unsigned char *bits = NULL;
  GElf_Addr id_vaddr;
  int len = dwfl_module_build_id (mod, &bits, &id_vaddr);
  int spare_fd = -1, fd;
  Elf *spare_elf = NULL;
  char *spare_name = NULL;
  *elfp = NULL;
  *file_name = NULL;
  int missed = 0;   /* a bundle that lacks the module's file */
  if (t != NULL && t->bundle != NULL && len > 0)
    {
      fd = dmem_bundle_find (t, bits, len, 0, file_name);
      missed = fd < 0;
      if ((fd = take (t, mod, modname, bits, len, "in the bundle", fd,
		      file_name, elfp, &spare_fd, &spare_elf,
		      &spare_name)) >= 0)
	return fd;
    }
  if (t != NULL && t->sysroot != NULL && modname != NULL && modname[0] == '/')
    {
      char *path;
      if (asprintf (&path, "%s%s", t->sysroot, modname) >= 0)
	{
	  fd = open (path, O_RDONLY);
	  *file_name = path;
	  if (fd < 0)
	    {
	      free (path);
	      *file_name = NULL;
	    }
	  else if ((fd = take (t, mod, modname, bits, len, "under --sysroot",
			       fd, file_name, elfp, &spare_fd, &spare_elf,
			       &spare_name)) >= 0)
	    goto found;
	}
    }
  if (t != NULL)
    debuginfod_of (t);
  fd = dwfl_build_id_find_elf (mod, userdata, modname, base, file_name, elfp);
  if (t != NULL)
    dmem_progress_end (t);
  if ((fd = take (t, mod, modname, bits, len, "found by -e or by build ID", fd,
		  file_name, elfp, &spare_fd, &spare_elf, &spare_name)) >= 0)
    goto found;
  /* A core's module named by an absolute path: the file there (a live
     process's modules, vdso included, are all found this way).  */
  int live = t != NULL && (t->pid != 0 || t->source != NULL);
  if (modname != NULL && (live || modname[0] == '/'))
    {
      fd = dwfl_linux_proc_find_elf (mod, userdata, modname, base,
				     file_name, elfp);
      if ((fd = take (t, mod, modname, bits, len, "at its path", fd,
		      file_name, elfp, &spare_fd, &spare_elf,
		      &spare_name)) >= 0)
	goto found;
    }
  if (spare_fd >= 0 || spare_elf != NULL)
    {
      /* Only another build's file: better than nothing, never silently.  */
      *elfp = spare_elf;
      *file_name = spare_name;
      if (t != NULL)
	{
	  t->mismatches = dmem_xrealloc (t->mismatches, t->nmismatches + 1,
					 sizeof *t->mismatches);
	  t->mismatches[t->nmismatches++] = (struct dmem_mismatch) {
	    mod, strdup (spare_name ? spare_name : "?") };
	  dmem_warn (t, "module %s: %s does not match the build ID in the "
		     "target's memory, and is used all the same: its symbols "
		     "and .data/.bss roots are another file's (its frames are "
		     "marked [build-id mismatch]), so leaks may be "
		     "misreported", modname ? modname : "?",
		     spare_name ? spare_name : "that file");
	}
      return spare_fd;
    }
  if (t != NULL && modname != NULL && len > 0 && !live
      && strncmp (modname, "[vdso", 5) != 0)
    debuginfod_missed (t, modname, bits, len, 0);
  if (missed)
    bundle_missed (t, modname, bits, len, NULL);
  return -1;

 found:
  if (missed)
    bundle_missed (t, modname, bits, len, *file_name);
  if (spare_fd >= 0)
    close (spare_fd);
  elf_end (spare_elf);
  free (spare_name);
  return fd;
}

/* The debug file of build ID BITS (LEN bytes) in T's debug directories
   (DIR/.build-id/xx/yyyy.debug, as libdwfl looks), its name into *NAME;
   -1 if none.  Looked up here first, not by libdwfl, as libdwfl keeps the
   file it opens by build ID whatever descriptor is returned, and a
   compressed one is to be replaced by its expanded copy.  */
static int
find_by_build_id (struct dmem_target *t, const unsigned char *bits, int len,
		  char **name)
{
  const char *path = t->debuginfo_path ? t->debuginfo_path
		     : ":.debug:/usr/lib/debug";
  char hex[129];
  dmem_hex (bits + 1, len - 1, hex);
  while (*path != '\0')
    {
      size_t n = strcspn (path, ":");
      char *file = NULL;
      if (path[0] == '/'
	  && asprintf (&file, "%.*s/.build-id/%02x/%s.debug", (int) n, path,
		       bits[0], hex) >= 0)
	{
	  int fd = open (file, O_RDONLY | O_CLOEXEC);
	  if (fd >= 0)
	    {
	      free (*name);
	      *name = file;
	      return fd;
	    }
	  free (file);
	}
      path += n + (path[n] == ':');
    }
  return -1;
}

/* find_debuginfo: the bundle's debug file of the module's build ID, else
   libdwfl's (beside the file, the debug directories by build ID and
   .gnu_debuglink, the debuginfod servers).  A debug file of another build
   is refused with a warning.  */
static int
find_debuginfo (Dwfl_Module *mod, void **userdata, const char *modname,
		Dwarf_Addr base, const char *file_name,
		const char *debuglink_file, GElf_Word debuglink_crc,
		char **debuginfo_file_name)
{
  struct dmem_target *t = *userdata != NULL ? *userdata : opening;
  const unsigned char *bits = NULL;
  GElf_Addr id_vaddr;
  int len = dwfl_module_build_id (mod, &bits, &id_vaddr);
  int fd = -1;
  if (t != NULL && t->bundle != NULL && len > 0)
    fd = dmem_bundle_find (t, bits, len, 1, debuginfo_file_name);
  int installed = 0;   /* found in the debug directories */
  if (fd < 0 && t != NULL && len >= 2)
    installed = (fd = find_by_build_id (t, bits, len,
					debuginfo_file_name)) >= 0;
  if (fd < 0)
    {
      if (t != NULL)
	debuginfod_of (t);
      fd = dwfl_standard_find_debuginfo (mod, userdata, modname, base,
					 file_name, debuglink_file,
					 debuglink_crc, debuginfo_file_name);
      if (t != NULL)
	dmem_progress_end (t);
    }
  if (fd < 0)
    {
      /* Only modules with something to look up by build ID and no
	 symbols of their own are worth a word.  */
      if (t != NULL && len > 0 && modname != NULL && modname[0] == '/'
	  && t->pid == 0 && t->source == NULL)
	debuginfod_missed (t, modname, bits, len, 1);
      return -1;
    }
  Elf *elf = NULL;
  char got[129], want[129];
  int m = dmem_file_matches (fd, &elf, bits, len, got);
  elf_end (elf);
  if (m == 0)
    {
      dmem_hex (bits, len, want);
      if (t != NULL)
	dmem_warn (t, "module %s: debug file %s has build ID %s, the "
		   "module's is %s: not used", modname ? modname : "?",
		   *debuginfo_file_name ? *debuginfo_file_name : "?", got,
		   want);
      close (fd);
      free (*debuginfo_file_name);
      *debuginfo_file_name = NULL;
      return -1;
    }
  /* Only installed files are expanded into the cache, which outlives
     this analysis: a bundle's file is untrusted, and expanded into a
     temporary file.  (libdwfl keeps the files it found itself, from
     .gnu_debuglink or a debuginfod server.)  Its name stays the
     original's: .gnu_debugaltlink is found from it.  */
  return installed || (t != NULL && t->bundle != NULL)
	 ? dmem_debug_expanded (fd, bits, len, installed) : fd;
}

/* Start T's Dwfl session, honouring SYSROOT and DEBUG_DIRS (a colon-
   separated list, as gdb's debug-file-directory; either may be NULL).  */
static int
begin_dwfl (struct dmem_target *t, const char *sysroot,
	    const char *debug_dirs)
{
  if (sysroot != NULL && *sysroot)
    {
      /* Relative to where dmem was started, whatever libdwfl's cwd.  */
      t->sysroot = realpath (sysroot, NULL);
      if (t->sysroot == NULL)
	return dmem_fail (t, "--sysroot %s: %s", sysroot, strerror (errno));
    }
  if (t->sysroot != NULL || (debug_dirs != NULL && *debug_dirs))
    {
      /* libdwfl's default first (beside the file, .debug), then the
	 given directories, then the sysroot's.  */
      if (asprintf (&t->debuginfo_path, ":.debug:%s%s%s%s",
		    debug_dirs && *debug_dirs ? debug_dirs : "/usr/lib/debug",
		    t->sysroot ? ":" : "", t->sysroot ? t->sysroot : "",
		    t->sysroot ? "/usr/lib/debug" : "") < 0)
	t->debuginfo_path = NULL;
    }
  t->callbacks = (Dwfl_Callbacks) {
    .find_elf = find_elf,
    .find_debuginfo = find_debuginfo,
    .debuginfo_path = &t->debuginfo_path,
  };
  t->dwfl = dwfl_begin (&t->callbacks);
  if (t->dwfl == NULL)
    return dmem_fail (t, "cannot start libdwfl: %s", dwfl_errmsg (-1));
  opening = t;
  dwfl_report_begin (t->dwfl);
  return 0;
}

/* dwfl_getmodules callback: MOD's find_elf will know its target.  */
static int
own_module (Dwfl_Module *mod __attribute__ ((unused)), void **userdata,
	    const char *name __attribute__ ((unused)),
	    Dwarf_Addr start __attribute__ ((unused)), void *arg)
{
  *userdata = arg;
  return DWARF_CB_OK;
}

/* End the reporting begun by begin_dwfl.  Returns 0 or -1 after
   dmem_fail naming WHAT.  */
static int
end_dwfl (struct dmem_target *t, const char *what)
{
  opening = NULL;
  if (dwfl_report_end (t->dwfl, NULL, NULL) != 0)
    return dmem_fail (t, "%s: %s", what, dwfl_errmsg (-1));
  dwfl_getmodules (t->dwfl, own_module, t, 0);
  return 0;
}

/* See dmem.h.  */
void
dmem_target_init (struct dmem_target *t, FILE *err)
{
  memset (t, 0, sizeof *t);
  t->fd = -1;
  t->err = err;
  t->progress = isatty (STDERR_FILENO);
}

/* qsort order of regions: by start address.  */
static int
region_cmp (const void *a, const void *b)
{
  const struct dmem_region *x = a, *y = b;
  return x->start < y->start ? -1 : x->start > y->start;
}

/* Mark the regions that NT_FILE note DESC (SIZE bytes) names as mappings
   of files: the others are anonymous memory.  */
static void
mark_file_mappings (struct dmem_target *t, const unsigned char *desc,
		    size_t size)
{
  uint64_t count;
  if (size < 16)
    return;
  memcpy (&count, desc, 8);
  if (count > (size - 16) / 24)
    return;
  for (uint64_t i = 0; i < count; i++)
    {
      uint64_t range[2];
      memcpy (range, desc + 16 + 24 * i, 16);
      for (size_t k = dmem_region_after (t, range[0]); k-- > 0;)
	{
	  struct dmem_region *r = &t->regions[k];
	  if (r->end <= range[0])
	    break;
	  if (r->start < range[1])
	    r->file_backed = 1;
	}
      /* Regions that start inside the range.  */
      for (size_t k = dmem_region_after (t, range[0]);
	   k < t->nregions && t->regions[k].start < range[1]; k++)
	t->regions[k].file_backed = 1;
    }
}

/* Read the NT_PRSTATUS notes of PT_NOTE segment PHDR into t->threads,
   its NT_PRPSINFO into t's program name, command line and pid, and mark
   file mappings from its NT_FILE note (regions must be sorted).  */
static void
read_notes (struct dmem_target *t, Elf *elf, const GElf_Phdr *phdr)
{
  Elf_Data *data = elf_getdata_rawchunk (elf, phdr->p_offset,
					 phdr->p_filesz, ELF_T_NHDR);
  if (data == NULL)
    return;
  size_t offset = 0, name_offset, desc_offset;
  GElf_Nhdr nhdr;
  while (offset < data->d_size
	 && (offset = gelf_getnote (data, offset, &nhdr, &name_offset,
				    &desc_offset)) > 0)
    {
      if (nhdr.n_type == NT_FILE && nhdr.n_namesz == 5
	  && memcmp ((char *) data->d_buf + name_offset, "CORE", 5) == 0)
	mark_file_mappings (t, (unsigned char *) data->d_buf + desc_offset,
			    nhdr.n_descsz);
      if (nhdr.n_type == NT_PRPSINFO && nhdr.n_descsz >= 136)
	{
	  const char *d = (const char *) data->d_buf + desc_offset;
	  memcpy (&t->prog_pid, d + 24, 4);
	  snprintf (t->prog_name, sizeof t->prog_name, "%.16s", d + 40);
	  snprintf (t->command_line, sizeof t->command_line, "%.80s", d + 56);
	}
      if (nhdr.n_type != NT_PRSTATUS || nhdr.n_namesz != 5
	  || memcmp ((char *) data->d_buf + name_offset, "CORE", 5) != 0
	  || nhdr.n_descsz < PRSTATUS_REGS + DMEM_NREGS * 8)
	continue;
      const unsigned char *desc = (unsigned char *) data->d_buf + desc_offset;
      t->threads = dmem_xrealloc (t->threads, t->nthreads + 1,
				  sizeof *t->threads);
      struct dmem_thread *th = &t->threads[t->nthreads++];
      int32_t tid;
      memcpy (&tid, desc + PRSTATUS_PID, 4);
      th->tid = tid;
      memcpy (th->regs, desc + PRSTATUS_REGS, sizeof th->regs);
    }
}

/* Decompress the rest of S (HEAD: its first N decoded bytes) into a new
   temporary file.  Returns its descriptor or -1 after dmem_fail.  */
static int
expand (struct dmem_target *t, struct dmem_stream *s,
	enum dmem_compression kind, const unsigned char *head, size_t n, const char *path)
{
  char why[256];
  int fd = dmem_temp_file (why, sizeof why);
  if (fd < 0)
    return dmem_fail (t, "%s: %s", path, why);
  unsigned char *buf = dmem_xmalloc (1 << 20);
  ssize_t got = n;
  memcpy (buf, head, n);
  uint64_t done = 0;
  while (got > 0)
    {
      if (dmem_write_all (fd, buf, got) != 0)
	{
	  free (buf);
	  close (fd);
	  return dmem_fail (t, "%s: cannot write the decompressed core to a "
			    "temporary file: %s", path, strerror (errno));
	}
      done += got;
      dmem_progress (t, "decompressing the core", 0, 0);
      got = dmem_stream_read (s, buf, 1 << 20);
    }
  dmem_progress_end (t);
  free (buf);
  if (got < 0)
    {
      close (fd);
      return dmem_fail (t, "%s: %s core: %s (after %" PRIu64 " bytes of "
			"the core)",
			path, dmem_compression_name (kind),
			dmem_stream_error (s), done);
    }
  return fd;
}

static int open_core (struct dmem_target *t, const char *path,
		      const char *executable, const char *sysroot,
		      const char *debug_dirs);

/* coredump:MATCH: the newest core systemd-coredump keeps (in
   $DMEM_COREDUMP_DIR, default /var/lib/systemd/coredump) whose PID or
   program name is MATCH.  Its files are named
   core.COMM.UID.BOOTID.PID.USEC[.zst|.xz|.lz4].  Returns the path (caller
   frees) or NULL after dmem_fail.  */
static char *
find_coredump (struct dmem_target *t, const char *match)
{
  const char *dir = getenv ("DMEM_COREDUMP_DIR");
  if (dir == NULL || *dir == '\0')
    dir = "/var/lib/systemd/coredump";
  DIR *d = opendir (dir);
  if (d == NULL)
    {
      dmem_fail (t, "coredump:%s: cannot read %s: %s", match, dir,
		 strerror (errno));
      return NULL;
    }
  char *best = NULL;
  unsigned long long best_usec = 0;
  struct dirent *de;
  while ((de = readdir (d)) != NULL)
    {
      if (strncmp (de->d_name, "core.", 5) != 0)
	continue;
      char name[256];
      snprintf (name, sizeof name, "%s", de->d_name + 5);
      /* From the end: [.zst], USEC, PID, BOOTID, UID; the rest is COMM.  */
      char *field[5];
      int nf = 0;
      char *end = name + strlen (name);
      for (const char *const *x = (const char *const[]) { ".zst", ".xz",
	     ".lz4", NULL }; *x; x++)
	if (end - name > (long) strlen (*x) && strcmp (end - strlen (*x), *x) == 0)
	  {
	    end -= strlen (*x);
	    *end = '\0';
	    break;
	  }
      while (nf < 4)
	{
	  char *dot = strrchr (name, '.');
	  if (dot == NULL)
	    break;
	  field[nf++] = dot + 1;
	  *dot = '\0';
	}
      if (nf < 4)
	continue;
      field[4] = name;  /* COMM */
      unsigned long long usec = strtoull (field[0], NULL, 10);
      if (strcmp (field[1], match) != 0 && strcmp (field[4], match) != 0)
	continue;
      if (best == NULL || usec > best_usec)
	{
	  free (best);
	  if (asprintf (&best, "%s/%s", dir, de->d_name) < 0)
	    best = NULL;
	  best_usec = usec;
	}
    }
  closedir (d);
  if (best == NULL)
    dmem_fail (t, "coredump:%s: no core of that PID or program in %s",
	       match, dir);
  return best;
}

/* See dmem.h: open a core file, or a compressed core or a bundle (told
   by their magic, whatever their name), with libelf and libdwfl.  */
int
dmem_target_open_core (struct dmem_target *t, const char *path,
		       const char *executable, const char *sysroot,
		       const char *debug_dirs)
{
  elf_version (EV_CURRENT);
  char *found = NULL;
  if (strncmp (path, "coredump:", 9) == 0 && access (path, F_OK) != 0)
    {
      if ((found = find_coredump (t, path + 9)) == NULL)
	return -1;
      path = found;
    }
  int status = open_core (t, path, executable, sysroot, debug_dirs);
  free (found);
  return status;
}

/* dmem_target_open_core of the file PATH.  */
static int
open_core (struct dmem_target *t, const char *path, const char *executable,
	   const char *sysroot, const char *debug_dirs)
{
  t->fd = open (path, O_RDONLY);
  if (t->fd < 0)
    return dmem_fail (t, "cannot open %s: %s", path, strerror (errno));
  struct stat st;
  if (fstat (t->fd, &st) != 0 || !S_ISREG (st.st_mode))
    return dmem_fail (t, "%s: not a regular file", path);
  t->core_file = strdup (path);
  unsigned char magic[512];
  ssize_t nmagic = pread (t->fd, magic, sizeof magic, 0);
  enum dmem_compression kind = dmem_compression_of (magic, nmagic > 0
						    ? nmagic : 0);
  if (kind != DMEM_PLAIN || (nmagic > 0 && dmem_bundle_is (magic, nmagic)))
    {
      char why[256];
      struct dmem_stream *s = dmem_stream_open (t->fd, kind, why, sizeof why);
      if (s == NULL)
	return dmem_fail (t, "%s: %s", path, why);
      unsigned char head[512];
      ssize_t n = dmem_stream_read (s, head, sizeof head);
      int fd = -1;
      if (n < 0)
	dmem_fail (t, "%s: %s: %s", path, dmem_compression_name (kind),
		   dmem_stream_error (s));
      else if (dmem_bundle_is (head, n))
	fd = dmem_bundle_read (t, s, head, n, path);
      else if (n >= 4 && memcmp (head, ELFMAG, SELFMAG) == 0)
	fd = expand (t, s, kind, head, n, path);
      else
	dmem_fail (t, "%s: %s data, but neither a core nor a dmem bundle "
		   "inside", path, dmem_compression_name (kind));
      dmem_stream_close (s);
      if (fd < 0)
	return -1;
      close (t->fd);
      t->fd = fd;
      if (kind != DMEM_PLAIN)
	t->compression = strdup (dmem_compression_name (kind));
    }
  Elf *elf = elf_begin (t->fd, ELF_C_READ_MMAP, NULL);
  if (elf == NULL || elf_kind (elf) != ELF_K_ELF)
    {
      elf_end (elf);
      return dmem_fail (t, "%s: not an ELF file", path);
    }
  t->map = elf;
  GElf_Ehdr ehdr;
  if (gelf_getehdr (elf, &ehdr) == NULL)
    return dmem_fail (t, "%s: bad ELF header: %s", path, elf_errmsg (-1));
  if (ehdr.e_type != ET_CORE)
    return dmem_fail (t, "%s: not a core file", path);
  if (gelf_getclass (elf) != ELFCLASS64 || ehdr.e_machine != EM_X86_64)
    return dmem_fail (t, "%s: not an x86-64 core", path);
  size_t size;
  const unsigned char *raw = (const unsigned char *) elf_rawfile (elf, &size);
  size_t nphdr;
  if (raw == NULL || elf_getphdrnum (elf, &nphdr) != 0)
    return dmem_fail (t, "%s: cannot read program headers: %s", path,
		      elf_errmsg (-1));
  t->map_bytes = raw;
  t->map_size = size;
  for (size_t i = 0; i < nphdr; i++)
    {
      GElf_Phdr phdr;
      if (gelf_getphdr (elf, i, &phdr) == NULL)
	return dmem_fail (t, "%s: truncated program headers", path);
      if (phdr.p_filesz > size || phdr.p_offset > size - phdr.p_filesz)
	return dmem_fail (t, "%s: truncated core (segment %zu needs bytes up to "
			  "%" PRIu64 ", the file has %zu)", path, i,
			  (uint64_t) phdr.p_offset + phdr.p_filesz, size);
      if (phdr.p_type != PT_LOAD || phdr.p_memsz == 0
	  || phdr.p_vaddr + phdr.p_memsz < phdr.p_vaddr)
	continue;
      t->regions = dmem_xrealloc (t->regions, t->nregions + 1,
				  sizeof *t->regions);
      struct dmem_region *r = &t->regions[t->nregions++];
      memset (r, 0, sizeof *r);
      r->start = phdr.p_vaddr;
      r->end = phdr.p_vaddr + phdr.p_memsz;
      r->readable = (phdr.p_flags & PF_R) != 0;
      r->writable = (phdr.p_flags & PF_W) != 0;
      r->data = raw + phdr.p_offset;
      r->avail = phdr.p_filesz < phdr.p_memsz ? phdr.p_filesz : phdr.p_memsz;
      r->loaded = 1;
    }
  if (t->nregions == 0)
    return dmem_fail (t, "%s: the core holds no memory segments", path);
  qsort (t->regions, t->nregions, sizeof *t->regions, region_cmp);
  for (size_t i = 0; i < nphdr; i++)
    {
      GElf_Phdr phdr;
      if (gelf_getphdr (elf, i, &phdr) != NULL && phdr.p_type == PT_NOTE)
	read_notes (t, elf, &phdr);
    }

  if (begin_dwfl (t, sysroot, debug_dirs) != 0)
    return -1;
  /* Modules are named by absolute path, however -e was given.  */
  char *exe = executable ? realpath (executable, NULL) : NULL;
  if (executable != NULL && exe == NULL)
    return dmem_fail (t, "-e %s: %s", executable, strerror (errno));
  int reported = dwfl_core_file_report (t->dwfl, elf, exe);
  free (exe);
  if (reported < 0)
    {
      opening = NULL;
      return dmem_fail (t, "%s: cannot find the core's modules: %s", path,
			dwfl_errmsg (-1));
    }
  return end_dwfl (t, path);
}

/* Seize thread TID of t->pid and wait until it is stopped.  Returns 0 (also
   when the thread is gone already) or -1 after dmem_fail.  */
static int
attach_thread (struct dmem_target *t, pid_t tid)
{
  if (ptrace (PTRACE_SEIZE, tid, 0, 0) != 0)
    {
      if (errno == ESRCH)
	return 0;
      return dmem_fail (t, "cannot attach to thread %d: %s", (int) tid,
			strerror (errno));
    }
  t->attached = dmem_xrealloc (t->attached, t->nattached + 1,
			       sizeof *t->attached);
  t->attached[t->nattached++] = tid;
  ptrace (PTRACE_INTERRUPT, tid, 0, 0);
  int status;
  pid_t r;
  while ((r = waitpid (tid, &status, __WALL)) < 0 && errno == EINTR)
    ;
  if (r < 0)
    return dmem_fail (t, "cannot stop thread %d: %s", (int) tid,
		      strerror (errno));
  if (!WIFSTOPPED (status))
    t->nattached--;  /* it exited meanwhile */
  else
    {
      struct user_regs_struct regs;
      if (ptrace (PTRACE_GETREGS, tid, 0, &regs) != 0)
	return dmem_fail (t, "cannot read registers of thread %d: %s", (int) tid,
			  strerror (errno));
      _Static_assert (sizeof regs == DMEM_NREGS * 8, "user_regs_struct");
      t->threads = dmem_xrealloc (t->threads, t->nthreads + 1,
				  sizeof *t->threads);
      t->threads[t->nthreads].tid = tid;
      memcpy (t->threads[t->nthreads].regs, &regs, sizeof regs);
      t->nthreads++;
    }
  return 0;
}

/* Stop every thread of t->pid, including ones started while attaching.  */
static int
attach_all (struct dmem_target *t)
{
  char path[64];
  snprintf (path, sizeof path, "/proc/%d/task", (int) t->pid);
  for (int added = 1; added;)
    {
      added = 0;
      DIR *dir = opendir (path);
      if (dir == NULL)
	return dmem_fail (t, "no process %d: %s", (int) t->pid, strerror (errno));
      struct dirent *de;
      while ((de = readdir (dir)) != NULL)
	{
	  pid_t tid = atoi (de->d_name);
	  if (tid <= 0)
	    continue;
	  size_t i;
	  for (i = 0; i < t->nattached; i++)
	    if (t->attached[i] == tid)
	      break;
	  if (i < t->nattached)
	    continue;
	  size_t before = t->nattached;
	  if (attach_thread (t, tid) != 0)
	    {
	      closedir (dir);
	      return -1;
	    }
	  added |= t->nattached != before;
	}
      closedir (dir);
    }
  if (t->nthreads == 0)
    return dmem_fail (t, "process %d has no threads left", (int) t->pid);
  return 0;
}

/* Let every attached thread run on (or stay in its group stop).  */
static void
detach_all (struct dmem_target *t)
{
  for (size_t i = 0; i < t->nattached; i++)
    ptrace (PTRACE_DETACH, t->attached[i], 0, 0);
  t->nattached = 0;
}

/* Read /proc/PID/maps into t->regions (data loaded lazily).  */
static int
read_maps (struct dmem_target *t)
{
  char path[64];
  snprintf (path, sizeof path, "/proc/%d/maps", (int) t->pid);
  FILE *f = fopen (path, "r");
  if (f == NULL)
    return dmem_fail (t, "cannot read %s: %s", path, strerror (errno));
  char line[4096];
  while (fgets (line, sizeof line, f) != NULL)
    {
      unsigned long long start, end, offset, inode = 0;
      char perms[8];
      if (sscanf (line, "%llx-%llx %7s %llx %*s %llu", &start, &end, perms,
		  &offset, &inode) < 3
	  || end <= start)
	continue;
      t->regions = dmem_xrealloc (t->regions, t->nregions + 1,
				  sizeof *t->regions);
      struct dmem_region *r = &t->regions[t->nregions++];
      memset (r, 0, sizeof *r);
      r->start = start;
      r->end = end;
      r->readable = perms[0] == 'r';
      r->writable = perms[1] == 'w';
      r->file_backed = inode != 0;
    }
  fclose (f);
  qsort (t->regions, t->nregions, sizeof *t->regions, region_cmp);
  return 0;
}

/* Report the modules of live process PID to a new Dwfl.  Returns 0 or -1
   after dmem_fail.  */
static int
report_process (struct dmem_target *t, pid_t pid, const char *sysroot,
		const char *debug_dirs)
{
  if (begin_dwfl (t, sysroot, debug_dirs) != 0)
    return -1;
  int err = dwfl_linux_proc_report (t->dwfl, pid);
  if (err != 0)
    {
      opening = NULL;
      return dmem_fail (t, "cannot list the modules of process %d: %s",
			(int) pid, err > 0 ? strerror (err) : dwfl_errmsg (-1));
    }
  char what[64];
  snprintf (what, sizeof what, "process %d", (int) pid);
  return end_dwfl (t, what);
}

/* See dmem.h: stop, snapshot and detach a live process.  */
int
dmem_target_open_pid (struct dmem_target *t, pid_t pid, const char *sysroot,
		      const char *debug_dirs)
{
  t->pid = pid;
  elf_version (EV_CURRENT);
  char path[64];
  snprintf (path, sizeof path, "/proc/%d/mem", (int) pid);
  if (attach_all (t) != 0)
    return -1;
  t->fd = open (path, O_RDONLY);
  if (t->fd < 0)
    return dmem_fail (t, "cannot open %s: %s", path, strerror (errno));
  if (read_maps (t) != 0)
    return -1;
  /* Snapshot what can hold blocks or roots (writable or anonymous memory)
     in bulk, then let the process run on.  Read-only file mappings stay
     readable on demand.  */
  for (size_t i = 0; i < t->nregions; i++)
    if (t->regions[i].writable || !t->regions[i].file_backed)
      dmem_region_load (t, &t->regions[i]);
  detach_all (t);
  return report_process (t, pid, sysroot, debug_dirs);
}

/* See dmem.h: the modules of a process that runs on.  */
int
dmem_target_open_modules (struct dmem_target *t, pid_t pid,
			  const char *sysroot, const char *debug_dirs)
{
  t->pid = pid;
  elf_version (EV_CURRENT);
  if (read_maps (t) != 0)
    return -1;
  return report_process (t, pid, sysroot, debug_dirs);
}

/* See dmem.h: maps and modules from /proc, bytes and registers from the
   debugger.  */
int
dmem_target_open_source (struct dmem_target *t,
			 const struct dmem_source *source,
			 const char *sysroot, const char *debug_dirs)
{
  elf_version (EV_CURRENT);
  t->source = source;
  if (source->nthreads == 0)
    return dmem_fail (t, "the process has no threads");
  t->threads = dmem_xcalloc (source->nthreads, sizeof *t->threads);
  memcpy (t->threads, source->threads, source->nthreads * sizeof *t->threads);
  t->nthreads = source->nthreads;
  t->pid = source->pid;
  if (read_maps (t) != 0)
    return -1;
  for (size_t i = 0; i < t->nregions; i++)
    if (t->regions[i].writable || !t->regions[i].file_backed)
      dmem_region_load (t, &t->regions[i]);
  return report_process (t, source->pid, sysroot, debug_dirs);
}

/* dwfl_getmodules callback: append MOD's writable PT_LOAD segments.  */
static int
add_module_segments (Dwfl_Module *mod,
		     void **userdata __attribute__ ((unused)),
		     const char *name, Dwarf_Addr start, void *arg)
{
  struct dmem_target *t = arg;
  Dwarf_Addr end;
  dwfl_module_info (mod, NULL, NULL, &end, NULL, NULL, NULL, NULL);
  t->modules = dmem_xrealloc (t->modules, t->nmodules + 1, sizeof *t->modules);
  t->modules[t->nmodules++] = (struct dmem_segment) { start, end };
  const char *base = name ? strrchr (name, '/') : NULL;
  base = base ? base + 1 : name;
  if (base != NULL && strncmp (base, "ld-linux", 8) == 0
      && t->loader.end <= t->loader.start)
    t->loader = (struct dmem_segment) { start, end };
  GElf_Addr bias;
  Elf *elf = dwfl_module_getelf (mod, &bias);
  size_t nphdr;
  if (elf == NULL || elf_getphdrnum (elf, &nphdr) != 0)
    return DWARF_CB_OK;
  for (size_t i = 0; i < nphdr; i++)
    {
      GElf_Phdr phdr;
      if (gelf_getphdr (elf, i, &phdr) == NULL || phdr.p_type != PT_LOAD
	  || !(phdr.p_flags & PF_W))
	continue;
      t->segments = dmem_xrealloc (t->segments, t->nsegments + 1,
				   sizeof *t->segments);
      t->segments[t->nsegments++] = (struct dmem_segment) {
	phdr.p_vaddr + bias, phdr.p_vaddr + bias + phdr.p_memsz };
    }
  return DWARF_CB_OK;
}

/* See dmem.h.  */
void
dmem_target_segments (struct dmem_target *t)
{
  if (t->have_segments || t->dwfl == NULL)
    return;
  t->have_segments = 1;
  dwfl_getmodules (t->dwfl, add_module_segments, t, 0);
}

/* See dmem.h: detach if still attached, free everything.  */
void
dmem_target_close (struct dmem_target *t)
{
  dmem_symbols_free (t);
  detach_all (t);
  if (t->dwfl != NULL)
    dwfl_end (t->dwfl);
  for (size_t i = 0; i < t->nregions; i++)
    free (t->regions[i].owned);
  free (t->regions);
  free (t->threads);
  free (t->attached);
  free (t->segments);
  free (t->modules);
  if (t->map != NULL)
    elf_end (t->map);
  if (t->fd >= 0)
    close (t->fd);
  for (size_t i = 0; i < t->nwarnings; i++)
    free (t->warnings[i]);
  free (t->warnings);
  free (t->sysroot);
  free (t->debuginfo_path);
  dmem_bundle_free (t->bundle);
  free (t->manifest);
  free (t->compression);
  free (t->core_file);
  for (size_t i = 0; i < t->nmismatches; i++)
    free (t->mismatches[i].file);
  free (t->mismatches);
  dmem_target_init (t, t->err);
}

/* See dmem.h: binary search on the sorted regions.  */
size_t
dmem_region_after (const struct dmem_target *t, uint64_t addr)
{
  size_t lo = 0, hi = t->nregions;
  while (lo < hi)
    {
      size_t mid = lo + (hi - lo) / 2;
      if (t->regions[mid].start <= addr)
	lo = mid + 1;
      else
	hi = mid;
    }
  return lo;
}

/* See dmem.h: binary search, with the last hit cached.  */
struct dmem_region *
dmem_region_at (struct dmem_target *t, uint64_t addr)
{
  if (t->last_region < t->nregions)
    {
      struct dmem_region *r = &t->regions[t->last_region];
      if (r->start <= addr && addr < r->end)
	return r;
    }
  size_t lo = dmem_region_after (t, addr);
  if (lo == 0 || addr >= t->regions[lo - 1].end)
    return NULL;
  t->last_region = lo - 1;
  return &t->regions[lo - 1];
}

/* See dmem.h: read a live region once, in 1 MiB chunks.  */
void
dmem_region_load (struct dmem_target *t, struct dmem_region *r)
{
  if (r->loaded)
    return;
  r->loaded = 1;
  if (!r->readable || (t->pid == 0 && t->source == NULL))
    return;
  uint64_t size = r->end - r->start;
  r->owned = malloc (size);
  if (r->owned == NULL)
    return;
  while (r->avail < size)
    {
      size_t n = size - r->avail < READ_CHUNK ? size - r->avail : READ_CHUNK;
      ssize_t got = t->source != NULL
	? (ssize_t) t->source->read (t->source->arg, r->start + r->avail,
				     r->owned + r->avail, n)
	: pread (t->fd, r->owned + r->avail, n, (off_t) (r->start + r->avail));
      if (got <= 0)
	break;
      r->avail += got;
    }
  r->data = r->owned;
}

/* Copy bytes of a module's file that back [ADDR, ADDR+LEN): for what a core
   leaves out (read-only file mappings).  Returns how many bytes were
   copied from ADDR on (0 when none).  */
static size_t
read_module_file (struct dmem_target *t, uint64_t addr, void *buf, size_t len)
{
  dmem_symbols_wait (t);   /* libdwfl is used by one thread at a time */
  Dwfl_Module *mod = dwfl_addrmodule (t->dwfl, addr);
  if (mod == NULL)
    return 0;
  GElf_Addr bias;
  Elf *elf = dwfl_module_getelf (mod, &bias);
  size_t size, nphdr;
  const char *raw = elf == NULL ? NULL : elf_rawfile (elf, &size);
  if (raw == NULL || elf_getphdrnum (elf, &nphdr) != 0)
    return 0;
  for (size_t i = 0; i < nphdr; i++)
    {
      GElf_Phdr phdr;
      if (gelf_getphdr (elf, i, &phdr) == NULL || phdr.p_type != PT_LOAD)
	continue;
      uint64_t vaddr = phdr.p_vaddr + bias;
      if (addr < vaddr || addr - vaddr >= phdr.p_filesz)
	continue;
      uint64_t in = addr - vaddr;
      size_t n = phdr.p_filesz - in < len ? phdr.p_filesz - in : len;
      if (phdr.p_offset > size || in > size - phdr.p_offset
	  || n > size - phdr.p_offset - in)
	return 0;
      memcpy (buf, raw + phdr.p_offset + in, n);
      return n;
    }
  return 0;
}

/* See dmem.h: from the regions, else from module files.  */
int
dmem_read (struct dmem_target *t, uint64_t addr, void *buf, size_t len)
{
  unsigned char *out = buf;
  while (len > 0)
    {
      struct dmem_region *r = dmem_region_at (t, addr);
      size_t n = 0;
      if (r != NULL)
	{
	  dmem_region_load (t, r);
	  uint64_t in = addr - r->start;
	  if (in < r->avail)
	    {
	      n = r->avail - in < len ? r->avail - in : len;
	      memcpy (out, r->data + in, n);
	    }
	}
      if (n == 0)
	n = read_module_file (t, addr, out, len);
      if (n == 0)
	return -1;
      out += n;
      addr += n;
      len -= n;
    }
  return 0;
}

/* See dmem.h.  */
void
dmem_pass_begin (struct dmem_target *t, struct dmem_pass *p)
{
  *p = (struct dmem_pass) { t, NULL, NULL, 0, 0, 0 };
}

/* See dmem.h.  */
void
dmem_pass_end (struct dmem_pass *p)
{
  free (p->buf);
  p->buf = NULL;
  p->len = 0;
}

/* The smallest read of a pass: a few pages, about what one syscall costs
   against touching them through the mapping.  */
#define PASS_MIN (16u << 10)

/* See dmem.h: refill the buffer from the core file at ADDR's page.  */
const unsigned char *
dmem_pass_read (struct dmem_pass *p, uint64_t addr, size_t len, void *buf)
{
  struct dmem_target *t = p->t;
  struct dmem_region *r = dmem_region_at (t, addr);
  if (r == NULL || t->map_bytes == NULL || r->data < t->map_bytes
      || r->data >= t->map_bytes + t->map_size || len > DMEM_PASS_MAX / 2)
    return dmem_view (t, addr, len, buf);
  uint64_t in = addr - r->start;
  if (in >= r->avail || len > r->avail - in)
    return dmem_view (t, addr, len, buf);
  if (t->pass_by_map)
    {
      p->bytes = r->data;
      p->start = r->start;
      p->len = r->avail;
      return r->data + in;
    }
  /* Running on from the last read: read more at once.  */
  if (p->len > 0 && addr >= p->start && addr - p->start <= p->len + p->next)
    p->next = 2 * p->next < DMEM_PASS_MAX ? 2 * p->next : DMEM_PASS_MAX;
  else
    p->next = PASS_MIN;
  uint64_t from = addr & ~4095ULL;
  from = from < r->start ? r->start : from;
  uint64_t n = p->next > addr + len - from ? p->next : addr + len - from;
  n = n < r->avail - (from - r->start) ? n : r->avail - (from - r->start);
  if (p->buf == NULL)
    p->buf = dmem_xmalloc (DMEM_PASS_MAX + 4096);
  off_t at = (r->data - t->map_bytes) + (from - r->start);
  if (pread (t->fd, p->buf, n, at) != (ssize_t) n)
    {
      p->len = 0;
      return dmem_view (t, addr, len, buf);
    }
  p->bytes = p->buf;
  p->start = from;
  p->len = n;
  return p->buf + (addr - from);
}

/* See dmem.h: no copy when the bytes are contiguous.  */
const unsigned char *
dmem_view (struct dmem_target *t, uint64_t addr, size_t len, void *buf)
{
  struct dmem_region *r = dmem_region_at (t, addr);
  if (r != NULL)
    {
      dmem_region_load (t, r);
      uint64_t in = addr - r->start;
      if (in < r->avail && len <= r->avail - in)
	return r->data + in;
    }
  return dmem_read (t, addr, buf, len) == 0 ? buf : NULL;
}
