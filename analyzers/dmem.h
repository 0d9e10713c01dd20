/* Internal interfaces of the dmem analyzer: target, heap, reachability, symbols, report.  */
#ifndef DMEM_ANALYZER_H
#define DMEM_ANALYZER_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/types.h>
#include <elfutils/libdwfl.h>
#include "dmem/format.h"

/* Exit statuses (documented in --help and dmem(1)).  */
#define DMEM_EXIT_OK 0
#define DMEM_EXIT_BAD_INPUT 2
#define DMEM_EXIT_USAGE 64

/* Exit status when a report found what a CI asks about (verify: heap
   errors).  */
#define DMEM_EXIT_FOUND 1

struct dmem_target;

/* Record in T a one-line reason why the input cannot be analysed; the
   caller returns -1 and the front end prints it.  Always returns -1.  */
int dmem_fail (struct dmem_target *t, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));
/* The reason recorded by the last dmem_fail on T.  */
const char *dmem_failure (const struct dmem_target *t);
/* A non-fatal warning: printed on T's message stream once, and kept for
   the JSON reports' "warnings".  */
void dmem_warn (struct dmem_target *t, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));
/* Work under way: once T has been at work for about a second, a line
   "dmem: WHAT: N%" (or "WHAT..." when TOTAL is 0) kept up to date on stderr
   when it is a terminal.  dmem_progress_end clears it when WHAT is done.  */
void dmem_progress (struct dmem_target *t, const char *what, uint64_t done,
		    uint64_t total);
void dmem_progress_end (struct dmem_target *t);
/* Print a usage error (FMT with ARG) and the --help hint on stderr;
   returns DMEM_EXIT_USAGE.  */
int dmem_usage_error (const char *fmt, const char *arg);
/* malloc/calloc/realloc that exit(2) with a message when memory runs out.  */
void *dmem_xmalloc (size_t size);
void *dmem_xcalloc (size_t n, size_t size);
void *dmem_xrealloc (void *p, size_t n, size_t size);
/* qsort order of uint64_t values, ascending.  */
int dmem_u64_cmp (const void *a, const void *b);

/* ---- target.c: a core file or a live process ---- */

/* One mapping of the target: [start, end).  `data` holds the first `avail`
   bytes (for a core, what the file holds; for a live process, loaded on first
   use).  Bytes past `avail` were not dumped.  */
struct dmem_region
{
  uint64_t start, end;
  int writable, readable;
  int file_backed;       /* a mapping of a file (NT_FILE, /proc/PID/maps) */
  const unsigned char *data;
  uint64_t avail;
  int loaded;            /* live process: data was read already */
  unsigned char *owned;  /* live process: buffer to free */
};

#define DMEM_NREGS 27      /* x86-64 user_regs_struct */
#define DMEM_REG_RSP 19
#define DMEM_REG_FS_BASE 21

struct dmem_thread
{
  uint32_t tid;
  uint64_t regs[DMEM_NREGS];
};

/* A writable PT_LOAD segment of a loaded module: [start, end).  */
struct dmem_segment
{
  uint64_t start, end;
};

/* Where bytes come from when a debugger holds a live process (gdb): the
   engine lists its mappings and modules through /proc/PID and reads its
   memory and registers through the debugger.  */
struct dmem_source
{
  int pid;
  void *arg;
  /* Copy up to LEN bytes at ADDR to BUF; returns how many were copied from
     ADDR on (0 when none can be read).  */
  size_t (*read) (void *arg, uint64_t addr, void *buf, size_t len);
  size_t nthreads;
  const struct dmem_thread *threads;
};

struct dmem_symbols;
struct dmem_bundle;

/* A module whose file (found by -e, --sysroot, its path or a bundle) does
   not have the build ID the target holds: used only when no matching file
   was found, its frames marked.  */
struct dmem_mismatch
{
  Dwfl_Module *mod;
  char *file;
};

