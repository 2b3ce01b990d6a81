"""The project is a package: a wheel builds offline from the checkout's files, with the run-time
dependencies, a `dev` extra, the licence and a console script per entry point, each of which
answers --version.

Built from a copy of the checkout (setuptools writes build/ and *.egg-info beside the sources),
with the venv's own setuptools (requirements-dev.txt), so nothing is fetched.
"""

from __future__ import annotations

import configparser
import importlib
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from infra.env import ROOT
from infra.version import __version__

pytestmark = pytest.mark.slow

SCRIPTS = {
    "clickstream-pipeline", "clickstream-producer", "clickstream-profile",
    "clickstream-processor", "clickstream-verify", "clickstream-status", "clickstream-viewer",
    "clickstream-contract",
}  # fmt: skip


def pins(name: str) -> set[str]:
    text = (ROOT / name).read_text()
    pattern = r"^([A-Za-z0-9_.-]+(?:\[[^\]]*\])?==[^\s#]+)"
    return {m.lower() for m in re.findall(pattern, text, re.M)}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    src = tmp_path_factory.mktemp("src") / "checkout"
    keep = shutil.ignore_patterns(".local", ".git", "__pycache__", "*.egg-info", "build", "tests")
    shutil.copytree(ROOT, src, ignore=keep)
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "-q", "-w", str(out), str(src)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    (path,) = out.glob("clickstream_pipeline-*.whl")
    return zipfile.ZipFile(path)


def test_the_wheel_carries_the_dependencies_the_extra_and_the_licence(
    wheel: zipfile.ZipFile,
) -> None:
    meta_name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    meta = wheel.read(meta_name).decode()
    assert f"Version: {__version__}" in meta and "License-Expression: Apache-2.0" in meta
    required = {
        line.split(": ", 1)[1].replace(" ", "").lower()
        for line in meta.splitlines()
        if line.startswith("Requires-Dist: ")
    }
    runtime = {p for p in required if "extra==" not in p}
    dev = {p.split(";")[0] for p in required if 'extra=="dev"' in p}
    assert runtime == pins("requirements-runtime.txt")
    assert dev == pins("requirements-dev.txt")
    assert any(n.endswith("licenses/LICENSE") for n in wheel.namelist())
    assert "viewer/assets/viewer.css" in wheel.namelist()
    assert "contract/event.schema.json" in wheel.namelist()
    for package in ("contract", "producer", "processor", "infra", "runner", "viewer"):
        assert f"{package}/__init__.py" in wheel.namelist()


def test_each_console_script_is_an_entry_point_that_answers_version(
    wheel: zipfile.ZipFile, capsys: pytest.CaptureFixture[str]
) -> None:
    name = next(n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt"))
    entry = configparser.ConfigParser()
    entry.read_string(wheel.read(name).decode())
    scripts = dict(entry["console_scripts"])
    assert set(scripts) == SCRIPTS
    for script, target in scripts.items():
        module, func = target.split(":")
        main = getattr(importlib.import_module(module), func)
        with pytest.raises(SystemExit) as done:
            main(["--version"])
        assert done.value.code == 0, script
        assert capsys.readouterr().out.strip().endswith(f"{__version__} (clickstream-pipeline)")


def test_the_version_is_in_one_place() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    assert 'version = { attr = "infra.version.__version__" }' in text
    assert not re.search(r"^version = \"", text, re.M)
    assert Path(ROOT / "CHANGELOG.md").read_text().count(__version__) >= 1
