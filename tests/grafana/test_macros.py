"""The expander turns Grafana macros and variables into the SQL Grafana would send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from viewer.macros import (
    ExpandError,
    TimeRange,
    Variable,
    auto_interval,
    expand,
    format_interval,
    interpolate_variable,
    parse_interval,
)

END = datetime(2017, 4, 21, 5, 6, 17, tzinfo=UTC)
SPAN = TimeRange.last(timedelta(minutes=5), END)
DEVICE = Variable("device", True, True, None, ["desktop", "mobile"])
CATEGORY = Variable("category", True, True, "'__all'", ["Books", "Kids' toys"])


def test_time_macros_match_grafana_docs() -> None:
    sql = "SELECT $__time(t), x FROM f WHERE $__timeFilter(t) AND a > $__timeFrom() AND a < $__timeTo()"  # noqa: E501
    assert expand(sql, {}, SPAN) == (
        "SELECT t AS \"time\", x FROM f WHERE t BETWEEN '2017-04-21T05:01:17Z' AND "
        "'2017-04-21T05:06:17Z' AND a > '2017-04-21T05:01:17Z' AND a < '2017-04-21T05:06:17Z'"
    )


def test_time_group_alias_uses_the_interval_in_seconds() -> None:
    assert expand("$__timeGroupAlias(t, 5m)", {}, SPAN) == (
        'floor(extract(epoch from t)/300)*300 AS "time"'
    )
    assert expand("$__timeGroup(t, '1h')", {}, SPAN) == "floor(extract(epoch from t)/3600)*3600"


def test_interval_variables_come_before_macros() -> None:
    sql = "$__timeGroupAlias(t, $__interval), n / ($__interval_ms / 1000.0)"
    assert expand(sql, {}, SPAN, interval_s=20) == (
        'floor(extract(epoch from t)/20)*20 AS "time", n / (20000 / 1000.0)'
    )


def test_unix_epoch_macros() -> None:
    assert expand("$__unixEpochFilter(ts)", {}, SPAN) == "ts >= 1492750877 AND ts <= 1492751177"
    assert expand("$__unixEpochGroupAlias(ts, 1m)", {}, SPAN) == 'floor((ts)/60)*60 AS "time"'


def test_all_expands_to_every_quoted_value_or_the_custom_all_value() -> None:
    assert interpolate_variable(DEVICE) == "'desktop','mobile'"
    assert interpolate_variable(CATEGORY) == "'__all'"
    chosen = Variable("category", True, True, "'__all'", ["Books"], selected=["Kids' toys"])
    assert interpolate_variable(chosen) == "'Kids'' toys'"


def test_variable_syntaxes() -> None:
    variables = {"device": DEVICE}
    for form in ("$device", "${device}", "[[device]]", "${device:sqlstring}"):
        assert expand(f"d IN ({form})", variables, SPAN) == "d IN ('desktop','mobile')"


def test_unknown_macro_or_variable_is_an_error() -> None:
    with pytest.raises(ExpandError, match="undefined macro"):
        expand("$__nope(x)", {}, SPAN)
    with pytest.raises(ExpandError, match=r"\$missing"):
        expand("x IN ($missing)", {}, SPAN)


def test_intervals() -> None:
    assert parse_interval("500ms") == 0.5 and parse_interval("'1h'") == 3600
    assert format_interval(20) == "20s" and format_interval(300) == "5m"
    assert auto_interval(TimeRange.last(timedelta(hours=6), SPAN.end)) == 20
    assert auto_interval(TimeRange.last(timedelta(minutes=5), SPAN.end)) == 5  # min interval
