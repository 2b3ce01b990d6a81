"""The project's version, in one place: pyproject.toml reads it, and every entry point's
`--version` prints it."""

from __future__ import annotations

import argparse

__version__ = "0.1.0"


def add_version(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Give `parser` a `--version` flag that prints `<prog> <version>` and exits 0."""
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__} (clickstream-pipeline)"
    )
    return parser
