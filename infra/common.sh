# Sourced by the start_*.sh scripts: project root, the virtualenv (created or updated only when
# requirements.txt or the requirements-runtime.txt and requirements-dev.txt it includes changed),
# and `python` in it.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.local/venv"

ensure_venv() {
  local stamp="$VENV/.requirements.sha256" want
  want="$(cat "$ROOT"/requirements{,-runtime,-dev}.txt | sha256sum | cut -d' ' -f1)"
  if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return 0
  fi
  # On stderr, like pip's output: a script's stdout may be data (start_producer.sh --output -).
  echo "==> Python virtualenv $VENV (installing requirements.txt) ..." >&2
  [[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV" >&2
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$ROOT/requirements.txt" >&2
  echo "$want" > "$stamp"
  echo "    done" >&2
}

# Docker mode is in use when a Docker engine answers and this project's containers exist,
# running or stopped (infra/docker.py compose_in_use is the same rule, for `python -m infra
# status`). Silent and false where docker is not installed.
docker_mode_in_use() {
  command -v docker >/dev/null 2>&1 && timeout 5 docker info >/dev/null 2>&1 \
    && [[ -n "$(timeout 10 docker compose ps --all --quiet 2>/dev/null)" ]]
}
