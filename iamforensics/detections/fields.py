"""Field names -> DuckDB expressions over the ``events`` view, for rules and Sigma alike.

A field is a schema column (``event_name``), a CloudTrail path held by a column
(``eventName``, ``userIdentity.arn``), or a path inside a JSON payload column
(``requestParameters.policyArn``, ``request_parameters.policyArn``). A ``[*]`` step in a
JSON path (``requestParameters.ipPermissions.items[*].cidrIp``) makes the field a list:
conditions on it hold when any element matches. JSON paths go into queries as ``?``
parameters and are read with ``try(json_extract_string(...))`` so one malformed payload
cannot fail a whole hunt.

Examples
--------
>>> f = resolve_field("requestParameters.userName")
>>> f.sql, f.params, f.is_list
('try(json_extract_string("request_parameters", ?))', ['$."userName"'], False)
>>> resolve_field("eventName").sql
'"event_name"'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pyarrow as pa

from ..schema import COLUMNS, PARTITION_COLUMN, PAYLOAD_COLUMNS, column_for_path, json_column_for_path

_TYPES: dict[str, pa.DataType] = {c.name: c.type for c in COLUMNS}
_TYPES[PARTITION_COLUMN] = pa.date32()
_STEP = re.compile(r"^([^\[\]]+)((?:\[(?:\*|\d+)\])*)$")


@dataclass(frozen=True)
class FieldRef:
    """A resolved field: SQL text (with ``?`` placeholders), its parameters, and its shape."""

    name: str
    sql: str
    params: list[object] = field(default_factory=list)
    is_list: bool = False
    kind: str = "string"  # string, bool, timestamp, number, date, list


def json_path(rest: str) -> tuple[str, bool]:
    """A DuckDB JSON path for a dotted path below a payload; True when it has a ``[*]`` step.

    Every key is quoted, so keys such as ``x-amz-acl`` or ``Host`` work as written.

    Examples
    --------
    >>> json_path("ipPermissions.items[*].cidrIp")
    ('$."ipPermissions"."items"[*]."cidrIp"', True)
    """
    out = ["$"]
    wildcard = False
    for step in rest.split("."):
        m = _STEP.match(step)
        if not m:
            raise ValueError(f"bad JSON path step {step!r} in {rest!r}")
        key, idx = m.groups()
        out.append('."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"' + idx)
        wildcard = wildcard or "[*]" in idx
    return "".join(out), wildcard


def _kind(t: pa.DataType) -> str:
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return "number"
    if pa.types.is_list(t):
        return "list"
    return "string"


def resolve_field(name: str) -> FieldRef | None:
    """The expression for a field name, or None when no column or payload holds it."""
    if name in _TYPES:
        return FieldRef(name, f'"{name}"', kind=_kind(_TYPES[name]))
    col = column_for_path(name)
    if col is not None:
        return FieldRef(name, f'"{col}"', kind=_kind(_TYPES[col]))
    found: tuple[str, str] | None = None
    head, _, rest = name.partition(".")
    if head in PAYLOAD_COLUMNS and rest:
        found = (head, rest)
    else:
        via_path = json_column_for_path(re.sub(r"\[(?:\*|\d+)\]", "", name))
        if via_path is not None:
            # Keep the [*] steps of the original name; json_column_for_path only split the head.
            col_name = via_path[0]
            depth = 2 if name.startswith("userIdentity.") else 1
            found = (col_name, name.split(".", depth)[depth])
    if found is None:
        return None
    col_name, rest = found
    try:
        path, wildcard = json_path(rest)
    except ValueError:
        return None
    return FieldRef(
        name,
        f'try(json_extract_string("{col_name}", ?))',
        [path],
        is_list=wildcard,
        kind="list" if wildcard else "string",
    )
