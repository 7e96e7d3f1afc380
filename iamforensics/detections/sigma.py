"""Sigma rules over a case: pySigma parses, a processing pipeline maps fields, DuckDB runs them.

pySigma reads the rule files and applies :func:`cloudtrail_pipeline`, which maps every
CloudTrail field name to the case schema: ``eventName`` to the ``event_name`` column,
``userIdentity.sessionContext.sessionIssuer.type`` to ``session_issuer_type``, and
``requestParameters.*`` / ``responseElements.*`` / ``additionalEventData.*`` paths to
``json_extract_string`` on the JSON payload columns (:mod:`.fields`). The parsed condition
tree is then translated here to a DuckDB ``WHERE`` clause with every value as a ``?``
parameter (no published backend does that: ``pysigma-backend-duckdb`` pastes values into the
SQL text and needs pySigma < 2). Sigma semantics kept: strings match case-insensitively
unless ``|cased``, ``*``/``?`` wildcards, ``|re`` (RE2) with its flags, ``null``,
``|exists``, ``|fieldref``, numeric comparisons, keywords (searched in the raw record).

Every rule is reported: converted or not (with the reason), and how many events matched.
A rule that cannot be converted never stops the others.

One mapping beyond the schema: ``status: success|failure`` (a field some Sigma rules use
that CloudTrail does not have) becomes ``errorCode`` null / not null.

Examples
--------
>>> report, findings = run_sigma(case, "rules/cloud/aws")  # doctest: +SKIP
>>> report[~report.converted][["file", "reason"]]  # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd
import pyarrow as pa
import yaml
from sigma.collection import SigmaCollection
from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.exceptions import SigmaError, SigmaTransformationError
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations.base import FieldMappingTransformationBase
from sigma.rule import SigmaRule
from sigma.types import (
    SigmaBool,
    SigmaCasedString,
    SigmaCompareExpression,
    SigmaExists,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SpecialChars,
)

from ..errors import IamForensicsError, QueryError
from ..schema import COLUMN_NAMES, PATH_TO_COLUMN, PAYLOAD_COLUMNS
from .fields import resolve_field
from .prefilter import BROAD, Filter, Need, column_of, columns_in, need_all, need_any, resolve, union

if TYPE_CHECKING:
    from ..case import Case

OUTCOME = "@outcome"
SUMMARY_MAX = 300
#: Sigma levels are the finding severities.
LEVELS = ("informational", "low", "medium", "high", "critical")
#: ATT&CK enterprise tactics by the names Sigma tags use.
TACTICS = {
    "reconnaissance": ("TA0043", "Reconnaissance"),
    "resource-development": ("TA0042", "Resource Development"),
    "initial-access": ("TA0001", "Initial Access"),
    "execution": ("TA0002", "Execution"),
    "persistence": ("TA0003", "Persistence"),
    "privilege-escalation": ("TA0004", "Privilege Escalation"),
    "defense-evasion": ("TA0005", "Defense Evasion"),
    "credential-access": ("TA0006", "Credential Access"),
    "discovery": ("TA0007", "Discovery"),
    "lateral-movement": ("TA0008", "Lateral Movement"),
    "collection": ("TA0009", "Collection"),
    "exfiltration": ("TA0010", "Exfiltration"),
    "command-and-control": ("TA0011", "Command and Control"),
    "impact": ("TA0040", "Impact"),
}
_TECH = re.compile(r"^t\d{4}(\.\d{3})?$")


class SigmaConversionError(IamForensicsError):
    """A Sigma construct this translator does not support (the rule is reported, not run)."""


def sigma_field(name: str) -> str | None:
    """The schema field a Sigma (CloudTrail) field name maps to, or None.

    Examples
    --------
    >>> sigma_field("userIdentity.sessionContext.sessionIssuer.type"), sigma_field("requestParameters.enable")
    ('session_issuer_type', 'request_parameters.enable')
    >>> sigma_field("status"), sigma_field("nope") is None
    ('@outcome', True)
    """
    if name == "status":
        return OUTCOME
    if name in COLUMN_NAMES:
        return name
    if name in PATH_TO_COLUMN:
        return PATH_TO_COLUMN[name]
    head, _, rest = name.partition(".")
    col = PATH_TO_COLUMN.get(head)
    if col in PAYLOAD_COLUMNS and rest:
        return f"{col}.{rest}"
    ref = resolve_field(name)
    return name if ref is not None else None


@dataclass
class CloudTrailFieldMapping(FieldMappingTransformationBase):
    """pySigma transformation: CloudTrail field names -> case schema fields; unknown fields fail."""

    def apply_field_name(self, field: str | None) -> None | str | list[str]:
        if field is None:  # keywords: searched in the raw record
            return None
        mapped = sigma_field(field)
        if mapped is None:
            raise SigmaTransformationError(
                f"field {field!r} has no column or payload path in the case schema"
            )
        return mapped


def cloudtrail_pipeline() -> ProcessingPipeline:
    """The processing pipeline that maps CloudTrail field names onto the case schema."""
    return ProcessingPipeline(
        name="iamforensics CloudTrail schema",
        priority=20,
        items=[
            ProcessingItem(
                identifier="iamforensics_cloudtrail_fields", transformation=CloudTrailFieldMapping()
            )
        ],
    )


# -- condition tree -> SQL -------------------------------------------------------------------


def _regex_of(value: SigmaString) -> str:
    parts: list[str] = []
    for item in value.s:
        if item == SpecialChars.WILDCARD_MULTI:
            parts.append(".*")
        elif item == SpecialChars.WILDCARD_SINGLE:
            parts.append(".")
        elif isinstance(item, str):
            parts.append(re.escape(item))
        else:
            raise SigmaConversionError(f"placeholder {item!r} has no value")
    return "^" + "".join(parts) + "$"


def _value_test(x: str, value: Any) -> tuple[str, list[Any]]:
    """SQL for one field expression ``x`` (appearing once) against one Sigma value."""
    text = f"CAST({x} AS VARCHAR)"
    if isinstance(value, SigmaNull):
        return f"{x} IS NULL", []
    if isinstance(value, SigmaExists):
        return (f"{x} IS NOT NULL" if value.exists else f"{x} IS NULL"), []
    if isinstance(value, SigmaBool):
        return f"lower({text}) = ?", ["true" if value.boolean else "false"]
    if isinstance(value, SigmaNumber):
        return f"TRY_CAST({text} AS DOUBLE) = ?", [float(value.number)]
    if isinstance(value, SigmaCompareExpression):
        op = {"LT": "<", "LTE": "<=", "GT": ">", "GTE": ">="}[value.op.name]
        return f"TRY_CAST({text} AS DOUBLE) {op} ?", [float(value.number.number)]
    if isinstance(value, SigmaRegularExpression):
        flags = "".join(
            {
                SigmaRegularExpressionFlag.IGNORECASE: "i",
                SigmaRegularExpressionFlag.MULTILINE: "m",
                SigmaRegularExpressionFlag.DOTALL: "s",
            }[f]
            for f in sorted(value.flags, key=lambda f: f.name)
        )
        return f"regexp_matches({text}, ?)", [(f"(?{flags})" if flags else "") + str(value.regexp)]
    if isinstance(value, SigmaString):
        cased = isinstance(value, SigmaCasedString)
        if value.contains_placeholder():
            raise SigmaConversionError(f"value {value.original!r} holds a placeholder")
        if not value.contains_special():
            plain = str(value)
            if cased:
                return f"{text} = ?", [plain]
            return f"lower({text}) = ?", [plain.lower()]
        return f"regexp_matches({text}, ?)", [("(?s)" if cased else "(?is)") + _regex_of(value)]
    raise SigmaConversionError(f"value type {type(value).__name__} is not supported")


def _field_sql(name: str) -> tuple[str, list[Any], bool]:
    ref = resolve_field(name)
    if ref is None:
        raise SigmaConversionError(f"field {name!r} is not in the case schema")
    return ref.sql, list(ref.params), ref.is_list


def _field_expression(cond: ConditionFieldEqualsValueExpression) -> tuple[str, list[Any]]:
    value = cond.value
    if cond.field == OUTCOME:
        if not isinstance(value, SigmaString) or str(value).lower() not in ("success", "failure", "failed"):
            raise SigmaConversionError(f"status {value!r}: only success or failure map to errorCode")
        return ("error_code IS NULL" if str(value).lower() == "success" else "error_code IS NOT NULL"), []
    x, xp, is_list = _field_sql(cond.field)
    if isinstance(value, SigmaFieldReference):
        y, yp, y_list = _field_sql(value.field)
        if is_list or y_list:
            raise SigmaConversionError("field references between list-valued paths are not supported")
        lx, ly = f"lower(CAST({x} AS VARCHAR))", f"lower(CAST({y} AS VARCHAR))"
        if value.starts_with and value.ends_with:
            return f"contains({lx}, {ly})", xp + yp
        if value.starts_with:
            return f"starts_with({lx}, {ly})", xp + yp
        if value.ends_with:
            return f"ends_with({lx}, {ly})", xp + yp
        return f"{lx} = {ly}", xp + yp
    if is_list:
        if isinstance(value, SigmaNull):
            return f"coalesce(len(list_filter({x}, lambda _e: _e IS NOT NULL)), 0) = 0", xp
        sql, p = _value_test("_e", value)
        return f"len(list_filter({x}, lambda _e: {sql})) > 0", xp + p
    sql, p = _value_test(x, value)
    return sql, xp + p


def condition_sql(node: Any) -> tuple[str, list[Any]]:
    """DuckDB boolean SQL and parameters for a parsed (pipeline-applied) Sigma condition tree."""
    if isinstance(node, ConditionAND | ConditionOR):
        parts = [condition_sql(a) for a in node.args]
        joiner = " AND " if isinstance(node, ConditionAND) else " OR "
        return "(" + joiner.join(f"coalesce({s}, FALSE)" for s, _ in parts) + ")", [
            p for _, ps in parts for p in ps
        ]
    if isinstance(node, ConditionNOT):
        sql, params = condition_sql(node.args[0])
        return f"NOT coalesce({sql}, FALSE)", params
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return _field_expression(node)
    if isinstance(node, ConditionValueExpression):
        # A keyword: Sigma searches the whole event, here the raw record as written.
        value = node.value
        if isinstance(value, SigmaString) and not value.contains_special():
            return "contains(lower(raw), ?)", [str(value).lower()]
        if isinstance(value, SigmaString):
            return "regexp_matches(raw, ?)", ["(?is)" + _regex_of(value)[1:-1]]
        raise SigmaConversionError(f"keyword of type {type(value).__name__} is not supported")
    raise SigmaConversionError(f"condition element {type(node).__name__} is not supported")


def condition_need(node: Any) -> Need | None:
    """What every event matching a parsed Sigma condition has in ``event_name``/``event_source``
    (see :mod:`.prefilter`): the rule's own tests on those fields, None when it has none."""
    if isinstance(node, ConditionAND | ConditionOR):
        parts = [condition_need(a) for a in node.args]
        return need_all(parts) if isinstance(node, ConditionAND) else need_any(parts)
    if isinstance(node, ConditionFieldEqualsValueExpression) and node.field != OUTCOME:
        if isinstance(node.value, SigmaFieldReference):
            return None
        ref = resolve_field(node.field)
        col = column_of(ref.sql) if ref is not None and not ref.is_list else None
        return {col: _field_expression(node)} if col is not None else None
    return None  # NOT, keywords


