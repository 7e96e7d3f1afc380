"""Parents and origins: how a session hangs from the identity that issued it.

Each session's parent is whatever its issuing event was made with (a session by key or by the
fallback profile, or an identity that is not a session: a long-term key, a password sign-in, an
IdP, an AWS service, a caller in another account). :func:`walk` goes up the parents to the
origin, counting the chain depth and the accounts crossed.
"""

from __future__ import annotations

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


def chained_nodes(rows: list[dict[str, Any]]) -> tuple[dict[str, Link], dict[str, str | None]]:
    """Links and accounts of the sessions issued by another session (``steps.CHAINED`` rows)."""
    nodes: dict[str, Link] = {}
    accounts: dict[str, str | None] = {}
    for r in rows:
        nodes[r["session_id"]] = Link(r["link"], r["parent_session_id"], list(r["parent_candidates"] or []))
        accounts[r["session_id"]] = r["account_id"]
    return nodes, accounts


_NO_MFA_KINDS = frozenset(
    {"instance-profile", "service-delivered", "saml", "identity-center", "web-identity"}
)


def mfa(
    rows: list[dict[str, Any]], nodes: dict[str, Link], seeds: dict[str, bool | None]
) -> dict[str, bool | None]:
    """MFA at issue of chained sessions: what the session's own events say (``mfaAuthenticated``,
    stamped by AWS), else the issuing call's MFA code, else, for a role assumed by a session
    without one, the MFA of that parent session (it carries over, cloudtrail-reference §5).
    Federated and service sessions stay unknown: AWS cannot see an IdP's MFA. ``seeds`` holds
    the resolved parents that are not chained themselves."""
    by_id = {r["session_id"]: r for r in rows}
    out: dict[str, bool | None] = dict(seeds)

    def own(r: dict[str, Any]) -> tuple[bool, bool | None]:
        if r["kind"] in _NO_MFA_KINDS:
            return True, None
        if r["mfa_ev"] is not None:
            return True, bool(r["mfa_ev"])
        ln = nodes[r["session_id"]]
        if (
            not r["observed_only"]
            and not r["has_serial"]
            and ln.link in ("exact-key", "fallback")
            and ln.parent
        ):
            return False, None  # inherit from the parent
        return True, r["mfa_issue"]

    for sid0 in by_id:
        path: list[str] = []
        sid: str | None = sid0
        value: bool | None = None
        while sid is not None and sid not in out:
            if sid in path:  # a loop: nothing to inherit
                break
            path.append(sid)
            final, value = own(by_id[sid])
            if final:
                break
            parent = nodes[sid].parent
            sid = parent if parent in by_id or parent in out else None
        else:
            value = out.get(sid) if sid is not None else None
        for p in path:
            out[p] = value
    return {k: v for k, v in out.items() if k in by_id}


Resolved = tuple[str, str, str | None, int | None, list[str]]  # origin, kind, key, depth, accounts


def walk(
    nodes: dict[str, Link], accounts: dict[str, str | None], seeds: dict[str, Resolved] | None = None
) -> dict[str, Resolved]:
    """Origin, origin kind, origin key, chain depth and accounts crossed, for every session of
    ``nodes``, starting from ``seeds`` (sessions already resolved, e.g. in SQL).

    Iterative (self-assuming roles can chain thousands of sessions) and cycle-safe.
    """
    done: dict[str, Resolved] = dict(seeds or {})

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
            if ln.link in ("exact-key", "fallback") and (ln.parent in nodes or ln.parent in done):
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
                if any(c in onpath for c in ln.candidates if c not in done):
                    done[sid] = ("unknown: the chain of parents loops", "unknown", None, None, [])
                    stack.pop()
                    onpath.discard(sid)
                    continue
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
    return {k: v for k, v in done.items() if k in nodes}
