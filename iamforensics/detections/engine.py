"""Built-in detection rules: YAML data compiled to parameterized DuckDB queries over a case.

A rule file (``rules/*.yml`` in this package) holds a list of rules::

    - id: iam-create-user
      title: IAM user created
      description: ...
      tactic: [TA0003, Persistence]
      technique: [T1136.003, "Create Account: Cloud Account"]
      severity: medium            # informational, low, medium, high, critical
      references: [https://...]
      match: {event_source: iam.amazonaws.com, event_name: [CreateUser]}
      where:                       # a condition (below); a list means "all of"
        - {field: requestParameters.userName, is_null: false}
      aggregate: {type: threshold, by: [actor], window: 10m, count: 5}   # optional
      summary: "created user {requestParameters.userName}"

Conditions: ``{all: [...]}``, ``{any: [...]}``, ``{not: ...}``, or a field test
``{field: F, <op>: value, ci: true}`` with ops ``equals`` (a value or a list), ``not_equals``,
``contains``, ``startswith``, ``endswith`` (a value or a list, any matches), ``regex`` (RE2),
``is_null`` (true/false), ``equals_field`` / ``not_equals_field`` (another field),
``foreign_account_of`` (a 12-digit account id inside F that differs from the other field),
``gte``/``lte`` (numbers), and ``in_values_of: {field: G, where: <condition>}`` (F is one of
the values G takes in the case's events matching the condition). Fields are schema columns,
CloudTrail paths or paths into the JSON payloads (see :mod:`.fields`).

Aggregations: ``threshold`` (at least ``count`` matching events of one ``by`` key within a
sliding ``window``; each burst becomes one finding with all its event ids) and ``first_seen``
(the first matching event whose ``value`` was never seen before for its ``by`` key, in all
events or only in matching ones; ``history: true`` skips keys with no earlier event).

Every value goes into the query as a ``?`` parameter.

Examples
--------
>>> rules = load_rules()
>>> rule = next(r for r in rules if r.id == "cloudtrail-stop-logging")
>>> rule.tactic, rule.severity
('TA0005 Defense Evasion', 'high')
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd
import pyarrow as pa
import yaml

from ..errors import IamForensicsError, QueryError
from .fields import FieldRef, resolve_field
from .prefilter import Need, column_of, need_all, need_any

if TYPE_CHECKING:
    from ..case import Case

SEVERITIES: tuple[str, ...] = ("informational", "low", "medium", "high", "critical")
SUMMARY_MAX = 300
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,80}$")
_TACTIC = re.compile(r"^TA\d{4}$")
_TECHNIQUE = re.compile(r"^T\d{4}(\.\d{3})?$")
_WINDOW = re.compile(r"^(\d+)\s*([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RULE_KEYS = {
    "id",
    "title",
    "description",
    "tactic",
    "technique",
    "severity",
    "references",
    "match",
    "where",
    "aggregate",
    "summary",
}
_VALUE_OPS = ("equals", "not_equals", "contains", "startswith", "endswith", "regex")
_FIELD_OPS = ("equals_field", "not_equals_field", "foreign_account_of")
_NUM_OPS = {"gte": ">=", "lte": "<=", "gt": ">", "lt": "<"}
_OPS = set(_VALUE_OPS) | set(_FIELD_OPS) | set(_NUM_OPS) | {"is_null", "in_values_of", "ci"}
#: Columns every rule query returns, in order (findings add the rule's constant columns).
RESULT_COLUMNS = ("time", "last_time", "actor", "count", "event_ids", "summary")


class RuleError(IamForensicsError):
    """A rule file that does not follow the rule format."""


@dataclass(frozen=True)
class Aggregate:
    type: str  # threshold | first_seen
    by: tuple[str, ...]
    window_seconds: int = 0
    count: int = 1
    value: tuple[str, ...] = ()
    baseline: str = "all"  # all | matched
    history: bool = False


@dataclass(frozen=True)
class Rule:
    """One built-in detection (data from a rule file)."""

    id: str
    title: str
    description: str
    tactic_id: str
    tactic_name: str
    technique_id: str
    technique_name: str
    severity: str
    references: tuple[str, ...]
    condition: dict[str, Any]
    aggregate: Aggregate | None
    summary: str
    file: str = ""
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    #: event names of ``match`` (empty when the rule has none): lets a hunt pre-select candidates.
    event_names: tuple[str, ...] = ()

    @property
    def tactic(self) -> str:
        return f"{self.tactic_id} {self.tactic_name}"

    @property
    def technique(self) -> str:
        return f"{self.technique_id} {self.technique_name}"


# -- SQL building ----------------------------------------------------------------------------


class _Sql:
    """SQL text and its parameters, kept in step."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.params: list[Any] = []

    def add(self, text: str, params: Sequence[Any] = ()) -> _Sql:
        self.parts.append(text)
        self.params.extend(params)
        return self

    def text(self) -> str:
        return "".join(self.parts)


