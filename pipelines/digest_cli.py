"""`keepwarm digest` and `keepwarm person`: the CLI's handlers open the serving copy and
call these with it."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import duckdb

from engine.config import KeepwarmConfig
from engine.digest.queries import build_digest, person_profiles
from engine.digest.render import render_html, render_person_text, render_text, write_page
from engine.people import find_people

# Wider than this, lines get hard to read; narrower than 40, nothing fits.
MAX_WIDTH = 120


def terminal_width() -> int:
    """The terminal's width in columns (80 when it cannot be told), at most MAX_WIDTH."""
    return min(shutil.get_terminal_size((80, 24)).columns, MAX_WIDTH)


def print_digest(con: duckdb.DuckDBPyConnection, config: KeepwarmConfig, *,
                 show_all: bool = False, limit: int | None = None,
                 html_path: Path | None = None, width: int | None = None) -> int:
    """Print the digest of `con` fitted to `width` (default: the terminal's), `limit`
    entries a list (default outputs.digest_limit; every one with `show_all`); with
    `html_path`, write the page there too."""
    try:
        digest = build_digest(con, limit=None if show_all else limit or config.outputs.digest_limit,
                              min_touchpoints=config.status.min_touchpoints,
                              split_addresses=config.identities.split,
                              job_change_days=config.status.job_change_days,
                              dormant_after_days=config.status.dormant_after_days)
    except LookupError as exc:
        print(f"keepwarm: {exc}", file=sys.stderr)
        return 2
    print(render_text(digest, width or terminal_width()), end="")
    if html_path is not None:
        try:
            write_page(html_path, render_html(digest))
        except OSError as exc:
            print(f"keepwarm: cannot write {html_path}: {exc.strerror}; choose another path "
                  "with --html", file=sys.stderr)
            return 2
        print(f"\nThe page: {html_path}")
    return 0


def print_person(con: duckdb.DuckDBPyConnection, config: KeepwarmConfig, query: str, *,
                 width: int | None = None) -> int:
    """Print the one person `query` names; exit status 2 when nobody or several match."""
    try:
        matches = find_people(con, query, config.identities.split)
    except duckdb.CatalogException:
        print("keepwarm: the model has not been built yet: run `keepwarm run`", file=sys.stderr)
        return 2
    if not matches:
        print(f"keepwarm: nobody matches {query!r}; try part of a name or an address",
              file=sys.stderr)
        return 2
    if len(matches) > 1:
        print(f"keepwarm: {query!r} matches {len(matches)} people; name one of them "
              "(a fuller name, or the address):", file=sys.stderr)
        for m in matches:
            last = m.last_contact_at.strftime("%Y-%m-%d") if m.last_contact_at else "never"
            print(f"  {m.name} <{m.address}>  last contact {last}", file=sys.stderr)
        return 2
    (profile,) = person_profiles(con, [matches[0].person_id],
                                 split_addresses=config.identities.split)
    print(render_person_text(profile, width or terminal_width()), end="")
    return 0
