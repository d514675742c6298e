"""The digest end to end: materialised by Dagster on a small simulated network, its page
parsed with a real HTML parser and every section checked against the marts by queries of
its own; the page fetches nothing; the terminal text fits 80 columns."""

from __future__ import annotations

import warnings
from datetime import date, timedelta
from html.parser import HTMLParser
from itertools import pairwise
from pathlib import Path

import duckdb
import pytest
from dagster import AssetKey, DagsterInstance

from assets.history import snapshot_day
from engine.digest import build_digest, render_html, render_text
from pipelines.cli import main as keepwarm
from pipelines.definitions import materialize_everything
from tests.conftest import make_config

SMALL_DEMO = {"demo": {"seed": 3, "months": 14, "end": "2026-06-01", "scale": 0.4}}
AS_OF = "2026-06-01T00:00:00Z"
DIGEST = AssetKey(["outputs", "digest"])
LIMIT = 4


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A refresh of the small demo, with the digest, then weekly status snapshots over
    half a year (the history the network section draws on)."""
    tmp = tmp_path_factory.mktemp("digest")
    path, config = make_config(
        tmp,
        me={"addresses": ["alex@northwind.example", "alex.morgan@gmail.com"]},
        sources=SMALL_DEMO, status={"as_of": AS_OF}, outputs={"digest_limit": LIMIT},
    )
    result = materialize_everything(path, instance=DagsterInstance.ephemeral(), parallel=False)
    assert result.success
    page = Path(config.outputs.digest_path).read_text(encoding="utf-8")
    con = duckdb.connect(config.warehouse.path)
    for week in range(26):
        snapshot_day(con, config.model_params(), date(2026, 5, 31) - timedelta(weeks=week))
    yield path, config, result, page, con
    con.close()


class Page(HTMLParser):
    """What a reader of the page sees: each section's count and the names listed at its
    top level, every link and source, and whether anything would run or be fetched."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.counts: dict[str, int] = {}
        self.names: dict[str, list[str]] = {}
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.fetches: list[str] = []
        self.styles: list[str] = []
        self._section: str | None = None
        self._depth = 0  # nesting of <li class="item">
        self._stack: list[bool] = []
        self._head = False
        self._link: str | None = None
        self._style = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag in ("script", "link", "iframe", "object", "embed", "base"):
            self.fetches.append(f"<{tag}>")
        for key in ("src", "href", "xlink:href", "action", "data", "poster"):
            if key in attrs:
                self.links.append(attrs[key])
        if tag == "style":
            self._style = True
        if "style" in attrs:
            self.styles.append(attrs["style"])
        if tag == "section" and "data-count" in attrs:
            self._section = attrs["id"]
            self.counts[self._section] = int(attrs["data-count"])
            self.names[self._section] = []
        if tag == "li":
            is_item = attrs.get("class") == "item"
            self._stack.append(is_item)
            self._depth += is_item
        if tag == "div" and attrs.get("class") == "head":
            self._head = True
        if tag == "a" and self._head and self._depth == 1 and self._section:
            self._link = ""

    def handle_endtag(self, tag):
        if tag == "li" and self._stack:
            self._depth -= self._stack.pop()
        if tag == "div":
            self._head = False
        if tag == "a" and self._link is not None:
            self.names[self._section].append(self._link)
            self._link = None
        if tag == "section":
            self._section = None
        if tag == "style":
            self._style = False

    def handle_data(self, data):
        if self._link is not None:
            self._link += data
        if self._style:
            self.styles.append(data)


def names(con, query, params=None):
    return [r[0] for r in con.execute(query, params).fetchall()]


def test_the_refresh_materialises_the_digest_with_its_metadata(demo):
    _, config, result, page, _ = demo
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == DIGEST]
    metadata = event.materialization.metadata
    assert metadata["path"].value == config.outputs.digest_path
    assert config.outputs.digest_path == str(Path(config.warehouse.path).with_name("digest.html"))
    markdown = metadata["digest"].value
    parsed = Page(page)
    for key, count in parsed.counts.items():
        assert metadata[f"section/{key}"].value == count
    for title in ("Replies you owe", "Going cold", "Reconnect", "Coming up",
                  "Before your meetings", "Introductions not yet taken", "Your network"):
        assert title in markdown and title in page


