"""Identity-policy evaluation: explicit deny wins, then allow, else implicit deny.

This is the documented logic of the IAM User Guide ("Policy evaluation logic", identity-based
policies and permissions boundaries within one account), written so that what it cannot
know is said, never guessed:

- ``Action``/``NotAction`` match case-insensitively, ``Resource``/``NotResource`` case-sensitively,
  both with the ``*`` and ``?`` wildcards.
- A statement with a ``Condition`` (or a policy variable such as ``${aws:username}``) applies
  only in some request contexts: it makes the answer ``conditional``, never allowed or denied.
- A permissions boundary, when present, intersects: both it and the identity policies must allow.
- A policy whose document is missing makes the answer ``unknown`` (it could deny).

Decisions, from most to least restrictive: ``denied`` (an explicit deny applies),
``implicit-deny`` (nothing allows), ``unknown``, ``partial`` (a wildcard request is allowed for
part of what it covers), ``conditional``, ``allowed``. Service control policies, resource
policies and session policies are not in the inputs and are not evaluated.

Examples
--------
>>> doc = {"Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"},
...                      {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::secret/*"}]}
>>> evaluate_documents([doc], "s3:getobject", "arn:aws:s3:::public/a.txt").decision
'allowed'
>>> evaluate_documents([doc], "s3:GetObject", "arn:aws:s3:::secret/a.txt").decision
'denied'
>>> evaluate_documents([doc], "s3:PutObject", "arn:aws:s3:::public/a.txt").decision
'implicit-deny'
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..errors import EvidenceError

if TYPE_CHECKING:
    import pandas as pd

    from .authorization import AuthorizationDetails

#: Most restrictive first; combining two answers keeps the more restrictive one.
DECISIONS: tuple[str, ...] = ("denied", "implicit-deny", "unknown", "partial", "conditional", "allowed")
_RANK = {d: i for i, d in enumerate(DECISIONS)}
_VARIABLE = re.compile(r"\$\{[^}]*\}")


# --- documents ------------------------------------------------------------------------------


def decode_policy_document(value: Any, *, where: str = "policy document") -> dict[str, Any]:
    """A policy document as a dict, whether given as a dict, JSON text or URL-encoded JSON text.

    The raw IAM API returns documents URL-encoded (botocore decodes them, the AWS CLI shows
    objects); CloudTrail request parameters hold them as JSON text, sometimes with raw newlines.

    Examples
    --------
    >>> decode_policy_document('%7B%22Version%22%3A%222012-10-17%22%7D')
    {'Version': '2012-10-17'}
    """
    if isinstance(value, dict):
        return value
    if not isinstance(value, str):
        raise EvidenceError(f"{where}: not a policy document ({type(value).__name__})")
    text = value.strip()
    if not text.startswith(("{", "[")) and "%" in text:
        text = urllib.parse.unquote(text).strip()
    try:
        doc = json.loads(text, strict=False)
    except ValueError as exc:
        raise EvidenceError(f"{where}: not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise EvidenceError(f"{where}: a policy document is a JSON object, got {type(doc).__name__}")
    return doc


def _strings(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    return (str(value),)


@dataclass(frozen=True)
class Statement:
    """One statement of one policy, with where it comes from.

    ``policy`` labels the source (``inline:name``, ``managed:arn``, prefixed ``group:name/``
    when inherited from a group, ``boundary:`` for a permissions boundary).
    """

    effect: str
    actions: tuple[str, ...] | None = None
    not_actions: tuple[str, ...] | None = None
    resources: tuple[str, ...] | None = None
    not_resources: tuple[str, ...] | None = None
    condition: dict[str, Any] | None = None
    sid: str | None = None
    index: int = 0
    policy: str = ""
    principal: Any = None
    not_principal: Any = None

    @property
    def conditional(self) -> bool:
        """True when it applies only in some request contexts (Condition or policy variables)."""
        if self.condition:
            return True
        pats = (self.actions or ()) + (self.not_actions or ()) + (self.resources or ())
        return any("${" in p for p in pats + (self.not_resources or ()))

    def as_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "sid": self.sid,
            "statement_index": self.index,
            "effect": self.effect,
            "action": list(self.actions) if self.actions is not None else None,
            "not_action": list(self.not_actions) if self.not_actions is not None else None,
            "resource": list(self.resources) if self.resources is not None else None,
            "not_resource": list(self.not_resources) if self.not_resources is not None else None,
            "condition": json.dumps(self.condition, sort_keys=True) if self.condition else None,
            "conditional": self.conditional,
        }


def parse_statements(document: Any, *, policy: str = "") -> list[Statement]:
    """The statements of a policy document (dict, JSON or URL-encoded JSON).

    Examples
    --------
    >>> [s.effect for s in parse_statements('{"Statement": {"Effect": "Allow", "Action": "*"}}')]
    ['Allow']
    """
    doc = decode_policy_document(document, where=policy or "policy document")
    raw = doc.get("Statement", [])
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for i, st in enumerate(items):
        if not isinstance(st, dict):
            raise EvidenceError(f"{policy or 'policy'}: statement {i} is not an object")
        cond = st.get("Condition")
        out.append(
            Statement(
                effect=str(st.get("Effect", "")),
                actions=_strings(st.get("Action")),
                not_actions=_strings(st.get("NotAction")),
                resources=_strings(st.get("Resource")),
                not_resources=_strings(st.get("NotResource")),
                condition=cond if isinstance(cond, dict) and cond else None,
                sid=str(st["Sid"]) if st.get("Sid") is not None else None,
                index=i,
                policy=policy,
                principal=st.get("Principal"),
                not_principal=st.get("NotPrincipal"),
            )
        )
    return out


# --- wildcards ------------------------------------------------------------------------------


def _wildcard(pattern: str, text: str, star_is_literal: bool) -> bool:
    """Whole-string match of ``*``/``?`` in linear-ish time (one backtrack point).

    Policies are attacker-writable (PutUserPolicy): a regex built from ``*a*a*a...`` backtracks
    exponentially, this does not. With ``star_is_literal`` a ``*`` in ``text`` is a character
    that only a ``*`` of the pattern may stand for (``?`` is exactly one character).
    """
    p = t = 0
    star, mark = -1, 0
    n, m = len(pattern), len(text)
    while t < m:
        if (
            p < n
            and pattern[p] != "*"
            and (pattern[p] == text[t] or (pattern[p] == "?" and not (star_is_literal and text[t] == "*")))
        ):
            p += 1
            t += 1
        elif p < n and pattern[p] == "*":
            star, mark = p, t
            p += 1
        elif star >= 0:
            p = star + 1
            mark += 1
            t = mark
        else:
            return False
    while p < n and pattern[p] == "*":
        p += 1
    return p == n


def _prepare(pattern: str, value: str, ignore_case: bool) -> tuple[str, str]:
    # Policy variables are resolved per request: here they may stand for anything (the
    # statement is then reported as conditional).
    pattern = _VARIABLE.sub("*", pattern) if "${" in pattern else pattern
    return (pattern.lower(), value.lower()) if ignore_case else (pattern, value)


def glob_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM wildcard match of a whole string: ``*`` any run of characters, ``?`` one character.

    Examples
    --------
    >>> glob_match("iam:*User*", "iam:CreateUser", ignore_case=True)
    True
    >>> glob_match("arn:aws:s3:::b/?.txt", "arn:aws:s3:::b/ab.txt")
    False
    """
    return _wildcard(*_prepare(pattern, value, ignore_case), star_is_literal=False)


