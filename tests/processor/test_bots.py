"""The known bot patterns have one home (processor/bots.py); db/init.sql's is_bot_agent() must
carry the same list, and both match the same way (a substring, A-Z folded to a-z only)."""

from __future__ import annotations

import re

import psycopg
import pyarrow as pa
import pytest

from processor.bots import KNOWN_BOT_PATTERNS, ascii_lower, bot_flags, is_bot_agent, sql_regex
from processor.sql import SQL_DIR
from tests.conftest import Services


def _init_sql_patterns() -> tuple[str, ...]:
    """The patterns of init.sql's is_bot_agent(): its regular expression's alternatives."""
    text = (SQL_DIR / "init.sql").read_text(encoding="utf-8")
    body = re.search(
        r"FUNCTION is_bot_agent\(user_agent text\).*?~ \((.*?)\),\s*false\);", text, re.DOTALL
    )
    assert body is not None, "db/init.sql defines no is_bot_agent(user_agent text)"
    literals = re.findall(r"'((?:[^']|'')*)'", body.group(1))
    regex = "".join(m.replace("''", "'") for m in literals)
    return tuple(re.sub(r"\\(.)", r"\1", alternative) for alternative in regex.split("|"))


def test_init_sql_carries_the_same_patterns() -> None:
    assert _init_sql_patterns() == KNOWN_BOT_PATTERNS, (
        "db/init.sql's is_bot_agent() differs from processor/bots.py KNOWN_BOT_PATTERNS: paste "
        "the output of `python -m processor.bots` into it"
    )
    assert sql_regex() in (SQL_DIR / "init.sql").read_text(encoding="utf-8")


BOTS = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/120.0.0.0 Safari/537.36",
    "python-requests/2.31.0",
    "curl/8.5.0",
    "Wget/1.21.4",
    "Go-http-client/1.1",
    "Scrapy/2.11.0 (+https://scrapy.org)",
    "facebookexternalhit/1.1",
    "Mozilla/5.0 (compatible; YandexBot/3.0)",
    "Baiduspider+(+http://www.baidu.com/search/spider.htm)",
    "SomeCrawler/1.0",
    "Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp)",
    "Python-urllib/3.11",
)
BROWSERS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "",
)


def test_patterns_are_lowercase_unique_and_nonempty() -> None:
    assert len(set(KNOWN_BOT_PATTERNS)) == len(KNOWN_BOT_PATTERNS)
    assert all(p and p == ascii_lower(p) for p in KNOWN_BOT_PATTERNS)


def test_known_bots_and_browsers() -> None:
    assert all(is_bot_agent(ua) for ua in BOTS)
    assert not any(is_bot_agent(ua) for ua in BROWSERS)
    assert not is_bot_agent(None)


def test_case_folding_is_ascii_only() -> None:
    # U+212A KELVIN SIGN lowercases to "k" in Unicode, not in ASCII (nor in lower() under "C").
    assert is_bot_agent("GOOGLEBOT")
    assert not is_bot_agent("\u212a")
    assert ascii_lower("ÄBC\u212a") == "Äbc\u212a"


# Agents on which a careless fold or an unescaped pattern would go wrong.
TRICKY = (
    None,
    "GOOGLEBOT",
    "\u212a",
    "duc\u212aduckbot/1.0",  # a Kelvin sign is no k, so only the generic "bot" matches
    "faceboo\u212aexternalhit/1.1",  # ... and here nothing does
    "Mozilla/5.0 (compatible; C.U.R.L/1.0)",  # dots are no wildcards
    "bo|t (a bar is no alternation)",
    "ÄÖÜ crawl-o-matic",
    "ÄÖÜ CRAWL-O-MATIC",
    "o'brien",
)
AGENTS = (*BOTS, *BROWSERS, *TRICKY)


def test_arrow_flags_agree_with_python() -> None:
    found = bot_flags(pa.array(AGENTS, pa.string())).to_pylist()
    assert found == [is_bot_agent(a) for a in AGENTS]
    chunked = pa.chunked_array([AGENTS[:5], AGENTS[5:]], pa.string())
    assert bot_flags(chunked).to_pylist() == found


@pytest.mark.integration
def test_sql_function_agrees_with_python(services: Services, pg_schema: str) -> None:
    with psycopg.connect(services.pg_dsn, options=f"-c search_path={pg_schema}") as conn:
        found = [conn.execute("SELECT is_bot_agent(%s)", (agent,)).fetchone() for agent in AGENTS]
    assert [row[0] if row else None for row in found] == [is_bot_agent(a) for a in AGENTS]
