"""The IAM credential report, every column typed.

Accepted as the CSV itself, as the CLI's ``get-credential-report`` JSON (``Content`` in
base64), or as the bare base64 text (``--query Content --output text``). Several reports
(several accounts) concatenate, each row keeping its ``source``.

Typing, following the IAM User Guide:

- dates (ISO 8601 with an offset) become ``datetime64[us, UTC]``; the sentinels ``N/A``,
  ``no_information`` and ``not_supported`` (or anything else that is not a date) become NaT and
  are kept in the companion ``<column>_note`` column, because they mean different things
  (``N/A``: no such credential or never used; ``no_information``: not used since tracking
  began, Oct 2014 for passwords and Apr 2015 for keys; ``not_supported``: root password fields);
- booleans (``TRUE``/``true``/``FALSE``/``false``) become the nullable ``boolean`` dtype, with
  the sentinels as NA; any other value is an error naming the file, line and column;
- region and service of last key use stay text, ``N/A`` as null;
- ``account_id`` (from the ARN) and ``is_root`` are added; unknown extra columns are kept as text.

Examples
--------
>>> csv = (b"user,arn,user_creation_time,password_enabled,mfa_active\\n"
...        b"<root_account>,arn:aws:iam::111111111111:root,2020-01-01T00:00:00+00:00,not_supported,true\\n")
>>> r = credential_report(csv)
>>> bool(r.loc[0, "is_root"]), bool(r.loc[0, "mfa_active"]), r.loc[0, "password_enabled"] is pd.NA
(True, True, True)
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import EvidenceError

#: The documented columns, in order (IAM User Guide, "Getting credential reports").
COLUMNS: tuple[str, ...] = (
    "user",
    "arn",
    "user_creation_time",
    "password_enabled",
    "password_last_used",
    "password_last_changed",
    "password_next_rotation",
    "mfa_active",
    "access_key_1_active",
    "access_key_1_last_rotated",
    "access_key_1_last_used_date",
    "access_key_1_last_used_region",
    "access_key_1_last_used_service",
    "access_key_2_active",
    "access_key_2_last_rotated",
    "access_key_2_last_used_date",
    "access_key_2_last_used_region",
    "access_key_2_last_used_service",
    "cert_1_active",
    "cert_1_last_rotated",
    "cert_2_active",
    "cert_2_last_rotated",
)
DATE_COLUMNS: tuple[str, ...] = tuple(
    c
    for c in COLUMNS
    if c.endswith(("_time", "_last_used", "_last_changed", "_next_rotation", "_rotated", "_date"))
)
BOOL_COLUMNS: tuple[str, ...] = tuple(
    c for c in COLUMNS if c in ("password_enabled", "mfa_active") or c.endswith("_active")
)
SENTINELS: tuple[str, ...] = ("N/A", "no_information", "not_supported")
ROOT_USER = "<root_account>"

Source = str | Path | bytes


def _text(data: bytes, where: str) -> tuple[str, str | None]:
    """(CSV text, generated time) from the CSV, the CLI JSON or bare base64."""
    stripped = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    generated = None
    if stripped.startswith(b"{"):
        try:
            obj = json.loads(stripped)
        except ValueError as exc:
            raise EvidenceError(f"{where}: not JSON: {exc}") from None
        content = obj.get("Content") if isinstance(obj, dict) else None
        if not isinstance(content, str):
            raise EvidenceError(
                f"{where}: JSON without a base64 'Content' (not get-credential-report output)"
            )
        generated = obj.get("GeneratedTime")
        stripped = content.encode("ascii", "replace")
    if not stripped.lower().startswith(b"user,"):
        try:
            decoded = base64.b64decode(b"".join(stripped.split()), validate=True)
        except (binascii.Error, ValueError):
            decoded = b""
        if not decoded.lstrip(b"\xef\xbb\xbf").lower().startswith(b"user,"):
            raise EvidenceError(f"{where}: not a credential report (no 'user,arn,...' header)")
        stripped = decoded.lstrip(b"\xef\xbb\xbf")
    try:
        return stripped.decode("utf-8"), str(generated) if generated else None
    except UnicodeDecodeError as exc:
        raise EvidenceError(f"{where}: not UTF-8 at byte {exc.start}") from None


def _bool(value: str, where: str, line: int, col: str) -> Any:
    v = value.strip()
    low = v.lower()
    if low == "true":
        return True
    if low == "false":
        return False
    if v in SENTINELS or v == "":
        return pd.NA
    raise EvidenceError(f"{where}: line {line}, column {col}: {v[:40]!r} is not true/false")


def _parse_one(data: bytes, where: str) -> pd.DataFrame:
    text, generated = _text(data, where)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise EvidenceError(f"{where}: empty credential report") from None
    if header[:2] != ["user", "arn"]:
        raise EvidenceError(f"{where}: not a credential report (header starts {header[:2]})")
    raw_rows = []
    for n, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise EvidenceError(f"{where}: line {n} has {len(row)} fields, the header {len(header)}")
        raw_rows.append((n, dict(zip(header, row, strict=True))))
    out: dict[str, list[Any]] = {}
    columns = list(COLUMNS) + [h for h in header if h not in COLUMNS]
    for col in columns:
        values = [r.get(col) for _, r in raw_rows]
        if col in BOOL_COLUMNS:
            out[col] = [
                pd.NA if v is None else _bool(v, where, n, col)
                for (n, _), v in zip(raw_rows, values, strict=True)
            ]
        elif col in DATE_COLUMNS:
            parsed = pd.to_datetime(
                pd.Series(values, dtype="object"), utc=True, errors="coerce", format="ISO8601"
            )
            out[col] = list(parsed)
            out[f"{col}_note"] = [
                v.strip() if v is not None and v.strip() and pd.isna(p) else None
                for v, p in zip(values, parsed, strict=True)
            ]
        else:
            out[col] = [None if v is None or v.strip() in ("N/A", "") else v for v in values]
    df = pd.DataFrame(out)
    for col in BOOL_COLUMNS:
        df[col] = df[col].astype("boolean")
    for col in DATE_COLUMNS:
        df[col] = pd.to_datetime(df[col], utc=True).astype("datetime64[us, UTC]")
        df[f"{col}_note"] = df[f"{col}_note"].astype("str")
    for col in columns:
        if col not in BOOL_COLUMNS and col not in DATE_COLUMNS:
            df[col] = df[col].astype("str")
    df["account_id"] = df["arn"].map(
        lambda a: a.split(":")[4] if isinstance(a, str) and a.count(":") >= 5 else None
    )
    df["is_root"] = df["user"] == ROOT_USER
    gen = pd.to_datetime(generated, utc=True, errors="coerce") if generated else pd.NaT
    df["generated_time"] = pd.Series([gen] * len(df), index=df.index, dtype="datetime64[us, UTC]")
    df["source"] = where
    df["line"] = [n for n, _ in raw_rows]
    return df


def credential_report(inputs: Source | Iterable[Source]) -> pd.DataFrame:
    """Read one or more credential reports into one typed frame (see the module docstring).

    ``inputs`` are paths or bytes (CSV, CLI JSON or base64). Columns: the documented ones
    (missing ones are all-null), ``<date column>_note``, ``account_id``, ``is_root``,
    ``generated_time``, ``source`` and ``line``.

    Examples
    --------
    >>> report = credential_report("evidence/credential-report.json")  # doctest: +SKIP
    >>> report.loc[report["is_root"], ["account_id", "mfa_active", "access_key_1_active"]]  # doctest: +SKIP
    """
    items: list[Source] = [inputs] if isinstance(inputs, str | Path | bytes) else list(inputs)
    frames = []
    for i, item in enumerate(items):
        if isinstance(item, bytes):
            frames.append(_parse_one(item, f"<bytes {i}>"))
            continue
        p = Path(item)
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise EvidenceError(f"{p}: cannot read: {exc.strerror or exc}") from None
        frames.append(_parse_one(data, str(p)))
    if not frames:
        raise EvidenceError("no credential report given")
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
