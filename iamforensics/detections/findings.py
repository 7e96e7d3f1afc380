"""One findings table for built-in and Sigma detections; the ``hunt`` command.

Columns (:data:`FINDINGS_SCHEMA`): rule, source (builtin/sigma), title, severity, tactic,
technique, time (first event), last_time, actor, origin (the long-term identity behind the
actor, from session attribution when :mod:`iamforensics.analysis.sessions` is present, else
null), count (events), event_ids, summary (one line, record text cleaned of control
characters and cut at 300 characters).

Examples
--------
>>> from iamforensics.case import open_case  # doctest: +SKIP
>>> df = findings(open_case("out/case"), sigma="rules/aws", min_severity="medium")  # doctest: +SKIP
>>> df.groupby("rule").size()  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import IamForensicsError
from .engine import SEVERITIES, Rule

if TYPE_CHECKING:
    from ..case import Case

FINDINGS_SCHEMA = pa.schema(
    [
        ("rule", pa.string()),
        ("source", pa.string()),
        ("title", pa.string()),
        ("severity", pa.string()),
        ("tactic", pa.string()),
        ("technique", pa.string()),
        ("time", pa.timestamp("us", tz="UTC")),
        ("last_time", pa.timestamp("us", tz="UTC")),
        ("actor", pa.string()),
        ("origin", pa.string()),
        ("count", pa.int64()),
        ("event_ids", pa.list_(pa.string())),
        ("summary", pa.string()),
    ]
)
FINDINGS_COLUMNS: tuple[str, ...] = tuple(FINDINGS_SCHEMA.names)
PARQUET_NAME = "findings.parquet"
CSV_NAME = "findings.csv"
SIGMA_REPORT_NAME = "sigma_rules.csv"
CANDIDATES = "_iamf_candidates"


def empty_findings() -> pa.Table:
    return FINDINGS_SCHEMA.empty_table()


def finding_table(
    result: pa.Table, rule: str, source: str, title: str, severity: str, tactic: str, technique: str
) -> pa.Table:
    """A rule's query result (time, last_time, actor, count, event_ids, summary) as findings rows."""
    n = result.num_rows

    def const(value: str) -> pa.Array:
        return pa.array([value] * n, pa.string()) if n else pa.array([], pa.string())

    cols = {
        "rule": const(rule),
        "source": const(source),
        "title": const(title),
        "severity": const(severity),
        "tactic": const(tactic),
        "technique": const(technique),
        "origin": pa.nulls(n, pa.string()),
    }
    arrays = [
        cols[name] if name in cols else result.column(name).cast(FINDINGS_SCHEMA.field(name).type)
        for name in FINDINGS_COLUMNS
    ]
    return pa.Table.from_arrays(arrays, schema=FINDINGS_SCHEMA)


def severity_at_least(min_severity: str | None) -> list[str]:
    """Severities kept by a ``min_severity`` filter (None keeps all)."""
    if min_severity is None:
        return list(SEVERITIES)
    if min_severity not in SEVERITIES:
        raise IamForensicsError(f"min severity {min_severity!r} is not one of {', '.join(SEVERITIES)}")
    return list(SEVERITIES[SEVERITIES.index(min_severity) :])


# -- origin from session attribution (optional) ----------------------------------------------

_ATTRIBUTION_FUNCS = ("event_origins", "attribute_events", "attribution", "event_attribution")


def _origin_lookup(case: Case) -> pd.DataFrame | None:
    """event_id -> origin from the sessions module, when it exists and offers an attribution."""
    try:
        mod = importlib.import_module("iamforensics.analysis.sessions")
    except ImportError:
        return None
    for name in _ATTRIBUTION_FUNCS:
        fn = getattr(mod, name, None)
        if callable(fn):
            try:
                frame = fn(case)
            except (IamForensicsError, TypeError, ValueError, KeyError):
                return None
            if isinstance(frame, pd.DataFrame) and {"event_id", "origin"} <= set(frame.columns):
                return frame[["event_id", "origin"]].drop_duplicates("event_id")
    return None


