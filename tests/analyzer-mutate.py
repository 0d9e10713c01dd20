"""Damaged copies of a real core for the analyzer's bad-input and fuzz tests.

Usage: analyzer-mutate.py corrupt CORE ALL_JSON OUT KIND SIZE
         KIND magic|next-self|next-wild|guard of the block of SIZE bytes
       analyzer-mutate.py fuzz CORE ALL_JSON DMEM COUNT SEED
         run DMEM on COUNT mutated cores, each under timeout; fail unless
         every run exits 0 or 2 (verify: 0, 1 or 2)
ALL_JSON is `dmem stacks --all --format=json CORE` (block addresses)."""
import json
import os
import random
import struct
import subprocess
import sys

HEADER = 48        # struct dmem_block, include/dmem/format.h
OFF_NEXT, OFF_PREV, OFF_SIZE, OFF_STACK, OFF_MAGIC = 0, 8, 16, 28, 40
PENDING_MAGIC = 0x47444e45504d454d   # "MEMPENDG": freed, still on its list


def segments(data):
    """PT_LOAD segments of an ELF64 core: (vaddr, offset, filesz, flags)."""
    phoff, = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    out = []
    for i in range(phnum):
        p_type, p_flags, p_offset, p_vaddr, _, p_filesz = struct.unpack_from(
            "<IIQQQQ", data, phoff + i * phentsize)
        if p_type == 1:
            out.append((p_vaddr, p_offset, p_filesz, p_flags))
    return out


def file_offset(segs, vaddr):
    for start, off, size, _ in segs:
        if start <= vaddr < start + size:
            return off + vaddr - start
    return None


def headers(all_json):
    """(header file address, size) of every live block."""
    groups = json.load(open(all_json))["groups"]
    return [(int(g["address"], 16) - HEADER, g["bytes"]) for g in groups]


def pending_headers(data, segs):
    """(header file address, size) of every pending block (format 3): the
    freed blocks that wait on their lists, which stacks --all leaves out."""
    out = []
    for start, off, size, flags in segs:
        if not flags & 2:      # PF_W
            continue
        for o in range(off + OFF_MAGIC, off + size - 7, 16):
            h = start + o - off - OFF_MAGIC
            if struct.unpack_from("<Q", data, o)[0] == PENDING_MAGIC ^ h:
                out.append((h, struct.unpack_from("<Q", data, o - OFF_MAGIC + OFF_SIZE)[0]))
    return out


def link_words(data, segs, hdrs):
    """File offsets of aligned words holding a header address: shard heads
    and list links."""
    want = {h for h, _ in hdrs}
    out = []
    for start, off, size, flags in segs:
        if not flags & 2:      # PF_W
            continue
        for o in range(off, off + size - 7, 8):
            if struct.unpack_from("<Q", data, o)[0] in want:
                out.append(o)
    return out


def corrupt(core, all_json, out, kind, size):
    data = bytearray(open(core, "rb").read())
    segs = segments(data)
    h = [a for a, s in headers(all_json) if s == int(size)][0]
    if kind == "magic":
        o = file_offset(segs, h + OFF_MAGIC)
        data[o] ^= 0xff
    elif kind == "next-self":
        struct.pack_into("<Q", data, file_offset(segs, h + OFF_NEXT), h)
    elif kind == "next-wild":
        struct.pack_into("<Q", data, file_offset(segs, h + OFF_NEXT), 0x10)
    elif kind == "guard":      # the first byte after the user bytes
        data[file_offset(segs, h + HEADER + int(size))] ^= 0xff
    open(out, "wb").write(data)


def mutate(rng, data, segs, hdrs, links):
    """One random damage to a copy of DATA, aimed at what the walk reads."""
    d = bytearray(data)
    what = rng.randrange(7)
    special = [0, 1, 0x10, 2**64 - 1, 2**63, rng.getrandbits(64)]
    if what == 0:     # a byte of a block header
        h = rng.choice(hdrs)[0]
        o = file_offset(segs, h + rng.randrange(HEADER))
        if o is not None:
            d[o] = rng.randrange(256)
    elif what == 1:   # a field of a block header
        h = rng.choice(hdrs)[0]
        f = rng.choice([OFF_NEXT, OFF_PREV, OFF_SIZE, 24, 32, OFF_MAGIC])
        o = file_offset(segs, h + f)
        v = rng.choice(special + [h, rng.choice(hdrs)[0]])
        if o is not None:
            struct.pack_into("<Q", d, o, v)
    elif what == 2 and links:   # a shard head or list link
        o = rng.choice(links)
        v = rng.choice(special + [rng.choice(hdrs)[0] + rng.choice([0, 8, 64])])
        struct.pack_into("<Q", d, o, v)
    elif what == 3:   # truncated
        d = d[:rng.randrange(len(d))]
    elif what == 5:   # a block's stack id (u32), in or out of the depot
        h = rng.choice(hdrs)[0]
        o = file_offset(segs, h + OFF_STACK)
        if o is not None:
            struct.pack_into("<I", d, o, rng.choice([0, 1, 2, 2**14, 2**24, 2**32 - 1,
                                                     rng.getrandbits(32)]))
    elif what == 4:   # ELF header, program headers, notes
        for _ in range(rng.randrange(1, 8)):
            d[rng.randrange(min(len(d), 16384))] = rng.randrange(256)
    else:             # anywhere
        for _ in range(rng.randrange(1, 64)):
            d[rng.randrange(len(d))] = rng.randrange(256)
    return d


def fuzz(core, all_json, dmem, count, seed):
    rng = random.Random(int(seed))
    data = open(core, "rb").read()
    segs = segments(data)
    hdrs = headers(all_json) + pending_headers(data, segs)
    links = link_words(data, segs, hdrs)
    cmds = ["leaks", "verify", "stacks", "stats", "mallinfo"]
    path = "fuzz.core"
    bad = 0
    for i in range(int(count)):
        open(path, "wb").write(mutate(rng, data, segs, hdrs, links))
        cmd = cmds[i % len(cmds)]
        r = subprocess.run(["timeout", "-s", "KILL", "30", dmem, cmd,
                            "--format=json", path],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        err = r.stderr.decode(errors="replace").splitlines()
        # verify says "found heap errors" with 1.
        ok = r.returncode in ((0, 1, 2) if cmd == "verify" else (0, 2))
        if r.returncode == 2:
            ok = len([l for l in err if not l.startswith("dmem: warning")]) == 1
        if not ok:
            bad += 1
            keep = "fuzz-fail-%d.core" % i
            os.rename(path, keep)
            print("run %d (%s): exit %d, stderr %r; core kept as %s"
                  % (i, cmd, r.returncode, err[-3:], keep))
    return bad


if __name__ == "__main__":
    if sys.argv[1] == "corrupt":
        corrupt(*sys.argv[2:7])
    elif sys.argv[1] == "fuzz":
        sys.exit(1 if fuzz(*sys.argv[2:7]) else 0)
    else:
        sys.exit(__doc__)
