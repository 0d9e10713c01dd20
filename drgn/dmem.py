"""dmem's drgn script and helpers: the dmem runtime's heap in a core or live process.

As a script (the same subcommands and options as the dmem command)::

    drgn -c CORE PREFIX/share/dmem/drgn/dmem.py stacks|leaks|stats|mallinfo|verify [OPTIONS]
    drgn -p PID  PREFIX/share/dmem/drgn/dmem.py leaks --format=json
    drgn -c CORE PREFIX/share/dmem/drgn/dmem.py report -o report.html

In an interactive drgn session::

    >>> import sys; sys.path.insert(0, "PREFIX/share/dmem/drgn")
    >>> from dmem import *
    >>> for block in for_each_block(prog): ...
    >>> leaks(prog)["summary"]

Every report comes from the dmem engine (libdmem-engine.so), the same code as
the dmem command; this file says where drgn's target is and adapts it.
"""

import json
import os
import sys
from typing import Any, Dict, Iterator, List, Optional, Sequence

import drgn

_PYTHON_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python")
if _PYTHON_DIR not in sys.path:
    sys.path.insert(0, _PYTHON_DIR)

import dmem_engine  # noqa: E402
from dmem_engine import Block, DmemError, Frame, ValidationError  # noqa: E402

__all__ = [
    "Block",
    "DmemError",
    "Frame",
    "ValidationError",
    "engine",
    "for_each_block",
    "frames",
    "leaks",
    "mallinfo",
    "stacks",
    "stats",
    "verify",
]

SUBCOMMANDS = ("stacks", "leaks", "stats", "mallinfo", "verify", "explain", "diff",
               "report", "symbolize")


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


def engine(prog: drgn.Program) -> dmem_engine.Engine:
    """Open the engine on drgn's program.

    :param prog: a core dump or live process run under libdmem.so.
    :return: an :class:`dmem_engine.Engine` on the same core file (read by
        the engine itself) or process (stopped only while it is read).
    :raises DmemError: if drgn's core or process cannot be found or read.
    """
    e = dmem_engine.Engine()
    if prog.flags & drgn.ProgramFlags.IS_LIVE:
        pid = _live_pid()
        if pid is None:
            raise DmemError("cannot find the process drgn is attached to")
        return e.open_pid(pid)
    core = dmem_engine.core_file_of_process()
    if core is None:
        raise DmemError("cannot find the core file drgn has open")
    return e.open_core(core)


def _report(prog: drgn.Program, words: Sequence[str]) -> Dict[str, Any]:
    """The JSON report of ``words`` as a dict; warnings go to stderr."""
    with engine(prog) as e:
        status, out, messages = e.command(list(words) + ["--format=json"])
    sys.stderr.write(messages)
    if status in (dmem_engine.BAD_INPUT, dmem_engine.USAGE):
        raise DmemError(messages.strip().splitlines()[-1] if messages.strip() else "failed")
    return json.loads(out)


def for_each_block(prog: drgn.Program) -> Iterator[Block]:
    """Iterate over every live block, in address order.

    :param prog: a core dump or live process run under libdmem.so.
    :return: an iterator of :class:`Block` (header, address, size, tid, pcs).
    :raises ValidationError: after the blocks that could be read, when a
        list was corrupted or cyclic, naming the shard and the bad block.
    """
    with engine(prog) as e:
        yield from e.blocks()


def frames(prog: drgn.Program, pcs: Sequence[int]) -> List[Frame]:
    """Symbolise a stack as the reports do.

    :param prog: the program whose modules hold the PCs.
    :param pcs: return addresses, innermost first (:attr:`Block.pcs`).
    :return: :class:`Frame` objects, inlined calls expanded.
    """
    with engine(prog) as e:
        return e.frames(pcs)


def stacks(prog: drgn.Program, limit: Optional[int] = None) -> Dict[str, Any]:
    """Live blocks grouped by allocation stack, most bytes first.

    :param prog: a core dump or live process run under libdmem.so.
    :param limit: keep only this many groups.
    :return: the ``dmem stacks --format=json`` report.
    """
    return _report(prog, ["stacks"] + ([] if limit is None else ["--limit", str(limit)]))


def leaks(prog: drgn.Program, limit: Optional[int] = None) -> Dict[str, Any]:
    """Direct, indirect and possible leaks by reachability, grouped by stack.

    :param prog: a core dump or live process run under libdmem.so.
    :param limit: keep only this many groups.
    :return: the ``dmem leaks --format=json`` report.
    """
    return _report(prog, ["leaks"] + ([] if limit is None else ["--limit", str(limit)]))


def stats(prog: drgn.Program) -> Dict[str, Any]:
    """Heap totals, bytes per thread and a size histogram.

    :param prog: a core dump or live process run under libdmem.so.
    :return: the ``dmem stats --format=json`` report.
    """
    return _report(prog, ["stats"])


def mallinfo(prog: drgn.Program) -> Dict[str, Any]:
    """What mallinfo() reports, which int fields overflow, the logged calls.

    :param prog: a core dump or live process run under libdmem.so.
    :return: the ``dmem mallinfo --format=json`` report.
    """
    return _report(prog, ["mallinfo"])


def verify(prog: drgn.Program) -> Dict[str, Any]:
    """Check every header's magic, every list link and guard, and the heap
    errors the runtime caught.

    :param prog: a core dump or live process run under libdmem.so.
    :return: the ``dmem verify --format=json`` report (``"ok"``, ``"errors"``).
    """
    return _report(prog, ["verify"])


_USAGE = ("usage: drgn (-c CORE | -p PID) dmem.py %s [OPTIONS]; "
          "dmem.py SUBCOMMAND --help" % "|".join(SUBCOMMANDS))


def _main(prog: drgn.Program, argv: List[str]) -> int:
    """Run one subcommand as a script; return dmem's exit status (0
    analysed, 1 verify found errors, N leaks --error-exitcode=N found direct
    leaks, 2 cannot analyse, 64 usage error)."""
    if not argv or argv[0] in ("-h", "--help"):
        (sys.stdout if argv else sys.stderr).write(_USAGE + "\n")
        return 0 if argv else 64
    if argv[0] not in SUBCOMMANDS:
        sys.stderr.write("dmem: unknown subcommand '%s' (%s)\n" % (argv[0], _USAGE))
        return 64
    try:
        with engine(prog) as e:
            status, out, messages = e.command(argv)
    except DmemError as e:
        sys.stderr.write("dmem: %s\n" % e)
        return 2
    sys.stdout.write(out)
    sys.stderr.write(messages)
    return status


if __name__ == "__main__" and "prog" in globals():
    sys.stdout.flush()
    sys.exit(_main(globals()["prog"], sys.argv[1:]))
