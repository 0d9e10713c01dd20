"""dmem_heap: the heap-reading logic shared by dmem's gdb and drgn readers.

Everything the two debugger front ends have in common lives here, written
once: finding and checking the runtime's descriptor, walking the shards of
live blocks, grouping blocks by allocation stack, reachability (direct and
indirect leaks), statistics, the mallinfo() diagnosis, verification, and the
text and JSON reports.  A front end supplies a small :class:`Target` adapter
that reads memory in bulk and lists threads, mappings and symbols through its
debugger.  Nothing here imports gdb or drgn.

The layout of every header and list head is taken from the descriptor the
runtime exports (``dmem_descriptor``), never from compiled-in structs.
"""

import bisect
import contextlib
import gc
import json
import os
import struct
from collections import namedtuple
from typing import (Callable, Dict, Iterator, List, NamedTuple, Optional,
                    Sequence, Tuple)

__all__ = [
    "Block",
    "DmemError",
    "Frame",
    "GlibcLayout",
    "Heap",
    "Mapping",
    "Target",
    "ThreadInfo",
    "ValidationError",
    "core_file_of_process",
    "live_mappings",
    "read_core",
]

DESCRIPTOR_SYMBOL = "dmem_descriptor"
DESCRIPTOR_MAGIC = 0x435345444d454d44
FORMAT_VERSION = 1
INT_MAX = 0x7fffffff
RED_ZONE = 128
MALLINFO_FIELD_NAMES = ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                        "usmblks", "fsmblks", "uordblks", "fordblks",
                        "keepcost")
STAT_NAMES = ("live_bytes", "live_blocks", "peak_bytes", "peak_blocks",
              "total_bytes", "foreign_frees", "failed_allocs")

# Descriptor field indexes (enum dmem_descriptor_field in include/dmem/format.h).
# D_COUNT fields are required; later ones are read when the runtime has them.
(D_MAGIC, D_VERSION, D_FIELDS, D_HEADER_SIZE, D_STACK_DEPTH, D_OFF_NEXT,
 D_OFF_PREV, D_OFF_SIZE, D_OFF_THREAD, D_OFF_TID, D_OFF_ALIGN_PAD, D_OFF_PCS,
 D_OFF_MAGIC, D_BLOCK_MAGIC, D_FREED_MAGIC, D_SHARD_COUNT, D_SHARD_SIZE,
 D_SHARD_OFF_FIRST, D_SHARD_OFF_BLOCKS, D_SHARD_OFF_BYTES, D_SHARD_OFF_ALLOCS,
 D_SHARD_OFF_FREES, D_SHARDS, D_STATS, D_STAT_COUNT, D_MALLINFO_LOG,
 D_MALLINFO_SLOTS, D_MALLINFO_RECORD_SIZE, D_STATE_START, D_STATE_END,
 D_GUARD_SIZE, D_FAILURE_LOG, D_FAILURE_SLOTS, D_FAILURE_RECORD_SIZE,
 D_GUARD_BYTE, D_QUARANTINE, D_QUARANTINE_SLOTS, D_POISON_BYTE, D_ERROR_LOG,
 D_ERROR_SLOTS, D_ERROR_RECORD_SIZE, D_KNOWN) = range(42)
ERROR_KINDS = ("", "overrun", "double-free", "invalid-free", "use-after-free")
D_COUNT = D_FAILURE_LOG

# A shard walk may take this many steps more than the shard's counter says.
WALK_SLACK = 1000
CHUNK = 1 << 16
PAGE = 4096
ZERO_PAGE = bytes(PAGE)
ZERO_CHUNK = bytes(CHUNK)


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector: walking 100k blocks creates
    100k tuples, and its collections over the debugger's own objects would
    cost more than the walk."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class DmemError(Exception):
    """The target cannot be analysed (no runtime inside, unknown version...)."""


class ValidationError(DmemError):
    """A shard's list is corrupted: a bad header, a broken link or a cycle.

    ``shard`` is the shard's index, ``block`` the header address of the bad
    block, ``kind`` one of the C analyzer's problem names (too-long,
    unreadable, freed-block, bad-magic, bad-prev, bad-size, cycle) and
    ``problem`` the details in words.
    """

    def __init__(self, shard: int, block: int, kind: str, problem: str):
        self.shard = shard
        self.block = block
        self.kind = kind
        self.problem = problem
        super().__init__("shard %d: block 0x%x: %s: %s" % (shard, block, kind, problem))


class Block(NamedTuple):
    """One live block: ``header`` and ``user`` addresses, the requested
    ``size``, the allocating ``thread`` (pthread_t) and ``tid`` (kernel
    thread id), and ``pcs``, the allocation stack's return addresses
    (innermost first, zeros dropped)."""
    header: int
    user: int
    size: int
    thread: int
    tid: int
    pcs: Tuple[int, ...]


class Frame(NamedTuple):
    """One symbolised return address; unknown parts are None."""
    pc: int
    function: Optional[str]
    offset: Optional[int]
    module: Optional[str]
    file: Optional[str]
    line: Optional[int]


class Mapping(NamedTuple):
    """One memory mapping [start, end) of the target; ``path`` is the file
    mapped (as the core or /proc names it) or None; ``offset`` its file
    offset."""
    start: int
    end: int
    offset: int
    path: Optional[str]
    writable: bool


class ThreadInfo(NamedTuple):
    """One thread of the target: kernel ``tid``, its general registers
    (``registers``: every word of x86-64 user_regs_struct), ``sp`` and
    ``fs_base``."""
    tid: int
    registers: Tuple[int, ...]
    sp: int
    fs_base: int


# x86-64 struct user_regs_struct, in order (NT_PRSTATUS pr_reg, PTRACE_GETREGS).
USER_REGS = ("r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9",
             "r8", "rax", "rcx", "rdx", "rsi", "rdi", "orig_rax", "rip", "cs",
             "eflags", "rsp", "ss", "fs_base", "gs_base", "ds", "es", "fs",
             "gs")
PRSTATUS_PID = 32
PRSTATUS_REGS = 112


