/* The in-memory format of the dmem runtime: the one definition shared by the
   runtime (which writes it) and the engine (which reads it from cores).

   Readers never depend on this file's struct layouts directly: the runtime
   exports `dmem_descriptor` (an array of little-endian uint64 values, see
   enum dmem_descriptor_field) that states every size and offset.  A reader
   finds it through the dynamic symbol table, checks magic and version, and
   takes the layout from it; the engine under dmem, gdb and drgn does that.

   Everything here is x86-64 / LP64.  */
#ifndef DMEM_FORMAT_H
#define DMEM_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* Version 1: 128-byte headers holding the 10 PCs.  Version 2: 48-byte
   headers holding a stack id, the PCs in the stack depot.  Version 3: as
   2, and a list may hold pending blocks (DMEM_PENDING_MAGIC).  */
#define DMEM_FORMAT_VERSION 3

/* Exported symbol naming the descriptor.  */
#define DMEM_DESCRIPTOR_SYMBOL "dmem_descriptor"
#define DMEM_DESCRIPTOR_MAGIC 0x435345444d454d44ULL /* "DMEMDESC" */

/* Number of allocation-stack return addresses kept per block.  */
#define DMEM_STACK_DEPTH 10

/* Live blocks are kept on DMEM_SHARD_COUNT lists, one lock each; a block's
   shard is a hash of its allocating thread's id, so a thread's
   allocations and frees stay on one lock; readers walk every shard.  */
#define DMEM_SHARD_COUNT 64

/* Header magic.  The stored value is the constant XORed with the header's own
   address, so a stale copy of a header elsewhere never looks valid.  */
#define DMEM_BLOCK_MAGIC 0x4b434f4c424d454dULL /* "MEMBLOCK" */
#define DMEM_FREED_MAGIC 0x44454552464d454dULL /* "MEMFREED" */
/* Version 3: a block freed by a thread other than its shard's, still on
   its list (and in the shard's counters) until a thread in that shard
   takes it off; the program no longer holds it.  */
#define DMEM_PENDING_MAGIC 0x47444e45504d454dULL /* "MEMPENDG" */

/* How a block was allocated, so that freeing it another way is reported.  */
enum dmem_alloc_kind
{
  DMEM_ALLOC_MALLOC = 0,        /* malloc & co */
  DMEM_ALLOC_NEW = 1,           /* operator new */
  DMEM_ALLOC_NEW_ARRAY = 2      /* operator new[] */
};
#define DMEM_ALLOC_KIND_NAMES "malloc", "operator new", "operator new[]"

/* How a block was freed, in an alloc-dealloc-mismatch error: the
   deallocation of an allocation kind (free for malloc), or realloc.  */
enum dmem_free_kind
{
  DMEM_FREE_FREE = DMEM_ALLOC_MALLOC,
  DMEM_FREE_DELETE = DMEM_ALLOC_NEW,
  DMEM_FREE_DELETE_ARRAY = DMEM_ALLOC_NEW_ARRAY,
  DMEM_FREE_REALLOC = 3
};
#define DMEM_FREE_KIND_NAMES \
  "free", "operator delete", "operator delete[]", "realloc"

/* The header in front of every tracked block.  User memory starts right after
   it, so `magic` is the 8 bytes just below the user pointer.  48 bytes keeps
   user pointers 16-byte aligned; the stack is an id in the stack depot.  */
struct dmem_block
{
  struct dmem_block *next;       /* next block in the shard, or NULL */
  struct dmem_block *prev;       /* previous block in the shard, or NULL */
  uint64_t size;                 /* bytes the caller asked for */
  uint32_t tid;                  /* kernel thread id of the allocating thread */
  uint32_t stack;                /* its allocation stack in the depot, or
                                    DMEM_STACK_NOT_KEPT */
  uint32_t align_pad;            /* bytes between the underlying allocation and
                                    this header (aligned allocations) */
  uint8_t shard;                 /* the shard list it is on */
  uint8_t kind;                  /* enum dmem_alloc_kind */
  uint16_t unused;
  uint64_t magic;                /* DMEM_BLOCK_MAGIC ^ (uint64_t) this header */
};

