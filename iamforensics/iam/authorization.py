"""``aws iam get-account-authorization-details``: users, groups, roles, managed policies.

Reads the CLI/boto3 JSON (several pages, several files, several accounts) into an
:class:`AuthorizationDetails`; policy documents are decoded whether they are objects (CLI)
or URL-encoded JSON text (the raw API). The frames below answer "who can do what, through
which policy": :func:`principals`, :func:`effective_permissions`, :func:`role_trust`,
:func:`managed_policies`.

Examples
--------
>>> details = load_authorization_details("evidence/auth-details.json")  # doctest: +SKIP
>>> effective_permissions(details).query("principal_name == 's3test'")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import EvidenceError, IamForensicsError
from .policy import Statement, can_assume, decode_policy_document, parse_statements, trust_principals

_ARN = re.compile(r"^arn:(?P<partition>[^:]*):(?P<service>iam|sts)::(?P<account>[^:]*):(?P<rest>.*)$")
_KEYS = ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")

Source = str | Path | bytes | dict[str, Any] | list[Any]

#: AWS managed policies whose document never changed (AdministratorAccess is at v1 since 2015),
#: used when an export leaves them out (``--filter``, or a details file without ``Policies``).
BUILTIN: dict[str, dict[str, Any]] = {
    "arn:aws:iam::aws:policy/AdministratorAccess": {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    },
    "arn:aws:iam::aws:policy/AWSDenyAll": {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}],
    },
}


def account_of(arn: str | None) -> str | None:
    """The account id in an IAM or STS ARN."""
    m = _ARN.match(arn or "")
    return m.group("account") if m else None


@dataclass
class Entity:
    """A user, group or role (or the root user of an account) of the authorization details."""

    kind: str
    name: str
    arn: str
    id: str | None = None
    account: str | None = None
    path: str | None = None
    create_date: str | None = None
    inline: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    attached: list[tuple[str, str]] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    boundary_arn: str | None = None
    trust: dict[str, Any] | None = None
    tags: dict[str, str] = field(default_factory=dict)
    last_used: str | None = None
    last_used_region: str | None = None
    instance_profiles: list[str] = field(default_factory=list)
    source: str | None = None


@dataclass
class ManagedPolicy:
    """A managed policy with all the versions the details hold."""

    arn: str
    name: str
    id: str | None = None
    path: str | None = None
    default_version: str | None = None
    versions: dict[str, dict[str, Any]] = field(default_factory=dict)
    attachment_count: int | None = None
    boundary_usage_count: int | None = None
    description: str | None = None
    create_date: str | None = None
    update_date: str | None = None
    source: str | None = None

    @property
    def aws_managed(self) -> bool:
        return account_of(self.arn) == "aws"

    @property
    def document(self) -> dict[str, Any] | None:
        """The default version's document (None when the details do not include it)."""
        if self.default_version and self.default_version in self.versions:
            return self.versions[self.default_version]
        return None


