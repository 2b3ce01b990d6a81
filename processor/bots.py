"""Known bot user agents: the one list the processor marks sessions by (user_sessions.is_bot).

A session is a bot session when the user agent of its first event contains one of
KNOWN_BOT_PATTERNS, compared case-insensitively in ASCII (A-Z folded to a-z, nothing else), as
analytics tools filter known bots. The SQL function is_bot_agent() in db/init.sql carries the
same list (the processor's merges and verify use it); tests/processor/test_bots.py fails when
the two differ. `python -m processor.bots` prints the SQL array literal to paste there.
"""

from __future__ import annotations

import sys

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
    """`text` with A-Z folded to a-z and every other character kept (as SQL's translate())."""
    return text.translate(_ASCII_LOWER)


def is_bot_agent(user_agent: str | None) -> bool:
    """Whether a user agent matches a known bot pattern (None: no user agent, not a bot)."""
    if user_agent is None:
        return False
    folded = ascii_lower(user_agent)
    return any(pattern in folded for pattern in KNOWN_BOT_PATTERNS)


def sql_array(indent: str = "        ", width: int = 96) -> str:
    """KNOWN_BOT_PATTERNS as the SQL array literal in db/init.sql's is_bot_agent(), wrapped."""
    lines: list[str] = []
    line = indent
    for quoted in ("'" + p.replace("'", "''") + "'" for p in KNOWN_BOT_PATTERNS):
        if line.strip() and len(line) + len(quoted) + 2 > width:
            lines.append(line.rstrip())
            line = indent
        line += quoted + ", "
    lines.append(line.rstrip(", "))
    return "ARRAY[\n" + "\n".join(lines) + "]"


if __name__ == "__main__":
    sys.stdout.write(sql_array() + "\n")