def test_every_section_matches_the_marts(demo):
    _, _, _, _, con = demo
    digest = build_digest(con, limit=LIMIT)
    page = Page(render_html(digest))
    assert set(page.counts) == {"replies", "cold", "reconnect", "coming_up", "new_jobs",
                                "meetings", "introductions"}

    # One entry per person, however many of their messages wait, the longest waiting first.
    loops = con.execute("select person_id, display_name, since from marts.open_loops "
                        "where loop = 'you_owe_reply'").fetchall()
    oldest: dict[str, tuple] = {}
    for person_id, name, since in loops:
        oldest[person_id] = min(oldest.get(person_id, (since, person_id, name)),
                                (since, person_id, name))
    owed = [name for _, _, name in sorted(oldest.values())]
    assert len(owed) < len(loops)  # the demo has someone with two messages waiting
    assert page.counts["replies"] == len(owed) and page.names["replies"] == owed[:LIMIT]
    assert digest.sections[0].summary == f"{len(loops)} messages"
    # Someone with several messages waiting: how many, the oldest's wait, every day.
    waiting: dict[str, list] = {}
    for person_id, _, since in loops:
        waiting.setdefault(person_id, []).append(since)
    several = {p: sorted(days) for p, days in waiting.items() if len(days) > 1}
    shown = {item.people[0].person_id: item for item in digest.sections[0].items}
    person_id = next(p for p in oldest if p in several and p in shown)
    days = several[person_id]
    (wait,) = con.execute("select max(days_open) from marts.open_loops where "
                          "loop = 'you_owe_reply' and person_id = ?", [person_id]).fetchone()
    item = shown[person_id]
    assert item.facts.startswith(
        f"{len(days)} messages waiting, the oldest {int(wait + 0.5)} days · ")
    dates = list(dict.fromkeys(f"{d:%Y-%m-%d}" for d in days))
    assert item.reason == (f"they wrote on {', '.join(dates[:-1])} and {dates[-1]} and have "
                           "not had an answer")

    cold = names(con, "select display_name from marts.relationship_status where status in "
                      "('cold', 'cooling') order by status = 'cooling', attention_rank")
    assert page.counts["cold"] == len(cold) and page.names["cold"] == cold[:LIMIT]

    # Reconnect: the peak worked out here in Python from the snapshots.
    dormant = con.execute("select person_id, display_name, tie_strength from "
                          "marts.relationship_status where status = 'dormant' and "
                          "touchpoints >= 3").fetchall()
    history = con.execute("select person_id, tie_strength, dunbar_layer "
                          "from marts.status_history").fetchall()
    peaks = []
    for person_id, name, now in dormant:
        mine = [(s, layer) for p, s, layer in history if p == person_id]
        layers = [layer for _, layer in mine if layer is not None]
        peaks.append((min(layers) if layers else 99999, -max([now, *(s for s, _ in mine)]),
                      person_id, name))
    assert page.counts["reconnect"] == len(peaks)
    assert page.names["reconnect"] == [name for *_, name in sorted(peaks)][:LIMIT]

    # Coming up: birthdays from the calendar and the address book, anniversaries from the
    # metrics, by hand.
    today = date(2026, 6, 1)
    window = [today + timedelta(days=d) for d in range(14)]
    birthdays = con.execute("""
        select distinct e.start_at::date, i.person_id
        from (select start_at, unnest(attendees) as a from raw.events
              where event_type = 'birthday' and status <> 'cancelled') e
        join core.identities i on i.address = lower(e.a.address)""").fetchall()
    expected = {(day, "birthday", person) for day, person in birthdays if day in window}
    identities = dict(con.execute(
        "select address, person_id from core.identities where not is_self").fetchall())
    contacts = con.execute("""
        select emails, birthday, events from raw.contacts
        qualify row_number() over (partition by account, source, contact_key
                                   order by version desc) = 1 and not deleted""").fetchall()
    book_dates = 0
    for emails, birthday, events in contacts:
        person = next((identities[a] for a in emails if a in identities), None)
        dated = [("birthday", birthday)] * bool(birthday) + [(e["kind"], e["date"])
                                                              for e in events]
        for kind, text in dated if person else []:
            for day in window:
                if (day.month, day.day) == (int(text[-5:-3]), int(text[-2:])):
                    expected.add((day, kind, person))
                    book_dates += 1
    assert book_dates > 0  # the demo's address book has birthdays coming up
    started = con.execute("select min(first_contact_at) from marts.contact_metrics").fetchone()[0]
    for person, first in con.execute("select person_id, first_contact_at from "
                                     "marts.contact_metrics where dunbar_layer <= 15"
                                     ).fetchall():
        if first > started + timedelta(days=30):
            for day in window:
                if (day.month, day.day) == (first.month, first.day) and day.year > first.year:
                    expected.add((day, "first_contact", person))
    assert page.counts["coming_up"] == len(expected)

    # New jobs: the people whose latest change was seen in the 60 days to the as-of time.
    moved = names(con, "select display_name from marts.job_changes join core.people "
                       "using (person_id) where first_seen_at <= $t::timestamptz "
                       "and first_seen_at > $t::timestamptz - interval 60 day "
                       "group by all order by max(first_seen_at) desc, any_value(person_id)",
                  {"t": AS_OF})
    assert moved and page.counts["new_jobs"] == len(moved)
    assert page.names["new_jobs"] == moved[:LIMIT]
    # The terminal text has the same two sections with the same counts and names.
    text = render_text(digest, 200)
    assert f"4. Coming up ({len(expected)})" in text
    assert f"5. New jobs ({len(moved)})" in text
    new_jobs = text.split("5. New jobs", 1)[1].split("6. Before your meetings", 1)[0]
    assert all(f"* {name}:" in new_jobs for name in moved[:LIMIT])

    # Meetings: counted meetings from the start of the day to the end of the 7th after.
    meetings = con.execute("""
        select count(distinct (account, interaction_key)) from core.interactions
        where channel = 'meeting' and noise_reason is null
          and occurred_at >= '2026-06-01T00:00:00Z' and occurred_at < '2026-06-09T00:00:00Z'
        """).fetchone()[0]
    assert meetings > 0 and page.counts["meetings"] == meetings

    intros = con.execute("""
        select count(*) from marts.introductions
        where introduced_at > '2025-06-01T00:00:00Z'
          and ((kind = 'made' and not followed_up)
               or (kind = 'received' and not coalesce(became_tie, false)))""").fetchone()[0]
    assert page.counts["introductions"] == intros

    # The network: the summary's figures, and the strongest ties in rank order.
    active, limit = con.execute(
        "select active_ties, dunbar_limit from marts.network_summary").fetchone()
    assert dict(digest.network.figures)["ties kept up"].startswith(f"{active} of ~{limit}")
    strongest = names(con, "select display_name from marts.contact_metrics "
                           "where strength_rank <= 10 order by strength_rank")
    assert [s.person.name for s in digest.network.strongest] == strongest
    # A point a snapshot: the refresh's own days of history and the 26 weekly ones.
    for tie in digest.network.strongest:
        days = con.execute(
            "select count(distinct snapshot_date) from marts.status_history "
            "where person_id = $person", {"person": tie.person.person_id}
        ).fetchone()[0]
        assert days >= 26 and tie.days == days and "<svg" in tie.svg
    # Ties gained and lost: each month's last snapshot against the month before's.
    # Kept up as the headline counts it: silent no longer than a year (365 days) at the
    # end of the snapshot's day.
    snapshots = con.execute("select snapshot_date, person_id, days_silent "
                            "from marts.status_history").fetchall()
    last_day = {}
    for day, _, _ in snapshots:
        key = day.strftime("%Y-%m")
        last_day[key] = max(day, last_day.get(key, day))
    kept = {m: {p for d, p, silent in snapshots if d == day and silent <= 365}
            for m, day in last_day.items()}
    # May's last snapshot is of 2026-05-31, whose end is the as-of time: the month's
    # figure is the headline's.
    assert last_day["2026-05"] == date(2026, 5, 31) and len(kept["2026-05"]) == active
    months = sorted(kept)
    expected_months = tuple(
        (m, str(len(kept[m] - kept[before])), str(len(kept[before] - kept[m])),
         str(len(kept[m])))
        for before, m in pairwise(months))
    assert len(expected_months) == 5  # weekly snapshots from December to May
    assert digest.network.charts[1].rows == expected_months


