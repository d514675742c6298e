"""The outputs layer: the serving copy readers query while the next build writes."""

from collections.abc import Sequence

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from assets.resources import WarehouseResource
from engine.serving import publish_serving_copy
from engine.warehouse import WRITER_TAGS

OUTPUTS_GROUP = "outputs"
SERVING = AssetKey(["serving", "warehouse"])


def serving_asset(deps: Sequence[AssetKey]):
    """`serving/warehouse`, published once everything in `deps` is built."""

    @asset(
        key=SERVING,
        deps=deps,
        group_name=OUTPUTS_GROUP,
        kinds={"duckdb"},
        op_tags=WRITER_TAGS,
        description="A complete copy of the warehouse for readers (SQL sessions, notebooks, "
        "`keepwarm sql`), swapped in whole after each build.",
    )
    def serving_warehouse(context: AssetExecutionContext, warehouse: WarehouseResource):
        # Compact first, so the copy readers get is compact too.
        compaction = warehouse.engine().compact()
        if compaction and compaction.compacted:
            context.log.info(f"compacted the warehouse from {compaction.bytes_before / 1e6:.1f}"
                             f" to {compaction.bytes_after / 1e6:.1f} MB "
                             f"({compaction.free_fraction:.0%} free blocks) in "
                             f"{compaction.seconds:.2f} s")
        with warehouse.connect() as con:
            published = publish_serving_copy(con, warehouse.serving_file())
        context.log.info(f"published {published.path} in {published.seconds:.2f} s")
        return MaterializeResult(metadata={
            "path": MetadataValue.path(str(published.path)),
            "size_mb": round(published.bytes / 1e6, 2),
            "tables": published.tables,
            "publish_seconds": round(published.seconds, 3),
            "free_blocks_share": round(compaction.free_fraction, 3) if compaction else 0.0,
            "compacted": bool(compaction and compaction.compacted),
        })

    return serving_warehouse
