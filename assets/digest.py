"""`outputs/digest`: the morning digest, written at the end of every refresh."""

from collections.abc import Sequence
from pathlib import Path

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from assets.resources import Settings, WarehouseResource
from assets.serving import OUTPUTS_GROUP
from engine.digest import build_digest, render_html, render_markdown, write_page
from engine.warehouse import WRITER_TAGS

DIGEST = AssetKey(["outputs", "digest"])


def digest_asset(deps: Sequence[AssetKey]):
    """`outputs/digest`, built once everything in `deps` is."""

    @asset(
        key=DIGEST,
        deps=deps,
        group_name=OUTPUTS_GROUP,
        kinds={"html"},
        # It only reads, but through the writer lock like every step that opens the file.
        op_tags=WRITER_TAGS,
        description="The morning digest: replies owed, ties going cold, people to reconnect "
        "with, key dates, meeting prep, introductions and the network's shape, as one "
        "self-contained HTML page (outputs.digest_path) and as markdown here.",
    )
    def digest(
        context: AssetExecutionContext, settings: Settings, warehouse: WarehouseResource
    ) -> MaterializeResult:
        config = settings.load()
        with warehouse.connect() as con:
            built = build_digest(con, limit=config.outputs.digest_limit,
                                 min_touchpoints=config.status.min_touchpoints,
                                 split_addresses=config.identities.split,
                                 job_change_days=config.status.job_change_days,
                                 dormant_after_days=config.status.dormant_after_days)
        path = Path(config.outputs.digest_path)
        write_page(path, render_html(built))
        context.log.info(f"digest written to {path}")
        return MaterializeResult(metadata={
            "path": MetadataValue.path(str(path)),
            "digest": MetadataValue.md(render_markdown(built, path=str(path))),
            **{f"section/{s.key}": MetadataValue.int(s.total) for s in built.sections},
            "people": MetadataValue.int(len(built.people)),
        })

    return digest