# -- rules and the report --------------------------------------------------------------------


@dataclass
class SigmaQuery:
    """One Sigma rule file: what it is, and its SQL when it converted."""

    file: str
    id: str
    title: str
    level: str
    tactic: str
    technique: str
    sql: str | None = None
    params: list[Any] = field(default_factory=list)
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    #: what every matching event has in event_name/event_source (None: nothing known)
    need: Need | None = None

    @property
    def converted(self) -> bool:
        return self.sql is not None


def _attack(rule: SigmaRule) -> tuple[str, str]:
    tactics: list[str] = []
    techniques: list[str] = []
    for tag in rule.tags:
        if tag.namespace != "attack":
            continue
        name = tag.name.lower()
        if _TECH.match(name):
            techniques.append(name.upper())
        elif name in TACTICS:
            tactics.append(" ".join(TACTICS[name]))
        elif not name.startswith(("g", "s")) or not name[1:].isdigit():
            tactics.append(name.replace("-", " ").title())
    return ", ".join(tactics), ", ".join(techniques)


def _field_like_values(rule: SigmaRule) -> list[str]:
    """Notes for string values that name a CloudTrail field: Sigma compares them as text."""
    notes = []
    for det in rule.detection.detections.values():
        for item in getattr(det, "detection_items", []):
            for v in getattr(item, "value", []):
                if isinstance(v, SigmaString):
                    s = "".join(part for part in v.s if isinstance(part, str))
                    if "." in s and sigma_field(s) not in (None, s) and s.split(".")[0] in PATH_TO_COLUMN:
                        notes.append(
                            f"value {s!r} of {item.field} is compared as literal text, not as a field "
                            "(Sigma's |fieldref modifier does that)"
                        )
    return notes


