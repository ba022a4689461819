"""`python -m devtools.check_sql [ROOT]`: SQL reaches the database only as a named query.

Run by `make check`. In app/, worker/ and db/, the SQL given to every executor call
(`execute`, `executemany`, `copy`, `stream`, Procrastinate's `execute_query[_async]`) must be a
named query: `query("name")` (db/queries/*.sql, loaded by db/queries.py), or a variable that
the function assigns only such calls. Anything else is reported:
- SQL built at run time (an f-string, `%`, `.format`, `+`): the road to injection;
- a string literal, or a `psycopg.sql` composition of literals: safe from injection, but SQL
  outside db/queries/, unless `ALLOWED` lists it with the reason it stays in code.
And `sql.SQL(...)` is given only literals (db/queries.py excepted: it wraps the loaded files).

Exit status 1 with one line per offender, 0 when clean. A lint, not a test: it needs no
database (tests/unit/test_check_sql.py runs it on a bad sample).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

FOLDERS = ("app", "worker", "db")
EXECUTORS = frozenset(
    {
        "execute",
        "executemany",
        "copy",
        "stream",
        "execute_query_async",
        "execute_query",
        "exec_driver_sql",
    }
)
QUERY_LOADER = "db/queries.py"

ALLOWED: dict[tuple[str, str], str] = {
    ("db/migrate.py", "sql.encode()"): "the text of our own migration files, no input in it",
    ("db/migrations/env.py", "\"SELECT set_config('lock_timeout', %(ms)s, false)\""): "the "
    "migrations' session setting (db/migrate.py LockPolicy), a bound integer, before any "
    "migration runs",
    ("db/session.py", "\"SET TIME ZONE 'UTC'\""): "a session setting of every connection of "
    "ours (the pools' configure callback, the CLI), before any repository runs on it",
    ("db/session.py", "'SET jit = off'"): "a session setting of every connection of ours (the "
    "pools' configure callback, the CLI), before any repository runs on it",
}
"""(file, source of the SQL argument) -> why this SQL stays in code, reviewed."""


def _is_named_query(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and ast.unparse(node.func).split(".")[-1] == "query"


def _assignments(function: ast.AST) -> dict[str, list[ast.AST]]:
    """Every value assigned to each plain name in `function` (nested scopes included)."""
    assigned: dict[str, list[ast.AST]] = {}
    for node in ast.walk(function):
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign) and node.value:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    assigned.setdefault(target.id, []).append(node.value)
    return assigned


def _sql_ok(node: ast.AST, assigned: dict[str, list[ast.AST]]) -> bool:
    if _is_named_query(node):
        return True
    if isinstance(node, ast.IfExp):
        return _sql_ok(node.body, assigned) and _sql_ok(node.orelse, assigned)
    if isinstance(node, ast.Name) and node.id in assigned:
        return all(_sql_ok(value, {}) for value in assigned[node.id])
    return False


def _is_sql_of_non_literal(node: ast.Call) -> bool:
    return ast.unparse(node.func) in ("sql.SQL", "SQL") and not all(
        isinstance(a, ast.Constant) for a in node.args
    )


def _scopes(tree: ast.Module) -> Iterator[ast.AST]:
    yield tree
    yield from (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef))


def offenders_in(relative: str, source: str) -> list[str]:
    """The offending calls of one module (`relative`: its path from the repository root)."""
    tree = ast.parse(source)
    found: set[tuple[int, str]] = set()
    for scope in _scopes(tree):
        assigned = _assignments(scope)
        for node in ast.walk(scope):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr not in EXECUTORS or not node.args:
                continue
            argument = ast.unparse(node.args[0])
            if (relative, argument) in ALLOWED or _sql_ok(node.args[0], assigned):
                continue
            found.add((node.lineno, f"{node.func.attr}({argument}, ...): not a named query"))
    if relative != QUERY_LOADER:
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _is_sql_of_non_literal(node):
                found.add((node.lineno, "sql.SQL of something other than a literal"))
    return [f"{relative}:{line}: {what}" for line, what in sorted(found)]


def offenders(root: Path) -> list[str]:
    return [
        line
        for folder in FOLDERS
        for path in sorted((root / folder).rglob("*.py"))
        for line in offenders_in(path.relative_to(root).as_posix(), path.read_text())
    ]


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[1]
    found = offenders(root)
    for line in found:
        print(line, file=sys.stderr)
    if found:
        print(
            f"{len(found)} SQL argument(s) not a named query: put the SQL in db/queries/*.sql "
            "(values as parameters), or list it in devtools/check_sql.py: ALLOWED with why",
            file=sys.stderr,
        )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
