"""Where steps hand values to each other when they run on different machines.

Most keepwarm assets return nothing (they write tables); what passes between steps is the
landing graph's mailbox keys and its "arrived" marks. Under the multiprocess executor
Dagster's default IO manager keeps them in the instance's storage folder. On a Celery pool
a step may run on another machine than the step before it, so the values go where every
worker can read them: a shared folder or object storage (`deployment.io_path`).
"""

from __future__ import annotations

import pickle
from typing import Any

import pyarrow.fs as pafs
from dagster import ConfigurableIOManager, InputContext, OutputContext

from engine.landing import open_filesystem


class SharedIOManager(ConfigurableIOManager):
    """Pickles each output to `<base>/<run id>/<step>/<output>[/<mapping key>]`.

    `base` is a local (or network-mounted) folder or an s3:// / gs:// URI, read and written
    through pyarrow's filesystems (S3 with the endpoint override of engine.landing).
    """

    base: str

    def _fs(self) -> tuple[pafs.FileSystem, str]:
        if "://" in self.base:
            return open_filesystem(self.base)
        return pafs.LocalFileSystem(), self.base.rstrip("/")

    def _path(self, root: str, context: OutputContext) -> str:
        parts = [context.run_id, context.step_key, context.name]
        if context.mapping_key is not None:
            parts.append(context.mapping_key)
        return "/".join([root, *parts])

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        if obj is None and context.dagster_type.is_nothing:
            return
        fs, root = self._fs()
        path = self._path(root, context)
        fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        with fs.open_output_stream(path) as f:
            f.write(pickle.dumps(obj))

    def load_input(self, context: InputContext) -> Any:
        if context.dagster_type.is_nothing:
            return None
        fs, root = self._fs()
        with fs.open_input_stream(self._path(root, context.upstream_output)) as f:
            return pickle.loads(f.read())
