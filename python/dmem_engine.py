"""The dmem engine (libdmem-engine.so) through ctypes, for the gdb and drgn front ends.

Every report is computed by the engine, in C; this module only opens a
target (a core path, a live pid, or a process a debugger holds, read through
callbacks), passes a subcommand's words and returns the text.  It needs no
Python ABI: gdb's embedded Python and drgn's both load it.
"""

import ctypes
import os
from typing import Callable, Iterator, List, NamedTuple, Optional, Sequence, Tuple

__all__ = ["Block", "DmemError", "Engine", "Frame", "ValidationError",
           "core_file_of_process", "help_text"]

# Exit statuses of `dmem` (engine.h).
OK, FOUND, BAD_INPUT, USAGE = 0, 1, 2, 64
# x86-64 user_regs_struct, the order of a thread's registers.
USER_REGS = ("r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8",
             "rax", "rcx", "rdx", "rsi", "rdi", "orig_rax", "rip", "cs", "eflags",
             "rsp", "ss", "fs_base", "gs_base", "ds", "es", "fs", "gs")


class DmemError(Exception):
    """The target cannot be analysed (the engine's one-line reason)."""


class ValidationError(DmemError):
    """A corrupted or cyclic list of blocks, found by the walk."""


class Block(NamedTuple):
    """A live block: header and user addresses, requested size, allocating
    thread, allocation stack (return addresses, innermost first)."""
    header: int
    address: int
    size: int
    tid: int
    pcs: Tuple[int, ...]


class Frame(NamedTuple):
    """One frame of a stack: a return address or a call inlined at it."""
    pc: int
    function: Optional[str]
    symbol: Optional[str]
    offset: Optional[int]
    module: Optional[str]
    file: Optional[str]
    line: Optional[int]
    inlined: bool


class _Thread(ctypes.Structure):
    _fields_ = [("tid", ctypes.c_uint32), ("regs", ctypes.c_uint64 * 27)]


_READ = ctypes.CFUNCTYPE(ctypes.c_size_t, ctypes.c_void_p, ctypes.c_uint64,
                         ctypes.c_void_p, ctypes.c_size_t)


class _Source(ctypes.Structure):
    _fields_ = [("pid", ctypes.c_int), ("arg", ctypes.c_void_p), ("read", _READ),
                ("nthreads", ctypes.c_size_t), ("threads", ctypes.POINTER(_Thread))]


class _BlockInfo(ctypes.Structure):
    _fields_ = [("header", ctypes.c_uint64), ("address", ctypes.c_uint64),
                ("size", ctypes.c_uint64), ("tid", ctypes.c_uint32),
                ("stack", ctypes.c_uint32)]


class _Frame(ctypes.Structure):
    _fields_ = [("pc", ctypes.c_uint64), ("function", ctypes.c_char_p),
                ("symbol", ctypes.c_char_p), ("offset", ctypes.c_uint64),
                ("module", ctypes.c_char_p), ("file", ctypes.c_char_p),
                ("line", ctypes.c_int), ("inlined", ctypes.c_int),
                ("mismatched", ctypes.c_int)]


# The installed engine's directory, written here by `make install`.
_LIBDIR = None


def _library_path() -> str:
    """$DMEM_ENGINE, else the installed engine, else the build tree's."""
    here = os.path.dirname(os.path.abspath(__file__))
    for path in (os.environ.get("DMEM_ENGINE"),
                 _LIBDIR and os.path.join(_LIBDIR, "libdmem-engine.so"),
                 os.path.join(here, "..", "analyzers", ".libs", "libdmem-engine.so")):
        if path and os.path.exists(path):
            return path
    raise DmemError("cannot find libdmem-engine.so (set DMEM_ENGINE)")


_lib = None


