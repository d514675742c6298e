"""The readers' fuzzer (tests/fuzz.py) with a larger budget than the suite's, and figures.

Every mutant is read in a forked process of its own under an address-space limit and a
timeout; the script prints, per reader, how many mutants were read cleanly, quarantined
(some of their records), empty, or failed (raised, out of memory, out of time, died),
the slowest read and the largest child's peak RSS, and each distinct failure with the
(reader, seed, index) that reproduces it (`tests.fuzz.write_mutant`). Exit status 1 when
anything failed.

    .venv/bin/python bench/fuzz_readers.py                     # 2,000 mutants per reader
    .venv/bin/python bench/fuzz_readers.py --mutants 300 --seed 3 --readers ics
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests import fuzz  # noqa: E402

KINDS = ("read", "quarantined", "empty", "raised", "memory", "timeout", "died")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mutants", type=int, default=2000, help="per reader (default 2000)")
    parser.add_argument("--seed", type=int, default=1, help="default 1")
    parser.add_argument("--readers", nargs="+", default=list(fuzz.READERS),
                        choices=list(fuzz.READERS))
    parser.add_argument("--timeout", type=float, default=fuzz.TIMEOUT_S,
                        help=f"seconds per mutant (default {fuzz.TIMEOUT_S:g})")
    parser.add_argument("--memory-mb", type=int, default=fuzz.MEMORY_MB,
                        help=f"address space a read may add (default {fuzz.MEMORY_MB})")
    args = parser.parse_args(argv)

    print(f"seed {args.seed}, {args.mutants:,} mutants per reader, at most {fuzz.MAX_EDITS} "
          f"edits each, {args.timeout:g} s and +{args.memory_mb} MiB per mutant; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    header = f"{'reader':<8} " + " ".join(f"{k:>11}" for k in KINDS)
    print(header + f" {'ms/mutant':>10} {'slowest s':>10}")
    failed = 0
    with tempfile.TemporaryDirectory(prefix="keepwarm-fuzz-") as workdir:
        for name in args.readers:
            started = time.perf_counter()
            outcomes = fuzz.fuzz([name], args.seed, args.mutants, Path(workdir),
                                 args.timeout, args.memory_mb)
            seconds = time.perf_counter() - started
            kinds = Counter(o.kind for o in outcomes)
            slowest = max(o.seconds for o in outcomes)
            print(f"{name:<8} " + " ".join(f"{kinds[k]:>11,}" for k in KINDS)
                  + f" {seconds / len(outcomes) * 1000:>10.1f} {slowest:>10.2f}")
            seen: set[tuple[str, str]] = set()
            for outcome in fuzz.failures(outcomes):
                failed += 1
                last = outcome.detail.strip().splitlines()[-1] if outcome.detail else ""
                if (outcome.status, last) in seen:
                    continue
                seen.add((outcome.status, last))
                print(f"  FAIL {name} seed {args.seed} index {outcome.index}: "
                      f"{outcome.status}: {last}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"largest child's peak RSS {peak:.0f} MiB; {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