def convert_rule(rule: SigmaRule, file: str) -> SigmaQuery:
    """Convert one parsed Sigma rule (the pipeline is applied here); never raises for a bad rule."""
    tactic, technique = _attack(rule)
    level = rule.level.name.lower() if rule.level is not None else "informational"
    q = SigmaQuery(
        file=file,
        id=str(rule.id or ""),
        title=rule.title or file,
        level=level,
        tactic=tactic,
        technique=technique,
    )
    ls = rule.logsource
    if (ls.product or "").lower() != "aws" or (ls.service or "").lower() != "cloudtrail":
        q.reason = f"logsource product={ls.product} service={ls.service} is not aws/cloudtrail"
        return q
    q.notes = _field_like_values(rule)
    try:
        cloudtrail_pipeline().apply(rule)
        parts = [condition_sql(c.parsed) for c in rule.detection.parsed_condition]
    except (SigmaError, SigmaConversionError) as exc:
        q.reason = " ".join(str(exc).split())
        return q
    q.sql = " OR ".join(f"coalesce({s}, FALSE)" for s, _ in parts)
    q.params = [p for _, ps in parts for p in ps]
    q.need = need_any([condition_need(c.parsed) for c in rule.detection.parsed_condition])
    return q


def load_sigma(paths: str | Path | Iterable[str | Path]) -> list[SigmaQuery]:
    """Parse and convert every Sigma rule file under the given folders/files, in file order.

    Files pySigma cannot parse are listed with pySigma's error as the reason.
    """
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    files: list[Path] = []
    for p in map(Path, items):
        if p.is_dir():
            files.extend(sorted(list(p.rglob("*.yml")) + list(p.rglob("*.yaml"))))
        elif p.is_file():
            files.append(p)
        else:
            raise IamForensicsError(f"no Sigma rules at {p}")
    out: list[SigmaQuery] = []
    for f in files:
        try:
            col = SigmaCollection.from_yaml(f.read_text(encoding="utf-8"), collect_errors=True)
        except (SigmaError, OSError, ValueError, yaml.YAMLError) as exc:
            out.append(
                SigmaQuery(
                    f.name,
                    "",
                    f.name,
                    "informational",
                    "",
                    "",
                    reason="unreadable: " + " ".join(str(exc).split()),
                )
            )
            continue
        if col.errors:
            out.append(
                SigmaQuery(
                    f.name,
                    "",
                    f.name,
                    "informational",
                    "",
                    "",
                    reason="; ".join(" ".join(str(e).split()) for e in col.errors),
                )
            )
            continue
        for rule in col.rules:
            if isinstance(rule, SigmaRule):
                out.append(convert_rule(rule, f.name))
            else:
                out.append(
                    SigmaQuery(
                        f.name,
                        str(getattr(rule, "id", "") or ""),
                        getattr(rule, "title", f.name),
                        "informational",
                        "",
                        "",
                        reason=f"{type(rule).__name__} (correlation/filter rules) is not supported",
                    )
                )
    return out


