"""The digest and person profiles laid out three ways, from the same data (queries.py):

* HTML: one self-contained page (inline style, inline SVG, no script, nothing fetched),
  each name a link to the person's card further down the same page;
* markdown: the asset's materialisation metadata in the Dagster UI;
* text: the terminal, wrapped to a given width (80 columns reads well).
"""

from __future__ import annotations

import hashlib
import html
import os
import re
import textwrap
from collections.abc import Iterable
from pathlib import Path

from engine.digest.queries import (
    Block,
    Digest,
    Item,
    Network,
    PersonProfile,
    PersonRef,
    Section,
)

MORE_HINT = "keepwarm digest --all"


def anchor(person_id: str) -> str:
    """The HTML id of a person's card: readable, and unique by a short hash."""
    slug = re.sub(r"[^a-z0-9]+", "-", person_id.lower()).strip("-")[:40]
    return f"person-{slug}-{hashlib.sha1(person_id.encode()).hexdigest()[:6]}"


def _more_line(section_more: int) -> str:
    return f"and {section_more} more"


def _title(section: Section) -> str:
    summary = f": {section.summary}" if section.summary and section.total else ""
    return f"{section.number}. {section.title} ({section.total}{summary})"


# --- text ---------------------------------------------------------------------------------


def _wrap(text: str, width: int, first: str, rest: str) -> list[str]:
    return textwrap.wrap(text, width=width, initial_indent=first, subsequent_indent=rest,
                         break_long_words=True, break_on_hyphens=False) or [first.rstrip()]


def _item_text(item: Item, width: int, indent: str) -> list[str]:
    names = " and ".join(p.name for p in item.people)
    head = " - ".join(part for part in (item.label, names) if part)
    if item.facts:
        head = f"{head}: {item.facts}" if head else item.facts
    lines = _wrap(head, width, f"{indent}* ", f"{indent}  ")
    for label, text in (("why", item.reason), ("next", item.next_step)):
        if text:
            lines += _wrap(f"{label}: {text}", width, f"{indent}  ", f"{indent}    ")
    for detail in item.details:
        lines += _wrap(detail, width, f"{indent}  ", f"{indent}    ")
    for child in item.children:
        lines += _item_text(child, width, indent + "    ")
    return lines


