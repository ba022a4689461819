"""Tables on stdout, the raw numbers as JSON, the steady lag plot as PNG."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

REFERENCE = "reference"


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, float) and math.isnan(value):
        return "—"
    if isinstance(value, int):
        return f"{value:,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def ratio(peer: Any, ours: Any) -> str:
    """How many times the peer's figure is ours (lower is better for every metric here)."""
    if not isinstance(peer, int | float) or not isinstance(ours, int | float):
        return "—"
    if math.isnan(peer) or math.isnan(ours) or ours <= 0:
        return "—"
    return f"{peer / ours:.1f}×"


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Columns two spaces apart, the first left-aligned and the figures right-aligned.

    Not app/cli/tables.py's table (the CLI's, all left-aligned and escaped for tenants' texts):
    the harness measures the product and stays independent of its presentation layer.
    """
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        aligned = (
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )
        return "  ".join(aligned).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def dig(result: dict[str, Any], path: str) -> Any:
    value: Any = result
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def comparison(
    ours: dict[str, Any],
    peers: list[tuple[str, dict[str, Any] | None]],
    metrics: list[tuple[str, str, str, str]],
    reference: bool = True,
    ours_label: str = "ours",
) -> str:
    """metric rows: (label, path in a result, target, reference figure); one column per system
    and a ratio (peer / ours) after each peer."""
    peers = [(name, peer) for name, peer in peers if peer is not None]  # not run: no column
    headers = ["metric", "target", ours_label]
    for name, _ in peers:
        headers += [name, "ratio"]
    if reference:
        headers.append(REFERENCE)
    rows = []
    for label, path, target, ref in metrics:
        mine = dig(ours, path)
        row = [label, target, fmt(mine)]
        for _, peer in peers:
            theirs = dig(peer, path)
            row += [fmt(theirs), ratio(theirs, mine)]
        if reference:
            row.append(ref)
        rows.append(row)
    return table(headers, rows)


# -- per scenario -------------------------------------------------------------------------
STEADY = [
    ("fire lag p50 (ms)", "lag.p50_ms", "≤ 20", "260–370"),
    ("fire lag p90 (ms)", "lag.p90_ms", "", ""),
    ("fire lag p99 (ms)", "lag.p99_ms", "≤ 100", "640–930"),
    ("fire lag max (ms)", "lag.max_ms", "", ""),
    ("expected slots", "expected_slots", "", ""),
    ("missed slots", "missed_slots", "0", "0–0.4 %"),
    ("missed slots (%)", "missed_pct", "0", "0–0.4"),
    ("duplicate requests", "duplicate_requests", "0", "0"),
    ("scheduler CPU per slot (ms)", "cpu_ms_per_slot", "", ""),
    ("store CPU per slot (ms)", "postgres_cpu_ms_per_slot", "", ""),
    ("max RSS per process (MB)", "max_rss_mb", "", ""),
]
STORE_NOTE = "store = PostgreSQL (Redis for BullMQ)"

BURST_TARGETS = {10_000: "≤ 2", 50_000: "≤ 2.5", 100_000: "≤ 5"}
"""Every request received, seconds after the instant: SPEC §9 (10,000), issue 13 (the others)."""
BURST = [
    ("all requests received after (s)", "all_sent_s", "", "3.0 quiet, ≤ 7.2 loaded"),
    ("last request received after (s)", "last_received_s", "", ""),
    ("requests received", "received", "all", "all"),
    ("never received", "missing", "0", "0"),
    ("duplicate requests", "duplicate_requests", "0", "0"),
    ("lag p50 (ms)", "lag.p50_ms", "", ""),
    ("lag p99 (ms)", "lag.p99_ms", "", ""),
    ("CPU per request ahead of the instant (ms)", "cpu_ahead_ms_per_slot", "", ""),
    ("CPU per request, from the instant (ms)", "cpu_ms_per_slot", "", ""),
    ("store CPU per request (ms)", "store_cpu_ms_per_slot", "", ""),
    ("max RSS per process (MB)", "max_rss_mb", "≤ 300", ""),
]

RAMP = [
    ("lag p50 (ms)", "lag.p50_ms", "", ""),
    ("lag p99 (ms)", "lag.p99_ms", "≤ 100", ""),
    ("missed slots", "missed_slots", "0", ""),
    ("skipped runs", "skipped_runs", "0", ""),
    ("duplicate requests", "duplicate_requests", "0", ""),
    ("scheduler CPU per slot (ms)", "cpu_ms_per_slot", "", ""),
    ("store CPU per slot (ms)", "postgres_cpu_ms_per_slot", "", ""),
    ("CPU per slot, both (ms)", "total_cpu_ms_per_slot", "≤ 0.3", ""),
    ("max RSS per process (MB)", "max_rss_mb", "", ""),
]

SCALE = [
    ("worker CPU per fired slot (ms)", "cpu_ms_per_slot"),
    ("PostgreSQL CPU per fired slot (ms)", "postgres_cpu_ms_per_slot"),
    ("fire lag p50 (ms)", "lag.p50_ms"),
    ("fire lag p99 (ms)", "lag.p99_ms"),
    ("missed slots", "missed_slots"),
    ("duplicate requests", "duplicate_requests"),
    ("worker max RSS (MB)", "max_rss_mb"),
]


def breakdown_line(result: dict[str, Any] | None) -> str:
    """Where our lag goes, from the execution rows (p50/p99 ms per step), and run statuses."""
    parts = (result or {}).get("engine_breakdown")
    if not parts:
        return ""
    statuses = ", ".join(f"{status} {row['runs']:,}" for status, row in sorted(parts.items()))
    fired = parts.get("succeeded") or max(parts.values(), key=lambda row: row["runs"])

    def pair(values: list[float] | None) -> str:
        return "—" if not values else f"{fmt(values[0])}/{fmt(values[1])}"

    return (
        f"\nours, per run (p50/p99 ms): claim {pair(fired['claim_ms'])} (dispatch transaction − "
        f"fire instant), pickup {pair(fired['pickup_ms'])} (attempt start − claim), "
        f"attempt {pair(fired['attempt_ms'])}; runs by status: {statuses}"
    )


def steady_table(result: dict[str, Any]) -> str:
    s = result["ours"]
    head = f"steady: {s['schedules']:,} schedules every second for {s['seconds']} s, 2 workers"
    peers = [
        ("BullMQ", result.get("bullmq")),
        ("DBOS", result.get("dbos")),
        ("Procrastinate periodic", result.get("procrastinate")),
        ("APScheduler 1 proc", result.get("apscheduler")),
    ]
    text = comparison(s, peers, STEADY, reference=False) + breakdown_line(s)
    text += statements_table(s)
    text += f"\n{STORE_NOTE}; pg-boss: n/a (its cron is minute-granular)" + failures(peers)
    text += (
        "\nmissed = slots of the window not received by the window's end + "
        f"{s.get('drain_s', '?')} s (a peer that falls behind may still send them later); "
        "ratio = peer / ours"
    )
    two = result.get("apscheduler_2proc")
    if two:
        text += (
            f"\nAPScheduler, 2 processes sharing one job store ({two['seconds']} s): "
            f"{two['duplicate_requests']:,} duplicate requests, "
            f"{two['received_slots']:,} of {two['expected_slots']:,} slots received, "
            f"lag p50 {fmt(two['lag']['p50_ms'])} ms, p99 {fmt(two['lag']['p99_ms'])} ms"
        )
    return head + "\n" + text


def failures(peers: list[tuple[str, dict[str, Any] | None]]) -> str:
    """A line for each peer whose phase failed (its column is then empty)."""
    return "".join(
        f"\n{name}: FAILED: {peer['error']}" for name, peer in peers if peer and "error" in peer
    )


def burst_table(result: dict[str, Any]) -> str:
    parts = []
    for size, one in result["by_size"].items():
        head = f"burst: {int(size):,} schedules due at the same instant"
        peers = [
            ("BullMQ", one.get("bullmq")),
            ("DBOS", one.get("dbos")),
            ("pg-boss", one.get("pgboss")),
            ("APScheduler grace 3600 s", one.get("apscheduler_grace")),
            ("APScheduler default (1 s)", one.get("apscheduler_default")),
        ]
        target = BURST_TARGETS.get(int(size), "")
        metrics = [(BURST[0][0], BURST[0][1], target, BURST[0][3]), *BURST[1:]]
        text = comparison(one["ours"], peers, metrics, reference=False)
        text += breakdown_line(one["ours"])
        text += failures([("ours", one["ours"]), *peers]) + statements_table(one["ours"])
        parts.append(f"{head}\n{text}")
    return "\n\n".join(parts) + (
        f"\n{STORE_NOTE}; Procrastinate periodic: n/a (no arbitrary one-off schedules); "
        "DBOS and APScheduler at the first size only, if ≤ 10,000 (DBOS's set-up grows with the "
        "square of N)"
    )


def statements_table(ours: dict[str, Any]) -> str:
    """Ours' costliest statements (`--statements`), per slot of the window; empty without."""
    rows = [
        [
            s["statement"],
            fmt(s["calls_per_slot"], 3),
            fmt(s["rows_per_slot"], 2),
            fmt(s["us_per_slot"]),
            fmt(s["plan_us_per_slot"]),
        ]
        for s in ours.get("statements") or []
    ]
    if not rows:
        return ""
    headers = ["statement (pg_stat_statements)", "calls", "rows", "µs", "of it planning µs"]
    return "\nPostgreSQL's time per slot, costliest statements first:\n" + table(headers, rows)


