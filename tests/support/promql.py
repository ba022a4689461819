"""The series a PromQL expression names, and the samples of a /metrics text (tests only).

Enough of PromQL's lexical structure to find every vector selector of the expressions we ship
(deploy/prometheus/alerts.yml, deploy/grafana/*.json): an identifier is a metric name unless
it is a keyword, an aggregation or a function (followed by `(`), a label name (inside `{}` or in
the list after by/without/on/ignoring/group_left/group_right) or a Grafana variable (`$…`).
Durations, numbers and strings are skipped. Their syntax is checked by promtool itself, so this
need not reject anything; tests/unit/test_promql_names.py pins what it finds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KEYWORDS = frozenset(
    {
        # binary operators and modifiers
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        # aggregations (may be followed by by/without instead of "(")
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
        # number literals
        "inf",
        "nan",
    }
)
LABEL_LISTS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_NUMBER = re.compile(r"(?:0x[0-9a-fA-F]+|[0-9.]+(?:[eE][+-]?[0-9]+)?)(?:[a-zA-Z]+[0-9]*)*")
_MATCHER = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True, slots=True)
class Matcher:
    label: str
    op: str
    value: str


@dataclass(frozen=True, slots=True)
class Selector:
    """One vector selector: `name{label op "value", …}`."""

    name: str
    matchers: tuple[Matcher, ...] = ()


def _string_end(expr: str, start: int) -> int:
    """The index after the string literal opening at `start`."""
    quote = expr[start]
    i = start + 1
    while i < len(expr) and expr[i] != quote:
        i += 2 if expr[i] == "\\" and quote != "`" else 1
    return i + 1


def _closing(expr: str, start: int, opening: str, closing: str) -> int:
    """The index of the bracket closing the one at `start`, strings skipped."""
    depth, i = 0, start
    while i < len(expr):
        char = expr[i]
        if char in "\"'`":
            i = _string_end(expr, i)
            continue
        if char == opening:
            depth += 1
        elif char == closing:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ValueError(f"unbalanced {opening!r} at {start} in {expr!r}")


def _next_char(expr: str, i: int) -> str:
    rest = expr[i:].lstrip()
    return rest[:1]


def selectors(expr: str) -> list[Selector]:
    """Every vector selector of `expr`, in order."""
    found: list[Selector] = []
    i = 0
    while i < len(expr):
        char = expr[i]
        if char in "\"'`":
            i = _string_end(expr, i)
        elif char == "[":
            i = _closing(expr, i, "[", "]") + 1
        elif char == "{":  # a selector without a name: `{__name__="…"}`, not used by us
            i = _closing(expr, i, "{", "}") + 1
        elif char == "$":  # a Grafana variable
            match = _IDENT.match(expr, i + 1)
            i = match.end() if match else i + 1
        elif char.isdigit() or (char == "." and expr[i + 1 : i + 2].isdigit()):
            match = _NUMBER.match(expr, i)
            i = match.end() if match else i + 1
        elif match := _IDENT.match(expr, i):
            word, i = match.group(), match.end()
            following = _next_char(expr, i)
            if word in LABEL_LISTS:
                if following == "(":
                    i = _closing(expr, expr.index("(", i), "(", ")") + 1
            elif word.lower() in KEYWORDS or following == "(":
                continue
            elif following == "{":
                end = _closing(expr, expr.index("{", i), "{", "}")
                body = expr[expr.index("{", i) + 1 : end]
                found.append(Selector(word, tuple(Matcher(*m) for m in _MATCHER.findall(body))))
                i = end + 1
            else:
                found.append(Selector(word))
        else:
            i += 1
    return found


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    labels: dict[str, str]


_SAMPLE_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


def samples(exposition: str) -> list[Sample]:
    """The samples of a Prometheus text exposition (comments skipped)."""
    out: list[Sample] = []
    for line in exposition.splitlines():
        if not line or line.startswith("#"):
            continue
        name = _IDENT.match(line)
        assert name is not None, f"not a sample line: {line!r}"
        labels: dict[str, str] = {}
        if line[name.end() : name.end() + 1] == "{":
            body = line[name.end() + 1 : line.rindex("}")]
            labels = dict(_SAMPLE_LABEL.findall(body))
        out.append(Sample(name.group(), labels))
    return out


def unmatched(selector: Selector, emitted: list[Sample]) -> list[str]:
    """Why `selector` selects nothing among `emitted` (empty: it selects something). Each
    equality matcher must meet a sample's label, and each alternative of a regex matcher made
    of plain alternatives (`failed|timed_out`) too: a misspelt label value is caught."""
    of_name = [s for s in emitted if s.name == selector.name]
    if not of_name:
        return [f"{selector.name}: no such series"]
    problems: list[str] = []
    for m in selector.matchers:
        values = {s.labels.get(m.label, "") for s in of_name}
        if m.op == "=":
            wanted = [m.value]
        elif m.op == "=~" and re.fullmatch(r"[\w.:-]+(?:\|[\w.:-]+)*", m.value):
            wanted = m.value.split("|")
        elif m.op == "=~":
            if not any(re.fullmatch(m.value, v) for v in values):
                problems.append(f'{selector.name}{{{m.label}=~"{m.value}"}}: matches no value')
            continue
        else:  # != and !~ select by exclusion: nothing to demand
            continue
        problems.extend(
            f'{selector.name}{{{m.label}="{w}"}}: no such series (values: {sorted(values)})'
            for w in wanted
            if w not in values
        )
    return problems
