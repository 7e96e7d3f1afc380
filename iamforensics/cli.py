"""Command line: a thin layer over the same functions the notebooks call.

Each subcommand lives in a ``register_<name>`` function below or in the module that owns
it (listed in ``COMMAND_MODULES``), so features add commands without editing each other.
Expected problems exit with status 2 and one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from . import __version__
from .errors import IamForensicsError

Handler = Callable[[argparse.Namespace], int]

#: Modules that define ``register_cli(subparsers)`` for their own subcommands.
COMMAND_MODULES: tuple[str, ...] = (
    "integrity",
)


def _ingest(args: argparse.Namespace) -> int:
    from .ingest import ingest

    report = ingest(
        args.evidence,
        args.case,
        jobs=args.jobs,
        strict=args.strict,
        fmt=args.format,
        progress=not args.quiet,
    )
    print(report.summary())
    return 0


def _info(args: argparse.Namespace) -> int:
    import json

    from .case import open_case
    from .info import format_info

    info = open_case(args.case).info()
    print(json.dumps(info, indent=2, default=str) if args.json else format_info(info))
    return 0


def _formats(args: argparse.Namespace) -> int:
    from .readers import REGISTRY

    for name, reader in sorted(REGISTRY.items()):
        print(f"{name:<16} {reader.description}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="iamforensics", description="Investigate AWS accounts from CloudTrail.")
    p.add_argument("--version", action="version", version=f"iamforensics {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("ingest", help="ingest evidence into a case folder")
    s.add_argument("evidence", nargs="+", help="files, folders, globs, .zip/.tar(.gz) archives")
    s.add_argument("--case", required=True, help="case folder (created when missing)")
    s.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")
    s.add_argument("--strict", action="store_true", help="stop at the first problem")
    s.add_argument("--format", default=None, help="force a reader (see 'iamforensics formats')")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_ingest)

    s = sub.add_parser("info", help="summary of a case")
    s.add_argument("--case", required=True)
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(func=_info)

    s = sub.add_parser("formats", help="list the evidence formats")
    s.set_defaults(func=_formats)

    for mod in COMMAND_MODULES:
        importlib.import_module(f"iamforensics.{mod}").register_cli(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except IamForensicsError as exc:
        print(f"iamforensics: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("iamforensics: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