def ramp_table(result: dict[str, Any]) -> str:
    parts = []
    for step, one in result["by_step"].items():
        head = f"ramp: {int(step):,} schedules every second for {result['seconds']} s, 2 workers"
        peers = [("BullMQ", one.get("bullmq"))]
        text = comparison(one["ours"], peers, RAMP, reference=False)
        parts.append(
            head + "\n" + text + breakdown_line(one["ours"])
            + failures([("ours", one["ours"]), *peers]) + statements_table(one["ours"])
        )  # fmt: skip
    return "\n\n".join(parts) + f"\n{STORE_NOTE}; skipped: ours only (a peer keeps no record)"


def limits_table(result: dict[str, Any]) -> str:
    rows = [
        [f"PostgreSQL commits/s, single-row INSERT, {n} connection(s)", fmt(r["per_s"]),
         fmt(r["postgres_cpu_ms_per_1000"], 2)]
        for n, r in result["commits"].items()
    ] + [
        [f"bare batched claim rows/s (LIMIT {result['claim']['batch']}), {n} connection(s)",
         fmt(r["per_s"]), fmt(r["postgres_cpu_ms_per_1000"], 2)]
        for n, r in result["claim"].items() if isinstance(r, dict)
    ] + [
        [f"bench target requests/s, {shape} (connections x in flight)", fmt(rps), ""]
        for shape, rps in result["target_rps"].items()
    ]  # fmt: skip
    head = f"limits: this machine's floor ({result['durability']}; {result['seconds']} s each)"
    return head + "\n" + table(["limit", "per second", "PostgreSQL CPU per 1,000 (ms)"], rows)


