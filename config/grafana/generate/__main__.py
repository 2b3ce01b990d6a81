"""Write config/grafana/dashboards/*.json from the dashboard definitions in this folder.

Run `python config/grafana/generate` after editing a definition; `--check` exits 1 while a JSON
file differs from what the definitions produce (the tests run the same check).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[3]))  # the KPI table: processor.dashboard

import funnel
import overview

OUT_DIR = Path(__file__).resolve().parent.parent / "dashboards"
DASHBOARDS: dict[str, Callable[[], dict[str, Any]]] = {
    "clickstream-overview.json": overview.build,
    "clickstream-funnel.json": funnel.build,
}


def render() -> Iterator[tuple[Path, str]]:
    """Yield each dashboard's path and its JSON text."""
    for name, build in DASHBOARDS.items():
        yield OUT_DIR / name, json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the dashboards, or with --check list those that are out of date."""
    parser = argparse.ArgumentParser(prog="python config/grafana/generate")
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is out of date")
    args = parser.parse_args(argv)
    stale = [p for p, text in render() if not p.is_file() or p.read_text("utf-8") != text]
    if args.check:
        for path in stale:
            print(f"{path.name} is out of date: run python config/grafana/generate")
        return 1 if stale else 0
    for path, text in render():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path} ({len(json.loads(text)['panels'])} panels)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
