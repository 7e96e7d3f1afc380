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
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import IamForensicsError, QueryError
from .engine import SEVERITIES, Rule
from .prefilter import BROAD, columns_in, resolve, union

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


# -- staging: every finding in one DuckDB temp table -------------------------------------------

#: Temp tables of a hunt in the case's connection.
FINDINGS = "_iamf_findings"
ORIGINS = "_iamf_origins"
_BUILTIN_ARROW = "_iamf_builtin_findings"


def _stage_origins(case: Case, sigma: bool) -> bool:
    """event id -> origin for the first event of every staged finding (session attribution,
    one join over the case); False when no attribution can be made (origins stay null)."""
    from . import sigma as sg

    try:
        from ..analysis.sessions.table import attribution_query, get
    except ImportError:
        return False
    try:
        get(case)  # builds or reads the cached sessions; registers the maps in this connection
        firsts = f"SELECT event_ids[1] FROM {FINDINGS}" + (
            f" UNION ALL SELECT event_id FROM {sg.HITS}" if sigma else ""
        )
        source = f"(SELECT * FROM events WHERE event_id IN ({firsts}))"
        case.connection().execute(
            f"CREATE OR REPLACE TEMP TABLE {ORIGINS} AS SELECT event_id, min(origin) AS origin "
            f"FROM ({attribution_query('e.event_id, e.origin', source)}) GROUP BY event_id"
        )
    except (IamForensicsError, duckdb.Error, KeyError, ValueError):
        return False
    return True


def _final_sql(with_origin: bool, sigma_sql: str | None, keep: list[str]) -> tuple[str, list[Any]]:
    """Every finding (built-in ones staged, Sigma ones made from the staged hits as they are
    read) with its origin, in time order (higher severity first at a tie)."""
    params: list[Any] = []
    rows = f"SELECT * FROM {FINDINGS}"
    if sigma_sql is not None:
        rows += f" UNION ALL SELECT * FROM ({sigma_sql}) WHERE severity IN ({', '.join('?' * len(keep))})"
        params.extend(keep)
    rank = "coalesce(list_position(?::VARCHAR[], f.severity), 1)"
    order = f" ORDER BY f.time, {rank} DESC, f.rule, f.event_ids[1], f.summary"
    params.append(list(SEVERITIES))
    if not with_origin:
        return f"WITH f AS ({rows}) SELECT f.* FROM f{order}", params
    return (
        f"WITH f AS ({rows}) SELECT f.* REPLACE (o.origin AS origin) FROM f "
        f"LEFT JOIN {ORIGINS} o ON o.event_id = f.event_ids[1]{order}",
        params,
    )


def _drop(case: Case) -> None:
    from . import sigma as sg

    sg.drop_staged(case)
    con = case.connection()
    for name in (FINDINGS, ORIGINS, CANDIDATES):
        con.execute(f"DROP TABLE IF EXISTS {name}")
    try:
        con.unregister(_BUILTIN_ARROW)
    except duckdb.Error:
        pass


