"""`python -m producer.profile --json`: the profile as one JSON object, for CI."""

from __future__ import annotations

import json

import pytest

from producer.profile import TARGETS, main


def test_profile_json_holds_every_target_with_its_verdict(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--events", "20000", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)  # the whole of stdout is the object
    assert report["events"] == 20000 and report["sessions"] > 0
    assert set(report["targets"]) == {key for key, *_ in TARGETS}
    for key, target in report["targets"].items():
        assert target["value"] == report["rates"][key]
        assert target["in_range"] == (target["low"] <= target["value"] <= target["high"])
