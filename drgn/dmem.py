"""dmem's drgn script and helpers: the dmem runtime's heap in a core or live process.

As a script::

    drgn -c CORE PREFIX/share/dmem/drgn/dmem.py stacks|leaks|stats|mallinfo|verify [--json]
    drgn -p PID  PREFIX/share/dmem/drgn/dmem.py leaks

In an interactive drgn session::

    >>> import sys; sys.path.insert(0, "PREFIX/share/dmem/drgn")
    >>> from dmem import *
    >>> for block in for_each_block(prog): ...
    >>> leaks(prog)["summary"]

The logic lives in the shared module python/dmem_heap.py; this file adapts
drgn to it.
"""

import ctypes
import os
import sys
from typing import Any, Dict, Iterator, List, Optional, Tuple

import drgn

_PYTHON_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python")
if _PYTHON_DIR not in sys.path:
    sys.path.insert(0, _PYTHON_DIR)

import dmem_heap  # noqa: E402
from dmem_heap import Block, DmemError, Frame, ValidationError  # noqa: E402

__all__ = [
    "Block",
    "DmemError",
    "Frame",
    "ValidationError",
    "for_each_block",
    "heap",
    "leaks",
    "mallinfo",
    "stacks",
    "stats",
    "verify",
]

# x86-64 struct pt_regs, in the kernel's names (drgn reads it by name).
_PT_REGS = ("r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8",
            "ax", "cx", "dx", "si", "di", "orig_ax", "ip", "cs", "flags", "sp", "ss")
_PTRACE_GETREGS = 12
_PTRACE_DETACH = 17
_PTRACE_SEIZE = 0x4206
_PTRACE_INTERRUPT = 0x4207
_WALL = 0x40000000


def _live_pid() -> Optional[int]:
    """PID of the live process drgn has open (through its /proc/PID/mem)."""
    for fd in os.listdir("/proc/self/fd"):
        try:
            path = os.readlink("/proc/self/fd/" + fd)
        except OSError:
            continue
        parts = path.split("/")
        if len(parts) == 4 and parts[1] == "proc" and parts[3] == "mem" and parts[2].isdigit():
            if int(parts[2]) != os.getpid():
                return int(parts[2])
    return None


class _Ptrace:
    """Threads of a live process stopped with ptrace while they are read."""

    def __init__(self, pid: int):
        self.pid = pid
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p,
                                     ctypes.c_void_p]
        self.libc.ptrace.restype = ctypes.c_long
        self.attached: List[int] = []

    def stop_all(self) -> List[dmem_heap.ThreadInfo]:
        """Attach to and stop every thread; return their registers.  A
        thread that cannot be attached is described from
        /proc/PID/task/TID/syscall (sp only) with a warning."""
        out = []
        try:
            tids = sorted(int(t) for t in os.listdir("/proc/%d/task" % self.pid))
        except OSError as e:
            raise DmemError("cannot list the threads of process %d: %s" % (self.pid, e.strerror))
        for tid in tids:
            regs = self._attach_and_read(tid)
            if regs is None:
                regs = self._syscall_registers(tid)
            if regs is not None:
                out.append(dmem_heap.ThreadInfo(tid, regs, regs[19], regs[21]))
        return out

    def _attach_and_read(self, tid: int) -> Optional[Tuple[int, ...]]:
        """user_regs_struct of thread ``tid`` after stopping it, or None.
        Seized and interrupted rather than attached: no SIGSTOP is queued,
        so the process runs on even if this reader dies before detaching."""
        if self.libc.ptrace(_PTRACE_SEIZE, tid, None, None) != 0:
            return None
        self.attached.append(tid)
        if self.libc.ptrace(_PTRACE_INTERRUPT, tid, None, None) != 0:
            return None
        status = ctypes.c_int()
        if self.libc.waitpid(tid, ctypes.byref(status), _WALL) != tid:
            return None
        buf = (ctypes.c_uint64 * 27)()
        if self.libc.ptrace(_PTRACE_GETREGS, tid, None, ctypes.byref(buf)) != 0:
            return None
        return tuple(buf)

    def _syscall_registers(self, tid: int) -> Optional[Tuple[int, ...]]:
        """Registers with only rsp and rip known, from /proc's syscall file."""
        try:
            with open("/proc/%d/task/%d/syscall" % (self.pid, tid)) as f:
                fields = f.read().split()
            sp, pc = int(fields[-2], 16), int(fields[-1], 16)
        except (OSError, ValueError, IndexError):
            return None
        sys.stderr.write("dmem: warning: cannot stop thread %d; only its stack pointer"
                         " is used as a root\n" % tid)
        regs = [0] * 27
        regs[19], regs[16] = sp, pc
        return tuple(regs)

    def resume_all(self) -> None:
        """Detach from every thread stopped by :meth:`stop_all`."""
        for tid in self.attached:
            self.libc.ptrace(_PTRACE_DETACH, tid, None, None)
        self.attached = []


