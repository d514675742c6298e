#!/usr/bin/env python3
"""Install everything from the lockfile into .venv, then run the demo or the tests.

    python3 run.py demo    # install, materialise the demo network, print the cold list
    python3 run.py test    # install, lint, run the test suite

Needs only Python 3.11+ and access to PyPI. The first run creates .venv and installs uv
(pinned) into it; uv then installs exactly the versions in uv.lock. Later runs reuse both.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
UV_VERSION = "0.13.9"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def _run(*command: str | Path, **env: str) -> None:
    result = subprocess.run([str(c) for c in command], cwd=ROOT, env={**os.environ, **env})
    if result.returncode:
        sys.exit(result.returncode)


def install() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - run.py runs under any python3
        sys.exit(f"keepwarm needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    python = BIN / "python"
    if not python.exists():
        print("creating .venv", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    uv = BIN / "uv"
    installed = subprocess.run([str(uv), "--version"], capture_output=True, text=True) \
        if uv.exists() else None
    if installed is None or UV_VERSION not in installed.stdout:
        _run(python, "-m", "pip", "install", "--quiet", f"uv=={UV_VERSION}")
    # --locked: fail rather than resolve anew if pyproject.toml and uv.lock disagree.
    # --compile-bytecode: write every dependency's .pyc now. Python would write them on first
    # import, but not where PYTHONDONTWRITEBYTECODE is set (CI, containers): there every
    # `keepwarm` command recompiled Dagster and friends, seconds before doing any work.
    _run(uv, "sync", "--locked", "--quiet", "--compile-bytecode",
         UV_PROJECT_ENVIRONMENT=str(VENV))


def main() -> None:
    task = sys.argv[1] if len(sys.argv) > 1 else ""
    if task not in ("demo", "test"):
        sys.exit(__doc__)
    install()
    if task == "demo":
        _run(BIN / "keepwarm", "run", *sys.argv[2:])
    else:
        _run(BIN / "ruff", "check", ".")
        _run(BIN / "python", "-m", "pytest", *sys.argv[2:])


if __name__ == "__main__":
    main()