def _engine_library() -> ctypes.CDLL:
    """The engine, loaded once, with its functions' signatures."""
    global _lib
    if _lib is not None:
        return _lib
    lib = ctypes.CDLL(_library_path())
    p, s, i = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
    for name, res, args in (
            ("dmem_engine_new", p, []),
            ("dmem_engine_open_core", i, [p, s, s, s, s]),
            ("dmem_engine_open_pid", i, [p, i, s, s]),
            ("dmem_engine_open_source", i, [p, ctypes.POINTER(_Source), s, s]),
            ("dmem_engine_error", s, [p]),
            ("dmem_engine_command", i, [p, i, ctypes.POINTER(s)]),
            ("dmem_engine_output", ctypes.c_void_p, [p]),
            ("dmem_engine_messages", ctypes.c_void_p, [p]),
            ("dmem_engine_help", s, [s]),
            ("dmem_engine_blocks", ctypes.c_long,
             [p, ctypes.c_size_t, ctypes.POINTER(_BlockInfo), ctypes.c_size_t]),
            ("dmem_engine_stack", ctypes.c_size_t,
             [p, ctypes.c_uint32, ctypes.POINTER(ctypes.c_uint64), ctypes.c_size_t]),
            ("dmem_engine_symbolize", ctypes.c_size_t,
             [p, ctypes.c_uint64, ctypes.POINTER(_Frame), ctypes.c_size_t]),
            ("dmem_engine_problem_count", ctypes.c_long, [p]),
            ("dmem_engine_problem", s, [p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]),
            ("dmem_engine_free", None, [p])):
        f = getattr(lib, name)
        f.restype, f.argtypes = res, args
    _lib = lib
    return lib


def _bytes(text: Optional[str]) -> Optional[bytes]:
    return None if text is None else os.fsencode(text)


def _text(raw: Optional[bytes]) -> Optional[str]:
    return None if raw is None else raw.decode("utf-8", "replace")


def help_text(subcommand: str) -> str:
    """The engine's help of a subcommand (what `dmem SUB --help` prints)."""
    raw = _engine_library().dmem_engine_help(subcommand.encode())
    if raw is None:
        raise DmemError("no subcommand %r" % subcommand)
    return raw.decode()


