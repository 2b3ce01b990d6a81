"""Shared helpers for the Grafana tests: where the files are, and the panels' queries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "config" / "grafana"
DASHBOARD_DIR = GRAFANA / "dashboards"
DASHBOARD_FILES = sorted(DASHBOARD_DIR.glob("*.json"))


def load(path: Path) -> dict[str, Any]:
    """Return one dashboard model from its JSON file."""
    return json.loads(path.read_text(encoding="utf-8"))


def panels(model: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Yield every panel that shows data (rows excluded, collapsed rows' panels included)."""
    for panel in model.get("panels", []):
        if panel.get("type") == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def queries() -> Iterator[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """Yield (test id, dashboard, panel, target) for every panel query of every dashboard."""
    for path in DASHBOARD_FILES:
        model = load(path)
        for panel in panels(model):
            for target in panel.get("targets", []):
                yield f"{model['uid']}:{panel['title']}:{target['refId']}", model, panel, target
