"""drgn script for the reader tests: the shared module on corrupted heaps.

usage: drgn -c CORE readers-fuzz.py DRGN_DIR ITERATIONS SEED
Each iteration overwrites a few random header fields, shard heads, counters
or descriptor words (in what the reader is given, not in the core) with
random values, pointers to other headers or to themselves, then runs every
report and the block iterator.  Anything but a clean report, a DmemError or
a ValidationError is a failure: the script prints it and exits 1.
"""
import random
import sys
import traceback

sys.path.insert(0, sys.argv[1])
import dmem  # noqa: E402
import dmem_heap  # noqa: E402


class _Corrupted(dmem._DrgnTarget):
    """The core as drgn reads it, with ``patches`` (address -> bytes)
    written over whatever is read."""

    def __init__(self, prog, patches):
        super().__init__(prog)
        self.patches = patches

    # What drgn read, unpatched, shared by all iterations (they differ
    # only in their patches).
    _read = {}

    def read_raw(self, address, size):
        """What drgn reads at ``address``, with the patches written over."""
        raw = self._read.get((address, size))
        if raw is None:
            raw = self._read[(address, size)] = super().read_raw(address, size)
        data = bytearray(raw)
        for at, value in self.patches.items():
            lo = max(at, address)
            hi = min(at + len(value), address + size)
            if lo < hi:
                data[lo - address:hi - address] = value[lo - at:hi - at]
        return bytes(data)


def main():
    """Run the iterations; exit 0 when every one ended cleanly."""
    iterations, seed = int(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(seed)
    clean = dmem_heap.Heap(dmem._DrgnTarget(prog))  # noqa: F821
    blocks, _ = clean.walk()
    headers = [b.header for b in blocks]
    d = clean.d
    shard_heads = [d[dmem_heap.D_SHARDS] + i * d[dmem_heap.D_SHARD_SIZE]
                   for i in range(d[dmem_heap.D_SHARD_COUNT])]
    outcomes = {}
    for n in range(iterations):
        patches = {}
        for _ in range(rng.randint(1, 4)):
            what = rng.random()
            if what < 0.6 and headers:
                at = rng.choice(headers) + 8 * rng.randrange(clean.header_size // 8)
            elif what < 0.85:
                at = rng.choice(shard_heads) + 8 * rng.randrange(5)
            else:
                at = clean.address + 8 * rng.randrange(dmem_heap.D_COUNT)
            value = rng.choice([0, 1, rng.getrandbits(64), rng.getrandbits(16),
                                rng.choice(headers or [0]), at, 1 << 63,
                                rng.choice(headers or [0]) + clean.header_size])
            patches[at] = value.to_bytes(8, "little")
        try:
            heap = dmem_heap.Heap(_Corrupted(prog, patches))  # noqa: F821
            for command in dmem_heap.COMMANDS:
                r = dmem_heap.report(heap, command)
                dmem_heap.render(command, r, n % 2 == 0)
            try:
                for _block in heap.for_each_block():
                    pass
                outcome = "clean"
            except dmem_heap.ValidationError:
                outcome = "validation error"
        except dmem_heap.DmemError:
            outcome = "refused"
        except Exception:
            print("iteration %d (seed %d) with patches %s failed:" % (
                n, seed, {hex(a): v.hex() for a, v in patches.items()}))
            traceback.print_exc(file=sys.stdout)
            sys.exit(1)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    print("%d iterations: %s" % (iterations, ", ".join(
        "%d %s" % (v, k) for k, v in sorted(outcomes.items()))))


main()