_Static_assert (sizeof (struct dmem_block) == 48, "header is 48 bytes");

/* The stack depot: each distinct allocation stack (DMEM_STACK_DEPTH return
   addresses, innermost first, the runtime's own frames skipped, 0-filled) is
   kept once, and blocks name it by id.  Stacks live in chunks of
   DMEM_DEPOT_CHUNK_STACKS, mapped as they are needed: stack ID is entry
   ID % DMEM_DEPOT_CHUNK_STACKS of chunk ID / DMEM_DEPOT_CHUNK_STACKS.
   Ids 1 to `stacks` are handed out; an entry whose chunk is 0 or whose
   `hash` is 0 was never filled.  Id 0 is never handed out: a block whose
   stack could not be kept (no memory for a new chunk, or every id used) has
   DMEM_STACK_NOT_KEPT.  */
#define DMEM_STACK_NOT_KEPT 0
#define DMEM_DEPOT_CHUNK_STACKS 16384
#define DMEM_DEPOT_CHUNKS 1024          /* so at most 16M distinct stacks */
#define DMEM_DEPOT_BUCKETS 131072       /* heads of the lookup chains */

struct dmem_depot_stack
{
  uint32_t chain;                /* next id in this hash bucket, 0 ends */
  uint32_t hash;                 /* of the PCs, never 0 once filled */
  uint64_t pcs[DMEM_STACK_DEPTH];
};

struct dmem_depot
{
  uint32_t stacks;               /* ids handed out */
  uint32_t not_kept;             /* blocks whose stack could not be kept */
  uint64_t chunks[DMEM_DEPOT_CHUNKS]; /* address of each chunk, 0 = none */
  uint32_t buckets[DMEM_DEPOT_BUCKETS]; /* runtime-private lookup table */
};

/* One list of live blocks.  Counters are exact: they change under the lock
   (or by the thread the shard is biased to, see runtime/heap.c).  */
struct dmem_shard
{
  union
  {
    struct
    {
      struct dmem_block *first; /* newest block first */
      uint64_t blocks;          /* live blocks on this list */
      uint64_t bytes;           /* sum of their requested sizes */
      uint64_t allocs;          /* blocks ever added to this list */
      uint64_t frees;           /* blocks ever removed from it */
      int lock;                 /* runtime-private from here on: the lock, */
      uint32_t owner;           /* the thread it is biased to (0: none), */
      uint32_t streak_tid;      /* the thread that took the lock last, */
      uint32_t streak;          /* how many times in a row, */
      uint8_t busy;             /* the owner is inside, */
      uint8_t revoked;          /* the owner must take the lock too, */
      uint8_t unbiased;         /* biases revoked so far (at most 10) */
    };
    char pad[64];               /* one cache line each */
  };
} __attribute__ ((aligned (64)));

/* A guard of DMEM_GUARD_SIZE bytes of DMEM_GUARD_BYTE follows each block's
   user bytes; an overrun changes it.  Checked on free and realloc, and at
   exit under `dmem run`.  */
#define DMEM_GUARD_SIZE 8
#define DMEM_GUARD_BYTE 0xfd

/* Process-wide counters (enum dmem_stat indexes them).  Peaks are exact to
   within DMEM_STAT_BATCH bytes (DMEM_STAT_BATCH_BLOCKS blocks) per thread:
   threads batch their updates, and publish them at exit.  */