@dataclass
class AuthorizationDetails:
    """Everything read from one or more get-account-authorization-details outputs."""

    users: dict[str, Entity] = field(default_factory=dict)
    groups: dict[str, Entity] = field(default_factory=dict)
    roles: dict[str, Entity] = field(default_factory=dict)
    policies: dict[str, ManagedPolicy] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def accounts(self) -> list[str]:
        seen = {e.account for d in (self.users, self.groups, self.roles) for e in d.values()}
        return sorted(a for a in seen if a)

    def entities(self, kinds: Iterable[str] = ("user", "group", "role")) -> Iterator[Entity]:
        table = {"user": self.users, "group": self.groups, "role": self.roles}
        for k in kinds:
            yield from table[k].values()

    def group(self, account: str | None, name: str) -> Entity | None:
        for g in self.groups.values():
            if g.name == name and g.account == account:
                return g
        return None

    def find(self, principal: str) -> Entity:
        """The entity for an ARN (user, group, role, assumed-role, root), a unique id or a unique name."""
        for table in (self.users, self.roles, self.groups):
            if principal in table:
                return table[principal]
        m = _ARN.match(principal)
        if m:
            acct, rest = m.group("account"), m.group("rest")
            if rest == "root":
                return Entity("root", "root", principal, account=acct)
            if m.group("service") == "sts" and rest.startswith("assumed-role/"):
                role_name = rest.split("/")[1]
                hits = [r for r in self.roles.values() if r.account == acct and r.name == role_name]
                if len(hits) == 1:
                    return hits[0]
            raise IamForensicsError(f"{principal}: not in the authorization details")
        hits = [e for e in self.entities() if principal in (e.name, e.id)]
        if len(hits) == 1:
            return hits[0]
        if not hits:
            raise IamForensicsError(f"{principal}: no user, group or role of that name or id")
        raise IamForensicsError(f"{principal}: ambiguous ({', '.join(e.arn for e in hits)}); give the ARN")

    def managed_document(self, arn: str) -> tuple[dict[str, Any] | None, str]:
        """(default version's document or None, label suffix): ``" [built-in]"`` when the details
        lack it and it is one of the AWS managed policies whose document is fixed (``BUILTIN``)."""
        mp = self.policies.get(arn)
        if mp is not None and mp.document is not None:
            return mp.document, ""
        if arn in BUILTIN:
            return BUILTIN[arn], " [built-in]"
        return None, ""

    def policy_statements(self, entity: Entity, prefix: str = "") -> tuple[list[Statement], list[str]]:
        """The statements of an entity's own inline and attached policies, and the missing ones."""
        stmts: list[Statement] = []
        missing: list[str] = []
        for name, doc in entity.inline:
            stmts += parse_statements(doc, policy=f"{prefix}inline:{name}")
        for _name, arn in entity.attached:
            mdoc, suffix = self.managed_document(arn)
            if mdoc is None:
                missing.append(f"{prefix}managed:{arn}")
            else:
                stmts += parse_statements(mdoc, policy=f"{prefix}managed:{arn}{suffix}")
        return stmts, missing

    def statements_for(
        self, entity: Entity
    ) -> tuple[list[Statement], list[Statement] | None, list[str], bool]:
        """(identity statements, boundary statements or None, missing policies, boundary missing)."""
        stmts, missing = self.policy_statements(entity)
        for gname in entity.groups if entity.kind == "user" else []:
            g = self.group(entity.account, gname)
            if g is None:
                missing.append(f"group:{gname}")
                continue
            s, m = self.policy_statements(g, prefix=f"group:{gname}/")
            stmts += s
            missing += m
        boundary: list[Statement] | None = None
        boundary_missing = False
        if entity.boundary_arn:
            bdoc, suffix = self.managed_document(entity.boundary_arn)
            if bdoc is None:
                boundary_missing = True
            else:
                boundary = parse_statements(bdoc, policy=f"boundary:{entity.boundary_arn}{suffix}")
        return stmts, boundary, missing, boundary_missing


# --- reading --------------------------------------------------------------------------------


def _pages(data: bytes, where: str) -> Iterator[dict[str, Any]]:
    text = data.decode("utf-8-sig")
    dec = json.JSONDecoder(strict=False)
    pos, n = 0, len(text)
    while True:
        while pos < n and text[pos].isspace():
            pos += 1
        if pos >= n:
            return
        try:
            value, pos = dec.raw_decode(text, pos)
        except ValueError as exc:
            raise EvidenceError(f"{where}: not JSON: {exc}") from None
        yield from _page_values(value, where)


def _page_values(value: Any, where: str) -> Iterator[dict[str, Any]]:
    items = value if isinstance(value, list) else [value]
    for i, page in enumerate(items):
        if not isinstance(page, dict) or not any(k in page for k in _KEYS):
            raise EvidenceError(
                f"{where}: item {i} is not get-account-authorization-details output "
                f"(expected one of {', '.join(_KEYS)})"
            )
        yield page


def _tags(items: Any) -> dict[str, str]:
    return {str(t.get("Key")): str(t.get("Value")) for t in items or [] if isinstance(t, dict)}


def _doc(value: Any, where: str) -> dict[str, Any]:
    return decode_policy_document(value, where=where)


