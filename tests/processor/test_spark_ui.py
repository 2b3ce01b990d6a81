"""PROCESSOR_SPARK_UI: no web UI by default; `on` is loopback only and cannot kill jobs."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.env import ConfigError, load_env
from processor.settings import ProcessorSettings
from processor.spark_session import spark_conf, ui_environment

JARS = [Path("/jars/a.jar"), Path("/jars/b.jar")]


def settings(**env: str) -> ProcessorSettings:
    return ProcessorSettings.from_env({**load_env(), **env})


def test_the_ui_is_off_by_default() -> None:
    mode = settings().spark_ui
    assert mode == "off"
    conf = spark_conf(JARS, mode)
    assert conf["spark.ui.enabled"] == "false"
    assert conf["spark.jars"] == "/jars/a.jar,/jars/b.jar"
    assert ui_environment(mode, "local[*]", {}) == {}


def test_on_enables_the_ui_on_loopback_without_kill_links() -> None:
    mode = settings(PROCESSOR_SPARK_UI="on").spark_ui
    conf = spark_conf(JARS, mode)
    assert conf["spark.ui.enabled"] == "true"
    assert conf["spark.ui.killEnabled"] == "false"
    # Spark's UI listens on SPARK_LOCAL_IP, else 0.0.0.0.
    assert ui_environment(mode, "local[2]", {}) == {"SPARK_LOCAL_IP": "127.0.0.1"}


def test_an_address_the_user_chose_is_kept() -> None:
    assert ui_environment("on", "local[*]", {"SPARK_LOCAL_IP": "10.0.0.5"}) == {}


def test_on_with_a_cluster_master_asks_for_an_address_instead_of_opening_all() -> None:
    with pytest.raises(ConfigError, match="set SPARK_LOCAL_IP") as caught:
        ui_environment("on", "spark://spark-master:7077", {})
    assert "\n" not in str(caught.value)
    env = {"SPARK_LOCAL_IP": "10.0.0.5"}
    assert ui_environment("on", "spark://spark-master:7077", env) == {}


def test_later_conf_wins_over_the_ui_mode() -> None:
    assert spark_conf(JARS, "off", {"spark.ui.enabled": "true"})["spark.ui.enabled"] == "true"


@pytest.mark.parametrize("bad", ["yes", "ON", "127.0.0.1"])
def test_a_bad_value_is_one_line_naming_the_setting(bad: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings(PROCESSOR_SPARK_UI=bad)
    message = str(caught.value)
    assert message.startswith(f"PROCESSOR_SPARK_UI={bad!r} must be one of off, on")
    assert "PROCESSOR_SPARK_UI=off" in message and "\n" not in message
    with pytest.raises(ConfigError, match="PROCESSOR_SPARK_UI"):
        spark_conf(JARS, bad)
