"""STS session tracing: attribute every event to the identity behind it.

A session is a set of temporary credentials. Sessions are built from the events that issue
them (AssumeRole, AssumeRoleWithSAML, AssumeRoleWithWebIdentity, GetSessionToken,
GetFederationToken, AssumeRoot, console sign-in of IAM users and root, console switch-role,
Identity Center GetRoleCredentials, credentials AWS services deliver) and from the temporary
keys seen in use. Events link to sessions by access key; where the key is not carried
(console switch-role, Identity Center, console sessions that mint fresh keys) by role +
session name + creationDate matching the issuance time to the second + account. Each event
gets ``session_id``, ``origin`` (the long-term identity at the root of its chain),
``chain_depth`` and ``attribution`` (exact-key, fallback, ambiguous, none): ambiguity is
shown, never guessed.

* :func:`sessions` (also ``Case.sessions()``): one row per session.
* :func:`attribute`: events with their session columns; :func:`event_origins`;
  :func:`export_attribution` writes them per event to Parquet.
* :func:`trace` / :func:`trace_events`: the tree below a key, a session or an identity.
* :func:`origin_of`: the chain from one event back to its origin.
* :func:`flags`: stolen credentials (new network), use after expiry, cross-account chains,
  IAM writes without MFA.
* CLI: ``iamforensics trace --case DIR (--key K | --session ID | --actor ARN)``.

Examples
--------
>>> from iamforensics.analysis import sessions as st
>>> st.trace(case, access_key_id="AKIALXRK7KTX2MSKAWTN")  # doctest: +SKIP
>>> st.origin_of(case, "8d9584b9-99c6-4ab3-a128-d3ac97fd1625")  # doctest: +SKIP
"""

from __future__ import annotations

from .build import ALGORITHM_VERSION, FALLBACK_TOLERANCE_S, KINDS, SESSION_COLUMNS
from .cli import format_tree, register_cli
from .flags import FLAGS, flags, network
from .table import export_attribution
from .trace import (
    ATTRIBUTION_COLUMNS,
    ATTRIBUTIONS,
    attribute,
    event_origins,
    origin_of,
    sessions,
    trace,
    trace_events,
)

__all__ = [
    "ALGORITHM_VERSION",
    "ATTRIBUTIONS",
    "ATTRIBUTION_COLUMNS",
    "FALLBACK_TOLERANCE_S",
    "FLAGS",
    "KINDS",
    "SESSION_COLUMNS",
    "attribute",
    "event_origins",
    "export_attribution",
    "flags",
    "format_tree",
    "network",
    "origin_of",
    "register_cli",
    "sessions",
    "trace",
    "trace_events",
]
