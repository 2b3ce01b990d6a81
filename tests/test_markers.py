"""Every test that takes a service fixture is marked integration, so `-m "not integration"` runs
with no Kafka, PostgreSQL or Spark and never starts them.

Read from the source (no collection): a test needs a service when it, or a fixture it takes
from its own module, names one of SERVICE_FIXTURES.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).parent
# tests/conftest.py and tests/filled.py: each starts or needs the running services.
SERVICE_FIXTURES = {"services", "kafka_topic", "pg_schema", "spark", "frame", "filled_schema"}


def _marked_integration(node: ast.expr) -> bool:
    return "mark.integration" in ast.unparse(node)


def _arguments(fn: ast.FunctionDef) -> set[str]:
    return {a.arg for a in (*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs)}


def unmarked_service_tests(source: str) -> list[str]:
    """Names of the module's test functions that take a service fixture without the marker."""
    tree = ast.parse(source)
    if any(
        isinstance(s, ast.Assign)
        and "pytestmark" in map(ast.unparse, s.targets)
        and _marked_integration(s.value)
        for s in tree.body
    ):
        return []
    functions = [s for s in tree.body if isinstance(s, ast.FunctionDef)]
    needs = set(SERVICE_FIXTURES)
    grew = True
    while grew:  # a local fixture that takes a service fixture needs the services too
        fixtures = {f.name for f in functions if f.decorator_list and _arguments(f) & needs} - needs
        grew = bool(fixtures)
        needs |= fixtures
    return [
        f.name
        for f in functions
        if f.name.startswith("test")
        and _arguments(f) & needs
        and not any(_marked_integration(d) for d in f.decorator_list)
    ]


def test_the_check_finds_an_unmarked_test_through_a_local_fixture() -> None:
    source = (
        "import pytest\n"
        "@pytest.fixture\ndef table(services): ...\n"
        "def test_direct(services): ...\n"
        "def test_through_fixture(table): ...\n"
        "@pytest.mark.integration\ndef test_marked(services): ...\n"
        "def test_pure(tmp_path): ...\n"
    )
    assert unmarked_service_tests(source) == ["test_direct", "test_through_fixture"]
    marked_module = "import pytest\npytestmark = pytest.mark.integration\ndef test_a(spark): ...\n"
    assert unmarked_service_tests(marked_module) == []


def test_every_test_that_takes_a_service_is_marked_integration() -> None:
    found = {
        str(path.relative_to(TESTS)): names
        for path in sorted(TESTS.rglob("test_*.py"))
        if (names := unmarked_service_tests(path.read_text(encoding="utf-8")))
    }
    assert found == {}, f"add @pytest.mark.integration to {found}"