struct dmem_target
{
  Dwfl *dwfl;
  Dwfl_Callbacks callbacks;  /* what dwfl was started with (per target) */
  char *sysroot;             /* absolute, or NULL */
  char *debuginfo_path;      /* libdwfl's search path for debug files */
  const struct dmem_source *source; /* a debugger's live process, or NULL */
  FILE *err;                 /* warnings and notes (stderr, or a buffer) */
  int progress;              /* show progress lines on stderr (a tty) */
  double progress_start, progress_shown; /* dmem_progress's clock */
  char error[1024];          /* dmem_fail's message */
  char **warnings;           /* every dmem_warn, for JSON */
  size_t nwarnings;
  struct dmem_symbols *symbols; /* symbols.c's cache and preload thread */
  int preload_symbols;       /* caller: load debug info while the heap is
				sorted (stacks, leaks) */
  pid_t pid;                 /* live process, or 0 for a core */
  int fd;                    /* the core file, or /proc/PID/mem */
  void *map;                 /* the core's Elf, which maps the file */
  const unsigned char *map_bytes; /* the file's mapped bytes (NULL: not a
				     core) */
  int pass_by_map;           /* passes read through the mapping: the lists
				will be walked, which touches its pages */
  size_t map_size;
  struct dmem_region *regions;
  size_t nregions;
  size_t last_region;        /* lookup cache */
  struct dmem_thread *threads;
  size_t nthreads;
  pid_t *attached;           /* live: threads under ptrace while read */
  size_t nattached;
  struct dmem_segment *segments; /* modules' .data and .bss, once known */
  size_t nsegments;
  /* Known with the segments: each module's address range, and the dynamic
     linker's ({0, 0} if none), so that reachability needs no libdwfl
     while the symbol preloader owns it.  */
  struct dmem_segment *modules;
  size_t nmodules;
  struct dmem_segment loader;
  int have_segments;
  struct dmem_bundle *bundle;  /* the target is a bundle: its files */
  char *manifest;              /* ... and its manifest (JSON), or NULL */
  /* A core's NT_PRPSINFO, as the kernel keeps it: the program's name, its
     command line (at most 80 bytes) and pid; empty and 0 when unknown.  */
  char prog_name[17], command_line[81];
  int prog_pid;
  char *compression;           /* the core was read decompressed: how */
  char *core_file;             /* the file opened (coredump:MATCH found) */
  struct dmem_mismatch *mismatches;
  size_t nmismatches;
  int debuginfod_probed;       /* the servers' failure was said once */
};

/* Open a core file.  EXECUTABLE (may be NULL) is the main program, SYSROOT
   (may be NULL) is where the core's files are looked up first.  Returns 0,
   or -1 after dmem_fail.  */
int dmem_target_open_core (struct dmem_target *t, const char *path,
			   const char *executable, const char *sysroot,
			   const char *debug_dirs);
/* Stop every thread of a live process with ptrace, read its registers and
   a snapshot of its writable and anonymous memory in bulk, and detach: the
   process runs on (or stays in the group stop it was in).  Returns 0 or -1
   after dmem_fail.  */
int dmem_target_open_pid (struct dmem_target *t, pid_t pid,
			  const char *sysroot, const char *debug_dirs);
/* A live process's modules only (/proc/PID/maps): not stopped, its
   memory not read.  Returns 0 or -1 after dmem_fail.  */
int dmem_target_open_modules (struct dmem_target *t, pid_t pid,
			      const char *sysroot, const char *debug_dirs);
/* Open a live process that a debugger holds stopped, through SOURCE (kept
   by pointer until close).  Returns 0 or -1 after dmem_fail.  */
int dmem_target_open_source (struct dmem_target *t,
			     const struct dmem_source *source,
			     const char *sysroot, const char *debug_dirs);
/* Before any open: zero T, messages to ERR.  */
void dmem_target_init (struct dmem_target *t, FILE *err);
/* Detach from a live process, release everything.  */
void dmem_target_close (struct dmem_target *t);

/* Copy LEN bytes at ADDR in the target to BUF.  Returns 0, or -1 if any byte
   cannot be read (not mapped, not dumped and not in a module file).  */
int dmem_read (struct dmem_target *t, uint64_t addr, void *buf, size_t len);
/* A pointer to LEN readable bytes at ADDR: straight into the target's data
   when they are contiguous there, else copied into BUF (LEN bytes).  NULL if
   they cannot be read.  */
const unsigned char *dmem_view (struct dmem_target *t, uint64_t addr,
				size_t len, void *buf);
/* A pass over a core's memory in address order, read by pread into one
   buffer rather than through the mapping: the first touch of each page of
   a mapping costs a fault (and, in a virtual machine with shadow paging,
   an exit), which is dearer than copying the page as cat does.  Reads grow
   while each runs on from the last, like the kernel's readahead, so a
   sparse pass reads little.  A view stays valid until the next one.
   With T->pass_by_map, or where the core file does not hold the bytes, a
   pass views the mapping itself.  */