#: Temp tables a Sigma run stages in the case's connection (dropped by :func:`drop_staged`).
CANDIDATES = "_iamf_sigma_candidates"
HITS = "_iamf_sigma_hits"
RULES = "_iamf_sigma_rules"
#: What a hit keeps of its event: the finding's time, id, actor and summary parts.
_HIT_COLUMNS = ("event_time", "event_id", "actor", "event_name", "source_ip_address")


def _branch(q: SigmaQuery, index: int, table: str) -> str:
    return (
        f"SELECT {', '.join(_HIT_COLUMNS)}, {int(index)} AS _rule FROM {table} WHERE coalesce({q.sql}, FALSE)"
    )


def _filters(con: Any, ready: list[SigmaQuery]) -> list[Filter]:
    """Each rule's need resolved on the case; a need DuckDB rejects is dropped (the rule then
    reads every event, and fails or not on its own)."""
    try:
        return resolve(con, [q.need for q in ready], max_share=BROAD)
    except QueryError:
        out: list[Filter] = []
        for q in ready:
            try:
                out.extend(resolve(con, [q.need], max_share=BROAD))
            except QueryError:
                out.append(None)
        return out


def stage(case: Case, queries: list[SigmaQuery]) -> dict[int, int]:
    """Run the converted rules once over the case; their hits go to the temp table ``HITS``.

    A rule reads only its candidates: the events whose name and source can match it (one scan
    of the case selects them for all such rules, reading only the columns the rules name);
    the few rules with no need on name or source read the case themselves. A rule DuckDB
    rejects is reported (``reason``) and left out. Returns matches per index in ``queries``.
    """
    from .engine import query_arrow

    con = case.connection()
    ready = [(i, q) for i, q in enumerate(queries) if q.sql is not None]
    filters = _filters(con, [q for _, q in ready])
    where = union(filters)
    if where is not None:
        cols = columns_in([q.sql or "" for (_, q), f in zip(ready, filters, strict=True) if isinstance(f, tuple)],
                          always=_HIT_COLUMNS)  # fmt: skip
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {CANDIDATES} AS SELECT {', '.join(cols)} FROM events WHERE {where[0]}",
            where[1],
        )
    runs = [
        (i, q, CANDIDATES if isinstance(f, tuple) else "events")
        for (i, q), f in zip(ready, filters, strict=True)
        if f is not False  # False: no event of the case has a name/source the rule can match
    ]

    def create(items: list[tuple[int, SigmaQuery, str]]) -> None:
        body = " UNION ALL ".join(_branch(q, i, t) for i, q, t in items) if items else None
        params = [p for _, q, _ in items for p in q.params]
        empty = f"SELECT {', '.join(_HIT_COLUMNS)}, 0 AS _rule FROM events LIMIT 0"
        con.execute(f"CREATE OR REPLACE TEMP TABLE {HITS} AS {body or empty}", params if body else [])

    try:
        create(runs)
    except duckdb.Error:
        # Find the rules DuckDB rejects, report them, and run the others.
        ok = []
        for i, q, t in runs:
            try:
                query_arrow(case, f"SELECT count(*) FROM ({_branch(q, i, t)})", q.params)
                ok.append((i, q, t))
            except QueryError as exc:
                q.reason = f"failed in DuckDB: {exc}"
                q.sql = None
        create(ok)
    counts = dict(con.execute(f"SELECT _rule, count(*) FROM {HITS} GROUP BY _rule").fetchall())
    return {i: int(counts.get(i, 0)) for i, q in enumerate(queries) if q.sql is not None}


