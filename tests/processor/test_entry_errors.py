"""The processor's entry point turns a missing-jars setup into one line and exit 1."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from processor import streaming_processor
from processor.settings import ProcessorError
from processor.spark_session import SparkJarsMissing, spark_jars


def test_missing_jars_is_a_processor_error_naming_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ProcessorError, match="python -m infra fetch-spark-jars"):
        spark_jars(tmp_path)


def test_main_prints_one_line_and_exits_1_without_jars(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def run(*_: object, **__: object) -> None:
        spark_jars(tmp_path)  # what get_spark_session does first

    monkeypatch.setattr(streaming_processor, "run", run)
    assert streaming_processor.main([]) == 1
    err = capsys.readouterr().err
    assert err.startswith("processor: no Spark connector jars in") and err.count("\n") == 1
    assert isinstance(SparkJarsMissing("x"), RuntimeError)


def test_verify_says_postgres_is_down_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from processor import verify

    ledger = tmp_path / "ledger.json"
    ledger.write_text("{}")

    def refused(*_: object, **__: object) -> None:
        raise psycopg.OperationalError(
            'connection to server at "127.0.0.1", port 1 failed: Connection refused\n'
            "\tIs the server running on that host and accepting TCP/IP connections?"
        )

    monkeypatch.setattr(verify, "run_checks", refused)
    assert verify.main(["--ledger", str(ledger)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Connection refused" in err and "start_infrastructure" in err