struct dmem_pass
{
  struct dmem_target *t;
  unsigned char *buf;          /* what was read */
  const unsigned char *bytes;  /* the target's bytes [start, start + len):
				  BUF, or a region's mapped bytes */
  uint64_t start, len;
  size_t next;                 /* the size of the next read */
};
void dmem_pass_begin (struct dmem_target *t, struct dmem_pass *p);
void dmem_pass_end (struct dmem_pass *p);
const unsigned char *dmem_pass_read (struct dmem_pass *p, uint64_t addr,
				     size_t len, void *buf);
/* dmem_view through pass P: from its buffer when the bytes are there.  */
static inline const unsigned char *
dmem_pass_view (struct dmem_pass *p, uint64_t addr, size_t len, void *buf)
{
  uint64_t in = addr - p->start;
  if (in <= p->len && len <= p->len - in)
    return p->bytes + in;
  return dmem_pass_read (p, addr, len, buf);
}
/* The most a pass reads at once; longer views come from the mapping.  */
#define DMEM_PASS_MAX (256u << 10)

/* The region containing ADDR, or NULL.  */
struct dmem_region *dmem_region_at (struct dmem_target *t, uint64_t addr);
/* Index of the first region starting above ADDR (nregions if none).  */
size_t dmem_region_after (const struct dmem_target *t, uint64_t addr);
/* Make a live-process region's bytes available (no-op for cores).  */
void dmem_region_load (struct dmem_target *t, struct dmem_region *r);
/* Find (once) the writable PT_LOAD segments of every module, the data roots
   of reachability, into t->segments, and the modules' ranges into
   t->modules and t->loader.  */
void dmem_target_segments (struct dmem_target *t);

/* BITS (LEN bytes) as hex into OUT (2 * LEN + 1 bytes).  */
void dmem_hex (const unsigned char *bits, size_t len, char *out);
/* Whether the ELF file open as FD (or *ELFP) has build ID BITS (LEN bytes):
   1 yes, 0 it has another (its ID into GOT, 2 * 64 + 1 bytes), -1 unknown
   (no ID expected, or none in the file).  Leaves in *ELFP the file read
   from FD.  */
int dmem_file_matches (int fd, Elf **elfp, const unsigned char *bits, int len,
		       char *got);
/* Whether MOD's file is one with another build ID than the target's.  */
int dmem_module_mismatched (const struct dmem_target *t, Dwfl_Module *mod);

/* ---- debugcache.c: compressed debug files expanded once ---- */

/* FD (a debug file of build ID BITS, LEN bytes), or, when its sections are
   compressed, a descriptor of its expanded copy: the one in the user's
   cache, else one made now, there with KEEP and a cache, else in an
   unlinked temporary file.  FD is then closed.  */
int dmem_debug_expanded (int fd, const unsigned char *bits, size_t len,
			 int keep);

/* ---- compress.c: compressed input by magic, temporary files ---- */

enum dmem_compression { DMEM_PLAIN, DMEM_ZSTD, DMEM_XZ, DMEM_LZ4, DMEM_GZIP,
			DMEM_BZIP2, DMEM_LZ4_LEGACY };
/* The compression the N first bytes M of a file start with.  */
enum dmem_compression dmem_compression_of (const unsigned char *m, size_t n);
/* "zstd", "xz", ..., "uncompressed".  */
const char *dmem_compression_name (enum dmem_compression c);
struct dmem_stream;
/* A decoder of KIND over the bytes of FD from its current offset (PLAIN:
   the bytes as they are).  NULL with one line in ERROR when KIND is not
   read (bzip2, legacy lz4).  */
struct dmem_stream *dmem_stream_open (int fd, enum dmem_compression kind,
				      char *error, size_t size);
/* Up to SIZE decoded bytes into BUF: fewer only at the end of the stream;
   -1 on corrupt or truncated data (dmem_stream_error says which).  */
ssize_t dmem_stream_read (struct dmem_stream *s, void *buf, size_t size);
const char *dmem_stream_error (const struct dmem_stream *s);
/* Compressed bytes consumed so far.  */
uint64_t dmem_stream_consumed (const struct dmem_stream *s);
void dmem_stream_close (struct dmem_stream *s);
/* A new unlinked read-write file in $TMPDIR (or /tmp): it goes when its
   last descriptor is closed.  -1 with one line in ERROR.  */
int dmem_temp_file (char *error, size_t size);
/* write(2) all of BUF.  0 or -1 (errno).  */
int dmem_write_all (int fd, const void *buf, size_t size);

/* ---- bundle.c: support bundles (a core and its files, one file) ---- */

