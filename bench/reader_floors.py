"""How fast could an mbox header reader be, by each road issue 18 §2 allows?

The target is `read_mbox` at 20x the standard library (`mailbox` + compat32) on real
mail with small messages. This script measures, side by side on the untuned corpus
(`bench/corpora.py`), what the other roads cost *before* they do keepwarm's work, so a
reader built on them can only be slower than the figure shown:

* `raw scan`: the separators found in the mapped file and nothing else (bench_mbox.py's);
* `polars floor`: the header blocks cut out in Python (a find loop, as the raw scan, plus
  a slice each), decoded as Latin-1, then in Polars' string kernels the 15 headers
  `read_mbox` reads extracted by regex (folded lines included), the addresses of From,
  To and Cc picked out by a plain pattern (no display names, no groups, no RFC 2047) and
  Date parsed in its one usual format (837 of 3,546 fail and would need Python). No
  quarantine, no de-duplication, no records, no keys;
* `pyarrow floor`: the same blocks, then Arrow's compute kernels (RE2): the 15 headers
  extracted and Date parsed as above, the addresses not picked out at all;
* `fast-mail-parser floor` (only if it is importable: it is not a keepwarm dependency;
  `pip install --target /tmp/fmp fast-mail-parser`, then run this with
  `PYTHONPATH=/tmp/fmp`): the header blocks cut out as above, then the one maintained
  compiled mail parser on the package index (Rust, `parse_many(mode="metadata")`, one
  thread) and the fields read off its objects;
* `read_mbox` and `mailbox+compat32`, as bench_mbox.py times them.

    .venv/bin/python bench/reader_floors.py              # the untuned corpus
    .venv/bin/python bench/reader_floors.py --rounds 5 some.mbox

Each round times every reader once (interleaved, so a slow spell hits all alike); the
medians are printed with each one's speed-up over compat32 and the 20x budget.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_mbox import SMALL_MAIL_RATIO, run_compat32, run_ours, run_raw_scan
from bench.corpora import CorpusUnavailable, untuned_corpus

# The headers record_from_headers reads (connectors/takeout/message.py), Subject aside.
HEADERS = ("from", "sender", "to", "cc", "bcc", "date", "message-id", "in-reply-to",
           "references", "x-gm-thrid", "x-gmail-labels", "list-id", "precedence",
           "auto-submitted", "list-unsubscribe")
SEPARATOR = b"\nFrom "


def header_blocks(data: bytes) -> list[bytes]:
    """Each message's header block (after its From_ line, up to the blank line)."""
    blocks = []
    find = data.find
    start = find(b"\n") + 1 if data.startswith(b"From ") else 0
    size = len(data)
    while start < size:
        separator = find(SEPARATOR, start)
        end = size if separator < 0 else separator + 1
        blank = find(b"\n\n", start, end)
        blocks.append(data[start:end if blank < 0 else blank + 1])
        if separator < 0:
            break
        start = find(b"\n", separator + 1) + 1 or size
    return blocks


def run_polars_floor(path: Path) -> int:
    import polars as pl

    blocks = [block.decode("latin-1") for block in header_blocks(path.read_bytes())]
    frame = pl.DataFrame({"h": blocks}).with_columns(
        pl.col("h").str.extract(rf"(?mi)^{name}:[ \t]*([^\n]*(?:\n[ \t][^\n]*)*)", 1)
        .alias(name) for name in HEADERS)
    frame = frame.with_columns(
        *(pl.col(name).str.extract_all(r"[\w.+=-]+@[\w.-]+") for name in ("from", "to", "cc")),
        pl.col("date").str.strptime(pl.Datetime, "%a, %d %b %Y %H:%M:%S %z", strict=False))
    return frame.height


def run_pyarrow_floor(path: Path) -> int:
    import pyarrow as pa
    import pyarrow.compute as pc

    blocks = pa.array([block.decode("latin-1") for block in header_blocks(path.read_bytes())])
    for name in HEADERS:
        values = pc.struct_field(pc.extract_regex(
            blocks, rf"(?mi)^{name}:[ \t]*(?P<v>[^\n]*(?:\n[ \t][^\n]*)*)"), [0])
        if name == "date":
            pc.strptime(values, "%a, %d %b %Y %H:%M:%S %z", "us", error_is_null=True)
    return len(blocks)


def run_fast_mail_parser_floor(path: Path) -> int:
    import fast_mail_parser

    parsed = fast_mail_parser.parse_many(header_blocks(path.read_bytes()), mode="metadata",
                                         threads=1)
    fields = [(m.from_, m.to, m.cc, m.headers, m.date_parsed)
              for m in parsed if not isinstance(m, Exception)]
    return len(fields)


def readers() -> dict[str, Callable[[Path], int]]:
    found = {"raw scan": run_raw_scan, "polars floor": run_polars_floor,
             "pyarrow floor": run_pyarrow_floor}
    try:
        import fast_mail_parser  # noqa: F401
    except ImportError:
        print("fast-mail-parser is not importable here: its floor is left out")
    else:
        found["fast-mail-parser floor"] = run_fast_mail_parser_floor
    found["read_mbox"] = run_ours
    found["mailbox+compat32"] = run_compat32
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mbox", nargs="?", type=Path, help="default: the untuned corpus")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    try:
        path = args.mbox or untuned_corpus()
    except CorpusUnavailable as error:
        sys.exit(f"the untuned corpus is not cached and cannot be built here: {error}")
    chosen = readers()
    seconds: dict[str, list[float]] = {name: [] for name in chosen}
    counts: dict[str, int] = {}
    for _ in range(args.rounds):
        for name, reader in chosen.items():
            started = time.perf_counter()
            counts[name] = reader(path)
            seconds[name].append(time.perf_counter() - started)
    medians = {name: statistics.median(times) for name, times in seconds.items()}
    baseline = medians["mailbox+compat32"]
    print(f"{path.name}: {path.stat().st_size / 1e6:.1f} MB, load average "
          f"{' / '.join(f'{x:.1f}' for x in os.getloadavg())}, {args.rounds} rounds")
    print(f"the {SMALL_MAIL_RATIO:g}x budget: {baseline / SMALL_MAIL_RATIO:.3f} s")
    print(f"{'reader':<24} {'seconds':>8} {'messages':>9} {'vs compat32':>12}")
    for name, median in medians.items():
        print(f"{name:<24} {median:>8.3f} {counts[name]:>9,} {baseline / median:>11.1f}x")


if __name__ == "__main__":
    main()