def findings_sql(case: Case, queries: list[SigmaQuery]) -> str:
    """SQL over the staged hits whose rows are findings (the findings columns, origin null)."""
    meta = pa.table(
        {
            "idx": pa.array(range(len(queries)), pa.int64()),
            "rule": ["sigma:" + (Path(q.file).stem if q.file else q.id) for q in queries],
            "title": [q.title for q in queries],
            "severity": [q.level for q in queries],
            "tactic": [q.tactic for q in queries],
            "technique": [q.technique for q in queries],
        }
    )
    case.connection().register(RULES, meta)
    base = (
        "left(regexp_replace(coalesce(h.event_name, '-') || ' by ' || coalesce(h.actor, '-') || ' from ' || "
        f"coalesce(h.source_ip_address, '-'), '[\\x00-\\x1f\\x7f]+', ' ', 'g'), {SUMMARY_MAX})"
    )
    return (
        "SELECT m.rule, 'sigma' AS source, m.title, m.severity, m.tactic, m.technique, "
        "h.event_time::TIMESTAMPTZ AS time, h.event_time::TIMESTAMPTZ AS last_time, h.actor, "
        "NULL::VARCHAR AS origin, 1::BIGINT AS count, [h.event_id] AS event_ids, "
        f"m.title || ': ' || {base} AS summary FROM {HITS} h JOIN {RULES} m ON m.idx = h._rule"
    )


def drop_staged(case: Case) -> None:
    """Drop the temp tables :func:`stage` and :func:`findings_sql` made."""
    con = case.connection()
    con.execute(f"DROP TABLE IF EXISTS {HITS}")
    con.execute(f"DROP TABLE IF EXISTS {CANDIDATES}")
    try:
        con.unregister(RULES)
    except duckdb.Error:
        pass


def report_frame(queries: list[SigmaQuery], matches: dict[int, int]) -> pd.DataFrame:
    """The per-rule report: file, id, title, level, converted, reason, matches, notes."""
    report = [
        {
            "file": q.file,
            "id": q.id,
            "title": q.title,
            "level": q.level,
            "converted": q.converted,
            "reason": q.reason,
            "matches": matches.get(i) if q.converted else None,
            "notes": "; ".join(q.notes),
        }
        for i, q in enumerate(queries)
    ]
    frame = pd.DataFrame(
        report, columns=["file", "id", "title", "level", "converted", "reason", "matches", "notes"]
    )
    frame["matches"] = frame["matches"].astype("Int64")
    return frame


def run_sigma(case: Case, paths: str | Path | Iterable[str | Path]) -> tuple[pd.DataFrame, pa.Table]:
    """Run Sigma rules over a case: (per-rule report, findings as an Arrow table).

    All converted rules run in one statement (see :func:`stage`). The report has one row per
    rule: file, id, title, level, converted, reason, matches, notes.
    """
    from .engine import query_arrow
    from .findings import FINDINGS_SCHEMA

    queries = load_sigma(paths)
    try:
        matches = stage(case, queries)
        table = query_arrow(case, findings_sql(case, queries), []).cast(FINDINGS_SCHEMA)
    finally:
        drop_staged(case)
    return report_frame(queries, matches), table