/* Whether the 512 decoded bytes HEAD start a bundle (a tar stream whose
   first member is dmem-bundle.json).  */
int dmem_bundle_is (const unsigned char *head, size_t n);
/* Read the bundle from S (HEAD: its first N decoded bytes, already read)
   into T: the manifest to t->manifest, the modules and debug files kept
   by build ID.  Returns a descriptor of the core (an unlinked temporary
   file), or -1 after dmem_fail naming PATH.  */
int dmem_bundle_read (struct dmem_target *t, struct dmem_stream *s,
		      const unsigned char *head, size_t n, const char *path);
/* A new descriptor of T's bundled file of build ID BITS (LEN bytes): the
   module itself, or with DEBUG its separate debug info; -1 if none.
   *NAME (may be NULL) is set to the member's name (caller frees).  */
int dmem_bundle_find (const struct dmem_target *t, const unsigned char *bits,
		      size_t len, int debug, char **name);
void dmem_bundle_free (struct dmem_bundle *b);
/* dmem bundle ARGS (ARGV[0] is "bundle").  Returns the exit status.  */
int dmem_bundle_command (int argc, char **argv);
/* Write an ELF core of T (a live process opened with dmem_target_open_pid)
   to FD: its threads' registers, its mappings (NT_FILE), its auxv and
   command line, and the bytes of its writable and anonymous mappings and
   the first page of its file mappings.  Returns 0 or -1 after dmem_fail.  */
int dmem_write_core (struct dmem_target *t, int fd);

/* ---- heap.c: the descriptor and the shard walk ---- */

/* One live block, as the index keeps it: 8 bytes, as a core of a million
   blocks is read into a million of them.  The rest of what the block's
   header says (its thread, its stack) is read back from the header when
   it is needed: dmem_block_tid, dmem_block_stack.  Its requested size is
   dmem_block_size's (SMALL_SIZE, or from dmem_heap.big when it does not
   fit).  NO_POINTERS is 1 only when no word of its user part can point
   into any block (the scan for headers read them all): scanning it for
   pointers would find none.  */
struct dmem_block_ref
{
  uint64_t user : 48;        /* user pointer = header address + header size */
  uint64_t small_size : 15;  /* requested size, or DMEM_BIG_SIZE */
  uint64_t no_pointers : 1;  /* it holds no pointer into a block */
};
#define DMEM_BIG_SIZE ((1u << 15) - 1)
/* Where blocks can be: x86-64 user space (the index keeps 48 bits).  */
#define DMEM_USER_END (1ULL << 48)

/* A block of DMEM_BIG_SIZE bytes or more: its size.  */
struct dmem_big_block
{
  uint64_t user, size;
};

/* Something wrong found by the walk: KIND is a fixed word ("bad-magic",
   "bad-prev", "cycle", "unreadable", "too-long", "bad-size",
   "freed-block", "count-mismatch", "bytes-mismatch"), ADDRESS the header
   or shard concerned, STACK the block's stack or UINT32_MAX, SHARD the
   shard or -1 when no one shard is concerned.  dmem_heap_check adds
   problems about one block (BLOCK its header, SHARD -1): "overrun" (a
   live block's guard changed) and "use-after-free" (a quarantined block's
   poison or guard changed), ADDRESS the first changed byte; "bad-magic"
   and "bad-size" of a quarantined block's header, ADDRESS the header.  */
struct dmem_problem
{
  const char *kind;
  uint64_t address;
  uint32_t stack;
  int shard;
  uint64_t from;       /* the header whose link led there, or 0 */
  uint64_t block;      /* dmem_heap_check's: the block's header, else 0 */
  uint64_t size;       /* ... its requested size (0 when unknown) */
  uint32_t free_stack; /* a quarantined block's free stack, or UINT32_MAX */
};