def _entity(kind: str, item: dict[str, Any], where: str) -> Entity:
    name_key, id_key, list_key = {
        "user": ("UserName", "UserId", "UserPolicyList"),
        "group": ("GroupName", "GroupId", "GroupPolicyList"),
        "role": ("RoleName", "RoleId", "RolePolicyList"),
    }[kind]
    arn = item.get("Arn")
    if not arn:
        raise EvidenceError(f"{where}: a {kind} without an Arn ({item.get(name_key)!r})")
    inline = [
        (
            str(p.get("PolicyName")),
            _doc(p.get("PolicyDocument"), f"{where}: {arn} inline {p.get('PolicyName')}"),
        )
        for p in item.get(list_key) or []
    ]
    attached = [
        (str(p.get("PolicyName")), str(p.get("PolicyArn"))) for p in item.get("AttachedManagedPolicies") or []
    ]
    boundary = (item.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
    e = Entity(
        kind=kind,
        name=str(item.get(name_key) or arn.rsplit("/", 1)[-1]),
        arn=arn,
        id=item.get(id_key),
        account=account_of(arn),
        path=item.get("Path"),
        create_date=str(item["CreateDate"]) if item.get("CreateDate") else None,
        inline=inline,
        attached=attached,
        groups=[str(g) for g in item.get("GroupList") or []],
        boundary_arn=boundary,
        tags=_tags(item.get("Tags")),
        source=where,
    )
    if kind == "role":
        trust = item.get("AssumeRolePolicyDocument")
        e.trust = _doc(trust, f"{where}: {arn} trust policy") if trust else None
        last = item.get("RoleLastUsed") or {}
        e.last_used = str(last["LastUsedDate"]) if last.get("LastUsedDate") else None
        e.last_used_region = last.get("Region")
        e.instance_profiles = [str(p.get("Arn")) for p in item.get("InstanceProfileList") or []]
    return e


def _policy(item: dict[str, Any], where: str) -> ManagedPolicy:
    arn = item.get("Arn")
    if not arn:
        raise EvidenceError(f"{where}: a policy without an Arn ({item.get('PolicyName')!r})")
    versions: dict[str, dict[str, Any]] = {}
    default = item.get("DefaultVersionId")
    for v in item.get("PolicyVersionList") or []:
        vid = str(v.get("VersionId"))
        if v.get("Document") is not None:
            versions[vid] = _doc(v.get("Document"), f"{where}: {arn} {vid}")
        if v.get("IsDefaultVersion") and not default:
            default = vid
    return ManagedPolicy(
        arn=arn,
        name=str(item.get("PolicyName") or arn.rsplit("/", 1)[-1]),
        id=item.get("PolicyId"),
        path=item.get("Path"),
        default_version=default,
        versions=versions,
        attachment_count=item.get("AttachmentCount"),
        boundary_usage_count=item.get("PermissionsBoundaryUsageCount"),
        description=item.get("Description"),
        create_date=str(item["CreateDate"]) if item.get("CreateDate") else None,
        update_date=str(item["UpdateDate"]) if item.get("UpdateDate") else None,
        source=where,
    )


def _inputs(inputs: Source | Iterable[Source]) -> Iterator[tuple[str, Iterator[dict[str, Any]]]]:
    if isinstance(inputs, str | Path | bytes | dict):
        items: list[Any] = [inputs]
    elif isinstance(inputs, list) and inputs and all(isinstance(x, dict) for x in inputs):
        items = [inputs]  # a list of pages, already decoded
    else:
        items = list(inputs)
    for i, item in enumerate(items):
        if isinstance(item, str | Path):
            p = Path(item)
            try:
                data = p.read_bytes()
            except OSError as exc:
                raise EvidenceError(f"{p}: cannot read: {exc.strerror or exc}") from None
            yield str(p), _pages(data, str(p))
        elif isinstance(item, bytes):
            yield f"<bytes {i}>", _pages(item, f"<bytes {i}>")
        else:
            yield f"<object {i}>", _page_values(item, f"<object {i}>")


def load_authorization_details(inputs: Source | Iterable[Source]) -> AuthorizationDetails:
    """Read one or more get-account-authorization-details outputs (files, bytes or decoded JSON).

    A file may hold one page, a JSON array of pages, or pages one after the other. Pages of
    several accounts merge; an entity seen twice keeps its last copy (noted in ``notes``
    when the copies differ).

    Examples
    --------
    >>> d = load_authorization_details({"UserDetailList": [{"UserName": "a", "Arn":
    ...     "arn:aws:iam::111111111111:user/a", "GroupList": ["admins"]}]})
    >>> d.find("a").groups
    ['admins']
    """
    out = AuthorizationDetails()
    for where, pages in _inputs(inputs):
        out.sources.append(where)
        for page in pages:
            for kind, key, table in (
                ("user", "UserDetailList", out.users),
                ("group", "GroupDetailList", out.groups),
                ("role", "RoleDetailList", out.roles),
            ):
                for item in page.get(key) or []:
                    e = _entity(kind, item, where)
                    old = table.get(e.arn)
                    if old is not None and (old.inline, old.attached, old.groups, old.trust) != (
                        e.inline,
                        e.attached,
                        e.groups,
                        e.trust,
                    ):
                        out.notes.append(f"{e.arn}: differs between {old.source} and {where}; kept {where}")
                    table[e.arn] = e
            for item in page.get("Policies") or []:
                mp = _policy(item, where)
                old_p = out.policies.get(mp.arn)
                if old_p is not None:
                    mp.versions = {**old_p.versions, **mp.versions}
                out.policies[mp.arn] = mp
    return out


# --- frames ---------------------------------------------------------------------------------


def principals(details: AuthorizationDetails) -> pd.DataFrame:
    """One row per user, group and role: ids, groups, policies, boundary, tags, last use.

    Examples
    --------
    >>> principals(details)[["kind", "name", "groups"]]  # doctest: +SKIP
    """
    rows = [
        {
            "kind": e.kind,
            "name": e.name,
            "arn": e.arn,
            "id": e.id,
            "account": e.account,
            "path": e.path,
            "create_date": pd.to_datetime(e.create_date, utc=True) if e.create_date else pd.NaT,
            "groups": list(e.groups),
            "inline_policies": [n for n, _ in e.inline],
            "attached_policies": [a for _, a in e.attached],
            "permissions_boundary": e.boundary_arn,
            "tags": dict(e.tags),
            "role_last_used": pd.to_datetime(e.last_used, utc=True) if e.last_used else pd.NaT,
            "role_last_used_region": e.last_used_region,
            "source": e.source,
        }
        for e in details.entities()
    ]
    cols = ["kind", "name", "arn", "id", "account", "path", "create_date", "groups", "inline_policies"]
    cols += ["attached_policies", "permissions_boundary", "tags", "role_last_used", "role_last_used_region"]
    return pd.DataFrame(rows, columns=[*cols, "source"])


def managed_policies(details: AuthorizationDetails) -> pd.DataFrame:
    """One row per managed policy and version held (``is_default`` marks the one in force)."""
    rows = []
    for mp in details.policies.values():
        vids: list[str | None] = [*sorted(mp.versions)] or [None]
        for vid in vids:
            rows.append(
                {
                    "policy_arn": mp.arn,
                    "policy_name": mp.name,
                    "aws_managed": mp.aws_managed,
                    "version_id": vid,
                    "is_default": vid == mp.default_version,
                    "attachment_count": mp.attachment_count,
                    "boundary_usage_count": mp.boundary_usage_count,
                    "document": json.dumps(mp.versions[vid], sort_keys=True) if vid else None,
                    "update_date": pd.to_datetime(mp.update_date, utc=True) if mp.update_date else pd.NaT,
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "policy_arn",
            "policy_name",
            "aws_managed",
            "version_id",
            "is_default",
            "attachment_count",
            "boundary_usage_count",
            "document",
            "update_date",
        ],
    )


_PERM_COLS = ["principal_kind", "principal_name", "principal_arn", "account", "via", "policy_type"]
_PERM_COLS += ["policy_name", "policy_arn", "policy", "sid", "statement_index", "effect", "action"]
_PERM_COLS += ["not_action", "resource", "not_resource", "condition", "conditional", "note"]


def effective_permissions(
    details: AuthorizationDetails, *, kinds: Iterable[str] = ("user", "role")
) -> pd.DataFrame:
    """Every statement that applies to each principal, and through what.

    A user's rows are its own inline and attached policies (``via`` = ``self``), each group's
    (``via`` = ``group:<name>``) and its permissions boundary (``via`` = ``boundary``: it limits,
    never grants). A managed policy whose document is missing gets one row with ``effect``
    null and a ``note``.

    Examples
    --------
    >>> effective_permissions(details).query("principal_name == 's3test'")[["via", "policy_name"]]  # doctest: +SKIP
    """
    rows: list[dict[str, Any]] = []
    for e in details.entities(kinds):
        base = {
            "principal_kind": e.kind,
            "principal_name": e.name,
            "principal_arn": e.arn,
            "account": e.account,
        }
        sources: list[tuple[str, Entity]] = [("self", e)]
        for gname in e.groups if e.kind == "user" else []:
            g = details.group(e.account, gname)
            if g is None:
                rows.append({**base, "via": f"group:{gname}", "note": "group not in the details"})
            else:
                sources.append((f"group:{gname}", g))
        for via, owner in sources:
            prefix = "" if via == "self" else f"{via}/"
            for name, doc in owner.inline:
                for st in parse_statements(doc, policy=f"{prefix}inline:{name}"):
                    rows.append(
                        {**base, "via": via, "policy_type": "inline", "policy_name": name, **st.as_dict()}
                    )
            for name, arn in owner.attached:
                rows += _managed_rows(details, base, via, name, arn, f"{prefix}managed:{arn}")
        if e.boundary_arn:
            rows += _managed_rows(
                details,
                base,
                "boundary",
                e.boundary_arn.rsplit("/", 1)[-1],
                e.boundary_arn,
                f"boundary:{e.boundary_arn}",
            )
    df = pd.DataFrame(rows, columns=_PERM_COLS)
    df["conditional"] = df["conditional"].astype("boolean")
    df["statement_index"] = df["statement_index"].astype("Int64")
    return df


def _managed_rows(
    details: AuthorizationDetails, base: dict[str, Any], via: str, name: str, arn: str, label: str
) -> list[dict[str, Any]]:
    mdoc, suffix = details.managed_document(arn)
    common = {**base, "via": via, "policy_type": "managed", "policy_name": name, "policy_arn": arn}
    if mdoc is None:
        return [{**common, "policy": label, "note": "policy document not in the details"}]
    note = "document not in the details: AWS's fixed document used" if suffix else None
    return [{**common, **st.as_dict(), "note": note} for st in parse_statements(mdoc, policy=label + suffix)]


def role_trust(details: AuthorizationDetails) -> pd.DataFrame:
    """Who can assume each role: one row per role, trust statement and principal.

    ``cross_account`` is True for account principals outside the role's account, ``anyone``
    for ``"Principal": "*"``; ``external_ids`` and ``federation_provider`` (SAML/OIDC provider
    ARN or web identity host) come from the statement; ``conditional`` flags a Condition.

    Examples
    --------
    >>> role_trust(details).query("cross_account == True")[["role_name", "principal"]]  # doctest: +SKIP
    """
    rows = []
    for r in details.roles.values():
        if r.trust is None:
            continue
        for t in trust_principals(r.trust, role_account=r.account):
            rows.append(
                {
                    "role_name": r.name,
                    "role_arn": r.arn,
                    "account": r.account,
                    **t,
                    "can_assume": can_assume(t["actions"]),
                }
            )
    cols = ["role_name", "role_arn", "account", "sid", "effect", "actions", "principal_type", "principal"]
    cols += ["principal_account", "cross_account", "anyone", "not_principal", "external_ids"]
    cols += ["federation_provider", "condition", "conditional", "can_assume"]
    df = pd.DataFrame(rows, columns=cols)
    df["cross_account"] = df["cross_account"].astype("boolean")
    return df