def scale_table(result: dict[str, Any]) -> str:
    """The small run against each larger one (`large`: one run per stored size; a single dict
    in results written before the sizes became a list)."""
    small, large = result["small"], result["large"]
    bigs = large if isinstance(large, list) else [large]
    headers = ["metric", f"{small['stored']:,} stored"]
    for big in bigs:
        headers += [f"{big['stored']:,} stored", "ratio"]
    rows = []
    for label, path in SCALE:
        row = [label, fmt(dig(small, path), 2)]
        for big in bigs:
            row += [fmt(dig(big, path), 2), ratio(dig(big, path), dig(small, path))]
        rows.append(row)
    insert_row = ["bulk insert of the stored schedules (s)", fmt(small["bulk_insert_s"])]
    for big in bigs:
        insert_row += [fmt(big["bulk_insert_s"]), ""]
    rows.append(insert_row)
    head = (
        f"scale: {small['schedules']:,} every-second schedules due, {small['seconds']} s, "
        "2 workers; the rest stored but not due (target: ratio ≤ 1.5×, RSS ≤ 200 MB)"
    )
    text = table(headers, rows)
    for part in (small, *bigs):
        line = breakdown_line(part)
        text += line.replace("ours,", f"ours ({part['stored']:,} stored),") if line else ""
    for part in (small, *bigs):
        statements = statements_table(part)
        text += statements.replace("per slot,", f"per slot ({part['stored']:,} stored),")
    return head + "\n" + text


def catchup_table(result: dict[str, Any]) -> str:
    rows = [
        ["back on time after (s)", fmt(result["caught_up_s"])],
        ["rows recorded", fmt(sum(result["rows"].values()))],
        *[[f"  {status}", fmt(count)] for status, count in sorted(result["rows"].items())],
        ["worker max RSS (MB)", fmt(result["max_rss_mb"])],
        ["worker CPU per row (ms)", fmt(result["cpu_ms_per_row"], 3)],
        ["PostgreSQL CPU per row (ms)", fmt(result["postgres_cpu_ms_per_row"], 3)],
    ]
    head = (
        f"catch-up: {result['schedules']:,} every-second schedules back from a "
        f"{result['outage_s']:,} s outage, 2 workers (ours only)"
    )
    return head + "\n" + table(["metric", "ours"], rows)


def neighbour_table(result: dict[str, Any]) -> str:
    """The same steady window beside an idle neighbour and beside its backlog; ratio = backlog /
    idle (lower is better: 1.0× means the backlog costs this tenant nothing)."""
    idle, busy = result["idle"], result["backlog"]
    head = (
        f"neighbour: {idle.get('schedules', 0):,} schedules every second for "
        f"{idle.get('seconds', '?')} s, 2 workers, beside another tenant idle, then holding "
        f"{result['backlog_runs']:,} accepted runs (ours only)"
    )
    text = comparison(idle, [("with the backlog", busy)], STEADY, False, "idle neighbour")
    text += failures([("idle", idle), ("with the backlog", busy)])
    return head + "\n" + text


