"""iamforensics: investigate AWS accounts from their CloudTrail logs.

Examples
--------
>>> import iamforensics as ifx
>>> report = ifx.ingest(["data/samples"], "out/case")  # doctest: +SKIP
>>> case = ifx.open_case("out/case")  # doctest: +SKIP
>>> case.events(actor="arn:aws:iam::111111111111:user/alice")  # doctest: +SKIP
"""

from __future__ import annotations

__version__ = "0.1.0"

from .case import Case, open_case  # noqa: E402
from .errors import IamForensicsError  # noqa: E402
from .ingest import ingest  # noqa: E402

__all__ = ["Case", "IamForensicsError", "__version__", "ingest", "open_case"]