class _DrgnTarget(dmem_heap.Target):
    """A drgn Program (core dump or live process) for the shared logic.

    :param prog: the program.
    :param hold: for a live process, keep its threads stopped from the first
        register read until :meth:`close` (a consistent snapshot); else stop
        them only while registers are read.
    """

    def __init__(self, prog: drgn.Program, hold: bool = False):
        super().__init__()
        self.prog = prog
        self.hold = hold
        self.live = bool(prog.flags & drgn.ProgramFlags.IS_LIVE)
        self.pid = _live_pid() if self.live else None
        self.core = None if self.live else dmem_heap.core_file_of_process()
        if not self.live and self.core is None:
            raise DmemError("cannot find the core file drgn has open")
        if self.live and self.pid is None:
            raise DmemError("cannot find the process drgn is attached to")
        self._facts = None
        self._maps: Optional[List[dmem_heap.Mapping]] = None
        self._threads: Optional[List[dmem_heap.ThreadInfo]] = None
        self._ptrace: Optional[_Ptrace] = None
        self._pt_regs: Optional[drgn.Type] = None

    def read_raw(self, address: int, size: int) -> bytes:
        """Bulk read through drgn."""
        return self.prog.read(address, size)

    def descriptor_address(self) -> Optional[int]:
        """Address of dmem_descriptor from drgn's symbol tables."""
        try:
            return self.prog.symbol(dmem_heap.DESCRIPTOR_SYMBOL).address
        except LookupError:
            return None

    def _core_facts(self):
        """Threads and mappings of the core, read once from its ELF notes."""
        if self._facts is None:
            self._facts = dmem_heap.read_core(self.core)
        return self._facts

    def mappings(self) -> List[dmem_heap.Mapping]:
        """The core's segments, or /proc/PID/maps."""
        if self._maps is None:
            self._maps = (dmem_heap.live_mappings(self.pid) if self.live
                          else self._core_facts().mappings)
        return self._maps

    def threads(self) -> List[dmem_heap.ThreadInfo]:
        """NT_PRSTATUS registers for a core; ptrace registers for a live
        process (drgn 0.0.22 gives no registers of running threads)."""
        if self._threads is None:
            if not self.live:
                self._threads = self._core_facts().threads
            else:
                self._ptrace = _Ptrace(self.pid)
                try:
                    self._threads = self._ptrace.stop_all()
                finally:
                    if not self.hold:
                        self.close()
        return self._threads

    def close(self) -> None:
        """Let a live process's stopped threads run again."""
        if self._ptrace is not None:
            self._ptrace.resume_all()

    def glibc_layout(self) -> Optional[dmem_heap.GlibcLayout]:
        """main_arena, mp_ and the malloc_state / malloc_par members that
        mallinfo2 sums, from libc's debug info through drgn's types."""
        try:
            main_arena = self.prog.object("main_arena").address_
            mp = self.prog.object("mp_").address_
            state = {m.name: m for m in self.prog.type("struct malloc_state").members}
            par = {m.name: m for m in self.prog.type("struct malloc_par").members}
            return dmem_heap.GlibcLayout(
                main_arena, mp,
                state["fastbinsY"].offset, drgn.sizeof(state["fastbinsY"].type) // 8,
                state["top"].offset,
                state["bins"].offset, drgn.sizeof(state["bins"].type) // 8,
                state["next"].offset, state["system_mem"].offset,
                par["n_mmaps"].offset, drgn.sizeof(par["n_mmaps"].type),
                par["mmapped_mem"].offset)
        except (LookupError, KeyError, ValueError, TypeError):
            return None

    def symbolize_raw(self, pc: int):
        """Function and offset from drgn's symbol tables; file and line of
        pc - 1 from drgn's line tables."""
        try:
            sym = self.prog.symbol(pc)
            function, offset = sym.name, pc - sym.address
        except LookupError:
            function = offset = None
        file, line = self._source(pc - 1)
        return function, offset, file, line

    def _source(self, address: int) -> Tuple[Optional[str], Optional[int]]:
        """(file, line) of ``address`` from drgn's debug info, or Nones.

        drgn 0.0.22 looks up source lines only for stack frames, so this
        unwinds a one-frame stack from a made-up ``struct pt_regs`` whose
        instruction pointer is ``address`` (drgn accepts such an object for
        Program.stack_trace on x86-64)."""
        try:
            if self._pt_regs is None:
                u64 = self.prog.int_type("unsigned long", 8, False)
                self._pt_regs = self.prog.struct_type(
                    "pt_regs", 8 * len(_PT_REGS),
                    [drgn.TypeMember(u64, name, 64 * i) for i, name in enumerate(_PT_REGS)])
            regs = dict.fromkeys(_PT_REGS, 0)
            regs["ip"] = address
            frame = self.prog.stack_trace(drgn.Object(self.prog, self._pt_regs, value=regs))[0]
            file, line, _column = frame.source()
            return file, line
        except (LookupError, ValueError, drgn.FaultError, TypeError, IndexError):
            return None, None


