"""Finding the person a user names: the one lookup behind every command that takes QUERY
(`keepwarm person`, `log`, `snooze`, `ignore`, `cadence`), so a query finds the same person
whichever command it is typed after."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from engine.warehouse import SQL_DIR, query_sql_file

# A name or address this similar (Jaro-Winkler) counts as a match when nothing matches
# better, and the best such match is taken alone when it leads the next by CLEAR_LEAD.
MIN_SIMILARITY = 0.85
CLEAR_LEAD = 0.05


@dataclass(frozen=True)
class Match:
    """A person a query may name, with how well it matched."""

    person_id: str
    name: str
    address: str
    last_contact_at: datetime | None
    exact: bool  # the whole name, or one of their addresses
    words: bool  # whole words or their starts ("ana eri" for Ana Eriksen)
    partial: bool  # any part of a name or address ("nna")
    similarity: float


def find_people(con: duckdb.DuckDBPyConnection, query: str,
                split_addresses: list[str] | None = None) -> list[Match]:
    """Who `query` names, best first: one Match when it is clear, several when not, none.

    The first tier that matches anyone decides: the exact name or address; words of the
    name or an address starting as the query's do; a part of a name or address; else the
    names and addresses at least MIN_SIMILARITY alike, the best alone when it leads.
    """
    cursor = query_sql_file(con, SQL_DIR / "outputs" / "person_match.sql", {
        "query": query, "min_similarity": MIN_SIMILARITY,
        "split_addresses": split_addresses or []})
    matches = [Match(*row) for row in cursor.fetchall()]
    for tier in (lambda m: m.exact, lambda m: m.words, lambda m: m.partial):
        chosen = [m for m in matches if tier(m)]
        if chosen:
            return chosen
    if len(matches) >= 2 and matches[0].similarity - matches[1].similarity >= CLEAR_LEAD:
        return matches[:1]
    return matches