struct dmem_heap
{
  uint64_t desc[DMEM_DESC_COUNT]; /* the descriptor as read */
  struct dmem_block_ref *blocks; /* sorted by user address after the walk */
  size_t nblocks, capacity;
  struct dmem_big_block *big;    /* the blocks too big for small_size, by
				    user address after the walk */
  size_t nbig;
  struct dmem_target *target;    /* where the headers are read back */
  uint64_t *loader_blocks;       /* the dynamic linker's blocks (their
				    innermost frame in it), by address */
  size_t nloader_blocks;
  struct dmem_stack_table *stack_table; /* format 1: a header's PCs to
					   their stack (format 2 headers
					   hold a depot id) */
  uint64_t *stacks;              /* nstacks * depth PCs, 0-filled */
  size_t nstacks, depth;
  struct dmem_problem *problems;
  size_t nproblems;
  size_t nquarantined;           /* quarantined blocks dmem_heap_check read */
  int checked;                   /* dmem_heap_check ran */
  uint64_t shard_allocs, shard_frees;  /* summed over the shards */
  uint64_t stats[DMEM_STAT_COUNT];     /* the runtime's counters */
  /* Format 2: the stack (index in STACKS) of each depot id below NDEPOT,
     and that of the blocks whose stack was not kept (all PCs 0).  */
  uint32_t *depot;
  size_t ndepot;
  uint32_t not_kept_stack;
  uint64_t not_kept;                   /* blocks the runtime kept no stack of */
  /* Format 3: blocks that a thread other than their shard's has freed,
     still on their lists and in the shards' counters; not in BLOCKS.  */
  uint64_t npending;
  /* The thread and stack of each block as the scan read them, so that
     reports need not read its header again (NULL after a walk).  */
  struct dmem_origins *origins;
  int walk;      /* loaded by dmem_heap_walk: no scan was tried */
  int scanned;   /* the blocks were found by a scan for their headers */
  int preloaded; /* symbolisation started before the scan */
};

/* Find the descriptor in the target and every block: by a scan of the
   memory for headers, else (the scan does not add up to the shards'
   counts) a walk of every shard's list.  Returns 0 (walk problems are
   recorded, not fatal) or -1 after dmem_fail when the target
   holds no usable dmem runtime.  */
int dmem_heap_load (struct dmem_target *t, struct dmem_heap *h);
/* dmem_heap_load by walking the lists alone, never a scan: what verify
   checks the lists with.  */
int dmem_heap_walk (struct dmem_target *t, struct dmem_heap *h);
/* Warn on stderr, one line each, about the shards whose walk a problem
   cut short.  */
void dmem_heap_warn (struct dmem_target *t, const struct dmem_heap *h);
/* P in words ("shard 3: bad-magic block at 0x... (linked from block
   0x...)") into BUF, when it cut a shard's walk short; else NULL.  */
const char *dmem_problem_text (const struct dmem_problem *p, char *buf,
			       size_t size);
/* The heap error checks of dmem verify, once per loaded heap (later calls
   do nothing): the guard after every live block (an "overrun" problem for
   each changed one), and every block held in the runtime's quarantine
   rings: its header (freed magic, a size that fits its mapping), its user
   bytes (all poison) and its guard ("use-after-free" at the first changed
   byte).  Problems are added to H->problems (their stacks to H->stacks,
   after the blocks'); bounded on damaged input.  Returns H->nproblems.  */
size_t dmem_heap_check (struct dmem_target *t, struct dmem_heap *h);
void dmem_heap_free (struct dmem_heap *h);
/* The size of H's big block at USER (0 if there is none).  */
uint64_t dmem_big_size (const struct dmem_heap *h, uint64_t user);
/* The requested size of block B of H.  */
static inline uint64_t
dmem_block_size (const struct dmem_heap *h, const struct dmem_block_ref *b)
{
  return b->small_size != DMEM_BIG_SIZE ? b->small_size
	 : dmem_big_size (h, b->user);
}
/* How many bytes from its user address on point into block B: its size,
   and one for a 0-byte block, as a pointer equal to its address keeps
   it.  */
static inline uint64_t
dmem_block_span (const struct dmem_heap *h, const struct dmem_block_ref *b)
{
  uint64_t size = dmem_block_size (h, b);
  return size ? size : 1;
}
/* The thread that allocated block B of H (0 if its header cannot be read
   again).  */
uint32_t dmem_block_tid (const struct dmem_heap *h,
			 const struct dmem_block_ref *b);
/* The allocation stack (index into H->stacks) of block B of H, read back
   from its header (the "not kept" stack if it cannot be read again).  */
uint32_t dmem_block_stack (const struct dmem_heap *h,
			   const struct dmem_block_ref *b);
/* dmem_block_tid into *TID and dmem_block_stack into *STACK (either may be
   NULL): as the scan read them, else from the header read through pass P
   (for a loop over blocks in address order) or, P NULL, on its own.  B
   points into H->blocks.  */
void dmem_block_origin (const struct dmem_heap *h, struct dmem_pass *p,
			const struct dmem_block_ref *b, uint32_t *tid,
			uint32_t *stack);