def add_origin(case: Case, table: pa.Table) -> pa.Table:
    """Fill ``origin`` from session attribution (first event of each finding); left null without it."""
    if table.num_rows == 0:
        return table
    lookup = _origin_lookup(case)
    if lookup is None:
        return table
    first = pc.list_element(table.column("event_ids"), 0).to_pandas()
    origins = first.map(dict(zip(lookup["event_id"], lookup["origin"], strict=False)))
    # pandas keeps NaN (a float) for unmapped ids whatever where() is told: keep strings only.
    arr = pa.array([o if isinstance(o, str) else None for o in origins.tolist()], pa.string())
    return table.set_column(FINDINGS_COLUMNS.index("origin"), "origin", arr)


# -- the whole hunt --------------------------------------------------------------------------


@dataclass
class HuntResult:
    """What a hunt found, the Sigma per-rule report, and where it was written."""

    findings: pd.DataFrame
    sigma_report: pd.DataFrame | None = None
    builtin_rules: int = 0
    paths: dict[str, Path] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def _sorted(table: pa.Table) -> pa.Table:
    rank = pa.array(
        [SEVERITIES.index(s) if s in SEVERITIES else 0 for s in table.column("severity").to_pylist()]
    )
    t = table.append_column("_rank", rank)
    t = t.sort_by([("time", "ascending"), ("_rank", "descending"), ("rule", "ascending")])
    return t.drop_columns(["_rank"])


def findings_table(
    case: Case,
    *,
    sigma: str | Path | Iterable[str | Path] | None = None,
    rules: Sequence[Rule] | None = None,
    builtin: bool = True,
    min_severity: str | None = None,
) -> tuple[pa.Table, pd.DataFrame | None, dict[str, float]]:
    """Findings as an Arrow table (plus the Sigma report and timings); see :func:`findings`."""
    import time

    from .engine import load_rules, run_rule_arrow
    from .sigma import run_sigma

    keep = severity_at_least(min_severity)
    tables: list[pa.Table] = []
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    con = case.connection()
    # Many small queries over the same files: keep their footers in memory between queries.
    con.execute("SET parquet_metadata_cache = true")
    try:
        con.execute("SET enable_progress_bar = false")
    except duckdb.Error:
        # In a Jupyter kernel DuckDB refuses to touch the progress bar without ipywidgets
        # (InvalidInputException); the bar is cosmetic, so the hunt goes on without it.
        pass
    if builtin:
        chosen = [r for r in (rules if rules is not None else load_rules()) if r.severity in keep]
        # One scan selects every event of the names the rules match on; each rule then
        # searches that small table instead of scanning the case again.
        names = sorted({n for r in chosen for n in r.event_names})
        if names:
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {CANDIDATES} AS SELECT * EXCLUDE (raw) FROM events "
                f"WHERE event_name IN ({', '.join('?' * len(names))})",
                names,
            )
        try:
            for rule in chosen:
                tables.append(run_rule_arrow(case, rule, CANDIDATES if rule.event_names else "events"))
        finally:
            con.execute(f"DROP TABLE IF EXISTS {CANDIDATES}")
    seconds["builtin"] = time.perf_counter() - t0
    report = None
    if sigma is not None:
        t1 = time.perf_counter()
        report, sigma_table = run_sigma(case, sigma)
        tables.append(sigma_table.filter(pc.is_in(sigma_table.column("severity"), pa.array(keep))))
        seconds["sigma"] = time.perf_counter() - t1
    table = pa.concat_tables([t for t in tables if t.num_rows] or [empty_findings()])
    t2 = time.perf_counter()
    table = add_origin(case, _sorted(table))
    seconds["origin"] = time.perf_counter() - t2
    return table, report, seconds


def findings(
    case: Case,
    *,
    sigma: str | Path | Iterable[str | Path] | None = None,
    rules: Sequence[Rule] | None = None,
    builtin: bool = True,
    min_severity: str | None = None,
) -> pd.DataFrame:
    """Findings of the built-in rules (and Sigma rules under ``sigma``) over a case.

    Parameters
    ----------
    case : the case to hunt in.
    sigma : folder(s) or file(s) of Sigma rules to run as well.
    rules : built-in rules to run instead of the whole pack (see :func:`.engine.load_rules`).
    builtin : False to run Sigma rules only.
    min_severity : informational, low, medium, high or critical.

    Examples
    --------
    >>> findings(case, min_severity="high")[["time", "rule", "summary"]]  # doctest: +SKIP
    """
    table, _, _ = findings_table(case, sigma=sigma, rules=rules, builtin=builtin, min_severity=min_severity)
    return table.to_pandas()