class Target:
    """What a debugger front end gives the shared logic.

    Subclasses implement :meth:`read_raw`, :meth:`descriptor_address`,
    :meth:`threads`, :meth:`mappings` and :meth:`symbolize_raw`.  Reads are
    cached here in 64 KiB chunks, so walking 100k headers costs a few hundred
    debugger calls, not 100k.
    """

    def __init__(self) -> None:
        self._chunks: Dict[int, Optional[bytes]] = {}
        self._chunk_words: Dict[int, memoryview] = {}
        self._map_index: Optional[Tuple[List[Mapping], List[int]]] = None
        self._frames: Dict[int, Frame] = {}
        self._modules: Optional[List[Tuple[int, int, str]]] = None

    # --- to implement ---------------------------------------------------
    def read_raw(self, address: int, size: int) -> bytes:
        """Read ``size`` bytes at ``address``; raise any exception if they
        cannot all be read."""
        raise NotImplementedError

    def descriptor_address(self) -> Optional[int]:
        """Address of the ``dmem_descriptor`` symbol, or None."""
        raise NotImplementedError

    def threads(self) -> List[ThreadInfo]:
        """Every thread with its registers."""
        raise NotImplementedError

    def mappings(self) -> List[Mapping]:
        """Every memory mapping, sorted by address."""
        raise NotImplementedError

    def symbolize_raw(self, pc: int) -> Tuple[Optional[str], Optional[int],
                                              Optional[str], Optional[int]]:
        """(function, offset, file, line) for return address ``pc``; file
        and line are those of ``pc - 1``."""
        raise NotImplementedError

    def glibc_layout(self) -> Optional["GlibcLayout"]:
        """Where glibc keeps what mallinfo2 sums (from libc's debug info),
        or None when the debugger cannot tell."""
        return None

    # --- provided -------------------------------------------------------
    def read(self, address: int, size: int) -> Optional[bytes]:
        """``size`` bytes at ``address`` through the chunk cache, or None
        when any of them cannot be read."""
        if size <= 0:
            return b""
        if address < 0 or address + size > 1 << 64:
            return None
        first = address // CHUNK
        last = (address + size - 1) // CHUNK
        if first == last:
            chunk = self._chunk(first)
            if chunk is not None:
                off = address - first * CHUNK
                return chunk[off:off + size]
            return self._read_direct(address, size)
        parts = []
        for index in range(first, last + 1):
            chunk = self._chunk(index)
            if chunk is None:
                return self._read_direct(address, size)
            parts.append(chunk)
        data = b"".join(parts)
        off = address - first * CHUNK
        return data[off:off + size]

    def _chunk(self, index: int) -> Optional[bytes]:
        """The cached 64 KiB chunk ``index``, or None if it is not wholly
        readable."""
        try:
            return self._chunks[index]
        except KeyError:
            pass
        try:
            data = bytes(self.read_raw(index * CHUNK, CHUNK))
            if len(data) != CHUNK:
                data = None
        except Exception:
            data = None
        self._chunks[index] = data
        return data

    def _read_direct(self, address: int, size: int) -> Optional[bytes]:
        """Uncached read of a range whose chunk is not wholly readable; None
        if any byte of it fails."""
        try:
            data = bytes(self.read_raw(address, size))
            return data if len(data) == size else None
        except Exception:
            return None

    def read_words(self, start: int, end: int) -> Iterator[memoryview]:
        """The aligned 8-byte words wholly inside [start, end), as
        memoryviews of unsigned 64-bit values; pages that cannot be read
        and pages of zeros are skipped."""
        start = (start + 7) & ~7
        end &= ~7
        maps, starts = self._mapping_index()
        pos = start
        m_end = 0
        while pos < end:
            # Stay inside mappings: a corrupted size never makes this read
            # unmapped space chunk by chunk.
            if pos >= m_end:
                i = bisect.bisect_right(starts, pos) - 1
                if i >= 0 and pos < maps[i].end:
                    m_end = maps[i].end
                elif i + 1 < len(maps) and maps[i + 1].start < end:
                    pos = maps[i + 1].start
                    m_end = maps[i + 1].end
                else:
                    return
            stop = min(end, m_end, (pos // CHUNK + 1) * CHUNK)
            chunk = self._chunk(pos // CHUNK)
            if chunk is not None:
                base = (pos // CHUNK) * CHUNK
                a = pos - base
                b = stop - base
                if not (a == 0 and b == CHUNK and chunk == ZERO_CHUNK):
                    # One view per run of pages that are not all zeros
                    # (bytes compare with memcmp; memoryviews do not).
                    view = memoryview(chunk)
                    run = None
                    while a < b:
                        pe = min(b, (a // PAGE + 1) * PAGE)
                        if pe - a == PAGE and chunk[a:pe] == ZERO_PAGE:
                            if run is not None:
                                yield view[run:a].cast("Q")
                                run = None
                        elif run is None:
                            run = a
                        a = pe
                    if run is not None:
                        yield view[run:b].cast("Q")
            else:
                a = pos
                while a < stop:
                    pe = min(stop, (a // PAGE + 1) * PAGE)
                    data = self._read_direct(a, pe - a)
                    if data is not None:
                        yield memoryview(data).cast("Q")
                    a = pe
            pos = stop

    def words_of(self, start: int, end: int) -> Sequence[int]:
        """The aligned 8-byte words wholly inside [start, end) as one
        sequence (unreadable parts left out); a slice of the cached chunk
        when the range lies in one, which is the common case for a block."""
        a = (start + 7) & ~7
        b = end & ~7
        if b <= a:
            return ()
        index = a // CHUNK
        if (b - 1) // CHUNK == index:
            words = self._chunk_words.get(index)
            if words is None:
                chunk = self._chunk(index)
                if chunk is not None:
                    words = self._chunk_words[index] = memoryview(chunk).cast("Q")
            if words is not None:
                base = index * CHUNK
                return words[(a - base) >> 3:(b - base) >> 3]
        out: List[int] = []
        for piece in self.read_words(a, b):
            out.extend(piece)
        return out

    def _mapping_index(self) -> Tuple[List[Mapping], List[int]]:
        """The mappings and their start addresses, for bisecting (cached)."""
        if self._map_index is None:
            maps = self.mappings()
            self._map_index = (maps, [m.start for m in maps])
        return self._map_index

    def mapping_at(self, address: int) -> Optional[Mapping]:
        """The mapping containing ``address``, or None."""
        maps, starts = self._mapping_index()
        i = bisect.bisect_right(starts, address) - 1
        if i >= 0 and address < maps[i].end:
            return maps[i]
        return None

    def modules(self) -> List[Tuple[int, int, str]]:
        """(start, end, path) of every file-backed ELF mapping range, one
        entry per mapping, sorted; used to name a PC's module."""
        if self._modules is None:
            self._modules = [(m.start, m.end, m.path) for m in self.mappings()
                             if m.path and m.path.startswith("/")]
        return self._modules

    def module_of(self, pc: int) -> Optional[str]:
        """Path of the loaded module whose mapping holds ``pc``, or None."""
        mods = self.modules()
        i = bisect.bisect_right(mods, (pc, 1 << 65, "")) - 1
        if i >= 0 and mods[i][0] <= pc < mods[i][1]:
            return mods[i][2]
        return None

    def frame(self, pc: int) -> Frame:
        """The symbolised frame of return address ``pc`` (cached)."""
        frame = self._frames.get(pc)
        if frame is None:
            try:
                function, offset, file, line = self.symbolize_raw(pc)
            except Exception:
                function = offset = file = line = None
            frame = Frame(pc, function, offset, self.module_of(pc), file, line)
            self._frames[pc] = frame
        return frame

    def writable_segments(self) -> List[Tuple[int, int, str]]:
        """[start, end) of every writable PT_LOAD segment of every loaded
        module (the ELF program headers read from memory, or from the file
        when the core left them out), with the module's path."""
        by_path: Dict[str, List[Mapping]] = {}
        for m in self.mappings():
            if m.path and m.path.startswith("/"):
                by_path.setdefault(m.path, []).append(m)
        out = []
        for path, maps in by_path.items():
            base_maps = [m for m in maps if m.offset == 0]
            if not base_maps:
                continue
            base = min(m.start for m in base_maps)
            phdrs = self._program_headers(base, path)
            if not phdrs:
                continue
            loads = [p for p in phdrs if p[0] == 1]
            if not loads:
                continue
            first = min(loads, key=lambda p: p[2])
            bias = base - (first[2] & ~(PAGE - 1))
            for p_type, p_flags, p_vaddr, p_memsz in loads:
                if p_flags & 2 and p_memsz:
                    out.append((bias + p_vaddr, bias + p_vaddr + p_memsz, path))
        out.sort()
        return out

    def dynamic_symbol(self, name: str) -> Optional[int]:
        """Address of ``name`` in the dynamic symbol table (.dynsym) of a
        loaded module, read from the module's file (modules whose name
        holds "dmem" first); for debuggers that do not look there when a
        library is stripped."""
        bases: Dict[str, int] = {}
        for m in self.mappings():
            if m.path and m.path.startswith("/") and m.offset == 0:
                bases.setdefault(m.path, m.start)
        for path in sorted(bases, key=lambda p: "dmem" not in os.path.basename(p)):
            value = _elf_dynsym(path, name)
            if value is None:
                continue
            loads = [p for p in self._program_headers(bases[path], path) if p[0] == 1]
            if loads:
                first = min(p[2] for p in loads)
                return bases[path] - (first & ~(PAGE - 1)) + value
        return None

    def _program_headers(self, base: int, path: str) -> List[Tuple[int, int, int, int]]:
        """(p_type, p_flags, p_vaddr, p_memsz) of the ELF file mapped at
        ``base``, or [] if it is not an ELF file."""
        ehdr = self.read(base, 64)
        source: Callable[[int, int], Optional[bytes]] = lambda off, n: self.read(base + off, n)
        if ehdr is None or ehdr[:4] != b"\x7fELF":
            try:
                with open(path, "rb") as f:
                    data = f.read(1 << 16)
            except OSError:
                return []
            ehdr = data[:64]
            source = lambda off, n: data[off:off + n] if off + n <= len(data) else None
        if len(ehdr) < 64 or ehdr[:4] != b"\x7fELF" or ehdr[4] != 2:
            return []
        phoff, = struct.unpack_from("<Q", ehdr, 32)
        phentsize, phnum = struct.unpack_from("<HH", ehdr, 54)
        if phentsize < 56 or phnum > 512:
            return []
        table = source(phoff, phentsize * phnum)
        if table is None:
            return []
        out = []
        for i in range(phnum):
            p_type, p_flags, _off, p_vaddr, _pa, _fsz, p_memsz, _al = \
                struct.unpack_from("<IIQQQQQQ", table, i * phentsize)
            out.append((p_type, p_flags, p_vaddr, p_memsz))
        return out


# ---------------------------------------------------------------------------
# Cores and live processes: facts read from the ELF core or /proc, shared by
# both front ends so they see the same threads and mappings the C analyzer
# sees.

CoreFacts = namedtuple("CoreFacts", "mappings threads")


def read_core(path: str) -> CoreFacts:
    """Mappings (PT_LOAD segments, named through NT_FILE) and threads
    (NT_PRSTATUS registers) of the ELF core file at ``path``.

    :raises DmemError: if ``path`` is not a readable x86-64 ELF core.
    """
    try:
        with open(path, "rb") as f:
            ehdr = f.read(64)
            if len(ehdr) < 64 or ehdr[:4] != b"\x7fELF" or ehdr[4] != 2:
                raise DmemError("%s is not a 64-bit ELF file" % path)
            e_type, e_machine = struct.unpack_from("<HH", ehdr, 16)
            if e_type != 4 or e_machine != 62:
                raise DmemError("%s is not an x86-64 core file" % path)
            phoff, = struct.unpack_from("<Q", ehdr, 32)
            phentsize, phnum = struct.unpack_from("<HH", ehdr, 54)
            if phentsize < 56:
                raise DmemError("%s has a bad program header table" % path)
            f.seek(phoff)
            table = f.read(phentsize * phnum)
            if len(table) < phentsize * phnum:
                raise DmemError("%s is truncated" % path)
            loads = []
            notes = []
            for i in range(phnum):
                p_type, p_flags, p_off, p_vaddr, _pa, p_filesz, p_memsz, _al = \
                    struct.unpack_from("<IIQQQQQQ", table, i * phentsize)
                if p_type == 1:
                    loads.append((p_vaddr, p_vaddr + p_memsz, bool(p_flags & 2)))
                elif p_type == 4:
                    f.seek(p_off)
                    notes.append(f.read(min(p_filesz, 64 << 20)))
    except OSError as e:
        raise DmemError("cannot read %s: %s" % (path, e.strerror))
    files = []
    threads = []
    for blob in notes:
        for n_type, desc in _notes(blob):
            if n_type == 1 and len(desc) >= PRSTATUS_REGS + 27 * 8:
                tid, = struct.unpack_from("<i", desc, PRSTATUS_PID)
                regs = struct.unpack_from("<27Q", desc, PRSTATUS_REGS)
                threads.append(ThreadInfo(tid, regs, regs[19], regs[21]))
            elif n_type == 0x46494c45:
                files = _nt_file(desc)
    files.sort()
    starts = [f[0] for f in files]
    maps = []
    for start, end, writable in sorted(loads):
        i = bisect.bisect_right(starts, start) - 1
        path = None
        offset = 0
        if i >= 0 and start < files[i][1]:
            path = files[i][3]
            offset = files[i][2] + (start - files[i][0])
        maps.append(Mapping(start, end, offset, path, writable))
    # gcore leaves read-only file mappings (code) out of the segments; NT_FILE
    # still names them, so a PC in them has a module.
    load_starts = [m.start for m in maps]
    for start, end, offset, path in files:
        i = bisect.bisect_right(load_starts, start) - 1
        covered = i >= 0 and start < maps[i].end
        if not covered and not (i + 1 < len(maps) and maps[i + 1].start < end):
            maps.append(Mapping(start, end, offset, path, False))
    maps.sort(key=lambda m: m.start)
    return CoreFacts(maps, threads)


def _notes(blob: bytes) -> Iterator[Tuple[int, bytes]]:
    """(type, descriptor) of each ELF note in ``blob``; stops at the first
    malformed one."""
    pos = 0
    while pos + 12 <= len(blob):
        namesz, descsz, n_type = struct.unpack_from("<III", blob, pos)
        pos += 12 + ((namesz + 3) & ~3)
        end = pos + descsz
        if end > len(blob):
            return
        yield n_type, blob[pos:end]
        pos = (end + 3) & ~3


def _nt_file(desc: bytes) -> List[Tuple[int, int, int, str]]:
    """(start, end, file offset, path) of each NT_FILE entry."""
    if len(desc) < 16:
        return []
    count, page_size = struct.unpack_from("<QQ", desc, 0)
    if count > 1 << 20 or 16 + count * 24 > len(desc):
        return []
    names = desc[16 + count * 24:].split(b"\0")
    out = []
    for i in range(count):
        start, end, pgoff = struct.unpack_from("<QQQ", desc, 16 + i * 24)
        name = names[i].decode("utf-8", "replace") if i < len(names) else None
        out.append((start, end, pgoff * page_size, name))
    return out


def _elf_dynsym(path: str, name: str) -> Optional[int]:
    """st_value of defined symbol ``name`` in the .dynsym of ELF file
    ``path``, or None."""
    try:
        with open(path, "rb") as f:
            ehdr = f.read(64)
            if len(ehdr) < 64 or ehdr[:4] != b"\x7fELF" or ehdr[4] != 2:
                return None
            shoff, = struct.unpack_from("<Q", ehdr, 40)
            shentsize, shnum = struct.unpack_from("<HH", ehdr, 58)
            if shentsize < 64 or shnum > 4096:
                return None
            f.seek(shoff)
            table = f.read(shentsize * shnum)
            sections = [struct.unpack_from("<IIQQQQIIQQ", table, i * shentsize)
                        for i in range(len(table) // shentsize)]
            for sh in sections:
                if sh[1] != 11 or sh[6] >= len(sections):      # SHT_DYNSYM
                    continue
                strtab = sections[sh[6]]
                f.seek(sh[4])
                syms = f.read(min(sh[5], 64 << 20))
                f.seek(strtab[4])
                strings = f.read(min(strtab[5], 64 << 20))
                want = name.encode()
                for off in range(0, len(syms) - 23, 24):
                    st_name, _info, _other, shndx, value, _size = \
                        struct.unpack_from("<IBBHQQ", syms, off)
                    if shndx and strings[st_name:st_name + len(want) + 1] == want + b"\0":
                        return value
    except (OSError, struct.error):
        return None
    return None


def live_mappings(pid: int) -> List[Mapping]:
    """Mappings of live process ``pid`` from /proc/PID/maps."""
    maps = []
    try:
        with open("/proc/%d/maps" % pid) as f:
            for line in f:
                fields = line.split(None, 5)
                lo, hi = fields[0].split("-")
                path = fields[5].strip() if len(fields) > 5 else None
                if path and path.endswith(" (deleted)"):
                    path = path[:-10]
                maps.append(Mapping(int(lo, 16), int(hi, 16), int(fields[2], 16),
                                    path or None, "w" in fields[1]))
    except (OSError, ValueError, IndexError) as e:
        raise DmemError("cannot read the mappings of process %d: %s" % (pid, e))
    maps.sort()
    return maps


def core_file_of_process() -> Optional[str]:
    """The ELF core file this process (the debugger) has open, found
    through /proc/self/fd, or None."""
    fd_dir = "/proc/self/fd"
    try:
        fds = os.listdir(fd_dir)
    except OSError:
        return None
    for fd in sorted(fds, key=lambda s: int(s) if s.isdigit() else 0):
        try:
            path = os.readlink(os.path.join(fd_dir, fd))
            if not path.startswith("/") or not os.path.isfile(path):
                continue
            with open(path, "rb") as f:
                head = f.read(18)
            if head[:4] == b"\x7fELF" and struct.unpack_from("<H", head, 16)[0] == 4:
                return path
        except (OSError, struct.error):
            continue
    return None


# ---------------------------------------------------------------------------
# The heap: descriptor, walk, grouping, reachability, reports.

class Heap:
    """The dmem heap of one target, described by its descriptor.

    :param target: the front end's :class:`Target`.
    :raises DmemError: if the target has no dmem runtime, or one whose
        descriptor this reader does not understand.
    """

    def __init__(self, target: Target):
        self.target = target
        address = target.descriptor_address()
        if address is None:
            address = target.dynamic_symbol(DESCRIPTOR_SYMBOL)
        if address is None:
            raise DmemError("no dmem runtime in the target (symbol %s not found)"
                            % DESCRIPTOR_SYMBOL)
        head = target.read(address, 24)
        if head is None:
            raise DmemError("cannot read the dmem descriptor at 0x%x" % address)
        magic, version, fields = struct.unpack("<3Q", head)
        if magic != DESCRIPTOR_MAGIC:
            raise DmemError("the dmem descriptor at 0x%x has a bad magic number"
                            % address)
        if version < FORMAT_VERSION or fields < D_COUNT or fields > 4096:
            raise DmemError("dmem format version %d (%d fields) is not supported"
                            " (this reader knows version %d)"
                            % (version, fields, FORMAT_VERSION))
        known = min(fields, D_KNOWN)
        raw = target.read(address, 8 * known)
        if raw is None:
            raise DmemError("cannot read the dmem descriptor at 0x%x" % address)
        # Fields this runtime lacks read as 0.
        d = struct.unpack("<%dQ" % known, raw) + (0,) * (D_KNOWN - known)
        self.d = d
        self.address = address
        self.version = version
        self.header_size = d[D_HEADER_SIZE]
        self.depth = d[D_STACK_DEPTH]
        self.block_magic = d[D_BLOCK_MAGIC]
        self.freed_magic = d[D_FREED_MAGIC]
        self.state = (d[D_STATE_START], d[D_STATE_END])
        stride = d[D_SHARD_SIZE]
        if not (0 < self.depth <= 64 and 0 < self.header_size <= 4096
                and 0 < d[D_SHARD_COUNT] <= 1 << 16 and 40 <= stride <= 4096
                and all(d[f] + 8 <= stride for f in range(D_SHARD_OFF_FIRST,
                                                          D_SHARD_OFF_FREES + 1))):
            raise DmemError("the dmem descriptor at 0x%x is corrupted" % address)
        self._header = self._header_struct()
        self._walked: Optional[Tuple[List[Block], List[ValidationError]]] = None

    def _header_struct(self) -> struct.Struct:
        """A Struct unpacking a whole header into (next, prev, size, thread,
        tid, align_pad, pcs..., magic) at the descriptor's offsets."""
        d = self.d
        fields = [(d[D_OFF_NEXT], "Q"), (d[D_OFF_PREV], "Q"), (d[D_OFF_SIZE], "Q"),
                  (d[D_OFF_THREAD], "Q"), (d[D_OFF_TID], "I"),
                  (d[D_OFF_ALIGN_PAD], "I"), (d[D_OFF_PCS], "%dQ" % self.depth),
                  (d[D_OFF_MAGIC], "Q")]
        order = sorted(range(len(fields)), key=lambda i: fields[i][0])
        fmt = "<"
        pos = 0
        for i in order:
            off, code = fields[i]
            if off < pos:
                raise DmemError("the dmem descriptor has overlapping header fields")
            fmt += "%dx%s" % (off - pos, code) if off > pos else code
            pos = off + struct.calcsize("<" + code)
        if pos > self.header_size:
            raise DmemError("the dmem descriptor's header fields overrun its size")
        fmt += "%dx" % (self.header_size - pos)
        # Where each field lands in the unpacked tuple.
        where = [0] * len(fields)
        pos = 0
        for i in order:
            where[i] = pos
            pos += self.depth if i == 6 else 1
        self._where = where
        return struct.Struct(fmt)

    def _unpack(self, raw: bytes, offset: int = 0) -> Tuple[int, int, int, int, int,
                                                            Tuple[int, ...], int]:
        """(next, prev, size, thread, tid, pcs, magic) of the header at
        ``offset`` in ``raw``; pcs stop at the first 0."""
        v = self._header.unpack_from(raw, offset)
        w = self._where
        pcs = v[w[6]:w[6] + self.depth]
        if 0 in pcs:
            pcs = pcs[:pcs.index(0)]
        return v[w[0]], v[w[1]], v[w[2]], v[w[3]], v[w[4]], pcs, v[w[7]]

    def shards(self) -> List[Dict[str, int]]:
        """Each shard's list head and counters, read in one piece."""
        d = self.d
        count, stride = d[D_SHARD_COUNT], d[D_SHARD_SIZE]
        raw = self.target.read(d[D_SHARDS], count * stride)
        if raw is None:
            raise DmemError("cannot read the dmem shard array at 0x%x" % d[D_SHARDS])
        out = []
        for i in range(count):
            base = i * stride
            get = lambda off: struct.unpack_from("<Q", raw, base + off)[0]
            out.append({"first": get(d[D_SHARD_OFF_FIRST]),
                        "blocks": get(d[D_SHARD_OFF_BLOCKS]),
                        "bytes": get(d[D_SHARD_OFF_BYTES]),
                        "allocs": get(d[D_SHARD_OFF_ALLOCS]),
                        "frees": get(d[D_SHARD_OFF_FREES])})
        return out

    def for_each_block_in_shard(self, index: int, shard: Dict[str, int]) -> Iterator[Block]:
        """Yield the blocks of one shard, newest first.

        :param index: the shard's index.
        :param shard: the shard's head and counters (from :meth:`shards`).
        :raises ValidationError: at the first bad block, checked in this
            order (the C analyzer's): a cycle (Brent's method: the block
            saved at each power of two steps comes back), more blocks than
            the shard's counter + 1000 allows, an unreadable header, bad
            magic (or a freed block's), a prev link that disagrees, a size
            running past the header's mapping; the blocks before it were
            yielded.
        """
        hs = self.header_size
        target = self.target
        read = target.read
        chunks = target._chunks
        chunk = target._chunk
        unpack_from = self._header.unpack_from
        w_next, w_prev, w_size, w_thread, w_tid, _, w_pcs, w_magic = self._where
        w_end = w_pcs + self.depth
        new_block = tuple.__new__
        block_magic = self.block_magic
        limit = shard["blocks"] + WALK_SLACK
        walked = 0
        prev_addr = 0
        addr = shard["first"]
        m_start = m_end = 0
        saved, power, steps = 0, 1, 0
        while addr:
            if addr == saved:
                raise ValidationError(index, addr, "cycle", "the list comes back to"
                                      " this block")
            if steps == power:
                saved, power, steps = addr, power * 2, 0
            steps += 1
            if walked >= limit:
                raise ValidationError(index, addr, "too-long", "more blocks than the"
                                      " shard's counter (%d) allows" % shard["blocks"])
            off = addr % CHUNK
            raw = None
            if off + hs <= CHUNK:
                raw = chunks.get(addr // CHUNK) or chunk(addr // CHUNK)
            if raw is None:
                raw = read(addr, hs)
                off = 0
            if raw is None:
                raise ValidationError(index, addr, "unreadable", "header cannot be read"
                                      + (" (linked from block 0x%x)" % prev_addr
                                         if prev_addr else " (the shard's first block)"))
            v = unpack_from(raw, off)
            magic = v[w_magic]
            if magic != block_magic ^ addr:
                kind = "freed-block" if magic == self.freed_magic ^ addr else "bad-magic"
                raise ValidationError(index, addr, kind, "magic 0x%x%s" % (
                    magic, " (linked from block 0x%x)" % prev_addr if prev_addr else ""))
            if v[w_prev] != prev_addr:
                raise ValidationError(index, addr, "bad-prev", "prev link 0x%x, expected 0x%x"
                                      % (v[w_prev], prev_addr))
            size = v[w_size]
            if not m_start <= addr < m_end:
                m = target.mapping_at(addr)
                m_start, m_end = (m.start, m.end) if m is not None else (0, 0)
            if addr + hs > m_end or size > m_end - (addr + hs):
                raise ValidationError(index, addr, "bad-size", "size %d runs past the end"
                                      " of its mapping" % size)
            walked += 1
            pcs = v[w_pcs:w_end]
            if not pcs[-1]:
                pcs = pcs[:pcs.index(0)]
            yield new_block(Block, (addr, addr + hs, size, v[w_thread], v[w_tid], pcs))
            prev_addr = addr
            addr = v[w_next]

    def for_each_block(self) -> Iterator[Block]:
        """Yield every live block, shard by shard.

        :raises ValidationError: at the first corrupted list.
        """
        for index, shard in enumerate(self.shards()):
            yield from self.for_each_block_in_shard(index, shard)

    def walk(self) -> Tuple[List[Block], List[ValidationError]]:
        """Every live block that can be reached safely, and one error per
        corrupted shard (whose walk stopped at the bad block).  Cached."""
        if self._walked is None:
            blocks: List[Block] = []
            errors: List[ValidationError] = []
            with _no_gc():
                for index, shard in enumerate(self.shards()):
                    try:
                        blocks.extend(self.for_each_block_in_shard(index, shard))
                    except ValidationError as e:
                        errors.append(e)
                # A list running into another shard's list repeats blocks
                # (its prev link fails later, or never when it joins at a
                # head): keep each block once.
                if len({b.header for b in blocks}) != len(blocks):
                    unique: Dict[int, Block] = {}
                    for b in blocks:
                        unique.setdefault(b.header, b)
                    blocks = list(unique.values())
            self._walked = (blocks, errors)
        return self._walked

    # --- reachability ---------------------------------------------------
    def root_ranges(self) -> List[Tuple[int, int, str]]:
        """[start, end) of every root range with what it is: each thread's
        stack from sp - 128 to the end of its mapping, the mapping holding
        its fs_base, and every module's writable segments, with the
        runtime's own state cut out."""
        t = self.target
        ranges = []
        for th in t.threads():
            m = t.mapping_at(th.sp)
            if m is not None:
                ranges.append((max(m.start, th.sp - RED_ZONE), m.end,
                               "stack of thread %d" % th.tid))
            m = t.mapping_at(th.fs_base) if th.fs_base else None
            if m is not None:
                ranges.append((m.start, m.end, "TLS of thread %d" % th.tid))
        for start, end, path in t.writable_segments():
            ranges.append((start, end, "data of " + path))
        lo, hi = self.state
        out = []
        for start, end, what in ranges:
            if hi > lo and start < hi and lo < end:
                if start < lo:
                    out.append((start, lo, what))
                if hi < end:
                    out.append((hi, end, what))
            else:
                out.append((start, end, what))
        return out

    def classify(self) -> Tuple[List[Block], bytearray]:
        """Blocks sorted by user address and a kind per block: 0 reachable,
        1 direct leak, 2 indirect leak (the rules in DESIGN: roots, flood,
        leaders in ascending address order)."""
        with _no_gc():
            return self._classify()

    def _classify(self) -> Tuple[List[Block], bytearray]:
        """:meth:`classify` without the garbage collector's interruptions."""
        blocks, _ = self.walk()
        blocks = sorted(blocks, key=lambda b: b.user)
        n = len(blocks)
        starts = [b.user for b in blocks]
        ends = [b.user + b.size for b in blocks]
        kind = bytearray(n)
        if n == 0:
            return blocks, kind
        lo = starts[0]
        hi = max(ends[-1], starts[-1] + 1, max(ends))
        bisect_right = bisect.bisect_right
        words_of = self.target.words_of
        reachable = bytearray(n)
        stack: List[int] = []

        def mark(words: Sequence[int]) -> None:
            """Mark reachable, and queue, the blocks ``words`` point into."""
            for w in words:
                if lo <= w < hi:
                    i = bisect_right(starts, w) - 1
                    if i >= 0 and not reachable[i] and (w < ends[i] or w == starts[i]):
                        reachable[i] = 1
                        stack.append(i)

        for start, end, _what in self.root_ranges():
            for words in self.target.read_words(start, end):
                mark(words)
        for th in self.target.threads():
            mark(th.registers)
        # Blocks the dynamic linker allocated itself (a thread's DTV, dlopen's
        # bookkeeping) are reachable, as LeakSanitizer has them: glibc keeps
        # them through exited threads' cached stacks, memory no root covers.
        loader = [(s, e) for s, e, path in self.target.modules()
                  if os.path.basename(path).startswith("ld-linux")]
        for i, b in enumerate(blocks):
            if b.pcs and not reachable[i] and any(s <= b.pcs[0] < e for s, e in loader):
                reachable[i] = 1
                stack.append(i)
        while stack:
            i = stack.pop()
            mark(words_of(starts[i], ends[i]))
        # Leaders: ascending address; each floods the unreachable blocks it
        # reaches and marks them indirect.  Reaching an earlier leader needs
        # no further flooding: its own flood already marked all it reaches.
        leader = bytearray(n)
        for i in range(n):
            if reachable[i] or kind[i] == 2:
                continue
            kind[i] = 1
            leader[i] = 1
            visited = {i}
            todo = [i]
            while todo:
                k = todo.pop()
                for w in words_of(starts[k], ends[k]):
                    if lo <= w < hi:
                        j = bisect_right(starts, w) - 1
                        if (j >= 0 and not reachable[j] and j not in visited
                                and (w < ends[j] or w == starts[j])):
                            visited.add(j)
                            kind[j] = 2
                            if not leader[j]:
                                todo.append(j)
        return blocks, kind

    # --- reports --------------------------------------------------------
    def frames(self, pcs: Sequence[int]) -> List[Frame]:
        """Symbolised frames of an allocation stack."""
        return [self.target.frame(pc) for pc in pcs]

    @staticmethod
    def _groups(items: Iterator[Tuple[str, Block]]) -> List[Dict]:
        """Blocks grouped by (kind, stack), sorted by kind (leak before
        indirect), bytes desc, count desc, then the stack ascending."""
        acc: Dict[Tuple[str, Tuple[int, ...]], List] = {}
        for kind, b in items:
            g = acc.get((kind, b.pcs))
            if g is None:
                g = acc[(kind, b.pcs)] = [0, 0, set()]
            g[0] += 1
            g[1] += b.size
            g[2].add(b.tid)
        order = sorted(acc.items(), key=lambda kv: (KIND_ORDER[kv[0][0]], -kv[1][1],
                                                     -kv[1][0], kv[0][1]))
        return [{"kind": k[0], "count": v[0], "bytes": v[1],
                 "threads": sorted(v[2]), "pcs": k[1]} for k, v in order]

    def _with_frames(self, groups: List[Dict], limit: Optional[int]) -> List[Dict]:
        """Groups (the first ``limit``) with their frames symbolised."""
        if limit is not None:
            groups = groups[:limit]
        out = []
        for g in groups:
            g = dict(g)
            g["frames"] = [frame_json(f) for f in self.frames(g.pop("pcs"))]
            out.append(g)
        return out

    def stacks(self, limit: Optional[int] = None) -> Dict:
        """The ``stacks`` report: live blocks grouped by stack."""
        blocks, errors = self.walk()
        groups = self._groups(("live", b) for b in blocks)
        return {"summary": {"live_blocks": len(blocks),
                            "live_bytes": sum(b.size for b in blocks)},
                "groups": self._with_frames(groups, limit),
                "walk_errors": [error_json(e) for e in errors]}

    def leaks(self, limit: Optional[int] = None) -> Dict:
        """The ``leaks`` report: direct and indirect leaks by stack."""
        blocks, kind = self.classify()
        _, errors = self.walk()
        names = ("reachable", "leak", "indirect")
        summary = {"live_blocks": len(blocks),
                   "live_bytes": sum(b.size for b in blocks)}
        for k, prefix in ((1, "leaked"), (2, "indirect"), (0, "reachable")):
            chosen = [b.size for b, kk in zip(blocks, kind) if kk == k]
            summary[prefix + "_blocks"] = len(chosen)
            summary[prefix + "_bytes"] = sum(chosen)
        groups = self._groups((names[k], b) for b, k in zip(blocks, kind) if k)
        return {"summary": summary, "groups": self._with_frames(groups, limit),
                "walk_errors": [error_json(e) for e in errors]}

    def stats(self) -> Dict:
        """The ``stats`` report: totals, per thread, size histogram, and the
        allocations the runtime failed on purpose."""
        blocks, errors = self.walk()
        failures_total, failures = self.injected_failures()
        shards = self.shards()
        counters = self.counters()
        per_thread: Dict[int, List[int]] = {}
        classes: Dict[int, List[int]] = {}
        for b in blocks:
            t = per_thread.setdefault(b.tid, [0, 0])
            t[0] += 1
            t[1] += b.size
            c = classes.setdefault(b.size.bit_length(), [0, 0])
            c[0] += 1
            c[1] += b.size
        threads = [{"tid": tid, "blocks": v[0], "bytes": v[1]}
                   for tid, v in sorted(per_thread.items(),
                                        key=lambda kv: (-kv[1][1], kv[0]))]
        histogram = [{"min": (1 << (k - 1)) if k else 0, "max": (1 << k) - 1,
                      "blocks": v[0], "bytes": v[1]}
                     for k, v in sorted(classes.items())]
        return {"live_blocks": len(blocks), "live_bytes": sum(b.size for b in blocks),
                "peak_bytes": counters.get("peak_bytes"),
                "peak_blocks": counters.get("peak_blocks"),
                "total_allocs": sum(s["allocs"] for s in shards),
                "total_frees": sum(s["frees"] for s in shards),
                "total_bytes": counters.get("total_bytes"),
                "foreign_frees": counters.get("foreign_frees"),
                "failed_allocs": counters.get("failed_allocs"),
                "threads": threads, "histogram": histogram,
                "injected_failures_total": failures_total,
                "injected_failures": failures,
                "walk_errors": [error_json(e) for e in errors]}

    def _log(self, fields: Tuple[int, int, int], rec: struct.Struct) -> Tuple[int, List[tuple]]:
        """A log of the runtime's state named by descriptor ``fields`` (its
        address, slots, record size): a uint64 total, then records whose first
        field is a 1-based sequence number (0: empty slot).  Returns the total
        and the records in use, unpacked with ``rec``, oldest first; (0, [])
        when the runtime has no such log or it looks wrong."""
        d = self.d
        log, slots, rsize = (d[f] for f in fields)
        if (d[D_FIELDS] <= fields[2] or log == 0 or slots > 1024
                or not rec.size <= rsize <= 4096):
            return 0, []
        raw = self.target.read(log, 8 + slots * rsize)
        if raw is None:
            return 0, []
        total, = struct.unpack_from("<Q", raw, 0)
        records = [rec.unpack_from(raw, 8 + i * rsize) for i in range(slots)]
        return total, sorted((v for v in records if v[0] != 0), key=lambda v: v[0])

    def _stack_json(self, pcs: Sequence[int]) -> List[Dict]:
        """Frames of a 0-padded stack from a log record."""
        pcs = tuple(pcs)
        if 0 in pcs:
            pcs = pcs[:pcs.index(0)]
        return [frame_json(f) for f in self.frames(pcs)]

    def injected_failures(self) -> Tuple[int, List[Dict]]:
        """Allocations the runtime failed on purpose (fail-once,
        fail-one-in): how many in all, and those its log kept, oldest first,
        with their stacks."""
        total, records = self._log((D_FAILURE_LOG, D_FAILURE_SLOTS, D_FAILURE_RECORD_SIZE),
                                   struct.Struct("<4Q%dQ" % self.depth))
        return total, [{"seq": v[0], "tid": v[1], "size": v[2],
                        "stack_hash": hex_or_null(v[3]), "frames": self._stack_json(v[4:])}
                       for v in records]

    def counters(self) -> Dict[str, int]:
        """The runtime's process-wide counters by name."""
        d = self.d
        count = min(d[D_STAT_COUNT], 64)
        raw = self.target.read(d[D_STATS], 8 * count)
        if raw is None:
            return {}
        values = struct.unpack("<%dQ" % count, raw)
        return {name: values[i] for i, name in enumerate(STAT_NAMES) if i < count}

    def mallinfo(self) -> Dict:
        """The ``mallinfo`` report: what glibc's mallinfo2 would return,
        summed from its arenas (source "glibc", needs libc's debug info) or
        else the true values of the latest logged mallinfo() call (source
        "runtime"); the int fields and sums that overflow; the runtime's
        counters; every logged call with its stack."""
        d = self.d
        counters = self.counters()
        slots = min(d[D_MALLINFO_SLOTS], 4096)
        rsize = d[D_MALLINFO_RECORD_SIZE]
        nf = len(MALLINFO_FIELD_NAMES)
        rec = struct.Struct("<QQ%dQQ%dQ" % (nf, self.depth))
        calls = []
        raw = self.target.read(d[D_MALLINFO_LOG], 8 + slots * min(rsize, 4096))
        total_calls = 0
        if raw is not None and rec.size <= rsize <= 4096:
            total_calls, = struct.unpack_from("<Q", raw, 0)
            for i in range(slots):
                v = rec.unpack_from(raw, 8 + i * rsize)
                if v[0] == 0:
                    continue
                values = dict(zip(MALLINFO_FIELD_NAMES, v[2:2 + nf]))
                sat = v[2 + nf]
                pcs = [pc for pc in v[3 + nf:]]
                if 0 in pcs:
                    pcs = pcs[:pcs.index(0)]
                calls.append({"seq": v[0], "tid": v[1], "values": values,
                              "saturated": [n for k, n in enumerate(MALLINFO_FIELD_NAMES)
                                            if sat >> k & 1],
                              "frames": [frame_json(f) for f in self.frames(pcs)]})
        calls.sort(key=lambda c: c["seq"])
        values = glibc_mallinfo(self.target)
        source = "glibc"
        if values is None:
            # No libc debug info: the true values of the latest logged call.
            source = "runtime"
            values = calls[-1]["values"] if calls else {}
        fields = {n: values.get(n, 0) for n in MALLINFO_FIELD_NAMES}
        overflow = [n for n in MALLINFO_FIELD_NAMES if fields[n] > INT_MAX]
        for a, b in (("arena", "hblkhd"), ("uordblks", "hblkhd")):
            if fields[a] + fields[b] > INT_MAX:
                overflow.append(a + "+" + b)
        blocks, _ = self.walk()
        runtime = {"live_bytes": sum(b.size for b in blocks), "live_blocks": len(blocks),
                   "header_bytes": len(blocks) * self.header_size,
                   "peak_bytes": counters.get("peak_bytes"),
                   "total_bytes": counters.get("total_bytes")}
        return {"fields": fields, "overflow": overflow, "source": source,
                "runtime": runtime, "total_calls": total_calls, "calls": calls}

    def verify(self) -> Dict:
        """The ``verify`` report: list links and header magic of every
        block, and each shard's counters against its walk; error kinds are
        the C analyzer's."""
        errors = []
        d = self.d
        for index, shard in enumerate(self.shards()):
            count = 0
            size = 0
            try:
                for b in self.for_each_block_in_shard(index, shard):
                    count += 1
                    size += b.size
            except ValidationError as e:
                errors.append({"kind": e.kind, "address": hex_or_null(e.block),
                               "shard": index, "message": str(e),
                               "frames": self._frames_of_header(e.block)})
                continue
            kind = ("count-mismatch" if count != shard["blocks"] else
                    "bytes-mismatch" if size != shard["bytes"] else None)
            if kind:
                errors.append({"kind": kind,
                               "address": hex_or_null(d[D_SHARDS] + index * d[D_SHARD_SIZE]),
                               "shard": index,
                               "message": "shard %d: %d blocks of %d bytes on the list,"
                                          " its counters say %d blocks of %d bytes"
                                          % (index, count, size, shard["blocks"],
                                             shard["bytes"]),
                               "frames": []})
        errors.extend(self._overruns())
        caught_total, caught = self.caught_errors()
        # A heap error the runtime caught is a failure even when the lists
        # it left behind are sound.
        return {"ok": not errors and not caught_total, "errors": errors,
                "blocks_checked": len(self.walk()[0]),
                "caught_total": caught_total, "caught": caught}

    def caught_errors(self) -> Tuple[int, List[Dict]]:
        """The heap errors the runtime caught as they happened (double
        free, overrun, ...): how many in all, and those its log kept,
        oldest first, with the block's allocation and free stacks and
        where the error was found."""
        n = self.depth
        total, records = self._log((D_ERROR_LOG, D_ERROR_SLOTS, D_ERROR_RECORD_SIZE),
                                   struct.Struct("<6Q%dQ" % (3 * n)))
        return total, [{"seq": v[0],
                        "kind": ERROR_KINDS[v[1]] if 0 < v[1] < len(ERROR_KINDS) else "unknown",
                        "block": hex_or_null(v[2]), "size": v[3], "address": hex_or_null(v[4]),
                        "tid": v[5], "alloc_frames": self._stack_json(v[6:6 + n]),
                        "free_frames": self._stack_json(v[6 + n:6 + 2 * n]),
                        "found_frames": self._stack_json(v[6 + 2 * n:6 + 3 * n])}
                       for v in records]

    def _overruns(self) -> List[Dict]:
        """One "overrun" error per block (ascending address) whose guard
        bytes after the user part are not all the runtime's guard byte."""
        d = self.d
        size = d[D_GUARD_SIZE]
        if size == 0 or size > 4096 or d[D_FIELDS] <= D_GUARD_BYTE:
            return []
        want = bytes([d[D_GUARD_BYTE] & 0xff]) * size
        out = []
        for b in sorted(self.walk()[0], key=lambda b: b.user):
            guard = self.target.read(b.user + b.size, size)
            if guard is not None and guard != want:
                out.append({"kind": "overrun", "address": hex_or_null(b.header),
                            "shard": None,
                            "message": "block 0x%x: the %d guard bytes after its %d bytes"
                                       " were overwritten (%s)" % (b.header, size, b.size,
                                                                  guard.hex()),
                            "frames": [frame_json(f) for f in self.frames(b.pcs)]})
        return out

    def _frames_of_header(self, address: Optional[int]) -> List[Dict]:
        """Frames of the allocation stack in the header at ``address`` if it
        can be read, else []."""
        if address is None:
            return []
        raw = self.target.read(address, self.header_size)
        if raw is None:
            return []
        pcs = self._unpack(raw)[5]
        return [frame_json(f) for f in self.frames(pcs)]


# ---------------------------------------------------------------------------
# glibc's own view: what mallinfo2() would return, summed from the arenas
# the way glibc's int_mallinfo does.  The layout of struct malloc_state and
# malloc_par comes from the debugger (libc's DWARF).

MAX_ARENAS = 4096
MAX_FREE_CHUNKS = 16 << 20


class GlibcLayout(NamedTuple):
    """Addresses of main_arena and mp_, and the offsets (and array lengths)
    in struct malloc_state / malloc_par that mallinfo2 sums."""
    main_arena: int
    mp: int
    fastbins: int
    nfastbins: int
    top: int
    bins: int
    nbins: int
    next: int
    system_mem: int
    n_mmaps: int
    n_mmaps_size: int
    mmapped_mem: int


def glibc_mallinfo(target: Target) -> Optional[Dict[str, int]]:
    """mallinfo2's values summed over glibc's arenas, or None when libc's
    debug info or its arena state cannot be used."""
    try:
        g = target.glibc_layout()
    except Exception:
        g = None
    if g is None or g.n_mmaps_size > 8:
        return None
    v = dict.fromkeys(MALLINFO_FIELD_NAMES, 0)
    budget = [MAX_FREE_CHUNKS]
    av = g.main_arena
    for _ in range(MAX_ARENAS):
        if not _sum_arena(target, g, av, v, budget):
            return None
        av = _u64(target, av + g.next)
        if av is None:
            return None
        if av == g.main_arena:
            return v
    return None


def _u64(target: Target, address: int) -> Optional[int]:
    """The 64-bit word at ``address``, or None."""
    raw = target.read(address, 8)
    return None if raw is None else struct.unpack("<Q", raw)[0]


def _sum_arena(target: Target, g: GlibcLayout, av: int, v: Dict[str, int],
               budget: List[int]) -> bool:
    """Add arena ``av`` to ``v`` as int_mallinfo does; False on an
    unreadable or endless list (``budget`` bounds the chunks visited)."""
    def size_of(chunk: int) -> Optional[int]:
        """Size of glibc chunk ``chunk`` (flag bits cleared), or None."""
        word = _u64(target, chunk + 8)
        return None if word is None else word & ~7

    top = _u64(target, av + g.top)
    avail = size_of(top) if top is not None else None
    sysmem = _u64(target, av + g.system_mem)
    if avail is None or sysmem is None:
        return False
    nblocks, nfast, fastavail = 1, 0, 0
    for i in range(g.nfastbins):
        p = _u64(target, av + g.fastbins + 8 * i)
        while p:
            budget[0] -= 1
            size = size_of(p) if p is not None else None
            fd = _u64(target, p + 16) if p is not None else None
            if budget[0] < 0 or size is None or fd is None:
                return False
            nfast += 1
            fastavail += size
            p = ((p + 16) >> 12) ^ fd      # safe-linking (glibc >= 2.32)
    avail += fastavail
    # bin_at(av, i) is a fake chunk whose fd/bk are bins[2i-2], bins[2i-1].
    for i in range(1, g.nbins // 2 + 1):
        b = av + g.bins + 16 * (i - 1) - 16
        p = _u64(target, b + 24)
        while p != b:
            budget[0] -= 1
            size = size_of(p) if p is not None else None
            if budget[0] < 0 or size is None:
                return False
            nblocks += 1
            avail += size
            p = _u64(target, p + 24)
    v["smblks"] += nfast
    v["ordblks"] += nblocks
    v["fordblks"] += avail
    v["uordblks"] += sysmem - avail
    v["arena"] += sysmem
    v["fsmblks"] += fastavail
    if av == g.main_arena:
        raw = target.read(g.mp + g.n_mmaps, g.n_mmaps_size)
        mmapped = _u64(target, g.mp + g.mmapped_mem)
        keep = size_of(top)
        if raw is None or mmapped is None or keep is None:
            return False
        v["hblks"] = int.from_bytes(raw, "little")
        v["hblkhd"] = mmapped
        v["keepcost"] = keep
    return True


# ---------------------------------------------------------------------------
# Output.

def hex_or_null(value: Optional[int]) -> Optional[str]:
    """``value`` as a "0x…" string, or None."""
    return None if value is None else "0x%x" % value


def frame_json(f: Frame) -> Dict:
    """A frame in the JSON contract's names."""
    return {"pc": "0x%x" % f.pc, "function": f.function, "offset": f.offset,
            "module": f.module, "file": f.file, "line": f.line}


def error_json(e: ValidationError) -> Dict:
    """A walk error as JSON."""
    return {"kind": e.kind, "shard": e.shard, "address": hex_or_null(e.block),
            "message": str(e)}


def to_json(report: Dict) -> str:
    """A report as pretty JSON text."""
    return json.dumps(report, indent=2)


def format_frame(n: int, f: Dict) -> str:
    """One frame line: ``    #N function+0xOFF (file:line) [module]``."""
    if f["function"] is not None:
        text = f["function"]
        if f["offset"] is not None:
            text += "+0x%x" % f["offset"]
    else:
        text = f["pc"]
    if f["file"] is not None:
        text += " (%s:%s)" % (f["file"], f["line"] if f["line"] is not None else "?")
    if f["module"] is not None:
        text += " [%s]" % os.path.basename(f["module"])
    return "    #%d %s" % (n, text)


KIND_ORDER = {"live": 0, "leak": 1, "indirect": 2}
KIND_TEXT = {"live": "live", "leak": "leak", "indirect": "indirect leak"}


def format_groups(report: Dict) -> str:
    """Text of a stacks or leaks report."""
    lines = []
    for g in report["groups"]:
        lines.append("%d bytes in %d block%s (%s) from threads %s:"
                     % (g["bytes"], g["count"], "" if g["count"] == 1 else "s",
                        KIND_TEXT[g["kind"]], ",".join(str(t) for t in g["threads"])))
        lines.extend(format_frame(i, f) for i, f in enumerate(g["frames"]))
        lines.append("")
    s = report["summary"]
    if "leaked_blocks" in s:
        lines.append("SUMMARY: %d bytes leaked in %d blocks, %d bytes indirectly"
                     " leaked in %d blocks, %d bytes reachable in %d blocks."
                     % (s["leaked_bytes"], s["leaked_blocks"], s["indirect_bytes"],
                        s["indirect_blocks"], s["reachable_bytes"], s["reachable_blocks"]))
    else:
        lines.append("SUMMARY: %d bytes live in %d blocks."
                     % (s["live_bytes"], s["live_blocks"]))
    return "\n".join(lines) + "\n"


def format_stats(r: Dict) -> str:
    """Text of a stats report."""
    lines = ["live: %d bytes in %d blocks" % (r["live_bytes"], r["live_blocks"]),
             "peak: %s bytes, %s blocks" % (r["peak_bytes"], r["peak_blocks"]),
             "total: %d allocations, %d frees, %s bytes requested"
             % (r["total_allocs"], r["total_frees"], r["total_bytes"]),
             "threads:"]
    lines += ["  tid %d: %d bytes in %d blocks" % (t["tid"], t["bytes"], t["blocks"])
              for t in r["threads"]]
    lines.append("sizes:")
    lines += ["  %d..%d: %d blocks, %d bytes" % (h["min"], h["max"], h["blocks"], h["bytes"])
              for h in r["histogram"]]
    if r.get("injected_failures_total"):
        lines.append("allocations failed on purpose: %d (the last %d kept)"
                     % (r["injected_failures_total"], len(r["injected_failures"])))
    for f in r.get("injected_failures", []):
        lines.append("failure %d: %d bytes in thread %d, stack %s:"
                     % (f["seq"], f["size"], f["tid"], f["stack_hash"]))
        lines.extend(format_frame(i, fr) for i, fr in enumerate(f["frames"]))
    return "\n".join(lines) + "\n"


def format_mallinfo(r: Dict) -> str:
    """Text of a mallinfo report."""
    lines = ["mallinfo fields (true 64-bit values, from %s):" % r["source"]]
    for name, value in r["fields"].items():
        mark = "  <- overflows int" if name in r["overflow"] else ""
        lines.append("  %-9s %d%s" % (name, value, mark))
    for name in r["overflow"]:
        if "+" in name:
            lines.append("  %s exceeds INT_MAX" % name)
    lines.append("mallinfo() calls logged: %d (total %d)" % (len(r["calls"]),
                                                          r["total_calls"]))
    for c in r["calls"]:
        sat = ", saturated: " + ",".join(c["saturated"]) if c["saturated"] else ""
        lines.append("call %d from thread %d%s:" % (c["seq"], c["tid"], sat))
        lines.extend(format_frame(i, f) for i, f in enumerate(c["frames"]))
    return "\n".join(lines) + "\n"


def format_verify(r: Dict) -> str:
    """Text of a verify report."""
    lines = []
    for e in r["errors"]:
        lines.append("%s: %s" % (e["kind"], e["message"]))
        lines.extend(format_frame(i, f) for i, f in enumerate(e["frames"]))
    lines.append("%s: %d blocks checked, %d problems in the lists and guards"
                 % ("OK" if r["ok"] else "FAILED", r["blocks_checked"], len(r["errors"])))
    if r["caught_total"]:
        lines.append("the runtime caught %d heap errors as they happened (the last %d kept):"
                     % (r["caught_total"], len(r["caught"])))
    for e in r["caught"]:
        lines.append("%s of the %d-byte block at %s (address %s) in thread %d"
                     % (e["kind"], e["size"], e["block"], e["address"], e["tid"]))
        for what, key in (("allocated at:", "alloc_frames"), ("freed at:", "free_frames"),
                          ("found at:", "found_frames")):
            if e[key]:
                lines.append("  " + what)
                lines.extend(format_frame(i, f) for i, f in enumerate(e[key]))
    return "\n".join(lines) + "\n"


def format_blocks(heap: Heap, limit: Optional[int]) -> Iterator[str]:
    """show_alloc_stacks text, one block at a time: address, size, thread
    (pthread_t and LWP), frames."""
    blocks, _ = heap.walk()
    for n, b in enumerate(blocks):
        if limit is not None and n >= limit:
            break
        lines = ["block 0x%x: %d bytes, thread 0x%x (LWP %d)"
                 % (b.user, b.size, b.thread, b.tid)]
        lines += [format_frame(i, frame_json(f)) for i, f in enumerate(heap.frames(b.pcs))]
        yield "\n".join(lines) + "\n"


COMMANDS = ("stacks", "leaks", "stats", "mallinfo", "verify")


def report(heap: Heap, command: str, limit: Optional[int] = None) -> Dict:
    """The report dict of one subcommand."""
    if command == "stacks":
        return heap.stacks(limit)
    if command == "leaks":
        return heap.leaks(limit)
    if command == "stats":
        return heap.stats()
    if command == "mallinfo":
        return heap.mallinfo()
    if command == "verify":
        return heap.verify()
    raise DmemError("unknown command %r" % command)


def render(command: str, r: Dict, as_json: bool) -> str:
    """A report as JSON or as text."""
    if as_json:
        return to_json(r) + "\n"
    if command in ("stacks", "leaks"):
        return format_groups(r)
    return {"stats": format_stats, "mallinfo": format_mallinfo,
            "verify": format_verify}[command](r)


def warnings(r: Dict) -> List[str]:
    """One line per corrupted list in a report, for stderr."""
    return ["dmem: warning: %s; the walk went on with the next shard" % e["message"]
            for e in r.get("walk_errors", [])]