enum dmem_stat
{
  DMEM_STAT_LIVE_BYTES,    /* batched estimate of live bytes */
  DMEM_STAT_LIVE_BLOCKS,   /* batched estimate of live blocks */
  DMEM_STAT_PEAK_BYTES,
  DMEM_STAT_PEAK_BLOCKS,
  DMEM_STAT_TOTAL_BYTES,   /* bytes ever requested */
  DMEM_STAT_FOREIGN_FREES, /* pointers freed that dmem never handed out */
  DMEM_STAT_FAILED_ALLOCS, /* NULL returned to the caller */
  DMEM_STAT_COUNT
};
#define DMEM_STAT_BATCH (16 * 1024)
#define DMEM_STAT_BATCH_BLOCKS 64

/* mallinfo() calls are logged in a ring of DMEM_MALLINFO_SLOTS records.  */
#define DMEM_MALLINFO_SLOTS 16
#define DMEM_MALLINFO_FIELDS 10

/* Order of the fields in struct mallinfo / mallinfo2.  */
#define DMEM_MALLINFO_FIELD_NAMES \
  "arena", "ordblks", "smblks", "hblks", "hblkhd", \
  "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost"

struct dmem_mallinfo_record
{
  uint64_t seq;                         /* 1-based call number; 0 = empty slot */
  uint64_t tid;                         /* calling thread's kernel tid */
  uint64_t values[DMEM_MALLINFO_FIELDS];/* true (mallinfo2) values */
  uint64_t saturated;                   /* bit i: field i was changed to fit */
  uint64_t pcs[DMEM_STACK_DEPTH];       /* caller stack */
};

struct dmem_mallinfo_log
{
  uint64_t calls;                       /* mallinfo() calls so far */
  struct dmem_mallinfo_record slots[DMEM_MALLINFO_SLOTS]; /* slot = (seq-1) % SLOTS */
};

/* Allocations failed on purpose (DMEM_OPTS=fail-once, fail-one-in): the
   last DMEM_FAILURE_SLOTS, so a core shows which failure led to a crash.  */
#define DMEM_FAILURE_SLOTS 8

struct dmem_failure_record
{
  uint64_t seq;                         /* 1-based failure number; 0 = empty */
  uint64_t tid;                         /* calling thread's kernel tid */
  uint64_t size;                        /* bytes asked for */
  uint64_t stack_hash;                  /* the hash kept in the fail file */
  uint64_t pcs[DMEM_STACK_DEPTH];       /* the allocation stack */
};

struct dmem_failure_log
{
  uint64_t failures;                    /* allocations failed so far */
  struct dmem_failure_record slots[DMEM_FAILURE_SLOTS]; /* slot = (seq-1) % SLOTS */
};

/* Quarantine (DMEM_OPTS=quarantine=BYTES): recently freed blocks are kept,
   their user bytes filled with DMEM_POISON_BYTE, before going back to the
   allocator below; a write after free shows as changed poison.  */
#define DMEM_POISON_BYTE 0xfb
/* Threads share DMEM_QUARANTINE_RINGS rings (by thread, like shards), each
   of DMEM_QUARANTINE_SLOTS blocks and an equal part of the byte budget.  */
#define DMEM_QUARANTINE_RINGS 8
#define DMEM_QUARANTINE_SLOTS 512

struct dmem_quarantine_entry
{
  uint64_t block;                       /* header address; 0 = empty */
  uint64_t pcs[DMEM_STACK_DEPTH];       /* the stack that freed it */
};

struct dmem_quarantine
{
  uint64_t next;                        /* slot the next free goes to */
  uint64_t blocks, bytes;               /* held now */
  int lock;
  struct dmem_quarantine_entry slots[DMEM_QUARANTINE_SLOTS];
};

/* Heap errors the runtime caught as they happened, the last
   DMEM_ERROR_SLOTS of them, so a core taken at the scene names them.  */
