"""Spark's checkpoint in, the offsets a micro-batch covers out (read, never written).

Spark writes `offsets/<batch id>` (its write-ahead log) before it runs a batch: a version line,
a metadata line, then one JSON line per source with the end offset of every partition. The
batch ledger keeps those end offsets, so that a batch id seen before can be told apart from a
replay of the same batch (a checkpoint restored from a backup, or one whose `offsets/` and
`commits/` were removed, reuses ids for other offsets).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path


def batch_end_offsets(checkpoint: Path, batch_id: int, topic: str) -> dict[str, int] | None:
    """The end offset per partition (as text keys) of `topic` in batch `batch_id`, or None."""
    try:
        lines = (checkpoint / "offsets" / str(batch_id)).read_text().splitlines()
    except OSError:
        return None
    for line in lines[2:]:
        try:
            source = json.loads(line)
        except ValueError:
            continue
        if isinstance(source, dict) and isinstance(source.get(topic), dict):
            return {str(p): int(o) for p, o in sorted(source[topic].items(), key=_numeric)}
    return None


def _numeric(item: tuple[str, object]) -> int:
    return int(item[0])


def retire_checkpoint(checkpoint: Path, reason: str) -> Path:
    """Move a checkpoint aside (kept for inspection, never deleted); return where it went.

    `reason` (a Kafka topic id, say) goes into the folder's name with only letters, digits,
    '-' and '_' kept: a topic id is base64 and may hold '/' or '+'.
    """
    tag = re.sub(r"[^A-Za-z0-9_-]", "_", reason[:12]) or "x"
    kept = checkpoint.with_name(f"{checkpoint.name}.retired-{tag}-{int(time.time())}")
    if checkpoint.exists():
        checkpoint.rename(kept)
    return kept