def _field(name: Any, rule_id: str) -> FieldRef:
    if not isinstance(name, str):
        raise RuleError(f"rule {rule_id}: field must be a string, got {name!r}")
    ref = resolve_field(name)
    if ref is None:
        raise RuleError(f"rule {rule_id}: unknown field {name!r}")
    return ref


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _scalar_test(x: str, op: str, values: list[Any], ci: bool, kind: str) -> tuple[str, list[Any]]:
    """SQL testing one scalar expression ``x`` against values (any value matches).

    ``x`` appears once in the result, so a field whose SQL carries parameters (a JSON path)
    keeps them in step; several substrings become one RE2 alternation.
    """
    if kind == "bool":
        vals = [v if isinstance(v, bool) else str(v).lower() == "true" for v in values]
        marks = ", ".join("?" * len(vals))
        if op == "equals":
            return f"{x} IN ({marks})", vals
        if op == "not_equals":
            return f"coalesce({x} NOT IN ({marks}), TRUE)", vals
    text = f"CAST({x} AS VARCHAR)"
    if op in ("equals", "not_equals"):
        strs = [str(v).lower() if ci else str(v) for v in values]
        lhs = f"lower({text})" if ci else text
        marks = ", ".join("?" * len(strs))
        if op == "equals":
            return f"{lhs} IN ({marks})", strs
        return f"coalesce({lhs} NOT IN ({marks}), TRUE)", strs
    if op == "regex":
        pattern = "|".join(f"(?:{v})" for v in values) if len(values) > 1 else str(values[0])
    else:
        wrap = {"contains": "{}", "startswith": "^{}", "endswith": "{}$"}[op]
        pattern = "|".join(wrap.format(re.escape(str(v))) for v in values)
        pattern = ("(?is)" if ci else "(?s)") + pattern
    return f"regexp_matches({text}, ?)", [pattern]


def _field_test(ref: FieldRef, test: Any) -> tuple[str, list[Any]]:
    """Apply ``test(x_sql) -> (sql, params)`` to a field; for list fields, any element."""
    if not ref.is_list:
        sql, params = test(ref.sql)
        return sql, list(ref.params) + params
    sql, params = test("_e")
    return f"len(list_filter({ref.sql}, lambda _e: {sql})) > 0", list(ref.params) + params