def _table_text(header: tuple[str, ...], rows: Iterable[tuple[str, ...]], indent: str,
                width: int) -> list[str]:
    rows = list(rows)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    out = [indent + "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    out += [indent + "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    return [line.rstrip()[:width] for line in out]


def _network_text(network: Network, width: int) -> list[str]:
    lines = [f"{network.number}. {network.title}"]
    label_width = max(len(label) for label, _ in network.figures) + 2
    for label, value in network.figures:
        lines += _wrap(value, width, f"   {label.ljust(label_width)}",
                       " " * (3 + label_width))
    for chart in network.charts:
        lines += ["", f"   {chart.title}"]
        lines += _wrap(chart.caption, width, "   ", "   ")
        if chart.rows:
            lines += _table_text(chart.header, chart.rows, "   ", width)
    lines += ["", "   Strongest ties"]
    lines += _wrap(network.history_note, width, "   ", "   ")
    rows = [(s.person.name, "-" if s.layer is None else str(s.layer), f"{s.strength:.0f}",
             "-" if s.low is None else f"{s.low:.0f}-{s.high:.0f}")
            for s in network.strongest]
    if rows:
        lines += _table_text(("name", "layer", "strength", "range in history"), rows, "   ",
                             width)
    return lines


def render_text(digest: Digest, width: int = 80, *, cut_hint: str = MORE_HINT) -> str:
    """The digest for a terminal `width` columns wide."""
    width = max(width, 40)
    lines = [f"keepwarm digest, as of {digest.as_of:%Y-%m-%d %H:%M} UTC", ""]
    for section in digest.sections:
        lines += _wrap(_title(section), width, "", "   ")
        lines += _wrap(section.rule, width, "   ", "   ")
        if not section.items:
            lines += _wrap(section.empty, width, "   ", "   ")
        for item in section.items:
            lines += _item_text(item, width, "   ")
        if section.more:
            lines += _wrap(f"{_more_line(section.more)} ({cut_hint})", width, "   ", "   ")
        lines.append("")
    lines += _network_text(digest.network, width)
    return "\n".join(lines) + "\n"


def _timeline_count(profile: PersonProfile) -> str:
    shown, total = len(profile.timeline), profile.timeline_total
    if shown == total:
        return f"{total} interactions"
    return (f"the latest {shown} of {total} interactions; all: "
            f"keepwarm person {profile.ref.person_id}")


def render_person_text(profile: PersonProfile, width: int = 80) -> str:
    """One person's view (`keepwarm person`) for a terminal `width` columns wide."""
    width = max(width, 40)
    lines = _wrap(f"{profile.ref.name}: {profile.headline}", width, "", "  ")
    for block in profile.blocks:
        lines += ["", block.title]
        label_width = max(len(label) for label, _ in block.lines) + 2
        for label, value in block.lines:
            if label:
                lines += _wrap(value, width, f"  {label.ljust(label_width)}",
                               " " * (2 + label_width))
            else:
                lines += _wrap(value, width, "  ", "    ")
    lines += ["", f"Timeline ({_timeline_count(profile)})"]
    header = ("date", "channel", "direction", "shape", "mode", "note")
    rows = [(r.day, r.channel, r.direction, r.shape, r.mode, r.note) for r in profile.timeline]
    if rows:
        table = _table_text(header[:5], [r[:5] for r in rows], "  ", width)
        lines.append(table[0])
        for line, row in zip(table[1:], rows, strict=True):
            lines.append(line)
            if row[5]:
                lines += _wrap(row[5], width, "      ", "      ")
    else:
        lines.append("  none")
    return "\n".join(lines) + "\n"


# --- markdown -----------------------------------------------------------------------------


def _md(text: str) -> str:
    return re.sub(r"([\\`*_\[\]|<>#])", r"\\\1", text)


def _item_md(item: Item, depth: int = 0) -> list[str]:
    pad = "  " * depth
    names = " and ".join(f"**{_md(p.name)}**" for p in item.people)
    head = " · ".join(part for part in (_md(item.label), names) if part)
    if item.facts:
        head = f"{head}: {_md(item.facts)}" if head else _md(item.facts)
    lines = [f"{pad}- {head}"]
    for label, text in (("why", item.reason), ("next", item.next_step)):
        if text:
            lines.append(f"{pad}  - {label}: {_md(text)}")
    lines += [f"{pad}  - {_md(d)}" for d in item.details]
    for child in item.children:
        lines += _item_md(child, depth + 1)
    return lines


def _table_md(header: tuple[str, ...], rows: Iterable[tuple[str, ...]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_md(v) for v in r) + " |" for r in rows]
    return out


def render_markdown(digest: Digest, *, path: str | None = None) -> str:
    """The digest as markdown (the asset's metadata); the charts are in the HTML page."""
    lines = [f"**keepwarm digest**, as of {digest.as_of:%Y-%m-%d %H:%M} UTC"
             + (f" — the page: `{path}`" if path else ""), ""]
    for section in digest.sections:
        lines += [f"### {_md(_title(section))}", "", f"_{_md(section.rule)}_", ""]
        if not section.items:
            lines.append(_md(section.empty))
        for item in section.items:
            lines += _item_md(item)
        if section.more:
            lines += ["", f"… {_more_line(section.more)}"]
        lines.append("")
    network = digest.network
    lines += [f"### {network.number}. {network.title}", ""]
    lines += _table_md(("figure", "value"), network.figures)
    for chart in network.charts:
        lines += ["", f"**{chart.title}**: {_md(chart.caption)}", ""]
        if chart.rows:
            lines += _table_md(chart.header, chart.rows)
    lines += ["", f"**Strongest ties**: {_md(network.history_note)}", ""]
    lines += _table_md(("name", "layer", "strength", "range in history"), [
        (s.person.name, "-" if s.layer is None else str(s.layer), f"{s.strength:.0f}",
         "-" if s.low is None else f"{s.low:.0f}-{s.high:.0f}") for s in network.strongest])
    return "\n".join(lines) + "\n"


# --- HTML ---------------------------------------------------------------------------------

_CSS = """
:root { color-scheme: light; --ink: #1f2933; --muted: #616e7c; --line: #e4e7eb;
        --warm: #d9480f; --cool: #1864ab; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
       color: var(--ink); background: #f8f9fa; }
main { max-width: 1040px; margin: 0 auto; padding: 24px 28px 48px; background: #fff; }
h1 { font-size: 26px; margin: 0 0 2px; }
h2 { font-size: 19px; margin: 30px 0 2px; padding-top: 10px; border-top: 2px solid var(--line); }
h2 .count { color: var(--warm); font-weight: 600; }
h3 { font-size: 16px; margin: 18px 0 4px; }
.rule, .as-of, .note { color: var(--muted); font-size: 13px; margin: 2px 0 10px; }
ol.items, ul.items { list-style: none; padding: 0; margin: 0; }
li.item { padding: 8px 0; border-bottom: 1px solid var(--line); }
li.item li.item { border: 0; padding: 6px 0 2px 16px; border-left: 3px solid var(--line); }
.head { font-weight: 600; }
.facts { color: var(--muted); font-weight: 400; }
.why, .next, .detail { margin-left: 14px; font-size: 14px; }
.next::before { content: "→ "; color: var(--warm); }
.detail { color: var(--muted); }
.more { margin-top: 6px; color: var(--warm); font-size: 14px; }
a { color: var(--cool); text-decoration: none; }
a:hover { text-decoration: underline; }
.toc { font-size: 14px; margin: 12px 0 0; padding: 0; list-style: none; display: flex;
       flex-wrap: wrap; gap: 4px 16px; }
table { border-collapse: collapse; font-size: 14px; margin: 6px 0; }
th, td { text-align: left; padding: 3px 12px 3px 0; border-bottom: 1px solid var(--line);
         vertical-align: middle; }
th { color: var(--muted); font-weight: 600; }
.charts { display: flex; flex-wrap: wrap; gap: 8px 28px; }
.chart svg { max-width: 100%; height: auto; }
.spark svg { width: 160px; height: 28px; display: block; }
article.person { margin: 18px 0; padding: 10px 14px; border: 1px solid var(--line);
                 border-radius: 6px; }
article.person:target { border-color: var(--warm); box-shadow: 0 0 0 2px #ffe8cc; }
.blocks { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr));
          gap: 4px 24px; }
dl { margin: 4px 0; display: grid; grid-template-columns: max-content 1fr; gap: 1px 10px;
     font-size: 14px; }
dt { color: var(--muted); }
dd { margin: 0; }
details summary { cursor: pointer; color: var(--cool); font-size: 14px; margin-top: 6px; }
.back { font-size: 13px; }
"""


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _name_html(ref: PersonRef, linked: set[str]) -> str:
    if ref.person_id in linked:
        return f'<a href="#{anchor(ref.person_id)}">{_e(ref.name)}</a>'
    return _e(ref.name)


def _item_html(item: Item, linked: set[str]) -> str:
    names = " and ".join(_name_html(p, linked) for p in item.people)
    head = " · ".join(part for part in (_e(item.label), names) if part)
    facts = f' <span class="facts">{_e(item.facts)}</span>' if item.facts else ""
    parts = [f'<div class="head">{head}{facts}</div>']
    if item.reason:
        parts.append(f'<div class="why">{_e(item.reason)}</div>')
    if item.next_step:
        parts.append(f'<div class="next">{_e(item.next_step)}</div>')
    parts += [f'<div class="detail">{_e(d)}</div>' for d in item.details]
    if item.children:
        parts.append('<ul class="items">'
                     + "".join(_item_html(c, linked) for c in item.children) + "</ul>")
    return f'<li class="item">{"".join(parts)}</li>'


def _section_html(section: Section, linked: set[str]) -> str:
    summary = f" · {_e(section.summary)}" if section.summary and section.total else ""
    out = [f'<section id="{section.key}" data-count="{section.total}">',
           f'<h2>{section.number}. {_e(section.title)} <span class="count">{section.total}'
           f"</span>{summary}</h2>",
           f'<p class="rule">{_e(section.rule)}</p>']
    if section.items:
        out.append('<ol class="items">'
                   + "".join(_item_html(i, linked) for i in section.items) + "</ol>")
    else:
        out.append(f"<p>{_e(section.empty)}</p>")
    if section.more:
        out.append(f'<p class="more">{_e(_more_line(section.more))} '
                   f"(<code>{MORE_HINT}</code>)</p>")
    out.append("</section>")
    return "\n".join(out)


def _table_html(header: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _network_html(network: Network, linked: set[str]) -> str:
    out = [f'<section id="network"><h2>{network.number}. {_e(network.title)}</h2>',
           _table_html(("figure", "value"),
                       ((_e(label), _e(value)) for label, value in network.figures)),
           '<div class="charts">']
    for chart in network.charts:
        out.append(f'<figure class="chart"><h3>{_e(chart.title)}</h3>{chart.svg}'
                   f'<p class="note">{_e(chart.caption)}</p></figure>')
    out.append("</div>")
    out.append(f'<h3>The ten strongest ties</h3><p class="note">{_e(network.history_note)}</p>')
    out.append(_table_html(
        ("name", "layer", "strength", "range in history", "over time"),
        ((_name_html(s.person, linked), "-" if s.layer is None else str(s.layer),
          f"{s.strength:.0f}", "-" if s.low is None else f"{s.low:.0f}-{s.high:.0f}",
          f'<div class="spark">{s.svg}</div>' if s.svg else "")
         for s in network.strongest)))
    out.append("</section>")
    return "\n".join(out)


def _block_html(block: Block) -> str:
    rows = "".join(f"<dt>{_e(label)}</dt><dd>{_e(value)}</dd>" for label, value in block.lines)
    return f"<div><h3>{_e(block.title)}</h3><dl>{rows}</dl></div>"


def person_html(profile: PersonProfile) -> str:
    """A person's card: the same view as `keepwarm person`."""
    timeline = _table_html(
        ("date", "channel", "direction", "shape", "mode", "note"),
        ((_e(r.day), _e(r.channel), _e(r.direction), _e(r.shape), _e(r.mode), _e(r.note))
         for r in profile.timeline))
    return (
        f'<article class="person" id="{anchor(profile.ref.person_id)}">'
        f"<h3>{_e(profile.ref.name)} <span class=\"facts\">{_e(profile.headline)}</span></h3>"
        f'<div class="blocks">{"".join(_block_html(b) for b in profile.blocks)}</div>'
        f"<details><summary>Timeline: {_e(_timeline_count(profile))}</summary>"
        f"{timeline}</details>"
        '<p class="back"><a href="#top">back to the top</a></p></article>'
    )


def render_html(digest: Digest) -> str:
    """The digest as one self-contained HTML page."""
    linked = {p.ref.person_id for p in digest.people}
    toc = "".join(f'<li><a href="#{s.key}">{s.number}. {_e(s.title)} ({s.total})</a></li>'
                  for s in digest.sections)
    toc += (f'<li><a href="#network">{digest.network.number}. {_e(digest.network.title)}</a>'
            '</li><li><a href="#people">People</a></li>')
    body = [
        f'<header id="top"><h1>keepwarm digest</h1><p class="as-of">as of '
        f"{digest.as_of:%Y-%m-%d %H:%M} UTC · names link to each person's card below</p>"
        f'<ul class="toc">{toc}</ul></header>',
        *(_section_html(s, linked) for s in digest.sections),
        _network_html(digest.network, linked),
        '<section id="people"><h2>People in this digest</h2>'
        '<p class="rule">Each person named above: the same view as '
        "<code>keepwarm person</code>.</p>"
        + "".join(person_html(p) for p in digest.people) + "</section>",
    ]
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>keepwarm digest {digest.as_of:%Y-%m-%d}</title><style>{_CSS}</style>"
        "</head><body><main>\n" + "\n".join(body) + "\n</main></body></html>\n"
    )


def write_page(path: Path, page: str) -> None:
    """Write `page` to `path` whole: a browser reloading it never sees half a page."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(page, encoding="utf-8")
    os.replace(partial, path)