class Engine:
    """One target open in the engine.  Use as a context manager, or close()."""

    def __init__(self):
        self._lib = _engine_library()
        self._e = self._lib.dmem_engine_new()
        if not self._e:
            raise MemoryError("dmem_engine_new")
        self._keep = []   # what the engine points to: the source, its callback

    def _check(self, status: int) -> None:
        if status != 0:
            message = _text(self._lib.dmem_engine_error(self._e))
            self.close()
            raise DmemError(message)

    def open_core(self, path: str, executable: Optional[str] = None,
                  sysroot: Optional[str] = None, debug_dirs: Optional[str] = None) -> "Engine":
        """Open a core file; the engine reads it itself."""
        self._check(self._lib.dmem_engine_open_core(
            self._e, _bytes(path), _bytes(executable), _bytes(sysroot), _bytes(debug_dirs)))
        return self

    def open_pid(self, pid: int, sysroot: Optional[str] = None,
                 debug_dirs: Optional[str] = None) -> "Engine":
        """Open a live process nobody traces: stopped only while it is read."""
        self._check(self._lib.dmem_engine_open_pid(self._e, pid, _bytes(sysroot),
                                                   _bytes(debug_dirs)))
        return self

    def open_source(self, pid: int, read: Callable[[int, int], bytes],
                    threads: Sequence[Tuple[int, Sequence[int]]],
                    sysroot: Optional[str] = None,
                    debug_dirs: Optional[str] = None) -> "Engine":
        """Open a live process a debugger holds stopped.

        :param read: ``read(address, size)`` returns the bytes there (fewer,
            or raises, where they cannot be read); called with large sizes.
        :param threads: ``(tid, registers)`` per thread, registers in
            :data:`USER_REGS` order.
        """
        def callback(_arg, address, buf, size):
            try:
                data = read(address, size)
            except Exception:  # noqa: BLE001 -- an unreadable range
                return 0
            n = min(len(data), size)
            ctypes.memmove(buf, data, n)
            return n

        array = (_Thread * len(threads))()
        for k, (tid, regs) in enumerate(threads):
            array[k].tid = tid
            for j, value in enumerate(regs[:27]):
                array[k].regs[j] = value & (2 ** 64 - 1)
        source = _Source(pid, None, _READ(callback), len(threads), array)
        self._keep += [source, array, callback]
        self._check(self._lib.dmem_engine_open_source(self._e, ctypes.byref(source),
                                                      _bytes(sysroot), _bytes(debug_dirs)))
        return self

    def command(self, words: Sequence[str]) -> Tuple[int, str, str]:
        """Run a report: ``words`` as after the target on `dmem`'s command
        line (``["leaks", "--format=json"]``).  Returns (exit status, report
        text, warning lines)."""
        argv = (ctypes.c_char_p * (len(words) + 1))(*[w.encode() for w in words], None)
        status = self._lib.dmem_engine_command(self._e, len(words), argv)
        out = ctypes.string_at(self._lib.dmem_engine_output(self._e))
        err = ctypes.string_at(self._lib.dmem_engine_messages(self._e))
        return status, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")

    def blocks(self) -> Iterator[Block]:
        """Every live block, in address order; then ValidationError if the
        walk found a corrupted or cyclic list."""
        buf = (_BlockInfo * 4096)()
        pcs = (ctypes.c_uint64 * 64)()
        stacks = {}
        first = 0
        while True:
            n = self._lib.dmem_engine_blocks(self._e, first, buf, len(buf))
            if n < 0:
                raise DmemError(_text(self._lib.dmem_engine_error(self._e)))
            for b in buf[:n]:
                stack = stacks.get(b.stack)
                if stack is None:
                    k = self._lib.dmem_engine_stack(self._e, b.stack, pcs, len(pcs))
                    stack = stacks[b.stack] = tuple(pcs[:k])
                yield Block(b.header, b.address, b.size, b.tid, stack)
            if n < len(buf):
                break
            first += n
        for problem in self.problems():
            raise ValidationError(problem)

    def problems(self) -> List[str]:
        """The broken or cyclic lists the walk found, in the engine's words
        ("shard 3: bad-magic block at 0x... (linked from block 0x...)")."""
        count = self._lib.dmem_engine_problem_count(self._e)
        if count < 0:
            raise DmemError(_text(self._lib.dmem_engine_error(self._e)))
        buf = ctypes.create_string_buffer(256)
        texts = (self._lib.dmem_engine_problem(self._e, i, buf, len(buf)) for i in range(count))
        return [t.decode() for t in texts if t is not None]

    def frames(self, pcs: Sequence[int]) -> List[Frame]:
        """The frames of a stack of return addresses, inlined calls
        expanded, innermost first."""
        buf = (_Frame * 32)()
        out = []
        for pc in pcs:
            n = self._lib.dmem_engine_symbolize(self._e, pc, buf, len(buf))
            for f in buf[:n]:
                known = f.function is not None
                out.append(Frame(f.pc, _text(f.function), _text(f.symbol),
                                 f.offset if known else None, _text(f.module),
                                 _text(f.file), f.line if f.file else None,
                                 bool(f.inlined)))
        return out

    def close(self) -> None:
        """Close the target (a live process runs on) and free the engine."""
        if self._e:
            self._lib.dmem_engine_free(self._e)
            self._e = None
        self._keep = []

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        self.close()


def core_file_of_process() -> Optional[str]:
    """Path of an ELF core file this process (gdb, drgn) has open."""
    fd_dir = "/proc/self/fd"
    for fd in sorted(os.listdir(fd_dir), key=lambda s: int(s) if s.isdigit() else 0):
        try:
            path = os.readlink(os.path.join(fd_dir, fd))
            if not path.startswith("/") or not os.path.isfile(path):
                continue
            with open(path, "rb") as f:
                head = f.read(18)
        except OSError:
            continue
        # ELF, 64-bit, e_type ET_CORE (4).
        if head[:4] == b"\x7fELF" and len(head) == 18 and head[16] == 4:
            return path
    return None