def compile_condition(node: Any, rule_id: str = "?") -> tuple[str, list[Any]]:
    """SQL boolean expression and parameters for a condition node.

    Examples
    --------
    >>> compile_condition({"field": "eventName", "equals": ["A", "B"]})
    ('(CAST("event_name" AS VARCHAR) IN (?, ?))', ['A', 'B'])
    """
    if isinstance(node, list):
        node = {"all": node}
    if not isinstance(node, dict) or not node:
        raise RuleError(f"rule {rule_id}: a condition must be a mapping, got {node!r}")
    group = [k for k in ("all", "any", "not") if k in node]
    if group:
        if len(node) != 1:
            raise RuleError(f"rule {rule_id}: {group[0]!r} must be alone in its mapping: {node!r}")
        key = group[0]
        if key == "not":
            sql, params = compile_condition(node["not"], rule_id)
            return f"NOT coalesce({sql}, FALSE)", params
        items = node[key]
        if not isinstance(items, list) or not items:
            raise RuleError(f"rule {rule_id}: {key!r} needs a non-empty list")
        parts = [compile_condition(i, rule_id) for i in items]
        joiner = " AND " if key == "all" else " OR "
        return "(" + joiner.join(f"coalesce({p[0]}, FALSE)" for p in parts) + ")", [
            x for p in parts for x in p[1]
        ]
    if "field" not in node:
        raise RuleError(f"rule {rule_id}: condition without 'field': {node!r}")
    unknown = set(node) - _OPS - {"field"}
    if unknown:
        raise RuleError(f"rule {rule_id}: unknown condition key(s) {sorted(unknown)} in {node!r}")
    ref = _field(node["field"], rule_id)
    ci = bool(node.get("ci", False))
    clauses: list[tuple[str, list[Any]]] = []
    for op in _VALUE_OPS:
        if op in node:
            values = _as_list(node[op])
            if not values:
                raise RuleError(f"rule {rule_id}: {op!r} needs at least one value")
            clauses.append(_field_test(ref, lambda x, op=op, v=values: _scalar_test(x, op, v, ci, ref.kind)))
    if "is_null" in node:
        if ref.is_list:
            null = f"coalesce(len(list_filter({ref.sql}, lambda _e: _e IS NOT NULL)), 0) = 0"
        else:
            null = f"{ref.sql} IS NULL"
        clauses.append((null if node["is_null"] else f"NOT ({null})", list(ref.params)))
    for op in _FIELD_OPS:
        if op in node:
            other = _field(node[op], rule_id)
            if other.is_list:
                raise RuleError(f"rule {rule_id}: {op!r} needs a single-valued field")
            if op == "equals_field":
                sql = "CAST({x} AS VARCHAR) = CAST(" + other.sql + " AS VARCHAR)"
            elif op == "not_equals_field":
                sql = "CAST({x} AS VARCHAR) <> CAST(" + other.sql + " AS VARCHAR)"
            else:
                sql = (
                    "len(list_filter(regexp_extract_all(CAST({x} AS VARCHAR), '(^|[^0-9])([0-9]{{12}})([^0-9]|$)', 2),"
                    " lambda _a: _a <> CAST(" + other.sql + " AS VARCHAR))) > 0"
                )
            clauses.append(_field_test(ref, lambda x, s=sql, o=other: (s.format(x=x), list(o.params))))
    for op, sym in _NUM_OPS.items():
        if op in node:
            num = float(node[op])
            clauses.append(_field_test(ref, lambda x, s=sym, n=num: (f"TRY_CAST({x} AS DOUBLE) {s} ?", [n])))
    if "in_values_of" in node:
        spec = node["in_values_of"]
        if not isinstance(spec, dict) or "field" not in spec:
            raise RuleError(f"rule {rule_id}: in_values_of needs {{field: ..., where: ...}}")
        src = _field(spec["field"], rule_id)
        if src.is_list:
            raise RuleError(f"rule {rule_id}: in_values_of needs a single-valued source field")
        sub_sql, sub_params = compile_condition(
            spec.get("where", {"field": spec["field"], "is_null": False}), rule_id
        )
        sub = (
            f"(SELECT DISTINCT _iv FROM (SELECT CAST({src.sql} AS VARCHAR) AS _iv FROM events WHERE {sub_sql}) "
            "WHERE _iv IS NOT NULL)"
        )
        clauses.append(
            _field_test(
                ref, lambda x, s=sub, p=list(src.params) + sub_params: (f"CAST({x} AS VARCHAR) IN {s}", p)
            )
        )
    if not clauses:
        raise RuleError(f"rule {rule_id}: condition on {node['field']!r} has no test")
    return "(" + " AND ".join(c[0] for c in clauses) + ")", [p for c in clauses for p in c[1]]


_NEED_KEYS = {"field", "ci", "is_null", *_VALUE_OPS, *_NUM_OPS}


def condition_need(node: Any, rule_id: str = "?") -> Need | None:
    """What every event matching a condition has in ``event_name``/``event_source`` (see
    :mod:`.prefilter`); None when the condition says nothing about them.

    Examples
    --------
    >>> condition_need({"all": [{"field": "eventName", "equals": "A"}, {"field": "actor", "equals": "x"}]})
    {'event_name': ('(CAST("event_name" AS VARCHAR) IN (?))', ['A'])}
    """
    if isinstance(node, list):
        node = {"all": node}
    if not isinstance(node, dict):
        return None
    if "all" in node:
        return need_all([condition_need(n, rule_id) for n in node["all"]])
    if "any" in node:
        return need_any([condition_need(n, rule_id) for n in node["any"]])
    if "field" not in node or set(node) - _NEED_KEYS:
        return None  # not, in_values_of and field-to-field tests read other columns
    ref = resolve_field(str(node["field"]))
    col = column_of(ref.sql) if ref is not None and not ref.is_list else None
    if col is None:
        return None
    return {col: compile_condition(node, rule_id)}