/* Keep the scan's origins (see dmem_block_origin) of the blocks MARK
   does not say reachable, and forget the others' (read again from their
   headers when asked for): a leak report groups the unreachable ones, and
   reachability needs their memory.  */
void dmem_heap_keep_origins (const struct dmem_heap *h,
			     const unsigned char *mark);
/* Index of the first block of H (sorted) whose user part starts at or
   above ADDR (nblocks if none).  */
size_t dmem_block_from (const struct dmem_heap *h, uint64_t addr);
/* Store in PCS (H->depth words) the allocation stack of the block whose
   header bytes are HDR (all 0 when it is not known).  */
void dmem_header_pcs (const struct dmem_heap *h, const unsigned char *hdr,
		      uint64_t *pcs);
/* The PCs of stack S, and how many are non-zero.  */
const uint64_t *dmem_stack_pcs (const struct dmem_heap *h, uint32_t s,
				size_t *n);
/* Order stacks like the readers do: PC tuples compared numerically, a
   prefix first.  */
int dmem_stack_cmp (const struct dmem_heap *h, uint32_t a, uint32_t b);

/* ---- reach.c: leaks by reachability ---- */

enum dmem_mark { DMEM_REACHABLE = 1, DMEM_LEAK = 2, DMEM_INDIRECT = 3,
		 DMEM_POSSIBLE = 4 };

/* One mark per block of H (in H's order): reachable (through start
   pointers only), possible (only through chains with an interior
   pointer), leak (direct) or indirect.  Caller frees.  H keeps the scan's
   origins of the unreachable blocks only (dmem_heap_keep_origins).  */
unsigned char *dmem_reach (struct dmem_target *t, const struct dmem_heap *h);

/* The reference graph, for explain and retained sizes: the roots and the
   blocks, and the words in them that point into blocks (interior pointers
   too).  Built on the same index and roots as dmem_reach.  */
struct dmem_refs;
/* What a root word's WHERE is when it is not an address: register K of
   thread I (t->threads[I]), or a block the dynamic linker allocated (held
   as reachable, as LeakSanitizer does).  */
#define DMEM_REF_REGISTER(i, k) ((uint64_t) (i) * DMEM_NREGS + (k))
#define DMEM_REF_REGISTERS_END(t) ((uint64_t) (t)->nthreads * DMEM_NREGS)
#define DMEM_REF_LOADER UINT64_MAX
/* Called for each word at WHERE whose value VALUE points into block BLOCK
   (an index into the heap's sorted blocks).  */
typedef void dmem_ref_fn (void *arg, uint64_t where, uint64_t value,
			  size_t block);
struct dmem_refs *dmem_refs_new (struct dmem_target *t,
				 const struct dmem_heap *h);
/* The block whose user part holds ADDR, or SIZE_MAX.  */
size_t dmem_refs_block_at (const struct dmem_refs *g, uint64_t addr);
/* FN for every root word pointing into a block (registers first, WHERE
   below DMEM_REF_REGISTERS_END; then memory, WHERE the word's address;
   then DMEM_REF_LOADER for the dynamic linker's blocks).  */
void dmem_refs_roots (struct dmem_refs *g, dmem_ref_fn *fn, void *arg);
/* FN for every word of block B's user part pointing into a block.  */
void dmem_refs_block (struct dmem_refs *g, size_t b, dmem_ref_fn *fn,
		      void *arg);
void dmem_refs_free (struct dmem_refs *g);

/* ---- retained.c: retained sizes (the dominator tree of dmem_refs) ---- */

/* A block's immediate dominator when it is the virtual root (the block
   is reached from more than one root, or from a root directly) or when
   the roots do not reach the block.  */
#define DMEM_IDOM_ROOT UINT32_MAX
/* Each block's retained bytes, in H's order: its size plus the retained
   bytes of the blocks it immediately dominates in the reference graph
   (dmem_refs, interior pointers too) from a virtual root pointing to every
   block a root points to.  A block the roots do not reach (a leak)
   retains its own size only.  When IDOM is not NULL, *IDOM is set to each
   block's immediate dominator (an index into H's blocks, or
   DMEM_IDOM_ROOT).  Caller frees both.  */
uint64_t *dmem_retained (struct dmem_target *t, const struct dmem_heap *h,
			 uint32_t **idom);
/* Per group (GROUP: each block's group, below NGROUPS), the sum of the
   RETAINED bytes of its blocks that no other block of the same group
   dominates (IDOM from dmem_retained): no byte is counted twice.  Caller
   frees.  */