def heap(prog: drgn.Program) -> dmem_heap.Heap:
    """Get the dmem heap of a program.

    :param prog: a core dump or live process run under libdmem.so.
    :return: the :class:`dmem_heap.Heap`, whose methods give every report.
    :raises DmemError: if the program has no dmem runtime or an unknown
        format version.
    """
    return dmem_heap.Heap(_DrgnTarget(prog))


def for_each_block(prog: drgn.Program) -> Iterator[Block]:
    """Iterate over every live block, shard by shard, newest first.

    :param prog: a core dump or live process run under libdmem.so.
    :return: an iterator of :class:`Block` (header, user, size, thread, tid,
        pcs).
    :raises ValidationError: at the first corrupted or cyclic list, naming
        the shard and the bad block.
    """
    return heap(prog).for_each_block()


def stacks(prog: drgn.Program, limit: Optional[int] = None) -> Dict[str, Any]:
    """Live blocks grouped by allocation stack, most bytes first.

    :param prog: a core dump or live process run under libdmem.so.
    :param limit: keep only this many groups.
    :return: ``{"summary": {...}, "groups": [...], "walk_errors": [...]}`` as in
        ``dmem stacks --format=json``.
    """
    return heap(prog).stacks(limit)


def leaks(prog: drgn.Program, limit: Optional[int] = None) -> Dict[str, Any]:
    """Direct and indirect leaks by reachability, grouped by stack.

    :param prog: a core dump or live process run under libdmem.so.
    :param limit: keep only this many groups.
    :return: ``{"summary": {...}, "groups": [...], "walk_errors": [...]}`` as in
        ``dmem leaks --format=json``.
    """
    return heap(prog).leaks(limit)


def stats(prog: drgn.Program) -> Dict[str, Any]:
    """Heap totals, bytes per thread and a size histogram.

    :param prog: a core dump or live process run under libdmem.so.
    :return: the ``dmem stats --format=json`` report.
    """
    return heap(prog).stats()


def mallinfo(prog: drgn.Program) -> Dict[str, Any]:
    """What mallinfo() reports, which int fields overflow, the logged calls.

    :param prog: a core dump or live process run under libdmem.so.
    :return: the ``dmem mallinfo --format=json`` report.
    """
    return heap(prog).mallinfo()


def verify(prog: drgn.Program) -> Dict[str, Any]:
    """Check every header's magic, every list link and every shard counter.

    :param prog: a core dump or live process run under libdmem.so.
    :return: ``{"ok": bool, "errors": [...], "blocks_checked": int}``.
    """
    return heap(prog).verify()


_USAGE = ("usage: drgn (-c CORE | -p PID) dmem.py "
          "stacks|leaks|stats|mallinfo|verify|blocks [--json] [--limit N]")


def _main(prog: drgn.Program, argv: List[str]) -> int:
    """Run one subcommand as a script; return the exit status (0 analysed,
    2 cannot analyse, 64 usage error)."""
    if not argv or argv[0] in ("-h", "--help"):
        sys.stdout.write(_USAGE + "\n") if argv else sys.stderr.write(_USAGE + "\n")
        return 0 if argv else 64
    command, rest = argv[0], argv[1:]
    if command not in dmem_heap.COMMANDS + ("blocks",):
        sys.stderr.write("dmem.py: unknown subcommand '%s' (%s)\n" % (command, _USAGE))
        return 64
    as_json = False
    limit = None
    i = 0
    while i < len(rest):
        a = rest[i]
        if a == "--json":
            as_json = True
        elif a == "--limit" and i + 1 < len(rest) and rest[i + 1].isdigit():
            i += 1
            limit = int(rest[i])
        else:
            sys.stderr.write("dmem.py: bad argument '%s' (%s)\n" % (a, _USAGE))
            return 64
        i += 1
    target = None
    try:
        target = _DrgnTarget(prog, hold=True)
        h = dmem_heap.Heap(target)
        if command == "blocks":
            for text in dmem_heap.format_blocks(h, limit):
                sys.stdout.write(text)
            r = {"walk_errors": [dmem_heap.error_json(e) for e in h.walk()[1]]}
        else:
            r = dmem_heap.report(h, command, limit)
            sys.stdout.write(dmem_heap.render(command, r, as_json))
    except DmemError as e:
        sys.stderr.write("dmem.py: %s\n" % e)
        return 2
    except (drgn.FaultError, OSError, ValueError, LookupError) as e:
        # Whatever else an untrusted core makes drgn raise: one line too.
        sys.stderr.write("dmem.py: cannot analyse the target: %s\n" % e)
        return 2
    finally:
        if target is not None:
            target.close()
    for line in dmem_heap.warnings(r):
        sys.stderr.write(line + "\n")
    return 0


if __name__ == "__main__" and "prog" in globals():
    sys.stdout.flush()
    sys.exit(_main(globals()["prog"], sys.argv[1:]))