def glob_covers(pattern: str, request: str, *, ignore_case: bool = False) -> bool:
    """True when ``pattern`` matches every string that ``request`` (which may hold wildcards) matches.

    Exact for the requests this module builds (a concrete value, or a prefix ending in ``*``).
    """
    return _wildcard(*_prepare(pattern, request, ignore_case), star_is_literal=True)


def glob_intersects(a: str, b: str, *, ignore_case: bool = False) -> bool:
    """True when some string matches both wildcard patterns.

    Examples
    --------
    >>> glob_intersects("iam:Create*", "iam:*Policy", ignore_case=True)
    True
    >>> glob_intersects("s3:*", "iam:*")
    False
    """
    a, b = _VARIABLE.sub("*", a), _VARIABLE.sub("*", b)
    if ignore_case:
        a, b = a.lower(), b.lower()
    return _intersects(a, b)


@lru_cache(maxsize=8192)
def _intersects(a: str, b: str) -> bool:
    n, m = len(a), len(b)
    seen: set[tuple[int, int]] = set()
    stack = [(0, 0)]
    while stack:
        i, j = stack.pop()
        if (i, j) in seen:
            continue
        seen.add((i, j))
        if i == n and j == m:
            return True
        if i < n and a[i] == "*":
            stack.append((i + 1, j))  # the star stands for nothing
            if j < m:
                stack.append((i, j + 1))  # the star swallows b's next token
        if j < m and b[j] == "*":
            stack.append((i, j + 1))
            if i < n:
                stack.append((i + 1, j))
        if i < n and j < m and a[i] != "*" and b[j] != "*" and (a[i] == b[j] or "?" in (a[i], b[j])):
            stack.append((i + 1, j + 1))
    return False