uint64_t *dmem_retained_groups (const struct dmem_heap *h,
				const uint64_t *retained, const uint32_t *idom,
				const uint32_t *group, size_t ngroups);

/* ---- symbols.c: PC -> frames (function, inlined calls, file:line, module) ---- */

struct dmem_frame
{
  uint64_t pc;
  const char *function;  /* demangled name; NULL when unknown */
  const char *symbol;    /* its linkage (mangled) name; NULL when unknown */
  uint64_t offset;       /* pc - the function's entry (0 when inlined) */
  const char *module;    /* path of the module holding PC, NULL if none */
  const char *file;      /* NULL when no line info */
  int line;              /* 0 when unknown */
  int inlined;           /* a call inlined into the next frame */
  int mismatched;        /* the module's file has another build ID */
};

/* Start loading, on a second thread, the symbol tables and DWARF of the
   modules holding the PCS (N of them, 0s skipped) -- the slow part of
   symbolising (decompressing debug sections).  Until dmem_symbols_wait
   returns, nothing else may use T's Dwfl.  */
void dmem_symbols_preload (struct dmem_target *t, const uint64_t *pcs,
			   size_t n);
/* Wait for dmem_symbols_preload's thread, if any.  */
void dmem_symbols_wait (struct dmem_target *t);

/* The frames of return address PC, innermost first: the calls inlined at
   PC, then the function that holds it.  At least one frame (pc only when
   nothing is known).  *FRAMES lives until dmem_symbols_free.  */
size_t dmem_symbolize (struct dmem_target *t, uint64_t pc,
		       const struct dmem_frame **frames);
void dmem_symbols_free (struct dmem_target *t);

/* ---- frames.c: stacks of PCs as text, JSON and folded lines ---- */

/* Write N PCs as a JSON array of frames / as indented "#k ..." lines.  */
void dmem_json_frames (FILE *out, struct dmem_target *t, const uint64_t *pcs,
		       size_t n);
void dmem_text_frames (FILE *out, struct dmem_target *t, const uint64_t *pcs,
		       size_t n);
/* Write N PCs as one flame-graph stack: outermost frame first, frames
   separated by ';' (no value, no newline).  */
void dmem_folded_frames (FILE *out, struct dmem_target *t,
			 const uint64_t *pcs, size_t n);
/* Write T's warnings as a JSON member ',\n  "warnings": [...]' (roots
   that could not be known, walk problems, mismatched files).  */
void dmem_json_warnings (FILE *out, const struct dmem_target *t);
/* Write S as a JSON string, or null.  */
void dmem_json_str (FILE *out, const char *s);

/* ---- failsweep.c: dmem failsweep ---- */

/* dmem failsweep ARGS (ARGV[0] is "failsweep"), preloading RUNTIME.
   RUNTIME may be NULL (not found): said after the arguments are parsed.
   Returns 0 when the sweep ended without a crash, 1 when it found one, or
   DMEM_EXIT_BAD_INPUT / DMEM_EXIT_USAGE.  */
int dmem_failsweep (int argc, char **argv, const char *runtime);

/* ---- suppress.c: LeakSanitizer's suppressions (leak:PATTERN lines) ---- */

struct dmem_suppressions
{
  char **patterns;        /* the leak: patterns, in the files' order */
  size_t npatterns;
};

/* Add the leak: patterns of the file PATH to S (start from a zeroed S).
   Blank lines and # comments are skipped, other kinds (KIND:...) ignored.
   Returns 0, DMEM_EXIT_BAD_INPUT (the file cannot be read) or
   DMEM_EXIT_USAGE (a malformed line), with one line in ERROR.  */
int dmem_suppressions_load (struct dmem_suppressions *s, const char *path,
			    char *error, size_t size);
void dmem_suppressions_free (struct dmem_suppressions *s);
/* Whether STR (NULL or empty: never) matches PATTERN as LeakSanitizer
   matches: a substring, '*' any run of characters, '^' anchored at the
   start, '$' at the end.  */
int dmem_suppression_match (const char *pattern, const char *str);
/* The index of the pattern of S that suppresses the stack of N PCS, or -1:
   innermost PC first, its module (full path, then last component), then
   each of its frames' function (demangled, then linkage name) and source
   file (full path, then last component); the first pattern in S's order
   matching any of those.  */
long dmem_suppression_of (const struct dmem_suppressions *s,
			  struct dmem_target *t, const uint64_t *pcs,
			  size_t n);

/* ---- report.c: the subcommands' output ---- */

enum dmem_format { DMEM_TEXT, DMEM_JSON, DMEM_FOLDED };