def write_findings(case: Case, table: pa.Table, report: pd.DataFrame | None = None) -> dict[str, Path]:
    """Write findings.parquet and findings.csv (cells neutralized) into the case folder."""
    from ..report.export import write_csv

    paths = {"parquet": case.path / PARQUET_NAME, "csv": case.path / CSV_NAME}
    pq.write_table(table, paths["parquet"], compression="zstd")
    flat = table.set_column(
        FINDINGS_COLUMNS.index("event_ids"),
        "event_ids",
        pc.binary_join(table.column("event_ids"), " "),
    ).to_pandas()
    write_csv(flat, paths["csv"])
    if report is not None:
        paths["sigma_report"] = write_csv(report, case.path / SIGMA_REPORT_NAME)
    return paths


def hunt(
    case: Case,
    *,
    sigma: str | Path | Iterable[str | Path] | None = None,
    min_severity: str | None = None,
    write: bool = True,
) -> HuntResult:
    """Run the built-in pack (and Sigma rules) and write the findings into the case.

    Examples
    --------
    >>> result = hunt(case, sigma="rules/aws")  # doctest: +SKIP
    >>> print(format_hunt(result))  # doctest: +SKIP
    """
    import time

    from .engine import load_rules

    rules = load_rules()
    table, report, seconds = findings_table(case, sigma=sigma, rules=rules, min_severity=min_severity)
    paths: dict[str, Path] = {}
    if write:
        t0 = time.perf_counter()
        paths = write_findings(case, table, report)
        seconds["write"] = time.perf_counter() - t0
    return HuntResult(table.to_pandas(), report, len(rules), paths, seconds)


def format_hunt(result: HuntResult, *, top: int = 40) -> str:
    """A plain-text summary: counts by severity and rule, the Sigma conversion report, files."""
    df = result.findings
    lines = [
        f"{len(df)} finding(s) from {result.builtin_rules} built-in rule(s)"
        + (f" and {len(result.sigma_report)} Sigma rule(s)" if result.sigma_report is not None else "")
    ]
    if len(df):
        by_sev = df["severity"].value_counts()
        lines.append(
            "  by severity: "
            + ", ".join(f"{s} {int(by_sev[s])}" for s in reversed(SEVERITIES) if s in by_sev)
        )
        grouped = (
            df.groupby(["severity", "rule", "title"], observed=True)
            .agg(findings=("rule", "size"), events=("count", "sum"), first=("time", "min"))
            .reset_index()
        )
        grouped["_r"] = grouped["severity"].map(SEVERITIES.index)
        grouped = grouped.sort_values(["_r", "findings"], ascending=[False, False])
        for rec in grouped.head(top).to_dict("records"):
            lines.append(
                f"  {rec['severity']:<8} {rec['rule']:<40} {rec['findings']:>6} finding(s) {rec['events']:>8} event(s)"
                f"  first {rec['first']:%Y-%m-%d %H:%M}Z"
            )
        if len(grouped) > top:
            lines.append(f"  ... {len(grouped) - top} more rule(s)")
    rep = result.sigma_report
    if rep is not None:
        conv = int(rep["converted"].sum())
        lines.append(
            f"Sigma: {conv} of {len(rep)} rule(s) converted, {int((rep['matches'].fillna(0) > 0).sum())} matched"
        )
        for row in rep[~rep["converted"]].itertuples():
            lines.append(f"  not converted: {row.file}: {row.reason}")
    for kind, path in result.paths.items():
        lines.append(f"wrote {kind}: {path}")
    return "\n".join(lines)


# -- CLI -------------------------------------------------------------------------------------


def _hunt_cli(args: argparse.Namespace) -> int:
    from ..case import open_case

    case = open_case(args.case)
    result = hunt(case, sigma=args.sigma or None, min_severity=args.min_severity)
    print(format_hunt(result))
    return 0


def register_cli(sub: Any) -> None:
    """``iamforensics hunt --case DIR [--sigma DIR] [--min-severity LEVEL]``."""
    s = sub.add_parser(
        "hunt", help="run the built-in detections (and Sigma rules); write findings into the case"
    )
    s.add_argument("--case", required=True, help="case folder")
    s.add_argument("--sigma", action="append", help="folder or file of Sigma rules (repeatable)")
    s.add_argument(
        "--min-severity", choices=SEVERITIES, default=None, help="drop findings below this severity"
    )
    s.set_defaults(func=_hunt_cli)
