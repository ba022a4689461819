"""The PromQL selector finder the deploy checks rely on (tests/support/promql.py)."""

from __future__ import annotations

from tests.support.promql import Matcher, Selector, samples, selectors, unmatched


def names(expr: str) -> list[str]:
    return [s.name for s in selectors(expr)]


def test_finds_names_past_functions_aggregations_and_label_lists() -> None:
    expr = (
        "histogram_quantile(0.95, max without (instance, pod) "
        "(rate(scheduler_fire_lag_seconds_bucket[$__rate_interval]))) > 10"
    )
    assert names(expr) == ["scheduler_fire_lag_seconds_bucket"]
    assert names("sum by (le) (rate(a_bucket[5m])) / on (job) group_left (x) b") == [
        "a_bucket",
        "b",
    ]
    assert names("time() - max by (host) (last_ts > 0)") == ["last_ts"]
    assert names("a offset 1h30m and bool b or Inf unless NaN") == ["a", "b"]
    assert names("count(count by (host, pid) (x))") == ["x"]
    assert names("sum(rate(x[5m:30s])) * 1e3 + 0x1f - .5") == ["x"]
    assert names("record:rule_name") == ["record:rule_name"]


def test_label_names_and_strings_are_not_series() -> None:
    found = selectors('absent(max (stale{loop="dispatch", host!~"a|b}"}) == 0)')
    assert found == [
        Selector("stale", (Matcher("loop", "=", "dispatch"), Matcher("host", "!~", "a|b}")))
    ]
    assert names('label_replace(up_a, "dst", "$1", "src", "(.*)")') == ["up_a"]
    assert names('x{a=~"it\\"s"}') == ["x"]


def test_unmatched_names_what_is_missing() -> None:
    text = (
        "# HELP finished Runs.\n# TYPE finished counter\n"
        'finished{status="failed"} 1\nfinished{status="succeeded"} 2\nbacklog 0\n'
    )
    emitted = samples(text)
    assert [s.name for s in emitted] == ["finished", "finished", "backlog"]
    ok = 'finished{status=~"failed|succeeded"} / backlog{}'
    assert all(not unmatched(s, emitted) for s in selectors(ok))
    assert unmatched(Selector("nope"), emitted) == ["nope: no such series"]
    typo = selectors('finished{status=~"failed|timed_out"}')[0]
    assert unmatched(typo, emitted) == [
        "finished{status=\"timed_out\"}: no such series (values: ['failed', 'succeeded'])"
    ]
    assert unmatched(selectors('finished{status="faild"}')[0], emitted)
    assert unmatched(selectors('finished{status=~"fail.*"}')[0], emitted) == []
    assert unmatched(selectors('finished{status=~"x.+"}')[0], emitted)
    assert unmatched(selectors('finished{status!="failed"}')[0], emitted) == []
