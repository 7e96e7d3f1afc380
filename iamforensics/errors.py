"""The kit's exceptions: one base class and a few subclasses.

Expected problems (a missing path, unreadable evidence, a folder that is not a case)
raise one of these; the CLI prints their message on one line and exits non-zero.
"""

from __future__ import annotations


class IamForensicsError(Exception):
    """Base class of every error this kit raises on purpose."""


class EvidenceError(IamForensicsError):
    """Evidence cannot be found, opened or parsed (names the file and position)."""


class CaseError(IamForensicsError):
    """A case folder is missing, not a case, or inconsistent."""


class AccountingError(CaseError):
    """The ingest accounting identity read == written + duplicates + quarantined failed."""


class QueryError(IamForensicsError):
    """A query or analysis was asked something it cannot answer (bad column, bad option)."""
