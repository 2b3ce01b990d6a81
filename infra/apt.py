"""Install missing system tools from Debian's packages when running as root."""

from __future__ import annotations

import os
import shutil
import subprocess

from infra.errors import InfraError

_updated = False


def apt_install(*packages: str) -> None:
    """`apt-get install -y` the packages non-interactively (root only; one update per run)."""
    global _updated
    if os.geteuid() != 0:
        raise InfraError(
            f"missing system packages; install them with: sudo apt-get update && "
            f"sudo DEBIAN_FRONTEND=noninteractive apt-get install -y {' '.join(packages)}"
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    steps = [] if _updated else [["apt-get", "update", "-qq"]]
    steps.append(["apt-get", "install", "-y", "-qq", *packages])
    for cmd in steps:
        result = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise InfraError(f"`{' '.join(cmd)}` failed:\n{result.stderr[-2000:]}")
    _updated = True


def ensure_command(command: str, package: str) -> bool:
    """Install `package` when `command` is not on PATH; True if it was installed now."""
    if shutil.which(command):
        return False
    apt_install(package)
    return True
