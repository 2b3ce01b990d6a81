"""Fetch jars from Maven Central once, with Maven's dependency plugin and a small pom."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from infra.apt import ensure_command
from infra.errors import InfraError


def fetch_jars(pom: Path, dest: Path, *, transitive: bool, label: str) -> bool:
    """Copy the pom's dependencies into `dest` unless done for this exact pom; True if fetched."""
    marker = dest / ".fetched-from"
    stamp = pom.read_text()
    if marker.is_file() and marker.read_text() == stamp and any(dest.glob("*.jar")):
        return False
    ensure_command("java", "default-jre-headless")
    ensure_command("mvn", "maven")
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    cmd = [
        "mvn", "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
        f"-DoutputDirectory={dest}", "-DincludeScope=runtime",
        f"-DexcludeTransitive={'false' if transitive else 'true'}",
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise InfraError(f"{label}: Maven could not fetch the jars listed in {pom}:\n{tail}")
    marker.write_text(stamp)
    return True
