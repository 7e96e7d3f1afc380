"""Best-practice audit of IAM credentials, one row per check and principal.

The checks follow AWS's "Security best practices in IAM" and what PCI DSS auditors ask:
root user without access keys, not used day to day and with MFA; MFA for privileged users
and console users; access keys rotated and removed when unused; no unused users or
passwords; permissions through groups rather than attached to users.

Every date comparison is made against ``as_of`` so that a report re-run later gives the same
answer (it defaults to the credential report's ``GeneratedTime`` when that is known).

``status`` is ``fail``, ``warn``, ``pass`` or ``unknown`` (the inputs do not say); a check
that needs the authorization details and did not get them yields one ``unknown`` row.

Examples
--------
>>> audit(credential_report("cr.csv"), details, as_of="2024-05-12").query("status == 'fail'")  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..case import to_utc
from ..errors import QueryError
from .credential_report import credential_report

if TYPE_CHECKING:
    from ..case import Case
    from .authorization import AuthorizationDetails

#: check -> (severity, the best practice it follows)
CHECKS: dict[str, tuple[str, str]] = {
    "root-access-keys": ("high", "Do not create access keys for the root user; delete any that exist"),
    "root-mfa": ("high", "Require MFA for the root user"),
    "root-recent-use": ("medium", "Do not use the root user for everyday tasks"),
    "root-activity-in-cloudtrail": ("medium", "Do not use the root user for everyday tasks"),
    "privileged-user-mfa": ("high", "Require MFA for privileged users"),
    "console-user-without-mfa": ("medium", "Require MFA for users who sign in to the console"),
    "access-key-rotation": ("medium", "Rotate access keys regularly (at most every N days)"),
    "access-key-unused": ("low", "Remove access keys that are not used"),
    "two-active-keys": ("low", "Keep one active access key per user (two only while rotating)"),
    "unused-user": ("low", "Remove users that are not used"),
    "unused-password": ("low", "Remove console passwords that are not used"),
    "user-attached-policies": ("low", "Grant permissions through groups, not policies attached to users"),
}
COLUMNS = ["check", "status", "severity", "principal", "principal_arn", "account_id", "credential"]
COLUMNS += ["detail", "value", "best_practice"]

TimeLike = str | dt.datetime | dt.date | pd.Timestamp


def _ts(value: TimeLike) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _fmt(ts: Any) -> str:
    return "never" if ts is None or pd.isna(ts) else pd.Timestamp(ts).strftime("%Y-%m-%d %H:%M UTC")


class _Rows:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(
        self, check: str, status: str, r: Any, detail: str, value: Any = None, credential: str | None = None
    ) -> None:
        severity, practice = CHECKS[check]
        self.rows.append(
            {
                "check": check,
                "status": status,
                "severity": severity,
                "principal": None if r is None else r["user"],
                "principal_arn": None if r is None else r["arn"],
                "account_id": None if r is None else r["account_id"],
                "credential": credential,
                "detail": detail,
                "value": None
                if value is None or (not isinstance(value, str) and pd.isna(value))
                else str(value),
                "best_practice": practice,
            }
        )


def _last(r: Any, cols: Iterable[str]) -> pd.Timestamp | None:
    vals = [r[c] for c in cols if c in r and not pd.isna(r[c])]
    return max(vals) if vals else None


def _true(value: Any) -> bool:
    """A nullable boolean cell that is True (NA and False are not)."""
    return value is not None and not pd.isna(value) and bool(value)


def _never_used(r: Any, col: str) -> bool:
    return pd.isna(r[col]) and r.get(f"{col}_note") in ("N/A", "no_information")


def audit(
    report: pd.DataFrame | str | Path | bytes,
    details: AuthorizationDetails | None = None,
    *,
    as_of: TimeLike | None = None,
    key_max_age_days: int = 90,
    unused_days: int = 90,
    root_recent_days: int = 30,
    case: Case | None = None,
) -> pd.DataFrame:
    """Run the best-practice checks (see ``CHECKS``) and return one row per check and principal.

    Parameters
    ----------
    report : the credential report (a frame from :func:`credential_report`, or its path/bytes).
    details : authorization details, for privileged-user MFA and user-attached policies.
    as_of : the date the checks are made at (default: the report's GeneratedTime).
    key_max_age_days, unused_days, root_recent_days : thresholds, in days before ``as_of``.
    case : when given, root activity in the case's CloudTrail in the ``root_recent_days``
        before ``as_of`` is checked too (DuckDB over the case).

    Examples
    --------
    >>> audit(report, as_of="2024-05-12")[["check", "status", "principal"]]  # doctest: +SKIP
    """
    cr = report if isinstance(report, pd.DataFrame) else credential_report(report)
    if as_of is None:
        gen = cr["generated_time"].dropna() if "generated_time" in cr else pd.Series([], dtype=object)
        if gen.empty:
            raise QueryError("as_of is needed: the credential report does not say when it was generated")
        as_of = gen.max()
    now = to_utc(as_of)  # a mistyped --as-of is a QueryError, not a pandas traceback
    assert now is not None
    key_cutoff = now - pd.Timedelta(days=key_max_age_days)
    unused_cutoff = now - pd.Timedelta(days=unused_days)
    root_cutoff = now - pd.Timedelta(days=root_recent_days)
    out = _Rows()
    admins = _privileged_users(details) if details is not None else None

    for _, r in cr.iterrows():
        if r["is_root"]:
            _root_checks(out, r, root_cutoff, root_recent_days)
            continue
        _user_checks(out, r, now, key_cutoff, unused_cutoff, key_max_age_days, unused_days)
        if admins is not None and r["arn"] in admins:
            ok = r["mfa_active"]
            status = "unknown" if pd.isna(ok) else ("pass" if ok else "fail")
            out.add(
                "privileged-user-mfa", status, r, f"admin-equivalent ({admins[r['arn']]}); MFA active: {ok}"
            )
    if details is None:
        out.add("privileged-user-mfa", "unknown", None, "needs the authorization details")
        out.add("user-attached-policies", "unknown", None, "needs the authorization details")
    else:
        for u in details.users.values():
            own = [n for n, _ in u.inline] + [a for _, a in u.attached]
            row = {"user": u.name, "arn": u.arn, "account_id": u.account}
            status = "fail" if own else "pass"
            detail = f"attached to the user: {', '.join(own)}" if own else "no policy attached to the user"
            out.add("user-attached-policies", status, row, detail, value=len(own))
    if case is not None:
        _root_in_cloudtrail(out, case, root_cutoff, now)
    return pd.DataFrame(out.rows, columns=COLUMNS)


def _privileged_users(details: AuthorizationDetails) -> dict[str, str]:
    from .privileges import admin_principals

    admins = admin_principals(details, include_root=False)
    admins = admins[admins["principal_kind"] == "user"]
    return {str(r.principal_arn): f"{r.level}, {r.decision}, via {r.granted_by}" for r in admins.itertuples()}


def _root_checks(out: _Rows, r: Any, cutoff: pd.Timestamp, days: int) -> None:
    active = [k for k in ("access_key_1", "access_key_2") if _true(r.get(f"{k}_active"))]
    used = [k for k in ("access_key_1", "access_key_2") if not pd.isna(r.get(f"{k}_last_used_date"))]
    if active:
        out.add(
            "root-access-keys", "fail", r, f"root has active access keys: {', '.join(active)}", len(active)
        )
    elif used:
        last = _last(r, [f"{k}_last_used_date" for k in used])
        out.add(
            "root-access-keys",
            "warn",
            r,
            f"no active root key, but root keys were used (last {_fmt(last)})",
            last,
        )
    else:
        out.add("root-access-keys", "pass", r, "no root access key")
    mfa = r["mfa_active"]
    out.add(
        "root-mfa", "unknown" if pd.isna(mfa) else ("pass" if mfa else "fail"), r, f"root MFA active: {mfa}"
    )
    last = _last(r, ["password_last_used", "access_key_1_last_used_date", "access_key_2_last_used_date"])
    recent = last is not None and last >= cutoff
    detail = f"root last used {_fmt(last)} ({'within' if recent else 'not within'} {days} days)"
    out.add("root-recent-use", "fail" if recent else "pass", r, detail, last)


def _user_checks(
    out: _Rows,
    r: Any,
    now: pd.Timestamp,
    key_cutoff: pd.Timestamp,
    unused_cutoff: pd.Timestamp,
    key_days: int,
    unused_days: int,
) -> None:
    if _true(r["password_enabled"]):
        mfa = r["mfa_active"]
        status = "unknown" if pd.isna(mfa) else ("pass" if mfa else "fail")
        out.add(
            "console-user-without-mfa",
            status,
            r,
            f"console password, MFA active: {mfa}",
            credential="password",
        )
        last = r["password_last_used"]
        since = (
            r["password_last_changed"] if not pd.isna(r["password_last_changed"]) else r["user_creation_time"]
        )
        if not pd.isna(last):
            status, detail = ("fail", "not used") if last < unused_cutoff else ("pass", "used")
            out.add("unused-password", status, r, f"password {detail} since {_fmt(last)}", last, "password")
        elif _never_used(r, "password_last_used"):
            status = "fail" if not pd.isna(since) and since < unused_cutoff else "pass"
            out.add(
                "unused-password", status, r, f"password never used, set {_fmt(since)}", since, "password"
            )
        else:
            out.add(
                "unused-password", "unknown", r, f"password last used: {r.get('password_last_used_note')}"
            )
    active = []
    for k in ("access_key_1", "access_key_2"):
        if r.get(f"{k}_active") is not True:
            continue
        active.append(k)
        rotated = r[f"{k}_last_rotated"]
        if pd.isna(rotated):
            out.add("access-key-rotation", "unknown", r, "rotation date not given", credential=k)
        else:
            age = (now - rotated).days
            status = "fail" if rotated < key_cutoff else "pass"
            out.add("access-key-rotation", status, r, f"{age} days old (limit {key_days})", rotated, k)
        used = r[f"{k}_last_used_date"]
        if not pd.isna(used):
            status = "fail" if used < unused_cutoff else "pass"
            out.add(
                "access-key-unused", status, r, f"last used {_fmt(used)} (limit {unused_days} days)", used, k
            )
        else:
            status = "fail" if not pd.isna(rotated) and rotated < unused_cutoff else "pass"
            detail = f"never used, created {_fmt(rotated)}"
            out.add("access-key-unused", status, r, detail, r.get(f"{k}_last_used_date_note"), k)
    if active:
        status = "fail" if len(active) > 1 else "pass"
        out.add("two-active-keys", status, r, f"active keys: {', '.join(active)}", len(active))
    last = _last(r, ["password_last_used", "access_key_1_last_used_date", "access_key_2_last_used_date"])
    created = r["user_creation_time"]
    if last is not None:
        status = "fail" if last < unused_cutoff else "pass"
        out.add("unused-user", status, r, f"last activity {_fmt(last)}", last)
    else:
        status = "fail" if not pd.isna(created) and created < unused_cutoff else "pass"
        out.add("unused-user", status, r, f"never used, created {_fmt(created)}", created)


def _root_in_cloudtrail(out: _Rows, case: Case, start: pd.Timestamp, end: pd.Timestamp) -> None:
    where, params = case.where(start, end + pd.Timedelta(seconds=1), extra=[("user_type = ?", "Root")])
    df = case.sql(
        "SELECT coalesce(recipient_account_id, account_id) AS account_id, count(*) AS n, "
        f"max(event_time) AS last FROM events{where} GROUP BY 1 ORDER BY 1",
        params,
    )
    for r in df.itertuples():
        row = {
            "user": "<root_account>",
            "arn": f"arn:aws:iam::{r.account_id}:root",
            "account_id": r.account_id,
        }
        detail = f"{r.n} root events in CloudTrail, last {_fmt(r.last)}"
        out.add("root-activity-in-cloudtrail", "fail", row, detail, r.last)
