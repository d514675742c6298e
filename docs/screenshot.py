"""Re-take docs/digest.png, the README's picture of the digest, from the demo's last run,
and print the terminal digest at 80 columns (the README's excerpt is its top).

    python3 run.py demo                      # or .venv/bin/keepwarm run
    .venv/bin/python docs/screenshot.py      # needs Debian's chromium (apt install chromium)

The page is the digest of the serving copy with LIMIT people a list, so that one screen
shows every section; Chromium renders it headless, offline, at 1200 px wide, and the PNG is
reduced to 256 colours to keep it small.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from engine.config import load_config  # noqa: E402
from engine.digest import build_digest, render_html, render_text, write_page  # noqa: E402
from engine.serving import open_serving_copy  # noqa: E402

LIMIT = 3
WINDOW = (1200, 2600)
PICTURE = ROOT / "docs" / "digest.png"


def main() -> int:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("screenshot.py: no chromium on PATH (Debian: apt install chromium)",
              file=sys.stderr)
        return 2
    config = load_config(ROOT / "keepwarm.yaml")
    with open_serving_copy(Path(config.warehouse.serving_path)) as con:
        digest = build_digest(con, limit=LIMIT, min_touchpoints=config.status.min_touchpoints,
                              split_addresses=config.identities.split,
                              job_change_days=config.status.job_change_days)
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "digest.html"
        write_page(page, render_html(digest))
        shot = Path(tmp) / "digest.png"
        subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run", f"--user-data-dir={tmp}/profile",
             "--hide-scrollbars", f"--window-size={WINDOW[0]},{WINDOW[1]}",
             f"--screenshot={shot}", page.as_uri()],
            check=True, capture_output=True,
        )
        Image.open(shot).convert("RGB").quantize(256).save(PICTURE, optimize=True)
    print(render_text(digest, 80))
    print(f"wrote {PICTURE} ({PICTURE.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
