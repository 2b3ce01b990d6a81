"""JSON Schemas of the pinned Grafana's dashboard model, made from its @grafana/schema npm package.

docker-compose.yml's `grafana/grafana:<version>` tag is the one place the Grafana version is
written. Grafana publishes the TypeScript types of that release's dashboard model (the classic
v1 JSON that file provisioning reads) and of each core panel plugin's options as the npm package
@grafana/schema with the same version number. `ensure_schemas()` installs that package and
ts-json-schema-generator under .local/grafana-schema/<version>/ and turns the types into one JSON
file (see infra/grafana_schema.cjs). A second call with the same versions returns at once.

    python -m infra.grafana_schema      # prints the file's path (installs on the first run)

Needs npm (Node.js) and the npm registry the first time; as root a missing npm is installed
from Debian's packages.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from infra.apt import ensure_command
from infra.env import LOCAL, ROOT
from infra.errors import InfraError

COMPOSE = ROOT / "docker-compose.yml"
SCRIPT = Path(__file__).with_suffix(".cjs")
# The converter, pinned exactly. 2.4.0 is the newest release that runs on Node 18/20 (Debian's
# nodejs); later ones require Node 22.
TOOLS = {"ts-json-schema-generator": "2.4.0", "typescript": "5.9.3"}
NPM_TIMEOUT = 600


def grafana_version(compose: Path = COMPOSE) -> str:
    """The version in docker-compose.yml's `grafana/grafana:<version>` image tag."""
    services = yaml.safe_load(compose.read_text(encoding="utf-8"))["services"]
    image = str(services["grafana"]["image"])
    match = re.fullmatch(r"(?:docker\.io/)?grafana/grafana(?:-oss)?:(\d+\.\d+\.\d+)", image)
    if not match:
        raise InfraError(f"{compose.name}: grafana image {image!r} is not grafana/grafana:X.Y.Z")
    return match.group(1)


def schema_dir(version: str) -> Path:
    return LOCAL / "grafana-schema" / version


def _stamp(version: str) -> str:
    """What the schema file was made from: package versions and the converter script."""
    wanted = {"@grafana/schema": version, **TOOLS}
    text = json.dumps(wanted, sort_keys=True) + SCRIPT.read_text(encoding="utf-8")
    return hashlib.sha256(text.encode()).hexdigest()


def _run(cmd: list[str], cwd: Path, what: str) -> None:
    try:
        result = subprocess.run(
            cmd, cwd=cwd, capture_output=True, text=True, timeout=NPM_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise InfraError(f"{what}: `{' '.join(cmd)}` took over {NPM_TIMEOUT}s") from exc
    if result.returncode != 0:
        out = (result.stdout + result.stderr).strip()[-3000:]
        raise InfraError(f"{what}: `{' '.join(cmd)}` failed:\n{out}")


def _npm() -> str:
    """Path of npm, installed from Debian's `npm` package when missing and running as root."""
    try:
        ensure_command("npm", "npm")
    except InfraError as exc:
        raise InfraError(
            f"npm (Node.js) is needed to fetch Grafana's dashboard schema (@grafana/schema); {exc}"
        ) from exc
    npm = shutil.which("npm")
    if not npm or not shutil.which("node"):
        raise InfraError("npm and node must be on PATH to build Grafana's dashboard schema")
    return npm


def ensure_schemas(version: str | None = None, quiet: bool = True) -> Path:
    """Path of schemas.json for the pinned (or the given) Grafana version; built when missing."""
    version = version or grafana_version()
    target = schema_dir(version)
    out = target / "schemas.json"
    stamp_file = target / ".stamp"
    want = _stamp(version)
    if out.is_file() and stamp_file.is_file() and stamp_file.read_text() == want:
        return out
    target.mkdir(parents=True, exist_ok=True)
    with (target / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test runs at once install once
        if out.is_file() and stamp_file.is_file() and stamp_file.read_text() == want:
            return out
        if not quiet:
            print(f"==> Grafana {version} dashboard schema from npm (@grafana/schema) ...")
        npm = _npm()
        package = {
            "private": True,
            "description": "Written by infra/grafana_schema.py; not committed (.local/).",
            "dependencies": {"@grafana/schema": version, **TOOLS},
        }
        (target / "package.json").write_text(json.dumps(package, indent=2) + "\n")
        flags = ["--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"]
        _run([npm, "install", *flags], target, "installing @grafana/schema")
        node = shutil.which("node") or "node"
        _run([node, str(SCRIPT), str(target), str(out)], target, "converting the schema")
        installed = json.loads(out.read_text(encoding="utf-8"))["version"]
        if installed != version:
            raise InfraError(f"npm installed @grafana/schema {installed}, not {version}")
        stamp_file.write_text(want)
    return out


def load_schemas(version: str | None = None) -> dict[str, object]:
    """The parsed schemas.json (see infra/grafana_schema.cjs for its layout)."""
    data: dict[str, object] = json.loads(ensure_schemas(version).read_text(encoding="utf-8"))
    return data


def main() -> int:
    began = time.monotonic()
    try:
        path = ensure_schemas(quiet=False)
    except InfraError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{path} ({time.monotonic() - began:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
