"""dmem's gdb commands: show_alloc_stacks and dmem SUBCOMMAND (`help dmem' lists them).

Load with `source PREFIX/share/dmem/gdb/dmem.py` (gdb also auto-loads it with
libdmem.so when its auto-load safe-path allows).  Every report comes from the
dmem engine (libdmem-engine.so), the same code as the dmem command: this file
only says where the target is, parses gdb's arguments and prints.
"""

import os
import re
import sys

import gdb

_PYTHON_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python")
if _PYTHON_DIR not in sys.path:
    sys.path.insert(0, _PYTHON_DIR)

import dmem_engine  # noqa: E402

SUBCOMMANDS = ("stacks", "leaks", "stats", "mallinfo", "verify", "explain", "diff",
               "report", "symbolize")


def _core_file():
    """Path of the core file gdb is reading, or None for a live process."""
    text = gdb.execute("info target", to_string=True)
    m = re.search(r"Local core dump file:\s*\n\s*`(.*)', file type", text)
    if m:
        return m.group(1)
    if "core dump file" in text:
        return dmem_engine.core_file_of_process()
    return None


def _lookup_settings():
    """gdb's `set sysroot' and `debug-file-directory', for the engine."""
    sysroot = gdb.parameter("sysroot") or ""
    if sysroot.startswith("target:"):
        sysroot = sysroot[len("target:"):]
    return sysroot or None, gdb.parameter("debug-file-directory") or None


def _thread_registers(inferior):
    """(tid, registers) of every thread of the live inferior, from gdb's
    frame 0 of each (gdb holds them stopped)."""
    out = []
    selected = gdb.selected_thread()
    try:
        for th in inferior.threads():
            th.switch()
            frame = gdb.newest_frame()
            regs = []
            for name in dmem_engine.USER_REGS:
                try:
                    regs.append(int(frame.read_register(name)))
                except (gdb.error, ValueError):
                    regs.append(0)
            out.append((th.ptid[1], regs))
    finally:
        if selected is not None and selected.is_valid():
            selected.switch()
    return out


def _open():
    """An engine on gdb's selected inferior: the core file (the engine reads
    it itself) or the live process, read through gdb."""
    inferior = gdb.selected_inferior()
    if inferior.pid == 0 and not inferior.threads():
        raise gdb.GdbError("No process or core file to read; run, attach or load a core first.")
    sysroot, debug_dirs = _lookup_settings()
    core = _core_file()
    engine = dmem_engine.Engine()
    try:
        if core is not None:
            return engine.open_core(core, gdb.current_progspace().filename, sysroot, debug_dirs)

        def read(address, size):
            return inferior.read_memory(address, size).tobytes()

        return engine.open_source(inferior.pid, read, _thread_registers(inferior),
                                  sysroot, debug_dirs)
    except dmem_engine.DmemError as e:
        raise gdb.GdbError("dmem: %s." % e)


def _run(words):
    """Run the engine's report WORDS on the selected inferior and print it;
    what it could not do becomes a one-line gdb.GdbError."""
    engine = _open()
    try:
        status, out, messages = engine.command(words)
    finally:
        engine.close()
    gdb.write(out)
    lines = messages.splitlines()
    # Any status but these says the report found something (verify: 1,
    # leaks --error-exitcode=N: N); it becomes gdb's error, after the report.
    found = status not in (dmem_engine.OK, dmem_engine.USAGE, dmem_engine.BAD_INPUT)
    # The engine's own last line says what went wrong or what it found
    # ("dmem: leaks found 2 direct leaks.").
    said = lines and (not found or lines[-1].startswith("dmem: %s found " % words[0]))
    if status != dmem_engine.OK and said:
        for line in lines[:-1]:
            gdb.write(line + "\n", gdb.STDERR)
        raise gdb.GdbError(lines[-1])
    for line in lines:
        gdb.write(line + "\n", gdb.STDERR)
    if found and words[0] == "verify":
        raise gdb.GdbError("dmem: %s found heap errors." % words[0])
    if found:
        raise gdb.GdbError("dmem: %s found something (status %d)." % (words[0], status))


def _argv(arg):
    """gdb's argument string as words."""
    try:
        return gdb.string_to_argv(arg)
    except Exception:
        raise gdb.GdbError("Cannot parse the arguments '%s'." % arg)


class _ShowAllocStacks(gdb.Command):
    """Show every live heap block with its allocating thread and stack.

Usage: show_alloc_stacks [--grouped] [--limit N]

Lists each block tracked by the dmem runtime (libdmem.so) in the core or
process, in address order: its size, address, the thread that allocated it
and the allocation stack as function+offset (file:line) [module]; the same
as `dmem stacks --all'.

--grouped
  Group the blocks by allocation stack, most bytes first, like `dmem stacks'.

--limit N
  Show at most N blocks (or N groups with --grouped)."""

    def __init__(self):
        super().__init__("show_alloc_stacks", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        """Print every block, or the groups, of the selected inferior."""
        argv = _argv(arg)
        if "--grouped" in argv:
            argv.remove("--grouped")
        else:
            argv.insert(0, "--all")
        _run(["stacks"] + argv)


class _Dmem(gdb.Command):
    """Analyse the heap of a program run under the dmem runtime.

Usage: dmem stacks|leaks|stats|mallinfo|verify|explain|diff|report|symbolize [OPTIONS]

Reads the block headers that libdmem.so keeps in the core or live process,
with the same engine and in the same words as the dmem command.  Run
`help dmem SUBCOMMAND' for each subcommand."""

    def __init__(self):
        super().__init__("dmem", gdb.COMMAND_DATA, prefix=True)

    def invoke(self, arg, from_tty):
        """`dmem' alone or with an unknown subcommand: a one-line error."""
        if arg.strip():
            raise gdb.GdbError("Unknown dmem subcommand '%s'. Usage: dmem %s [OPTIONS]"
                               % (arg.split()[0], "|".join(SUBCOMMANDS)))
        raise gdb.GdbError("dmem needs a subcommand: %s." % ", ".join(SUBCOMMANDS))


def _subcommand(name):
    """A gdb command `dmem NAME' whose help is the engine's."""

    def invoke(self, arg, from_tty):
        _run([name] + _argv(arg))

    cls = type("_Dmem" + name.capitalize(), (gdb.Command,), {
        "__doc__": dmem_engine.help_text(name).rstrip(),
        "__init__": lambda self: gdb.Command.__init__(self, "dmem " + name, gdb.COMMAND_DATA),
        "invoke": invoke,
    })
    return cls()


_ShowAllocStacks()
_Dmem()
for _name in SUBCOMMANDS:
    _subcommand(_name)