struct dmem_options
{
  enum dmem_format format;
  int all;                /* stacks: one entry per block */
  long limit;             /* stacks, leaks: at most this many groups; -1 all */
  int retained;           /* stacks: by retained bytes (dominator tree) */
  uint64_t address;       /* explain: the address asked about */
  int error_exitcode;     /* leaks: the status when direct leaks are found
			     (1..255), or 0 */
  const struct dmem_suppressions *suppressions; /* leaks: or NULL */
  int summary_fd;         /* leaks: also the summary as JSON to this fd, or -1 */
  const char *const *stacks; /* symbolize: the stacks, ADDR[,ADDR...] */
  int nstacks;
  /* diff: the older snapshot (the target is the newer one).  */
  struct dmem_target *old_target;
  struct dmem_heap *old_heap;
  const char *target_name;  /* report: the core's path, or "process PID" */
  FILE *out;
};


int dmem_report_stacks (struct dmem_target *t, struct dmem_heap *h,
			const struct dmem_options *o);
int dmem_report_leaks (struct dmem_target *t, struct dmem_heap *h,
		       const struct dmem_options *o);
int dmem_report_stats (struct dmem_target *t, struct dmem_heap *h,
		       const struct dmem_options *o);
int dmem_report_mallinfo (struct dmem_target *t, struct dmem_heap *h,
			  const struct dmem_options *o);
int dmem_report_verify (struct dmem_target *t, struct dmem_heap *h,
			const struct dmem_options *o);
/* frames.c: the frames of o->stacks (symbolize); H is not used.  */
int dmem_report_symbolize (struct dmem_target *t, struct dmem_heap *h,
			   const struct dmem_options *o);
/* explain.c: what o->address is and why it is alive.  */
int dmem_report_explain (struct dmem_target *t, struct dmem_heap *h,
			 const struct dmem_options *o);
/* diff.c: blocks born and died between o->old_* and T, by stack.  */
int dmem_report_diff (struct dmem_target *t, struct dmem_heap *h,
		      const struct dmem_options *o);
/* html.c: dmem report, one self-contained HTML page holding the JSON of
   stacks, leaks, stats, mallinfo and verify (at most o->limit groups per
   list, DMEM_REPORT_LIMIT when it is -1), written to o->out.  Returns 0, or
   DMEM_EXIT_BAD_INPUT when o->out fails.  */
#define DMEM_REPORT_LIMIT 1000
int dmem_report_html (struct dmem_target *t, struct dmem_heap *h,
		      const struct dmem_options *o);

/* ---- engine.c: the report words and the engine API (engine.h) ---- */

struct command;
struct dmem_engine;

/* A report subcommand and its options, as parsed from its words.  */
struct dmem_request
{
  const struct command *command;
  struct dmem_options options;
  int help;                      /* --help: print the subcommand's help */
  int modules_only;              /* the command needs only the modules */
  /* The dmem command's target options (CLI only).  */
  const char *executable, *sysroot, *core;
  long pid;
  const char *old;               /* diff: the older core (or bundle) */
  const char *output;            /* report -o: the file to write */
  double interval;               /* diff --pid: seconds between snapshots */
  /* leaks --suppressions: the files, in order.  */
#define DMEM_MAX_SUPPRESSION_FILES 16
  const char *suppression_files[DMEM_MAX_SUPPRESSION_FILES];
  int nsuppression_files;
  char error[512];               /* a usage error */
};

/* Parse ARGV (ARGV[0] the subcommand) into R.  CLI: the target options and
   the target are allowed (the dmem command), else refused (gdb, drgn).
   Returns 0, or DMEM_EXIT_USAGE with R->error.  */
int dmem_parse_request (int argc, char **argv, struct dmem_request *r,
			int cli);
/* Run R on E's target.  Returns the exit status.  */
int dmem_run_request (struct dmem_engine *e, const struct dmem_request *r);
/* The dmem command is done with E: exit with STATUS, leaving what a core's
   analysis holds to the kernel; free E and return when E holds a live
   process (it is detached).  */
void dmem_engine_exit (struct dmem_engine *e, int status);

/* ---- main.c, run.c: the dmem command ---- */

/* dmem run ARGS (ARGV[0] is "run").  */
int dmem_run (int argc, char **argv);
/* The libdmem.so to preload: $DMEM_RUNTIME, the installed one, or ../lib
   beside this executable; NULL if none.  Caller frees.  */
char *dmem_find_runtime (void);

#endif