def test_the_page_fetches_nothing_and_links_every_name(demo):
    _, _, _, page_text, con = demo
    page = Page(render_html(build_digest(con, limit=LIMIT)))
    assert page.fetches == []
    assert not [link for link in page.links if "://" in link or link.startswith("//")]
    assert not [s for s in page.styles if "url(" in s or "@import" in s]
    assert "<svg" in page_text and "<script" not in page_text.lower()
    # Every name links to a card on the same page.
    internal = [link for link in page.links if link.startswith("#person-")]
    assert internal and all(link[1:] in page.ids for link in internal)


def test_the_terminal_digest_fits_80_columns_and_says_what_was_cut(demo, capsys, monkeypatch):
    path, _, _, _, con = demo
    text = render_text(build_digest(con, limit=LIMIT), 80)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "and " in text and "more (keepwarm digest --all)" in text
    monkeypatch.setenv("COLUMNS", "80")
    assert keepwarm(["--config", str(path), "digest"]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 80
    assert keepwarm(["--config", str(path), "digest", "--all", "--html",
                     str(path.parent / "all.html")]) == 0
    everything = capsys.readouterr().out
    assert "more (keepwarm digest --all)" not in everything
    page = Page((path.parent / "all.html").read_text(encoding="utf-8"))
    cold = con.execute("select count(*) from marts.relationship_status "
                       "where status in ('cold', 'cooling')").fetchone()[0]
    assert len(page.names["cold"]) == cold == page.counts["cold"]


def test_person_on_the_serving_copy(demo, capsys):
    path, _, _, _, con = demo
    name, address = con.execute("select display_name, address from marts.relationship_status "
                                "order by attention_rank limit 1").fetchone()
    assert keepwarm(["--config", str(path), "person", address]) == 0
    assert capsys.readouterr().out.startswith(f"{name}: ")
    # A full name needs no quotes, as with keepwarm log.
    assert keepwarm(["--config", str(path), "person", *name.split()]) == 0
    assert capsys.readouterr().out.startswith(f"{name}: ")
    assert keepwarm(["--config", str(path), "person", "qqqqqq"]) == 2
    assert "nobody matches 'qqqqqq'" in capsys.readouterr().err


def test_a_network_with_no_active_tie_draws_its_chart_without_warnings():
    # An old archive (every tie dormant) once printed matplotlib's "No artists with labels
    # found to put in legend" on the user's terminal after the run.
    from engine.digest.charts import layers_svg

    rings = [("layer 5", 0), ("layer 15", 0), ("layer 50", 0), ("layer 150", 0), ("beyond", 0)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        svg = layers_svg(rings, 150)
    assert "<svg" in svg


def test_the_days_someone_wrote_are_listed_three_at_most():
    from engine.digest.queries import _days_listed

    days = [date(2026, 9, 20), date(2026, 10, 23), date(2026, 10, 23), date(2026, 11, 1),
            date(2026, 11, 2), date(2026, 11, 3)]
    assert _days_listed(days[:1]) == "2026-09-20"
    assert _days_listed(days[:3]) == "2026-09-20 and 2026-10-23"  # one day, once
    assert _days_listed(days[:5]) == "2026-09-20, 2026-10-23, 2026-11-01 and 1 more day"
    assert _days_listed(days) == "2026-09-20, 2026-10-23, 2026-11-01 and 2 more days"