#define DMEM_ERROR_SLOTS 4
enum dmem_error_kind
{
  DMEM_ERROR_OVERRUN = 1,       /* the guard after a block was changed */
  DMEM_ERROR_DOUBLE_FREE = 2,   /* free or realloc of a freed block */
  DMEM_ERROR_INVALID_FREE = 3,  /* free of a pointer inside a block */
  DMEM_ERROR_USE_AFTER_FREE = 4,/* a quarantined block's poison changed */
  DMEM_ERROR_MISMATCH = 5       /* freed another way than it was allocated
                                   (free of new, delete of new[] ...) */
};
#define DMEM_ERROR_KIND_NAMES \
  "", "overrun", "double-free", "invalid-free", "use-after-free", \
  "alloc-dealloc-mismatch"

struct dmem_error_record
{
  uint64_t seq;                         /* 1-based; 0 = empty slot */
  uint64_t kind;                        /* enum dmem_error_kind */
  uint64_t block;                       /* header address of the block */
  uint64_t size;                        /* its requested size */
  uint64_t address;                     /* the pointer or byte at fault */
  uint64_t tid;                         /* thread that found it */
  uint64_t alloc_pcs[DMEM_STACK_DEPTH]; /* where the block was allocated */
  uint64_t free_pcs[DMEM_STACK_DEPTH];  /* where it was freed (0s: unknown) */
  uint64_t found_pcs[DMEM_STACK_DEPTH]; /* where the error was found */
  /* Format 2 (records of format 1 end above): */
  uint64_t allocated_by;                /* enum dmem_alloc_kind of the block */
  uint64_t freed_by;                    /* enum dmem_free_kind of the call, in
                                           an alloc-dealloc-mismatch; else 0 */
};

struct dmem_error_log
{
  uint64_t errors;
  struct dmem_error_record slots[DMEM_ERROR_SLOTS]; /* slot = (seq-1) % SLOTS */
};

/* All runtime state that may hold pointers to blocks lives in this one
   object, so readers can leave it out of the roots of reachability.  */
/* Runtime-private: the blocks freed by other threads that wait to be
   taken off one shard, a stack linked through their first user word
   (readers know them by their magic).  A line of its own: the threads
   that free into it do not touch the shard's.  */
struct dmem_pending
{
  uint64_t top;   /* the newest one, ORed with how many << 48 */
} __attribute__ ((aligned (64)));

struct dmem_state
{
  struct dmem_shard shards[DMEM_SHARD_COUNT];
  struct dmem_pending pending[DMEM_SHARD_COUNT];
  uint64_t stats[DMEM_STAT_COUNT];
  struct dmem_mallinfo_log mallinfo;
  struct dmem_failure_log failures;
  struct dmem_quarantine quarantine[DMEM_QUARANTINE_RINGS];
  struct dmem_error_log errors;
  struct dmem_depot depot;
};

/* The descriptor: uint64 values in this order.  Fields are only ever
   appended, so every version's list is a prefix of the next one's; a field
   a version does not have is DMEM_DESC_ABSENT.  The version says how blocks
   name their stack: in version 1 the header holds the PCs (OFF_PCS), in
   versions 2 and 3 an id in the depot (OFF_STACK, DEPOT_*).  A reader
   refuses a version it does not know.  */