# -- summaries -------------------------------------------------------------------------------

_SPECIALS = ("count", "peak", "errors", "window", "first", "last")
_TS = "strftime({}, '%Y-%m-%dT%H:%M:%SZ')"


def _template(text: str) -> list[tuple[str, str | None]]:
    """(literal, field-or-None) pairs of a ``{field}`` template."""
    out: list[tuple[str, str | None]] = []
    for literal, name, spec, conv in string.Formatter().parse(text):
        if spec or conv:
            raise RuleError(f"summary {text!r}: format specs are not supported")
        out.append((literal, name if name else None))
    return out


def _clean(sql: str) -> str:
    # Record text is attacker-controlled: one line, no control characters, bounded length.
    return f"left(regexp_replace({sql}, '[\\x00-\\x1f\\x7f]+', ' ', 'g'), {SUMMARY_MAX})"


def _summary_field(name: str, rule_id: str) -> tuple[str, list[Any]]:
    """Text of a summary field; ``a|b`` takes the first of a, b that is set; unset shows ``-``."""
    exprs: list[str] = []
    params: list[Any] = []
    for part in name.split("|"):
        ref = _field(part.strip(), rule_id)
        exprs.append(
            f"nullif(array_to_string({ref.sql}, ','), '')" if ref.is_list else f"CAST({ref.sql} AS VARCHAR)"
        )
        params.extend(ref.params)
    return f"coalesce({', '.join(exprs)}, '-')", params


# -- rules -----------------------------------------------------------------------------------


def _window(value: Any, rule_id: str) -> int:
    m = _WINDOW.match(str(value).strip())
    if not m:
        raise RuleError(f"rule {rule_id}: window {value!r} is not like 10m, 1h, 30s or 1d")
    return int(m.group(1)) * _UNITS[m.group(2)]


def _pair(value: Any, pattern: re.Pattern[str], what: str, rule_id: str) -> tuple[str, str]:
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        raise RuleError(f"rule {rule_id}: {what} must be [id, name], got {value!r}")
    if not pattern.match(value[0]):
        raise RuleError(f"rule {rule_id}: bad ATT&CK {what} id {value[0]!r}")
    return value[0], value[1]


def _aggregate(spec: Any, rule_id: str) -> Aggregate | None:
    if spec is None:
        return None
    if not isinstance(spec, dict) or spec.get("type") not in ("threshold", "first_seen"):
        raise RuleError(f"rule {rule_id}: aggregate.type must be threshold or first_seen")
    by = tuple(_as_list(spec.get("by", ["actor"])))
    for f in by + tuple(_as_list(spec.get("value", []))):
        if _field(f, rule_id).is_list:
            raise RuleError(f"rule {rule_id}: aggregate fields must be single-valued, not {f!r}")
    if spec["type"] == "threshold":
        extra = set(spec) - {"type", "by", "window", "count"}
        if extra or "window" not in spec:
            raise RuleError(f"rule {rule_id}: threshold takes by, window, count (got {sorted(spec)})")
        count = int(spec.get("count", 1))
        if count < 1:
            raise RuleError(f"rule {rule_id}: threshold count must be >= 1")
        return Aggregate("threshold", by, window_seconds=_window(spec["window"], rule_id), count=count)
    extra = set(spec) - {"type", "by", "value", "baseline", "history"}
    if extra:
        raise RuleError(f"rule {rule_id}: first_seen takes by, value, baseline, history")
    if spec.get("baseline", "all") not in ("all", "matched"):
        raise RuleError(f"rule {rule_id}: baseline must be all or matched")
    return Aggregate(
        "first_seen",
        by,
        value=tuple(_as_list(spec.get("value", []))),
        baseline=spec.get("baseline", "all"),
        history=bool(spec.get("history", False)),
    )


