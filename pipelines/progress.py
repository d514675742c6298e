"""What a run is doing while it lands, and what it did: progress and the run's summary.

Each landing step (`land_mailbox` in assets/ingest.py) counts what passes from its reader
to the landing zone in a `Tally`: records read and landed, duplicates skipped, records
quarantined with their reasons, instances of recurring events outside a calendar window.
At most once a second it logs the tally through Dagster at DEBUG, with the numbers
attached as structured data, and once more at INFO when the mailbox is done;
`landed_mailboxes` sums the tallies into a `RunSummary`, which the landing asset's
metadata carries for the UI.

`keepwarm run` shows the same numbers wherever the step runs (in a step process of its
own when several mailboxes land side by side): `RunProgress` adds the `keepwarm_progress`
logger to the run's config, which appends every tally as a JSON line to a file of the
CLI's, and a thread of the CLI renders that file as a bar per mailbox on a terminal, or
as plain lines when stderr is not one. Runs from the UI or the schedule have no such
logger: their tallies are in the run's log, the summary in the metadata.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from dagster import Field, LoggerDefinition, colored_console_logger, logger

from engine.tally import TALLY_RECORD_ATTR, WIDTH, RunSummary, Stored, Tally

PROGRESS_LOGGER = "keepwarm_progress"

# -- from the step processes to the terminal ------------------------------------------


class _AppendTallies(logging.Handler):
    """Appends every tally a record carries to a file, as one JSON line."""

    def __init__(self, path: str) -> None:
        super().__init__(logging.DEBUG)
        self.path = path

    def emit(self, record: logging.LogRecord) -> None:
        payload = getattr(record, TALLY_RECORD_ATTR, None)
        if payload is None:
            return
        # One write of one line in append mode: lines of concurrent steps do not mix.
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(payload) + "\n")


@logger(config_schema={"path": Field(str, description="the file to append tallies to")},
        description="Landing progress for `keepwarm run`, as JSON lines in a file.")
def progress_logger(init_context) -> logging.Logger:
    log = logging.Logger(PROGRESS_LOGGER, logging.DEBUG)
    log.addHandler(_AppendTallies(init_context.logger_config["path"]))
    return log


# The loggers every job offers: Dagster's console logger (what a job has when it names
# none) and the one `keepwarm run` turns on.
LOGGERS: dict[str, LoggerDefinition] = {"console": colored_console_logger,
                                        PROGRESS_LOGGER: progress_logger}


class RunProgress:
    """Renders the tallies of a run on `stream` while it runs; keeps the summary.

        with RunProgress(sys.stderr) as progress:
            materialize(..., run_config=progress.run_config(run_config))
        progress.summary

    On a terminal each mailbox has a line with a bar, redrawn in place; elsewhere (a log,
    a pipe) a plain line per mailbox every `plain_every_s` seconds and when it is done.
    """

    def __init__(self, stream: TextIO | None = None, *, bars: bool = True,
                 plain_every_s: float = 10.0, poll_s: float = 0.2) -> None:
        self.stream = stream if stream is not None else sys.stderr
        # Bars redraw the lines above them: not among Dagster's log lines (--verbose).
        self.tty = bars and self.stream.isatty()
        self.plain_every_s = plain_every_s
        self.poll_s = poll_s
        self.summary: RunSummary | None = None
        self._tallies: dict[str, Tally] = {}
        self._printed_at: dict[str, float] = {}
        self._drawn = 0
        self._changed = False
        self._offset = 0
        self._stop = threading.Event()
        self._folder = tempfile.mkdtemp(prefix="keepwarm-progress-")
        self.path = os.path.join(self._folder, "tallies.jsonl")
        Path(self.path).touch()
        self._thread = threading.Thread(target=self._follow, name="keepwarm-progress",
                                        daemon=True)

    def run_config(self, run_config: Mapping[str, Any] | None) -> dict[str, Any]:
        """`run_config` with the progress logger added (and Dagster's console logger
        kept: a run config that names loggers gets only those)."""
        config = dict(run_config or {})
        loggers = dict(config.get("loggers") or {"console": {}})
        loggers[PROGRESS_LOGGER] = {"config": {"path": self.path}}
        config["loggers"] = loggers
        return config

    def __enter__(self) -> RunProgress:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._read_new()
        self._render(final=True)
        shutil.rmtree(self._folder, ignore_errors=True)

    def _follow(self) -> None:
        while not self._stop.wait(self.poll_s):
            self._read_new()
            self._render(final=False)

    def _read_new(self) -> None:
        with open(self.path, encoding="utf-8") as f:
            f.seek(self._offset)
            while True:
                line = f.readline()
                if not line.endswith("\n"):  # a line still being written: next time
                    break
                self._offset += len(line.encode("utf-8"))
                payload = json.loads(line)
                if "summary" in payload:
                    self.summary = RunSummary.from_json(payload["summary"])
                else:
                    tally = Tally.from_json(payload["tally"])
                    self._tallies[tally.mailbox] = tally
                    self._changed = True

    def _render(self, *, final: bool) -> None:
        if self.tty:
            if not self._changed:
                return  # a warning printed below the bars stays
            self._changed = False
            width = min(shutil.get_terminal_size((WIDTH, 24)).columns, 120) - 1
            lines = [t.bar_line(width) for t in self._tallies.values()]
            if self._drawn:
                self.stream.write(f"\x1b[{self._drawn}F")
            self.stream.write("".join(f"{line}\x1b[K\n" for line in lines))
            self._drawn = len(lines)
        else:
            now = time.monotonic()
            for mailbox, tally in self._tallies.items():
                printed = self._printed_at.get(mailbox)
                if printed == float("inf"):
                    continue  # its last line is out
                if tally.finished or final or printed is None \
                        or now - printed >= self.plain_every_s:
                    self.stream.write(tally.line() + "\n")
                    self._printed_at[mailbox] = float("inf") if tally.finished else now
        self.stream.flush()


    def report(self, con) -> str | None:
        """Print the summary (stdout) and, when the warehouse `con` holds no relationship
        after the run, why (stderr); "mistake" when that is the input's fault
        (`why_no_relationships`), else "empty" or None."""
        # No summary: no mailbox was landed, for none is configured.
        summary = self.summary or RunSummary([])
        if summary.mailboxes:
            print("\n".join(summary.lines()))
        stored = Stored.read(con)
        if stored.relationships:
            return None
        why, mistake = summary.why_no_relationships(stored)
        print("\n" + textwrap.fill(f"No relationships: {why}", WIDTH, subsequent_indent="  ",
                                   break_on_hyphens=False, break_long_words=False),
              file=sys.stderr)
        return "mistake" if mistake else "empty"


