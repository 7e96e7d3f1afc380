"""Detections: a built-in rule pack mapped to ATT&CK, Sigma rules, and one findings table.

- :mod:`.engine`: rules as YAML data (``rules/*.yml``) compiled to parameterized DuckDB queries.
- :mod:`.sigma`: Sigma rules parsed by pySigma, fields mapped by a processing pipeline, run by DuckDB.
- :mod:`.findings`: one findings table for both, ``hunt`` (writes findings.parquet/.csv) and the CLI.

Examples
--------
>>> from iamforensics.detections import findings, load_rules  # doctest: +SKIP
>>> findings(case, sigma="rules/aws", min_severity="medium")  # doctest: +SKIP
"""

from __future__ import annotations

from .engine import SEVERITIES, Rule, RuleError, load_rules, run_rule
from .findings import FINDINGS_COLUMNS, HuntResult, findings, format_hunt, hunt, register_cli, write_findings
from .sigma import cloudtrail_pipeline, load_sigma, run_sigma

__all__ = [
    "FINDINGS_COLUMNS",
    "SEVERITIES",
    "HuntResult",
    "Rule",
    "RuleError",
    "cloudtrail_pipeline",
    "findings",
    "format_hunt",
    "hunt",
    "load_rules",
    "load_sigma",
    "register_cli",
    "run_rule",
    "run_sigma",
    "write_findings",
]
