"""The morning digest and the one-person view: what the marts say, for a person to read.

`queries` gathers a `Digest` (or one `PersonProfile`) from the warehouse with the SQL files
in assets/sql/outputs/; `render` turns that one structure into HTML (the page the refresh
writes), markdown (the asset's metadata) and terminal text (`keepwarm digest`, `keepwarm
person`); `charts` draws the network's charts as inline SVG with matplotlib.

It sits beside the other storage-level readers of the warehouse (engine/serving.py):
it imports only DuckDB, matplotlib and engine.warehouse, never Dagster, so that the
`outputs/digest` asset (assets/digest.py) and the CLI (pipelines/digest_cli.py) both
call it without either importing the other.
"""

from engine.digest.queries import (
    Digest,
    PersonProfile,
    build_digest,
    person_profiles,
)
from engine.digest.render import (
    render_html,
    render_markdown,
    render_person_text,
    render_text,
    write_page,
)

__all__ = [
    "Digest",
    "PersonProfile",
    "build_digest",
    "person_profiles",
    "render_html",
    "render_markdown",
    "render_person_text",
    "render_text",
    "write_page",
]
