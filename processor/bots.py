"""Known bot user agents: the one list the processor marks sessions by (user_sessions.is_bot).

A session is a bot session when the user agent of its first event contains one of
KNOWN_BOT_PATTERNS, compared case-insensitively in ASCII (A-Z folded to a-z, nothing else), as
analytics tools filter known bots. The processor flags each new event with bot_flags() (Arrow)
as it stages a chunk; the SQL function is_bot_agent() in db/init.sql carries the same list for
verify's independent recount and schema upgrades. tests/processor/test_bots.py fails when the
two differ. `python -m processor.bots` prints the SQL literal to paste there.
"""

from __future__ import annotations

import sys

import pyarrow as pa
import pyarrow.compute as pc

# Crawlers, scrapers and headless browsers by a substring of their user agent, lowercase.
# The generic "bot", "crawl" and "spider" catch most self-declared crawlers; the named ones
# document which we mean (and stay matched if a vendor drops the generic word). The producer's
# bots scenario keeps its own list (producer/scenarios.py); every user agent it marks, this
# list marks too.
KNOWN_BOT_PATTERNS: tuple[str, ...] = (
    "googlebot",
    "bingbot",
    "ahrefsbot",
    "semrushbot",
    "yandexbot",
    "baiduspider",
    "duckduckbot",
    "applebot",
    "petalbot",
    "gptbot",
    "ccbot",
    "facebookexternalhit",
    "slurp",  # Yahoo! Slurp
    "python-requests",
    "python-urllib",
    "curl/",
    "wget",
    "go-http-client",
    "scrapy",
    "headlesschrome",
    "phantomjs",
    "bot",
    "crawl",  # crawler, Crawl, ...
    "spider",
)

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(text: str) -> str:
    """`text` with A-Z folded to a-z, every other character kept (SQL: lower(x COLLATE "C"))."""
    return text.translate(_ASCII_LOWER)


def is_bot_agent(user_agent: str | None) -> bool:
    """Whether a user agent matches a known bot pattern (None: no user agent, not a bot)."""
    if user_agent is None:
        return False
    folded = ascii_lower(user_agent)
    return any(pattern in folded for pattern in KNOWN_BOT_PATTERNS)


_REGEX_SPECIAL = frozenset(".^$*+?()[]{}|\\")
# The patterns' alternation, metacharacters escaped: one regular expression that RE2 (Arrow)
# and PostgreSQL read alike.
_ESCAPED = tuple(
    "".join("\\" + c if c in _REGEX_SPECIAL else c for c in p) for p in KNOWN_BOT_PATTERNS
)
KNOWN_BOT_REGEX = "|".join(_ESCAPED)


def bot_flags(user_agents: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """is_bot_agent() over an Arrow column, in Arrow's C++ kernels (about 0.3 us a value):
    ascii_lower() folds A-Z only and leaves every other byte alone, then one RE2 match; a
    null user agent is no bot."""
    folded = pc.ascii_lower(user_agents)
    return pc.fill_null(pc.match_substring_regex(folded, KNOWN_BOT_REGEX), False)


def sql_regex(indent: str = "        ", width: int = 96) -> str:
    """KNOWN_BOT_PATTERNS as db/init.sql's is_bot_agent() carries them: one regular expression,
    the patterns' alternation (metacharacters escaped), as quoted literals one per line (SQL
    joins string constants separated by a newline), wrapped at a `|`."""
    parts = [a.replace("'", "''") for a in _ESCAPED]
    lines: list[str] = []
    line = ""
    for i, part in enumerate(parts):
        piece = part + ("|" if i < len(parts) - 1 else "")
        if line and len(indent) + len(line) + len(piece) + 2 > width:
            lines.append(f"{indent}'{line}'")
            line = ""
        line += piece
    lines.append(f"{indent}'{line}'")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(sql_regex() + "\n")
