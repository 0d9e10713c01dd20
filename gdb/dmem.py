"""dmem's gdb commands: show_alloc_stacks and dmem stacks|leaks|stats|mallinfo|verify.

Load with `source PREFIX/share/dmem/gdb/dmem.py` (gdb also auto-loads it with
libdmem.so when its auto-load safe-path allows).  The logic lives in the
shared module python/dmem_heap.py; this file only adapts gdb to it.
"""

import os
import re
import sys

import gdb

_PYTHON_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python")
if _PYTHON_DIR not in sys.path:
    sys.path.insert(0, _PYTHON_DIR)

import dmem_heap  # noqa: E402


def _core_file():
    """Path of the core file gdb is reading, or None for a live process."""
    text = gdb.execute("info target", to_string=True)
    m = re.search(r"Local core dump file:\s*\n\s*`(.*)', file type", text)
    if m:
        return m.group(1)
    if "core dump file" in text:
        return dmem_heap.core_file_of_process()
    return None


class _GdbTarget(dmem_heap.Target):
    """The selected inferior (a core or a live process) seen through gdb."""

    def __init__(self):
        super().__init__()
        self.inferior = gdb.selected_inferior()
        if self.inferior.pid == 0 and not self.inferior.threads():
            raise gdb.GdbError("No process or core file to read; run, attach or load a core first.")
        self.core = _core_file()
        self._facts = None
        self._maps = None
        self._threads = None

    def read_raw(self, address, size):
        """Bulk read through gdb (core, executable files, or live memory)."""
        return self.inferior.read_memory(address, size).tobytes()

    def descriptor_address(self):
        """Address of dmem_descriptor from gdb's minimal symbols."""
        try:
            return int(gdb.parse_and_eval("(unsigned long) &'%s'" % dmem_heap.DESCRIPTOR_SYMBOL))
        except gdb.error:
            return None

    def _core_facts(self):
        """Threads and mappings of the core, read once from its ELF notes."""
        if self._facts is None:
            self._facts = dmem_heap.read_core(self.core)
        return self._facts

    def mappings(self):
        """The core's segments, or /proc/PID/maps of the live process."""
        if self._maps is None:
            if self.core:
                self._maps = self._core_facts().mappings
            else:
                self._maps = dmem_heap.live_mappings(self.inferior.pid)
        return self._maps

    def threads(self):
        """Registers of every thread: NT_PRSTATUS for cores, gdb's live
        registers (frame 0 of each thread) for processes."""
        if self._threads is not None:
            return self._threads
        if self.core:
            self._threads = self._core_facts().threads
            return self._threads
        out = []
        selected = gdb.selected_thread()
        try:
            for th in self.inferior.threads():
                th.switch()
                frame = gdb.newest_frame()
                regs = []
                for name in dmem_heap.USER_REGS:
                    try:
                        regs.append(int(frame.read_register(name)) & (2 ** 64 - 1))
                    except (gdb.error, ValueError):
                        regs.append(0)
                out.append(dmem_heap.ThreadInfo(th.ptid[1], tuple(regs), regs[19], regs[21]))
        finally:
            if selected is not None and selected.is_valid():
                selected.switch()
        self._threads = out
        return out

    def glibc_layout(self):
        """main_arena, mp_ and the malloc_state / malloc_par members that
        mallinfo2 sums, from libc's debug info through gdb's types."""
        try:
            main_arena = int(gdb.parse_and_eval("(unsigned long) &main_arena"))
            mp = int(gdb.parse_and_eval("(unsigned long) &mp_"))
            state = {f.name: f for f in gdb.lookup_type("struct malloc_state").fields()}
            par = {f.name: f for f in gdb.lookup_type("struct malloc_par").fields()}
            return dmem_heap.GlibcLayout(
                main_arena, mp,
                state["fastbinsY"].bitpos // 8, state["fastbinsY"].type.sizeof // 8,
                state["top"].bitpos // 8,
                state["bins"].bitpos // 8, state["bins"].type.sizeof // 8,
                state["next"].bitpos // 8, state["system_mem"].bitpos // 8,
                par["n_mmaps"].bitpos // 8, par["n_mmaps"].type.sizeof,
                par["mmapped_mem"].bitpos // 8)
        except (gdb.error, KeyError, RuntimeError):
            return None

    def symbolize_raw(self, pc):
        """Function and offset from gdb's blocks (or its minimal symbols),
        file:line of pc - 1 from its line tables."""
        function = offset = None
        try:
            block = gdb.block_for_pc(pc)
        except RuntimeError:
            block = None
        outer = None
        while block is not None and not block.is_global and not block.is_static:
            if block.function is not None:
                outer = block
            block = block.superblock
        if outer is not None:
            # The entry point, not the block's lowest address: a function
            # split into hot and cold parts starts at its entry.
            entry = outer.function.value().address
            entry = int(entry) if entry is not None else outer.start
            if entry <= pc:
                function = outer.function.name
                offset = pc - entry
        if function is None:
            text = gdb.execute("info symbol 0x%x" % pc, to_string=True)
            m = re.match(r"(\S+)(?: \+ (\d+))? in section", text)
            if m:
                function = m.group(1)
                offset = int(m.group(2) or 0)
        file = line = None
        sal = gdb.find_pc_line(pc - 1)
        if sal.symtab is not None and sal.line:
            file = sal.symtab.filename
            line = sal.line
        return function, offset, file, line


def _heap():
    """The dmem heap of the selected inferior, or a one-line gdb.GdbError."""
    try:
        return dmem_heap.Heap(_GdbTarget())
    except dmem_heap.DmemError as e:
        raise gdb.GdbError("dmem: %s." % e)
    except gdb.MemoryError as e:
        raise gdb.GdbError("dmem: cannot read the target's memory: %s." % e)


def _parse(arg, flags, usage):
    """(flags given, limit) from a command's argument string; one-line
    gdb.GdbError on anything else."""
    try:
        argv = gdb.string_to_argv(arg)
    except Exception:
        raise gdb.GdbError("Cannot parse the arguments. Usage: %s" % usage)
    given = set()
    limit = None
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--limit" or a.startswith("--limit="):
            if "--limit" not in flags:
                raise gdb.GdbError("Unknown argument '%s'. Usage: %s" % (a, usage))
            if a == "--limit":
                i += 1
                if i == len(argv):
                    raise gdb.GdbError("--limit needs a number. Usage: %s" % usage)
                value = argv[i]
            else:
                value = a.split("=", 1)[1]
            if not value.isdigit():
                raise gdb.GdbError("--limit needs a number, not '%s'." % value)
            limit = int(value)
        elif a in flags:
            given.add(a)
        else:
            raise gdb.GdbError("Unknown argument '%s'. Usage: %s" % (a, usage))
        i += 1
    return given, limit


def _emit(text):
    """Write report text to gdb's stdout."""
    gdb.write(text)


def _warn(lines):
    """Write warning lines to gdb's stderr."""
    for line in lines:
        gdb.write(line + "\n", gdb.STDERR)


class _ShowAllocStacks(gdb.Command):
    """Show every live heap block with its allocating thread and stack.

Usage: show_alloc_stacks [--grouped] [--limit N]

Lists each block tracked by the dmem runtime (libdmem.so) in the core or
process: its user address, its size, the thread that allocated it (pthread_t
and LWP) and the allocation stack as function+offset (file:line).

--grouped
  Group the blocks by allocation stack, most bytes first, like `dmem stacks'.

--limit N
  Show at most N blocks (or N groups with --grouped)."""

    _USAGE = "show_alloc_stacks [--grouped] [--limit N]"

    def __init__(self):
        super().__init__("show_alloc_stacks", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        """Print every block, or the groups, of the selected inferior."""
        given, limit = _parse(arg, ("--grouped", "--limit"), self._USAGE)
        heap = _heap()
        try:
            if "--grouped" in given:
                r = heap.stacks(limit)
                _emit(dmem_heap.format_groups(r))
            else:
                for text in dmem_heap.format_blocks(heap, limit):
                    _emit(text)
                r = {"walk_errors": [dmem_heap.error_json(e) for e in heap.walk()[1]]}
        except dmem_heap.DmemError as e:
            raise gdb.GdbError("dmem: %s." % e)
        _warn(dmem_heap.warnings(r))


class _Dmem(gdb.Command):
    """Analyse the heap of a program run under the dmem runtime.

Usage: dmem stacks|leaks|stats|mallinfo|verify [--json]

Reads the block headers that libdmem.so keeps in the core or live process.
Run `help dmem SUBCOMMAND' for each subcommand."""

    def __init__(self):
        super().__init__("dmem", gdb.COMMAND_DATA, prefix=True)

    def invoke(self, arg, from_tty):
        """`dmem' alone or with an unknown subcommand: a one-line error."""
        if arg.strip():
            raise gdb.GdbError("Unknown dmem subcommand '%s'. Usage: dmem "
                               "stacks|leaks|stats|mallinfo|verify [--json]" % arg.split()[0])
        raise gdb.GdbError("dmem needs a subcommand: stacks, leaks, stats, mallinfo or verify.")


class _DmemSubcommand(gdb.Command):
    """Base of the dmem subcommands: parse, build the report, print it."""

    command = None
    flags = ("--json",)

    def __init__(self):
        super().__init__("dmem " + self.command, gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        """Parse the flags, build the subcommand's report and print it."""
        usage = "dmem %s %s" % (self.command, " ".join(
            "[--limit N]" if f == "--limit" else "[%s]" % f for f in self.flags))
        given, limit = _parse(arg, self.flags, usage)
        heap = _heap()
        try:
            r = dmem_heap.report(heap, self.command, limit)
        except dmem_heap.DmemError as e:
            raise gdb.GdbError("dmem: %s." % e)
        _emit(dmem_heap.render(self.command, r, "--json" in given))
        _warn(dmem_heap.warnings(r))


class _DmemStacks(_DmemSubcommand):
    """Show live heap blocks grouped by allocation stack, most bytes first.

Usage: dmem stacks [--json] [--limit N]

--json
  Print the report as JSON ({"summary": ..., "groups": [...]}).

--limit N
  Show only the N groups with the most bytes."""

    command = "stacks"
    flags = ("--json", "--limit")


class _DmemLeaks(_DmemSubcommand):
    """Show leaked heap blocks (unreachable from any root), grouped by stack.

Usage: dmem leaks [--json] [--limit N]

Roots are every thread's registers, stack and TLS and the writable data of
every loaded module; blocks the dynamic linker allocated count as reachable.
A leak pointed to only by other leaks is an indirect leak.  Direct leaks are
listed first, then indirect ones, each most bytes first.

--json
  Print the report as JSON ({"summary": ..., "groups": [...]}).

--limit N
  Show only the first N groups."""

    command = "leaks"
    flags = ("--json", "--limit")


class _DmemStats(_DmemSubcommand):
    """Show heap totals, bytes per thread and a size histogram.

Usage: dmem stats [--json]

--json
  Print the report as JSON."""

    command = "stats"


class _DmemMallinfo(_DmemSubcommand):
    """Show what mallinfo() reports, which int fields overflow, and the logged calls.

Usage: dmem mallinfo [--json]

--json
  Print the report as JSON ({"fields": ..., "overflow": [...], "calls": [...]})."""

    command = "mallinfo"


class _DmemVerify(_DmemSubcommand):
    """Check every block's header magic, list links and guard bytes.

Usage: dmem verify [--json]

--json
  Print the report as JSON ({"ok": ..., "errors": [...]})."""

    command = "verify"


_ShowAllocStacks()
_Dmem()
_DmemStacks()
_DmemLeaks()
_DmemStats()
_DmemMallinfo()
_DmemVerify()
