"""drgn script for the reader tests: the importable helpers in an interactive-style session.

usage: drgn -c CORE readers-iterate.py DRGN_DIR ok|BLOCK
Imports dmem from DRGN_DIR and iterates for_each_block(prog).  With "ok" the
walk must end cleanly; with a block address it must raise ValidationError
naming that block.  Prints one line and exits 0 when that holds.
"""
import sys

sys.path.insert(0, sys.argv[1])
import dmem  # noqa: E402

expect = sys.argv[2]
if dmem.__all__ != sorted(dmem.__all__):
    print("dmem.__all__ is not sorted")
    sys.exit(1)
count = 0
try:
    for block in dmem.for_each_block(prog):  # noqa: F821 (drgn's global)
        assert isinstance(block, dmem.Block)
        count += 1
except dmem.ValidationError as e:
    if expect != "ok" and expect in str(e):
        print("ValidationError after %d blocks: %s" % (count, e))
        sys.exit(0)
    print("unexpected ValidationError: %s" % e)
    sys.exit(1)
if expect != "ok":
    print("no ValidationError for %s after %d blocks" % (expect, count))
    sys.exit(1)
summary = dmem.leaks(prog)["summary"]  # noqa: F821
print("%d blocks, %d leaked" % (count, summary["leaked_blocks"]))
sys.exit(0 if count == summary["live_blocks"] else 1)