def _part(
    patterns: tuple[str, ...] | None, not_patterns: tuple[str, ...] | None, request: str, ignore_case: bool
) -> tuple[bool, bool]:
    """(covers, touches) of one Action or Resource element for a request value."""
    if patterns is not None:
        covers = any(glob_covers(p, request, ignore_case=ignore_case) for p in patterns)
        touches = covers or any(glob_intersects(p, request, ignore_case=ignore_case) for p in patterns)
        return covers, touches
    if not_patterns is not None:
        touches = not any(glob_covers(p, request, ignore_case=ignore_case) for p in not_patterns)
        covers = not any(glob_intersects(p, request, ignore_case=ignore_case) for p in not_patterns)
        return covers, touches
    return True, True  # no Resource element (trust policies): it applies to the request


def statement_applies(st: Statement, action: str, resource: str) -> tuple[bool, bool]:
    """(covers, touches): the statement applies to all of the request, or to part of it.

    For a concrete action and resource the two are equal.
    """
    if st.actions is None and st.not_actions is None:
        return False, False
    ca, ta = _part(st.actions, st.not_actions, action, True)
    if not ta:
        return False, False
    cr, tr = _part(st.resources, st.not_resources, resource, False)
    return ca and cr, ta and tr


# --- evaluation -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """The answer for one request, with the statements that decided it."""

    decision: str
    action: str
    resource: str
    matched: tuple[Statement, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def allowed(self) -> bool:
        return self.decision == "allowed"

    @property
    def granted_by(self) -> str:
        """The policies of the matching Allow statements, ``;``-separated."""
        return ";".join(dict.fromkeys(s.policy for s in self.matched if s.effect == "Allow"))

    @property
    def denied_by(self) -> str:
        return ";".join(dict.fromkeys(s.policy for s in self.matched if s.effect == "Deny"))


def worst(*decisions: str) -> str:
    """The most restrictive of several decisions."""
    return min(decisions, key=lambda d: _RANK[d])


def _evaluate_set(
    statements: Sequence[Statement], action: str, resource: str, missing: Sequence[str]
) -> tuple[str, list[Statement]]:
    full_deny: list[Statement] = []
    some_deny: list[Statement] = []
    full_allow: list[Statement] = []
    cond_allow: list[Statement] = []
    part_allow: list[Statement] = []
    for st in statements:
        effect = st.effect.lower()
        if effect not in ("allow", "deny"):
            continue
        covers, touches = statement_applies(st, action, resource)
        if not touches:
            continue
        if effect == "deny":
            (full_deny if covers and not st.conditional else some_deny).append(st)
        elif not covers:
            part_allow.append(st)  # allows part of a wildcard request, whatever its condition
        else:
            (cond_allow if st.conditional else full_allow).append(st)
    if full_deny:
        return "denied", full_deny
    if full_allow:
        if some_deny:
            partial = any(not s.conditional for s in some_deny)
            decision = "partial" if partial else "conditional"
        else:
            decision = "allowed"
        matched = full_allow + some_deny
    elif cond_allow or part_allow:
        decision = "conditional" if cond_allow else "partial"
        matched = cond_allow + part_allow + some_deny
    else:
        return ("unknown" if missing else "implicit-deny"), []
    if missing:
        decision = worst(decision, "unknown")
    return decision, matched


def evaluate_statements(
    statements: Sequence[Statement],
    action: str,
    resource: str,
    *,
    boundary: Sequence[Statement] | None = None,
    missing: Sequence[str] = (),
    boundary_missing: bool = False,
) -> Decision:
    """Evaluate parsed statements (see :func:`evaluate_documents`).

    ``missing`` names identity policies whose documents are not available; ``boundary_missing``
    says the boundary's document is not available.
    """
    decision, matched = _evaluate_set(statements, action, resource, missing)
    notes = [f"document missing: {m}" for m in missing]
    if boundary is not None or boundary_missing:
        b_decision, b_matched = _evaluate_set(
            boundary or [], action, resource, ["boundary"] * boundary_missing
        )
        if boundary_missing:
            notes.append("permissions boundary document missing")
        if b_decision == "implicit-deny":
            notes.append("not allowed by the permissions boundary")
        decision = worst(decision, b_decision)
        matched = matched + b_matched
    return Decision(decision, action, resource, tuple(matched), tuple(notes))


def evaluate_documents(
    documents: Iterable[Any], action: str, resource: str, *, boundary: Any | None = None
) -> Decision:
    """Evaluate a request against policy documents (and an optional permissions boundary).

    ``action`` is ``service:Action`` (any case); both ``action`` and ``resource`` may end in
    ``*`` to ask about all the actions or resources they cover.

    Examples
    --------
    >>> allow_all = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    >>> only_s3 = {"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    >>> evaluate_documents([allow_all], "iam:CreateUser", "*", boundary=only_s3).decision
    'implicit-deny'
    """
    stmts = [s for i, d in enumerate(documents) for s in parse_statements(d, policy=f"policy {i}")]
    b = parse_statements(boundary, policy="boundary") if boundary is not None else None
    return evaluate_statements(stmts, action, resource, boundary=b)


def evaluate(principal: str, action: str, resource: str = "*", *, details: AuthorizationDetails) -> Decision:
    """Evaluate a request by a principal of the authorization details.

    ``principal`` is a user, role or group ARN, an assumed-role ARN (evaluated as its role:
    session policies are not logged), a root ARN, or a name when it is unique. The root user
    is not subject to identity policies (only to SCPs, not evaluated): it is always ``allowed``.

    Examples
    --------
    >>> evaluate("alice", "iam:CreateUser", "*", details=details).decision  # doctest: +SKIP
    'allowed'
    """
    p = details.find(principal)
    if p.kind == "root":
        return Decision("allowed", action, resource, (), ("root: identity policies do not apply",))
    stmts, boundary, missing, boundary_missing = details.statements_for(p)
    d = evaluate_statements(
        stmts, action, resource, boundary=boundary, missing=missing, boundary_missing=boundary_missing
    )
    if principal.startswith("arn:") and ":assumed-role/" in principal:
        d = Decision(d.decision, d.action, d.resource, d.matched, d.notes + ("session policies not known",))
    return d


def evaluate_many(
    details: AuthorizationDetails,
    actions: Sequence[str],
    resources: Sequence[str] = ("*",),
    *,
    principals: Sequence[str] | None = None,
) -> pd.DataFrame:
    """:func:`evaluate` for every principal, action and resource: one row each.

    ``principals`` defaults to every user and role of the details.

    Examples
    --------
    >>> evaluate_many(details, ["iam:CreateUser", "s3:GetObject"])  # doctest: +SKIP
    """
    import pandas as pd

    names = (
        list(principals) if principals is not None else [e.arn for e in details.entities(("user", "role"))]
    )
    rows = []
    for p in names:
        for a in actions:
            for r in resources:
                d = evaluate(p, a, r, details=details)
                rows.append(
                    {
                        "principal": p,
                        "action": a,
                        "resource": r,
                        "decision": d.decision,
                        "granted_by": d.granted_by,
                        "denied_by": d.denied_by,
                        "notes": "; ".join(d.notes),
                    }
                )
    cols = ["principal", "action", "resource", "decision", "granted_by", "denied_by", "notes"]
    return pd.DataFrame(rows, columns=cols)


# --- trust policies -------------------------------------------------------------------------

_ASSUME = ("sts:AssumeRole", "sts:AssumeRoleWithSAML", "sts:AssumeRoleWithWebIdentity")
_ACCOUNT_IN_ARN = re.compile(r"^arn:[^:]*:(?:iam|sts)::(\d{12}|[^:]*):")


def principal_account(value: str) -> str | None:
    """The account of an AWS principal value (12 digits, or an IAM/STS ARN), else None."""
    if re.fullmatch(r"\d{12}", value):
        return value
    m = _ACCOUNT_IN_ARN.match(value)
    return m.group(1) if m and m.group(1) else None


def _condition_values(condition: dict[str, Any] | None, key: str) -> list[str]:
    out: list[str] = []
    for _op, kv in (condition or {}).items():
        if not isinstance(kv, dict):
            continue
        for k, v in kv.items():
            if str(k).lower() == key.lower():
                out += [str(x) for x in (v if isinstance(v, list) else [v])]
    return out


def trust_principals(document: Any, *, role_account: str | None = None) -> list[dict[str, Any]]:
    """Who a trust (assume-role) policy lets in: one dict per statement and principal.

    Keys: ``sid``, ``effect``, ``actions``, ``principal_type`` (AWS, Service, Federated,
    CanonicalUser or ``*``), ``principal``, ``principal_account``, ``cross_account`` (None when
    not an account principal or the role's account is not known), ``anyone``, ``not_principal``,
    ``external_ids``, ``federation_provider``, ``condition`` (JSON), ``conditional``.

    Examples
    --------
    >>> doc = {"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
    ...         "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
    ...         "Condition": {"StringEquals": {"sts:ExternalId": "x1"}}}]}
    >>> [(t["principal_account"], t["cross_account"], t["external_ids"])
    ...  for t in trust_principals(doc, role_account="111111111111")]
    [('999999999999', True, ['x1'])]
    """
    rows = []
    for st in parse_statements(document, policy="trust"):
        actions = list(st.actions or st.not_actions or ())
        negated = st.not_principal is not None
        target = st.not_principal if negated else st.principal
        pairs: list[tuple[str, str]] = []
        if target == "*" or target is None:
            pairs.append(("*", "*") if target == "*" else ("", ""))
        elif isinstance(target, dict):
            for ptype, values in target.items():
                for v in values if isinstance(values, list) else [values]:
                    pairs.append((str(ptype), str(v)))
        else:
            pairs.append(("unknown", str(target)))
        for ptype, value in pairs:
            acct = principal_account(value) if ptype == "AWS" else None
            rows.append(
                {
                    "sid": st.sid,
                    "effect": st.effect,
                    "actions": actions,
                    "principal_type": ptype or None,
                    "principal": value or None,
                    "principal_account": acct,
                    "cross_account": (acct != role_account) if acct and role_account else None,
                    "anyone": value == "*",
                    "not_principal": negated,
                    "external_ids": _condition_values(st.condition, "sts:ExternalId"),
                    "federation_provider": value if ptype == "Federated" else None,
                    "condition": json.dumps(st.condition, sort_keys=True) if st.condition else None,
                    "conditional": st.conditional,
                }
            )
    return rows


def can_assume(actions: Sequence[str]) -> bool:
    """True when a trust statement's actions include one of the AssumeRole* actions."""
    return any(glob_match(p, a, ignore_case=True) for p in actions for a in _ASSUME)