def parse_rule(doc: dict[str, Any], file: str = "") -> Rule:
    """Validate one rule mapping and build a :class:`Rule` (compiling it once to check it)."""
    if not isinstance(doc, dict):
        raise RuleError(f"{file}: a rule must be a mapping, got {type(doc).__name__}")
    rid = doc.get("id")
    if not isinstance(rid, str) or not _ID.match(rid):
        raise RuleError(f"{file}: rule id {rid!r} must be lower-case letters, digits and dashes")
    missing = {"id", "title", "description", "tactic", "technique", "severity"} - set(doc)
    if missing:
        raise RuleError(f"rule {rid}: missing {sorted(missing)}")
    extra = set(doc) - _RULE_KEYS
    if extra:
        raise RuleError(f"rule {rid}: unknown key(s) {sorted(extra)}")
    if doc["severity"] not in SEVERITIES:
        raise RuleError(f"rule {rid}: severity must be one of {', '.join(SEVERITIES)}")
    match = doc.get("match") or {}
    if not isinstance(match, dict) or not set(match) <= {"event_source", "event_name"}:
        raise RuleError(f"rule {rid}: match takes event_source and/or event_name")
    if not match and doc.get("where") is None:
        raise RuleError(f"rule {rid}: needs a match or a where condition")
    cond: list[Any] = [
        {"field": col, "equals": _as_list(match[col])}
        for col in ("event_source", "event_name")
        if col in match
    ]
    if doc.get("where") is not None:
        cond.append(doc["where"])
    tactic = _pair(doc["tactic"], _TACTIC, "tactic", rid)
    technique = _pair(doc["technique"], _TECHNIQUE, "technique", rid)
    refs = tuple(_as_list(doc.get("references", [])))
    rule = Rule(
        id=rid,
        title=str(doc["title"]),
        description=str(doc["description"]).strip(),
        tactic_id=tactic[0],
        tactic_name=tactic[1],
        technique_id=technique[0],
        technique_name=technique[1],
        severity=doc["severity"],
        references=refs,
        condition={"all": cond},
        aggregate=_aggregate(doc.get("aggregate"), rid),
        summary=str(doc.get("summary") or "{event_name} by {actor} from {source_ip_address}"),
        file=file,
        raw=doc,
        event_names=tuple(str(n) for n in _as_list(match["event_name"])) if "event_name" in match else (),
    )
    rule_query(rule)  # fail at load time, not in the middle of a hunt
    return rule


def rule_files() -> list[Path]:
    """The built-in rule files shipped in the package."""
    root = resources.files("iamforensics.detections") / "rules"
    return sorted(Path(str(p)) for p in root.iterdir() if p.name.endswith(".yml"))


