"""Parents and origins: how a session hangs from the identity that issued it.

Each session's parent is whatever its issuing event was made with (a session by key or by the
fallback profile, or an identity that is not a session: a long-term key, a password sign-in, an
IdP, an AWS service, a caller in another account). :func:`walk` goes up the parents to the
origin, counting the chain depth and the accounts crossed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .build import account_of_arn

# -- the origin walk --------------------------------------------------------------------------------


@dataclass
class Link:
    """How a session's issuing event is attributed (what the parent is)."""

    link: str  # exact-key, fallback, ambiguous, none
    parent: str | None = None
    candidates: list[str] = field(default_factory=list)
    base: tuple[str, str, str | None, int | None] | None = None  # origin, kind, key, depth
    account: str | None = None  # account of the issuing identity, when it is not a session


def base_origin(prim: dict[str, Any], foreign: dict[str, str]) -> tuple[str, str, str | None, int | None]:
    """Origin of a session issued by an identity that is not itself a session."""
    utype, actor, key = prim["user_type"], prim["actor"], prim["access_key_id"]
    name = prim["event_name"]
    if utype in ("IAMUser", "Root") and (key or "").startswith("AKIA"):
        return actor or "unknown: caller without an ARN", "iam-user" if utype == "IAMUser" else "root", key, 1
    if name == "ConsoleLogin" and actor:
        return actor, "iam-user" if utype == "IAMUser" else "root", None, 1
    if utype == "AWSService" or (utype is None and prim["invoked_by"]):
        return prim["invoked_by"] or "aws-service", "aws-service", None, 1
    if utype == "SAMLUser" and actor:
        return actor, "idp-saml", None, 1
    if utype == "WebIdentityUser" and actor:
        return actor, "idp-web-identity", None, 1
    if utype == "IdentityCenterUser" and actor:
        return actor, "identity-center-user", None, 1
    if utype == "AWSAccount":
        pid, acct = prim["principal_id"] or "?", prim["account_id"] or "?"
        if pid.startswith("AIDA") and pid in foreign:
            return foreign[pid], "iam-user", None, None
        if re.fullmatch(r"\d{12}", pid):
            return f"arn:aws:iam::{pid}:root", "root", None, None
        return (
            f"unknown: issued to {pid} of account {acct}; the caller's copy of the call is not in the case",
            "unknown",
            None,
            None,
        )
    return (
        f"unknown: caller {actor or utype or '?'} carries no key or session to follow",
        "unknown",
        None,
        None,
    )


def walk(
    nodes: dict[str, Link], accounts: dict[str, str | None]
) -> dict[str, tuple[str, str, str | None, int | None, list[str]]]:
    """Origin, origin kind, origin key, chain depth and accounts crossed, for every session.

    Iterative (self-assuming roles can chain thousands of sessions) and cycle-safe.
    """
    done: dict[str, tuple[str, str, str | None, int | None, list[str]]] = {}

    def acct_list(prefix: list[str], acct: str | None) -> list[str]:
        return prefix + [acct] if acct and (not prefix or prefix[-1] != acct) else list(prefix)

    def resolve_base(sid: str, ln: Link) -> None:
        assert ln.base is not None
        origin, kind, key, depth = ln.base
        a = ln.account or (account_of_arn(origin) if kind in ("iam-user", "root") else None)
        done[sid] = (origin, kind, key, depth, acct_list([a] if a else [], accounts.get(sid)))

    for sid0 in nodes:
        stack = [sid0]
        onpath = {sid0}
        while stack:
            sid = stack[-1]
            if sid in done:
                stack.pop()
                onpath.discard(sid)
                continue
            ln = nodes[sid]
            if ln.link in ("exact-key", "fallback") and ln.parent in nodes:
                p = ln.parent
                if p in done:
                    o, k, key, d, acc = done[p]
                    done[sid] = (o, k, key, None if d is None else d + 1, acct_list(acc, accounts.get(sid)))
                elif p in onpath:
                    done[sid] = ("unknown: the chain of parents loops", "unknown", None, None, [])
                else:
                    stack.append(p)
                    onpath.add(p)
                    continue
            elif ln.link == "ambiguous" and ln.candidates:
                pending = [c for c in ln.candidates if c in nodes and c not in done and c not in onpath]
                if pending:
                    stack.extend(pending)
                    onpath.update(pending)
                    continue
                origins = sorted({done[c][0] for c in ln.candidates if c in done})
                depths = {done[c][3] for c in ln.candidates if c in done}
                if len(origins) == 1:
                    c0 = done[next(c for c in ln.candidates if c in done)]
                    d = depths.pop() if len(depths) == 1 else None
                    done[sid] = (
                        c0[0],
                        c0[1],
                        c0[2],
                        None if d is None else d + 1,
                        acct_list(c0[4], accounts.get(sid)),
                    )
                else:
                    label = "ambiguous: " + " | ".join(origins) if origins else "unknown: ambiguous parent"
                    done[sid] = (label, "ambiguous", None, None, [])
            elif ln.base is not None:
                resolve_base(sid, ln)
            else:
                done[sid] = ("unknown: no issuing identity to follow", "unknown", None, None, [])
            stack.pop()
            onpath.discard(sid)
    return done


def ambiguous_origin(cands: Iterable[str], origin: dict[str, tuple[Any, ...]]) -> tuple[Any, ...]:
    """(origin, kind, key, depth) for an event that matches several sessions: their common
    origin when they agree (not a guess: every candidate leads there), else all of them."""
    rows = [origin[c] for c in cands if c in origin]
    origins = sorted({r[0] for r in rows})
    if len(origins) == 1:
        depths = {r[3] for r in rows}
        keys = {r[2] for r in rows}
        return (
            origins[0],
            rows[0][1],
            keys.pop() if len(keys) == 1 else None,
            depths.pop() if len(depths) == 1 else None,
        )
    return ("ambiguous: " + " | ".join(origins) if origins else None), "ambiguous", None, None
