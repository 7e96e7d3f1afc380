"""Admin-equivalent principals and privilege-escalation primitives, from the IAM snapshot.

Each capability is a set of (action, resource) requests evaluated with
:func:`iamforensics.iam.policy.evaluate_statements` on every resource (``*``), so the answer
follows the same logic (explicit deny, boundaries, conditions reported, missing documents).

Examples
--------
>>> admin_principals(details)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from ..errors import QueryError
from .policy import evaluate_statements, worst

if TYPE_CHECKING:
    from .authorization import AuthorizationDetails

#: What a principal must be allowed (every (action, resource) pair) to hold each capability.
CAPABILITIES: dict[str, tuple[tuple[str, str], ...]] = {
    "full-admin": (("*", "*"),),
    "iam-admin": (("iam:*", "*"),),
    "passrole+ec2:RunInstances": (("iam:PassRole", "*"), ("ec2:RunInstances", "*")),
    "passrole+lambda:CreateFunction": (("iam:PassRole", "*"), ("lambda:CreateFunction", "*")),
    "iam:CreatePolicyVersion": (("iam:CreatePolicyVersion", "*"),),
    "iam:AttachUserPolicy": (("iam:AttachUserPolicy", "*"),),
    "iam:PutUserPolicy": (("iam:PutUserPolicy", "*"),),
    "iam:UpdateAssumeRolePolicy": (("iam:UpdateAssumeRolePolicy", "*"),),
    "sts:AssumeRole on *": (("sts:AssumeRole", "*"),),
}
#: Capabilities that make a principal admin-equivalent (it can grant itself anything).
ADMIN_CAPABILITIES = ("full-admin", "iam-admin")


def privileged_principals(
    details: AuthorizationDetails,
    *,
    capabilities: Sequence[str] | None = None,
    kinds: Sequence[str] = ("user", "role"),
    include_denied: bool = False,
) -> pd.DataFrame:
    """Admin-equivalent principals and privilege-escalation primitives, one row per principal and capability.

    ``decision`` is the most restrictive over the capability's actions, each asked on all
    resources (``*``): ``allowed``, ``conditional`` (a Condition decides), ``partial`` (allowed on
    some resources only, e.g. PassRole on one role), ``unknown`` (a policy document is missing).
    For the admin capabilities ``partial`` is not reported (every principal with any permission
    would be). ``include_denied`` also lists ``denied`` and ``implicit-deny`` rows.

    Examples
    --------
    >>> privileged_principals(details).query("admin")[["principal_name", "granted_by"]]  # doctest: +SKIP
    """
    wanted = list(capabilities) if capabilities is not None else list(CAPABILITIES)
    unknown = [c for c in wanted if c not in CAPABILITIES]
    if unknown:
        raise QueryError(f"unknown capability: {', '.join(unknown)} (known: {', '.join(CAPABILITIES)})")
    rows = []
    for e in details.entities(kinds):
        stmts, boundary, missing, b_missing = details.statements_for(e)
        for cap in wanted:
            ds = [
                evaluate_statements(
                    stmts, a, r, boundary=boundary, missing=missing, boundary_missing=b_missing
                )
                for a, r in CAPABILITIES[cap]
            ]
            decision = worst(*(d.decision for d in ds))
            if not include_denied and decision in ("denied", "implicit-deny"):
                continue
            if cap in ADMIN_CAPABILITIES and decision == "partial" and not include_denied:
                continue
            rows.append(
                {
                    "principal_kind": e.kind,
                    "principal_name": e.name,
                    "principal_arn": e.arn,
                    "account": e.account,
                    "capability": cap,
                    "decision": decision,
                    "admin": cap in ADMIN_CAPABILITIES and decision == "allowed",
                    "granted_by": ";".join(
                        dict.fromkeys(p for d in ds for p in d.granted_by.split(";") if p)
                    ),
                    "denied_by": ";".join(dict.fromkeys(p for d in ds for p in d.denied_by.split(";") if p)),
                    "notes": "; ".join(dict.fromkeys(n for d in ds for n in d.notes)),
                }
            )
    cols = ["principal_kind", "principal_name", "principal_arn", "account", "capability", "decision", "admin"]
    return pd.DataFrame(rows, columns=[*cols, "granted_by", "denied_by", "notes"])


def admin_principals(details: AuthorizationDetails, *, include_root: bool = True) -> pd.DataFrame:
    """Admin-equivalent principals (``iam:*`` or ``*`` on ``*``, allowed or only conditionally).

    One row per principal: ``level`` is ``full`` or ``iam``; the root user of each account in
    the details is listed too (``level`` ``root``) unless ``include_root`` is False.

    Examples
    --------
    >>> admin_principals(details)[["principal_arn", "level", "decision"]]  # doctest: +SKIP
    """
    pp = privileged_principals(details, capabilities=ADMIN_CAPABILITIES)
    pp = pp[pp["decision"] != "partial"]
    rows = []
    for _arn, g in pp.groupby("principal_arn", sort=True):
        full = g[g["capability"] == "full-admin"]
        best = full.iloc[0] if len(full) else g.iloc[0]
        rows.append(
            {
                **{k: best[k] for k in ("principal_kind", "principal_name", "principal_arn", "account")},
                "level": "full" if len(full) else "iam",
                "decision": best["decision"],
                "granted_by": best["granted_by"],
                "notes": best["notes"],
            }
        )
    if include_root:
        for acct in details.accounts:
            rows.append(
                {
                    "principal_kind": "root",
                    "principal_name": "root",
                    "principal_arn": f"arn:aws:iam::{acct}:root",
                    "account": acct,
                    "level": "root",
                    "decision": "allowed",
                    "granted_by": "root user",
                    "notes": "",
                }
            )
    cols = [
        "principal_kind",
        "principal_name",
        "principal_arn",
        "account",
        "level",
        "decision",
        "granted_by",
        "notes",
    ]
    return pd.DataFrame(rows, columns=cols)