def load_rules(paths: Iterable[str | Path] | None = None) -> tuple[Rule, ...]:
    """Load and validate rule files (default: the built-in pack); ids must be unique.

    Examples
    --------
    >>> len(load_rules()) >= 50
    True
    """
    rules: list[Rule] = []
    for path in paths if paths is not None else rule_files():
        p = Path(path)
        try:
            docs = yaml.safe_load(p.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise RuleError(f"{p}: cannot read rules: {exc}") from None
        if not isinstance(docs, list):
            raise RuleError(f"{p}: a rule file holds a list of rules")
        rules.extend(parse_rule(d, p.name) for d in docs)
    seen: set[str] = set()
    for r in rules:
        if r.id in seen:
            raise RuleError(f"duplicate rule id {r.id!r}")
        seen.add(r.id)
    return tuple(rules)


def _summary_sql(rule: Rule, exprs: list[tuple[str, list[Any]]]) -> tuple[str, list[Any]]:
    """The summary as SQL: template literals as parameters, one (sql, params) per template field."""
    pieces: list[str] = []
    params: list[Any] = []
    it = iter(exprs)
    for literal, name in _template(rule.summary):
        if literal:
            pieces.append("?")
            params.append(literal)
        if name is not None:
            sql, p = next(it)
            pieces.append(sql)
            params.extend(p)
    return _clean(" || ".join(pieces) if pieces else "''"), params


def rule_query(rule: Rule, table: str = "events") -> tuple[str, list[Any]]:
    """The DuckDB query (and parameters) whose rows are the rule's findings.

    Columns: ``time, last_time, actor, count, event_ids, summary``. ``table`` is where the
    matching events are searched (a hunt passes a pre-selected subset of ``events`` holding
    every event of the rule's event names); baselines and ``in_values_of`` always read
    ``events``.
    """
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", table):
        raise RuleError(f"bad table name {table!r}")
    where, wparams = compile_condition(rule.condition, rule.id)
    fields = [name for _, name in _template(rule.summary) if name is not None]
    agg = rule.aggregate
    if agg is None:
        exprs: list[tuple[str, list[Any]]] = []
        for name in fields:
            if name in _SPECIALS:
                exprs.append((_single_special(name, ""), []))
                continue
            exprs.append(_summary_field(name, rule.id))
        summary, sparams = _summary_sql(rule, exprs)
        sql = (
            "SELECT event_time AS time, event_time AS last_time, actor, 1::BIGINT AS count, "
            f"[event_id] AS event_ids, {summary} AS summary FROM {table} WHERE {where}"
        )
        return sql, sparams + wparams
    return _aggregate_query(rule, agg, where, wparams, fields, table)


def _single_special(name: str, prefix: str) -> str:
    """A summary special (count, errors, first, ...) for a one-event finding."""
    if name in ("first", "last"):
        return _TS.format(f"{prefix}event_time")
    if name == "errors":
        return (
            f"CAST(coalesce({prefix}is_error, FALSE)::INT AS VARCHAR)"
            if not prefix
            else "CAST(_m._err::INT AS VARCHAR)"
        )
    return "'1'" if name in ("count", "peak") else "'-'"


def _aggregate_query(
    rule: Rule, agg: Aggregate, where: str, wparams: list[Any], fields: list[str], table: str
) -> tuple[str, list[Any]]:
    keys = [_field(k, rule.id) for k in agg.by]
    inner = _Sql()
    cols = ["event_time", "event_id", "actor", "coalesce(is_error, FALSE) AS _err"]
    for i, k in enumerate(keys):
        cols.append(f"{k.sql} AS _k{i}")
        inner.params.extend(k.params)
    values = [_field(v, rule.id) for v in agg.value]
    for i, v in enumerate(values):
        cols.append(f"{v.sql} AS _v{i}")
        inner.params.extend(v.params)
    summary_cols: list[str] = []
    for i, name in enumerate(fields):
        if name in _SPECIALS:
            continue
        sql, sp = _summary_field(name, rule.id)
        cols.append(f"{sql} AS _s{i}")
        inner.params.extend(sp)
        summary_cols.append(f"_s{i}")
    not_null = (
        " AND ".join(
            [f"_k{i} IS NOT NULL" for i in range(len(keys))]
            + [f"_v{i} IS NOT NULL" for i in range(len(values))]
        )
        or "TRUE"
    )
    m = f"SELECT {', '.join(cols)} FROM {table} WHERE {where}"
    mparams = inner.params + wparams
    kcols = ", ".join(f"_k{i}" for i in range(len(keys))) or "NULL"
    if agg.type == "threshold":
        aggs = {
            "count": "CAST(count(*) AS VARCHAR)",
            "peak": "CAST(max(_c) AS VARCHAR)",
            "errors": "CAST(count(*) FILTER (WHERE _err) AS VARCHAR)",
            "window": "?",
            "first": _TS.format("min(event_time)"),
            "last": _TS.format("max(event_time)"),
        }
        texprs: list[tuple[str, list[Any]]] = []
        for i, name in enumerate(fields):
            if name in _SPECIALS:
                texprs.append((aggs[name], [_window_text(agg.window_seconds)] if name == "window" else []))
            else:
                texprs.append(
                    (
                        f"array_to_string(list_slice(list_distinct(list(_s{i} ORDER BY event_time)), 1, 5), ', ')",
                        [],
                    )
                )
        summary, params_summary = _summary_sql(rule, texprs)
        sql = (
            f"WITH _m AS ({m}), "
            f"_w AS (SELECT *, count(*) OVER (PARTITION BY {kcols} ORDER BY event_time "
            "RANGE BETWEEN to_seconds(?) PRECEDING AND CURRENT ROW) AS _c, "
            f"CASE WHEN event_time - lag(event_time) OVER (PARTITION BY {kcols} ORDER BY event_time, event_id)"
            " <= to_seconds(?) THEN 0 ELSE 1 END AS _brk FROM _m WHERE " + not_null + "), "
            f"_g AS (SELECT *, sum(_brk) OVER (PARTITION BY {kcols} ORDER BY event_time, event_id "
            "ROWS UNBOUNDED PRECEDING) AS _grp FROM _w) "
            "SELECT min(event_time) AS time, max(event_time) AS last_time, arg_min(actor, event_time) AS actor, "
            "count(*) AS count, list(event_id ORDER BY event_time, event_id) AS event_ids, "
            f"{summary} AS summary FROM _g GROUP BY {kcols}, _grp HAVING max(_c) >= ?"
        )
        return sql, mparams + [agg.window_seconds, agg.window_seconds] + params_summary + [agg.count]
    # first_seen
    base_where, base_params = ("TRUE", []) if agg.baseline == "all" else (where, wparams)
    base_table = "events" if agg.baseline == "all" else table
    bcols = [f"{k.sql} AS _k{i}" for i, k in enumerate(keys)] + [
        f"{v.sql} AS _v{i}" for i, v in enumerate(values)
    ]
    bparams = [p for k in keys for p in k.params] + [p for v in values for p in v.params]
    hcols = [f"{k.sql} AS _k{i}" for i, k in enumerate(keys)]
    hparams = [p for k in keys for p in k.params]
    join_b = (
        " AND ".join(
            [f"_m._k{i} = _b._k{i}" for i in range(len(keys))]
            + [f"_m._v{i} = _b._v{i}" for i in range(len(values))]
        )
        or "TRUE"
    )
    join_h = " AND ".join(f"_m._k{i} = _h._k{i}" for i in range(len(keys))) or "TRUE"
    fexprs: list[tuple[str, list[Any]]] = [
        (_single_special(name, "_m.") if name in _SPECIALS else f"_m._s{i}", [])
        for i, name in enumerate(fields)
    ]
    summary, sparams = _summary_sql(rule, fexprs)
    history = " AND _m.event_time > _h._first_k" if agg.history else ""
    sql = (
        f"WITH _m AS (SELECT * FROM ({m}) WHERE {not_null}), "
        f"_b AS (SELECT {', '.join(bcols)}, min(event_time) AS _first_v FROM {base_table} WHERE {base_where} "
        f"GROUP BY ALL), "
        f"_h AS (SELECT {', '.join(hcols)}, min(event_time) AS _first_k FROM events GROUP BY ALL) "
        "SELECT _m.event_time AS time, _m.event_time AS last_time, _m.actor, 1::BIGINT AS count, "
        f"[_m.event_id] AS event_ids, {summary} AS summary FROM _m JOIN _b ON {join_b} "
        f"JOIN _h ON {join_h} WHERE _m.event_time = _b._first_v{history}"
    )
    return sql, mparams + bparams + base_params + hparams + sparams


def _window_text(seconds: int) -> str:
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % n == 0:
            return f"{seconds // n}{unit}"
    return f"{seconds}s"


def query_arrow(case: Case, sql: str, params: Sequence[Any]) -> pa.Table:
    """Run a query over the case, result in Arrow (findings can be millions of rows)."""
    try:
        return case.connection().sql(sql, params=list(params)).to_arrow_table()
    except duckdb.Error as exc:
        raise QueryError(f"query failed: {exc}") from None


def run_rule_arrow(case: Case, rule: Rule, table: str = "events") -> pa.Table:
    """Findings of one rule as an Arrow table of the findings schema."""
    from .findings import finding_table

    sql, params = rule_query(rule, table)
    result = query_arrow(case, sql, params)
    return finding_table(result, rule.id, "builtin", rule.title, rule.severity, rule.tactic, rule.technique)


def run_rule(case: Case, rule: Rule) -> pd.DataFrame:
    """Findings of one rule over a case (the columns of the findings table).

    Examples
    --------
    >>> run_rule(case, next(r for r in load_rules() if r.id == "iam-create-user"))  # doctest: +SKIP
    """
    return run_rule_arrow(case, rule).to_pandas()