def api_table(result: dict[str, Any]) -> str:
    headers = [
        "request",
        "rate (req/s)",
        "p50 (ms)",
        "p99 (ms)",
        "max (ms)",
        "errors",
        "target p99",
    ]
    rows = [
        [
            name,
            fmt(r["achieved_rate"]),
            fmt(r["p50_ms"], 2),
            fmt(r["p99_ms"], 2),
            fmt(r["max_ms"], 2),
            fmt(r["errors"]),
            "≤ 20 ms",
        ]
        for name, r in result["endpoints"].items()
    ]
    head = (
        f"api: open loop at {result['rate']} req/s for {result['seconds']} s each "
        f"({result['schedules']:,} schedules stored for the tenant); latency from the "
        "intended start of each request"
    )
    return head + "\n" + table(headers, rows)


def stats_table(result: dict[str, Any]) -> str:
    headers = ["read", "p50 (ms)", "p95 (ms)", "max (ms)", "target"]
    rows = [
        [
            name,
            fmt(r["p50_ms"], 2),
            fmt(r["p95_ms"], 2),
            fmt(r["max_ms"], 2),
            "≤ 50 ms" if name == "stats" else "",
        ]
        for name, r in result["reads"].items()
    ]
    head = (
        f"stats: one schedule with {result['rows']:,} executions "
        f"(filled in {result['fill_s']:.1f} s)"
    )
    return head + "\n" + table(headers, rows)


def api_batch_table(result: dict[str, Any]) -> str:
    latency = result["batch_latency"]
    rows = [
        [
            f"{result['schedules']:,}",
            f"{result['batch']:,} x {result['clients']} clients",
            fmt(result["seconds"], 1),
            fmt(result["per_second"]),
            fmt(latency["p50_ms"]),
            fmt(latency["p99_ms"]),
            f"{result['stored']:,}",
            "≤ 30 s",
        ]
    ]
    headers = [
        "schedules",
        "batches",
        "seconds",
        "per second",
        "batch p50 (ms)",
        "batch p99 (ms)",
        "stored after",
        "target",
    ]
    return "api-batch: POST /api/schedules/batch\n" + table(headers, rows)


TABLES = {
    "ramp": ramp_table,
    "limits": limits_table,
    "api-batch": api_batch_table,
    "steady": steady_table,
    "burst": burst_table,
    "scale": scale_table,
    "catchup": catchup_table,
    "neighbour": neighbour_table,
    "api": api_table,
    "stats": stats_table,
}


def render(name: str, result: dict[str, Any]) -> str:
    if "error" in result:
        return f"{name}: FAILED: {result['error']}"
    try:
        return TABLES[name](result)
    except (KeyError, TypeError) as exc:  # a phase failed: show what there is
        raw = json.dumps(result, default=str)[:3000]
        return f"{name}: incomplete ({type(exc).__name__}: {exc}): {raw}"


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str, allow_nan=True) + "\n")


def plot_steady(path: Path, lags: dict[str, tuple[list[float], int]], title: str) -> bool:
    """CDF of the steady fire lags of each system, log x-axis (ms). The y-axis is the fraction
    of the EXPECTED slots received within that lag, so a system that misses slots never
    reaches 1."""
    if not lags:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = {
        "/ours/steady": "ours (workflow-scheduler)",
        "/bullmq/steady": "BullMQ 6 + Redis, 2 processes",
        "/dbos/steady": "DBOS 3.4, 2 processes",
        "/procrastinate/steady": "Procrastinate periodic tasks",
        "/apscheduler1/steady": "APScheduler 3, 1 process",
        "/apscheduler2/steady": "APScheduler 3, 2 processes",
    }
    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=110)
    for prefix, (values, expected) in lags.items():
        if not values:
            continue
        ms = sorted(max(v * 1000, 0.1) for v in values)
        y = [(i + 1) / expected for i in range(len(ms))]
        label = f"{labels.get(prefix, prefix)}: {len(ms):,} of {expected:,} slots"
        ax.step(ms, y, where="post", label=label)
    ax.axvline(20, color="green", ls=":", lw=1, label="target p50 20 ms")
    ax.axvline(100, color="red", ls=":", lw=1, label="target p99 100 ms")
    ax.set_xscale("log")
    ax.set_xlabel("fire lag: receive time at the target − slot instant (ms, log scale)")
    ax.set_ylabel("fraction of expected slots received (CDF)")
    ax.set_ylim(0, 1.01)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(title)
    ax.legend(loc="center right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return True
