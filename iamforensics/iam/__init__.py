"""IAM context: who could do what, and who changed it.

- :func:`credential_report`: the credential report, every column typed.
- :func:`load_authorization_details`: ``get-account-authorization-details`` (pages, accounts);
  :func:`principals`, :func:`effective_permissions`, :func:`role_trust`, :func:`managed_policies`.
- :func:`evaluate`: identity-policy evaluation (explicit deny, allow, implicit deny, boundaries,
  conditions reported as ``conditional``); :func:`evaluate_many` for a grid of requests,
  :func:`evaluate_documents` on bare documents.
- :func:`privileged_principals`, :func:`admin_principals`: admin-equivalent principals and
  privilege-escalation primitives.
- :func:`audit`: IAM best-practice checks, one row per check and principal, as of a date.
- :func:`privilege_ledger`: privilege changes from CloudTrail alone (PCI DSS 10.2.5);
  :func:`admin_activity`: what admin-equivalent principals did.

Examples
--------
>>> from iamforensics import iam
>>> details = iam.load_authorization_details("auth.json")  # doctest: +SKIP
>>> iam.evaluate("s3test", "iam:CreateUser", "*", details=details).decision  # doctest: +SKIP
'allowed'
"""

from __future__ import annotations

from .audit import CHECKS, audit
from .authorization import (
    AuthorizationDetails,
    Entity,
    ManagedPolicy,
    effective_permissions,
    load_authorization_details,
    managed_policies,
    principals,
    role_trust,
)
from .credential_report import credential_report
from .ledger import LEDGER_EVENTS, admin_activity, privilege_ledger
from .policy import (
    DECISIONS,
    Decision,
    Statement,
    decode_policy_document,
    evaluate,
    evaluate_documents,
    evaluate_many,
    evaluate_statements,
    parse_statements,
    trust_principals,
)
from .privileges import ADMIN_CAPABILITIES, CAPABILITIES, admin_principals, privileged_principals

__all__ = [
    "ADMIN_CAPABILITIES",
    "CAPABILITIES",
    "CHECKS",
    "DECISIONS",
    "LEDGER_EVENTS",
    "AuthorizationDetails",
    "Decision",
    "Entity",
    "ManagedPolicy",
    "Statement",
    "admin_activity",
    "admin_principals",
    "audit",
    "credential_report",
    "decode_policy_document",
    "effective_permissions",
    "evaluate",
    "evaluate_documents",
    "evaluate_many",
    "evaluate_statements",
    "load_authorization_details",
    "managed_policies",
    "parse_statements",
    "principals",
    "privilege_ledger",
    "privileged_principals",
    "role_trust",
    "trust_principals",
]