#define DMEM_DESC_ABSENT UINT64_MAX
enum dmem_descriptor_field
{
  DMEM_DESC_MAGIC,              /* DMEM_DESCRIPTOR_MAGIC */
  DMEM_DESC_VERSION,            /* DMEM_FORMAT_VERSION */
  DMEM_DESC_FIELDS,             /* number of fields in this descriptor */
  DMEM_DESC_HEADER_SIZE,        /* sizeof (struct dmem_block) */
  DMEM_DESC_STACK_DEPTH,        /* DMEM_STACK_DEPTH */
  DMEM_DESC_OFF_NEXT,           /* offsets in struct dmem_block ... */
  DMEM_DESC_OFF_PREV,
  DMEM_DESC_OFF_SIZE,
  DMEM_DESC_OFF_THREAD,
  DMEM_DESC_OFF_TID,            /* uint32 */
  DMEM_DESC_OFF_ALIGN_PAD,      /* uint32 */
  DMEM_DESC_OFF_PCS,
  DMEM_DESC_OFF_MAGIC,
  DMEM_DESC_BLOCK_MAGIC,        /* DMEM_BLOCK_MAGIC */
  DMEM_DESC_FREED_MAGIC,        /* DMEM_FREED_MAGIC */
  DMEM_DESC_SHARD_COUNT,
  DMEM_DESC_SHARD_SIZE,         /* stride of the shard array */
  DMEM_DESC_SHARD_OFF_FIRST,    /* offsets in struct dmem_shard ... */
  DMEM_DESC_SHARD_OFF_BLOCKS,
  DMEM_DESC_SHARD_OFF_BYTES,
  DMEM_DESC_SHARD_OFF_ALLOCS,
  DMEM_DESC_SHARD_OFF_FREES,
  DMEM_DESC_SHARDS,             /* address of the shard array */
  DMEM_DESC_STATS,              /* address of the uint64 stats array */
  DMEM_DESC_STAT_COUNT,         /* DMEM_STAT_COUNT */
  DMEM_DESC_MALLINFO_LOG,       /* address of struct dmem_mallinfo_log */
  DMEM_DESC_MALLINFO_SLOTS,
  DMEM_DESC_MALLINFO_RECORD_SIZE,
  DMEM_DESC_STATE_START,        /* [start, end): runtime state, not a root */
  DMEM_DESC_STATE_END,
  DMEM_DESC_GUARD_SIZE,         /* DMEM_GUARD_SIZE: guard bytes after user data */
  DMEM_DESC_FAILURE_LOG,        /* address of struct dmem_failure_log */
  DMEM_DESC_FAILURE_SLOTS,
  DMEM_DESC_FAILURE_RECORD_SIZE,
  DMEM_DESC_GUARD_BYTE,         /* DMEM_GUARD_BYTE */
  DMEM_DESC_QUARANTINE,         /* address of DMEM_QUARANTINE_RINGS struct
                                   dmem_quarantine, one after another */
  DMEM_DESC_QUARANTINE_SLOTS,   /* slots per ring */
  DMEM_DESC_POISON_BYTE,        /* DMEM_POISON_BYTE */
  DMEM_DESC_ERROR_LOG,          /* address of struct dmem_error_log */
  DMEM_DESC_ERROR_SLOTS,
  DMEM_DESC_ERROR_RECORD_SIZE,
  /* Version 2.  */
  DMEM_DESC_OFF_STACK,          /* uint32 stack id in struct dmem_block */
  DMEM_DESC_OFF_KIND,           /* uint8 enum dmem_alloc_kind */
  DMEM_DESC_DEPOT,              /* address of struct dmem_depot */
  DMEM_DESC_DEPOT_OFF_CHUNKS,   /* offset of its chunk addresses */
  DMEM_DESC_DEPOT_CHUNKS,       /* how many chunk addresses */
  DMEM_DESC_DEPOT_CHUNK_STACKS, /* stacks per chunk */
  DMEM_DESC_DEPOT_STACK_SIZE,   /* stride of a chunk's stacks */
  DMEM_DESC_DEPOT_OFF_PCS,      /* offset of the PCs in a depot stack */
  DMEM_DESC_DEPOT_OFF_HASH,     /* offset of its uint32 hash (0 = unfilled) */
  DMEM_DESC_DEPOT_OFF_STACKS,   /* offset of its uint32 stacks */
  DMEM_DESC_DEPOT_OFF_NOT_KEPT, /* offset of its uint32 not_kept */
  DMEM_DESC_OFF_SHARD,          /* uint8 shard index in struct dmem_block */
  /* Version 3.  */
  DMEM_DESC_PENDING_MAGIC,      /* DMEM_PENDING_MAGIC */
  DMEM_DESC_COUNT
};

#endif /* DMEM_FORMAT_H */
