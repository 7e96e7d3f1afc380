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
from typing import TYPE_CHECKING

from . import __version__
from .errors import IamForensicsError

if TYPE_CHECKING:
    from .sources_s3 import S3Options

Handler = Callable[[argparse.Namespace], int]

#: Modules that define ``register_cli(subparsers)`` for their own subcommands.
COMMAND_MODULES: tuple[str, ...] = (
    "integrity",
    "samples",
    "detections.findings",
    "iam.cli",
    "analysis.sessions",
    "analysis.cli",
    "report.cli",
    "ddl",
)


def _s3_options(args: argparse.Namespace) -> S3Options | None:
    from .errors import EvidenceError
    from .sources_s3 import S3Options, parse_day

    def csv_list(values: list[str] | None) -> tuple[str, ...]:
        return tuple(v.strip() for item in values or [] for v in item.split(",") if v.strip())

    given = [args.profile, args.endpoint_url, args.accounts, args.regions, args.start, args.end]
    if not any(e.startswith("s3://") for e in args.evidence):
        if any(given):
            raise EvidenceError(
                "--profile/--endpoint-url/--accounts/--regions/--start/--end apply to s3:// evidence"
            )
        return None
    start, end = parse_day(args.start), parse_day(args.end)
    if start and end and start > end:
        raise EvidenceError(f"--start {start} is after --end {end}")
    return S3Options(
        profile=args.profile,
        endpoint_url=args.endpoint_url,
        accounts=csv_list(args.accounts),
        regions=csv_list(args.regions),
        start=start,
        end=end,
    )


def _ingest(args: argparse.Namespace) -> int:
    from .ingest import ingest

    if args.scheduler and args.engine != "dask":
        from .errors import EvidenceError

        raise EvidenceError("--scheduler applies to --engine dask")
    if args.engine == "dask":
        from .ingest_dask import ingest_dask

        report = ingest_dask(
            args.evidence,
            args.case,
            scheduler=args.scheduler,
            workers=args.jobs or 2,
            strict=args.strict,
            fmt=args.format,
            progress=not args.quiet,
            s3=_s3_options(args),
        )
    else:
        report = ingest(
            args.evidence,
            args.case,
            jobs=args.jobs,
            strict=args.strict,
            fmt=args.format,
            progress=not args.quiet,
            s3=_s3_options(args),
        )
    print(report.summary())
    unreadable = [r for r in report.sources if r.get("unreadable")]
    if unreadable:
        from .errors import EvidenceError

        first = unreadable[0]
        raise EvidenceError(
            f"{len(unreadable)} evidence file(s) could not be read, the rest was ingested "
            f"(first: {first['source']}: {first['error']})"
        )
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
    s.add_argument(
        "evidence", nargs="+", help="files, folders, globs, .zip/.tar(.gz) archives, s3://bucket/prefix"
    )
    s.add_argument("--case", required=True, help="case folder (created when missing)")
    s.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")
    s.add_argument("--strict", action="store_true", help="stop at the first problem")
    s.add_argument("--format", default=None, help="force a reader (see 'iamforensics formats')")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.add_argument(
        "--engine",
        choices=("local", "dask"),
        default="local",
        help="local worker processes, or Dask workers (a LocalCluster of --jobs processes, default 2)",
    )
    s.add_argument(
        "--scheduler", default=None, help="Dask scheduler address (tcp://host:8786) for --engine dask"
    )
    g = s.add_argument_group(
        "S3 evidence (s3://bucket/prefix)",
        "Read straight from S3 with the standard AWS credential chain, no local copy. "
        "--accounts/--regions/--start/--end prune the listing to the matching "
        "AWSLogs/[o-org/]<account>/CloudTrail/<region>/YYYY/MM/DD/ folders. Those folders are "
        "the DELIVERY date, not the event date, so one day of margin is added on each side; "
        "every event of a selected file is ingested.",
    )
    g.add_argument("--profile", default=None, help="AWS profile from the shared config/credentials files")
    g.add_argument("--endpoint-url", default=None, help="S3 endpoint (default: AWS, or AWS_ENDPOINT_URL)")
    g.add_argument("--accounts", action="append", help="account ids to read (comma-separated or repeated)")
    g.add_argument("--regions", action="append", help="regions to read (comma-separated or repeated)")
    g.add_argument(
        "--start", default=None, help="first event date, YYYY-MM-DD (UTC; folders from the day before)"
    )
    g.add_argument("--end", default=None, help="last event date, YYYY-MM-DD (UTC; folders to the day after)")
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


def _one_line(exc: BaseException) -> str:
    # Messages can quote evidence (file names, JSON errors); keep the promise of one line.
    return " ".join(str(exc).split())


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except IamForensicsError as exc:
        print(f"iamforensics: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:  # the case folder cannot be written, a disk is full...
        print(f"iamforensics: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("iamforensics: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
