"""Reading a micro-batch's end offsets from Spark's offset log: pure, no services."""

from __future__ import annotations

from pathlib import Path

from processor.checkpoint import batch_end_offsets, retire_checkpoint

LOG = 'v1\n{"batchWatermarkMs":0,"batchTimestampMs":1,"conf":{}}\n{"t.x":{"1":20,"0":7,"10":3}}\n'


def test_end_offsets_of_the_topic_in_partition_order(tmp_path: Path) -> None:
    (tmp_path / "offsets").mkdir()
    (tmp_path / "offsets" / "4").write_text(LOG)
    assert batch_end_offsets(tmp_path, 4, "t.x") == {"0": 7, "1": 20, "10": 3}
    assert list(batch_end_offsets(tmp_path, 4, "t.x") or {}) == ["0", "1", "10"]


def test_missing_or_foreign_logs_give_none(tmp_path: Path) -> None:
    assert batch_end_offsets(tmp_path, 0, "t.x") is None
    (tmp_path / "offsets").mkdir()
    (tmp_path / "offsets" / "0").write_text(LOG)
    assert batch_end_offsets(tmp_path, 0, "other") is None
    (tmp_path / "offsets" / "1").write_text("v1\n{}\nnot json\n")
    assert batch_end_offsets(tmp_path, 1, "t.x") is None


def test_a_retired_checkpoint_keeps_its_files_whatever_the_topic_id_holds(tmp_path: Path) -> None:
    for n, topic_id in enumerate(("wZhRpnxCQ/yW+abc==", "../..", "", "ok_Id-1")):
        checkpoint = tmp_path / f"ckpt{n}"
        (checkpoint / "offsets").mkdir(parents=True)
        (checkpoint / "offsets" / "0").write_text("v1\n")
        kept = retire_checkpoint(checkpoint, topic_id)
        assert kept.parent == tmp_path and kept.name.startswith(f"ckpt{n}.retired-")
        assert not checkpoint.exists() and (kept / "offsets" / "0").read_text() == "v1\n"
