"""Docker mode's stop and status, with a fake `docker` (no engine here) and no native services.

stop_infrastructure.sh runs from a copy in a temp dir, so its native branch finds a fake venv
there and never touches the services this machine runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from infra import __main__ as infra_main
from infra import docker
from infra.env import ROOT

TOOLS = ("bash", "cat", "dirname", "sed", "timeout")
PS_LINES = "\n".join(
    json.dumps(row)
    for row in (
        {"Service": "kafka", "State": "running", "Health": "healthy",
         "Publishers": [{"URL": "127.0.0.1", "PublishedPort": 9092, "TargetPort": 9092}]},
        {"Service": "postgres", "State": "running", "Health": "starting", "Publishers": []},
        {"Service": "kafka-init", "State": "exited", "Health": "", "Publishers": None},
    )
)  # fmt: skip


def fake_docker(bin_dir: Path, log: Path, info_rc: int, ps_ids: str) -> None:
    """A `docker` that records its arguments, answers `info` with info_rc, lists ps_ids."""
    script = bin_dir / "docker"
    script.write_text(
        "#!/bin/bash\n"
        f'echo "$*" >> {log}\n'
        f'if [[ "$1" == info ]]; then exit {info_rc}; fi\n'
        f'if [[ "$*" == "compose ps --all --quiet" ]]; then printf "{ps_ids}"; fi\n'
        "exit 0\n"
    )
    script.chmod(0o755)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the stop script and common.sh, with a fake venv python that records its args."""
    root = tmp_path / "project"
    (root / "infra").mkdir(parents=True)
    shutil.copy(ROOT / "stop_infrastructure.sh", root)
    shutil.copy(ROOT / "infra" / "common.sh", root / "infra")
    python = root / ".local" / "venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f'#!/bin/bash\necho "$*" >> {tmp_path / "native.log"}\n')
    python.chmod(0o755)
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found, tool
        (tools / tool).symlink_to(found)
    return root


def stop(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": str(project.parent / "bin"), "HOME": str(project.parent)}
    return subprocess.run(
        ["bash", str(project / "stop_infrastructure.sh"), *args],
        capture_output=True, text=True, env=env, timeout=30,
    )  # fmt: skip


def logged(project: Path, name: str) -> list[str]:
    path = project.parent / name
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.parametrize("purge", [(), ("--purge",)])
def test_stop_uses_compose_when_the_project_has_containers(project: Path, purge: tuple) -> None:
    fake_docker(project.parent / "bin", project.parent / "docker.log", 0, "abc123\\n")
    done = stop(project, *purge)
    assert done.returncode == 0, done.stderr
    down = "compose down --volumes" if purge else "compose down"
    assert logged(project, "docker.log")[-1] == down
    assert logged(project, "native.log") == []  # the native services are left alone
    assert "Docker mode" in done.stdout


@pytest.mark.parametrize(("info_rc", "ids"), [(1, "abc123\\n"), (0, "")])
def test_stop_stays_native_without_an_engine_or_containers(
    project: Path, info_rc: int, ids: str
) -> None:
    fake_docker(project.parent / "bin", project.parent / "docker.log", info_rc, ids)
    done = stop(project, "--purge")
    assert done.returncode == 0, done.stderr
    assert not any("down" in line for line in logged(project, "docker.log"))
    assert logged(project, "native.log") == ["-m infra down --purge"]


def test_stop_without_docker_installed_says_nothing_about_it(project: Path) -> None:
    done = stop(project)
    assert done.returncode == 0
    assert (done.stdout, done.stderr) == ("", "")
    assert logged(project, "native.log") == ["-m infra down"]


def test_native_flag_skips_docker_and_docker_flag_forces_it(project: Path) -> None:
    fake_docker(project.parent / "bin", project.parent / "docker.log", 0, "abc123\\n")
    stop(project, "--native")
    assert logged(project, "docker.log") == []
    assert logged(project, "native.log") == ["-m infra down"]
    stop(project, "--docker")
    assert logged(project, "docker.log") == ["compose down"]


def runner(answers: dict[str, tuple[int, str]]) -> docker.Run:
    def run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        if argv[0] != "docker":
            raise FileNotFoundError(argv[0])
        rc, out = answers.get(" ".join(argv[1:]), (1, ""))
        return subprocess.CompletedProcess(list(argv), rc, out, "")

    return run


def test_compose_in_use_needs_an_engine_and_containers() -> None:
    ids = {"compose ps --all --quiet": (0, "abc\n")}
    assert docker.compose_in_use(runner({"info": (0, ""), **ids}))
    assert not docker.compose_in_use(runner({"info": (1, ""), **ids}))
    assert not docker.compose_in_use(runner({"info": (0, ""), "compose ps --all --quiet": (0, "")}))

    def missing(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        raise FileNotFoundError("docker")

    assert not docker.compose_in_use(missing)


@pytest.mark.parametrize("form", ["lines", "array"])
def test_status_reports_compose_services(form: str) -> None:
    array = json.dumps([json.loads(line) for line in PS_LINES.split("\n")])
    text = PS_LINES if form == "lines" else array
    rows = docker.compose_status(runner({"compose ps --all --format json": (0, text)}))
    assert rows is not None
    by = {r.service: r for r in rows}
    assert by["kafka"].up and by["kafka"].ports == "127.0.0.1:9092"
    assert not by["postgres"].up  # running but its healthcheck has not passed yet
    lines: list[str] = []
    assert docker.print_status(rows, lines.append) is False
    assert any(line.startswith("kafka ") and " up " in line for line in lines)
    ready = [docker.ServiceState("kafka", "running", "healthy", ""),
             docker.ServiceState("postgres", "running", "healthy", "")]  # fmt: skip
    assert docker.print_status(ready, lines.append) is True


def test_make_status_reports_compose_in_docker_mode(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [docker.ServiceState("kafka", "running", "healthy", "127.0.0.1:9092"),
            docker.ServiceState("postgres", "exited", "", "")]  # fmt: skip
    monkeypatch.setattr(docker, "compose_in_use", lambda: True)
    monkeypatch.setattr(docker, "compose_status", lambda: rows)
    monkeypatch.setattr(infra_main, "status", lambda s: pytest.fail("native status in Docker mode"))
    assert infra_main.main(["status"]) == 1
    out = capsys.readouterr().out
    assert "Docker mode" in out and "postgres" in out and "exited" in out


def test_make_down_and_purge_go_through_the_script() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "\n\t./stop_infrastructure.sh\n" in makefile
    assert "\n\t./stop_infrastructure.sh --purge\n" in makefile
    assert os.access(ROOT / "stop_infrastructure.sh", os.X_OK)