def _stage(
    case: Case,
    *,
    sigma: str | Path | Iterable[str | Path] | None,
    rules: Sequence[Rule] | None,
    builtin: bool,
    min_severity: str | None,
) -> tuple[pd.DataFrame | None, dict[str, float], tuple[str, list[Any]]]:
    """Run the rules: built-in findings go to the temp table ``FINDINGS``, Sigma hits to
    :data:`.sigma.HITS`, origins to ``ORIGINS``; returns the Sigma report, seconds per stage
    and the query of all findings (see :func:`_final_sql`). The caller drops the tables."""
    from . import sigma as sg
    from .engine import condition_need, load_rules, rule_query, run_rule_arrow

    keep = severity_at_least(min_severity)
    tables: list[pa.Table] = []
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    con = case.connection()
    try:
        con.execute("SET enable_progress_bar = false")
    except duckdb.Error:
        # In a Jupyter kernel DuckDB refuses to touch the progress bar without ipywidgets
        # (InvalidInputException); the bar is cosmetic, so the hunt goes on without it.
        pass
    if builtin:
        chosen = [r for r in (rules if rules is not None else load_rules()) if r.severity in keep]
        # One scan selects the candidates of every rule (the events whose name and source it
        # can match), reading only the columns the rules name; each rule then searches that
        # small table. Rules with no need on name/source read the case themselves.
        filters = resolve(con, [condition_need(r.condition, r.id) for r in chosen], max_share=BROAD)
        where = union(filters)
        if where is not None:
            cols = columns_in(
                [rule_query(r)[0] for r, f in zip(chosen, filters, strict=True) if isinstance(f, tuple)],
                always=("event_time", "event_id", "actor", "is_error"),
            )
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {CANDIDATES} AS SELECT {', '.join(cols)} FROM events WHERE {where[0]}",
                where[1],
            )
        for rule, f in zip(chosen, filters, strict=True):
            if f is not False:  # False: nothing in the case has a name/source the rule matches
                tables.append(run_rule_arrow(case, rule, CANDIDATES if isinstance(f, tuple) else "events"))
        con.execute(f"DROP TABLE IF EXISTS {CANDIDATES}")
    table = pa.concat_tables([t for t in tables if t.num_rows] or [empty_findings()])
    con.register(_BUILTIN_ARROW, table)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {FINDINGS} AS SELECT * FROM {_BUILTIN_ARROW}")
    con.unregister(_BUILTIN_ARROW)
    seconds["builtin"] = time.perf_counter() - t0
    report = None
    sigma_sql = None
    if sigma is not None:
        t1 = time.perf_counter()
        queries = sg.load_sigma(sigma)
        matches = sg.stage(case, queries)
        # Millions of Sigma findings (one per matching event) are not staged: they are made
        # from the compact hits while the final query reads them.
        sigma_sql = sg.findings_sql(case, queries)
        report = sg.report_frame(queries, matches)
        seconds["sigma"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    with_origin = _stage_origins(case, sigma_sql is not None)
    seconds["origin"] = time.perf_counter() - t2
    return report, seconds, _final_sql(with_origin, sigma_sql, keep)


def findings_table(
    case: Case,
    *,
    sigma: str | Path | Iterable[str | Path] | None = None,
    rules: Sequence[Rule] | None = None,
    builtin: bool = True,
    min_severity: str | None = None,
) -> tuple[pa.Table, pd.DataFrame | None, dict[str, float]]:
    """Findings as an Arrow table (plus the Sigma report and timings); see :func:`findings`."""
    from .engine import query_arrow

    try:
        report, seconds, final = _stage(
            case, sigma=sigma, rules=rules, builtin=builtin, min_severity=min_severity
        )
        t0 = time.perf_counter()
        table = query_arrow(case, *final).cast(FINDINGS_SCHEMA)
        seconds["collect"] = time.perf_counter() - t0
    finally:
        _drop(case)
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


#: Cells a spreadsheet would run as a formula start with one of these (as report.export.neutralize).
_FORMULA_START = r"^[=+\-@\t\r\n|%]"
_CSV_BATCH = 200_000


def _csv_select(source: str) -> str:
    """The findings of ``source`` as CSV cells: times as text, event ids joined by spaces, every
    text cell that a spreadsheet would run as a formula prefixed with ``'`` (the same rule as
    :func:`iamforensics.report.export.neutralize`, applied by DuckDB to millions of rows)."""
    cells = []
    for name in FINDINGS_COLUMNS:
        if name in ("time", "last_time"):
            cells.append(f"strftime({name}, '%Y-%m-%d %H:%M:%S UTC') AS {name}")
            continue
        if name == "count":
            cells.append(name)
            continue
        text = "array_to_string(event_ids, ' ')" if name == "event_ids" else name
        cells.append(
            f"CASE WHEN regexp_matches({text}, '{_FORMULA_START}') THEN chr(39) || {text} ELSE {text} END AS {name}"
        )
    return f"SELECT {', '.join(cells)} FROM {source}"


def _write_csv_from(con: duckdb.DuckDBPyConnection, source: str, path: Path) -> Path:
    """Stream ``source`` to a CSV file: UTF-8 with BOM, every value quoted (a lone carriage
    return inside a cell cannot split a row), cells neutralized."""
    import pyarrow.csv as pacsv

    reader = con.sql(_csv_select(source)).to_arrow_reader(_CSV_BATCH)
    if reader is None:
        raise QueryError("the findings query returned no result to write")
    with open(path, "wb") as fh:
        fh.write("\ufeff".encode())
        options = pacsv.WriteOptions(quoting_style="all_valid")
        with pacsv.CSVWriter(fh, reader.schema, write_options=options) as writer:
            for batch in reader:
                writer.write_batch(batch)
    return path


def _quoted(path: Path) -> str:
    # Our own output path (the case folder), not evidence; COPY takes no parameters.
    return "'" + str(path).replace("'", "''") + "'"


def write_findings(case: Case, table: pa.Table, report: pd.DataFrame | None = None) -> dict[str, Path]:
    """Write findings.parquet and findings.csv (cells neutralized) into the case folder."""
    from ..report.export import write_csv

    paths = {"parquet": case.path / PARQUET_NAME, "csv": case.path / CSV_NAME}
    pq.write_table(table, paths["parquet"], compression="zstd")
    with duckdb.connect() as con:
        con.execute("SET TimeZone='UTC'")
        con.register("_findings", table)
        _write_csv_from(con, "_findings", paths["csv"])
    if report is not None:
        paths["sigma_report"] = write_csv(report, case.path / SIGMA_REPORT_NAME)
    return paths


@dataclass
class HuntResult:
    """What a hunt found, the Sigma per-rule report, and where it was written.

    ``findings`` (a DataFrame) is read on first use from findings.parquet, so a hunt with
    millions of findings does not hold them in pandas unless asked; ``by_rule`` has the
    counts per severity and rule (severity, rule, title, findings, events, first).
    """

    by_rule: pd.DataFrame
    total: int
    sigma_report: pd.DataFrame | None = None
    builtin_rules: int = 0
    paths: dict[str, Path] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    table: pa.Table | None = field(default=None, repr=False)
    _frame: pd.DataFrame | None = field(default=None, repr=False, init=False)

    @property
    def findings(self) -> pd.DataFrame:
        if self._frame is None:
            table = self.table if self.table is not None else pq.read_table(self.paths["parquet"])
            self._frame = table.to_pandas()
        return self._frame


_BY_RULE = (
    "SELECT severity, rule, title, count(*) AS findings, sum(count) AS events, min(time) AS first "
    "FROM {src} GROUP BY severity, rule, title ORDER BY coalesce(list_position(?::VARCHAR[], severity), 1) DESC, "
    "findings DESC, rule"
)


def hunt(
    case: Case,
    *,
    sigma: str | Path | Iterable[str | Path] | None = None,
    min_severity: str | None = None,
    write: bool = True,
) -> HuntResult:
    """Run the built-in pack (and Sigma rules) and write the findings into the case.

    The findings go from DuckDB straight to findings.parquet and findings.csv: a case with
    millions of findings never passes through pandas.

    Examples
    --------
    >>> result = hunt(case, sigma="rules/aws")  # doctest: +SKIP
    >>> print(format_hunt(result))  # doctest: +SKIP
    """
    from ..report.export import write_csv
    from .engine import load_rules, query_arrow

    rules = load_rules()
    con = case.connection()
    paths: dict[str, Path] = {}
    table = None
    try:
        report, seconds, (sql, params) = _stage(
            case, sigma=sigma, rules=rules, builtin=True, min_severity=min_severity
        )
        t0 = time.perf_counter()
        if write:
            paths = {"parquet": case.path / PARQUET_NAME, "csv": case.path / CSV_NAME}
            con.execute(
                f"COPY ({sql}) TO {_quoted(paths['parquet'])} (FORMAT parquet, COMPRESSION zstd)", params
            )
            src = f"read_parquet({_quoted(paths['parquet'])})"
            _write_csv_from(con, src, paths["csv"])
            if report is not None:
                paths["sigma_report"] = write_csv(report, case.path / SIGMA_REPORT_NAME)
        else:
            table = query_arrow(case, sql, params).cast(FINDINGS_SCHEMA)
            con.register(_BUILTIN_ARROW, table)
            src = _BUILTIN_ARROW
        by_rule = con.execute(_BY_RULE.format(src=src), [list(SEVERITIES)]).df()
        seconds["write" if write else "collect"] = time.perf_counter() - t0
    finally:
        _drop(case)
    total = int(by_rule["findings"].sum()) if len(by_rule) else 0
    return HuntResult(by_rule, total, report, len(rules), paths, seconds, table)


def format_hunt(result: HuntResult, *, top: int = 40) -> str:
    """A plain-text summary: counts by severity and rule, the Sigma conversion report, files."""
    grouped = result.by_rule
    lines = [
        f"{result.total} finding(s) from {result.builtin_rules} built-in rule(s)"
        + (f" and {len(result.sigma_report)} Sigma rule(s)" if result.sigma_report is not None else "")
    ]
    if len(grouped):
        by_sev = grouped.groupby("severity")["findings"].sum()
        lines.append(
            "  by severity: "
            + ", ".join(f"{s} {int(by_sev[s])}" for s in reversed(SEVERITIES) if s in by_sev)
        )
        for rec in grouped.head(top).to_dict("records"):
            first = pd.Timestamp(rec["first"]).tz_convert("UTC")
            lines.append(
                f"  {rec['severity']:<8} {rec['rule']:<40} {int(rec['findings']):>6} finding(s) "
                f"{int(rec['events']):>8} event(s)  first {first:%Y-%m-%d %H:%M}Z"
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
