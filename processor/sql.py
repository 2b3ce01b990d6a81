"""SQL statements live in .sql files under db/ and are loaded here by name, never assembled."""

from __future__ import annotations

from functools import cache

from infra.env import ROOT

SQL_DIR = ROOT / "db"


@cache
def load_sql(group: str, name: str) -> str:
    """Return the text of db/<group>/<name>.sql (cached)."""
    path = SQL_DIR / group / f"{name}.sql"
    if not path.is_file():
        raise FileNotFoundError(f"SQL file {path} is missing: the checkout is incomplete")
    return path.read_text(encoding="utf-8")


def sql_names(group: str) -> list[str]:
    """Names (without .sql) of the statements in db/<group>/, sorted."""
    return sorted(p.stem for p in (SQL_DIR / group).glob("*.sql"))
