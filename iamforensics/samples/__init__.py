"""Sample evidence: a deterministic week of CloudTrail with a compromise inside, and its answer key.

``generate(out_dir)`` writes, under ``out_dir``:

* ``AWSLogs/...``: gzip trail files in S3 delivery layout for two accounts (production
  ``058264710392``, development ``210987654321``), each with its own trail, plus an
  organization trail (``AWSLogs/o-.../<account>/CloudTrail/...``) that repeats their
  management events byte for byte;
* ``ANSWERS.yaml``: what an investigation must find (see ``data/samples/README.md``).

The same seed gives the same bytes. ``scale`` multiplies the background volume (the scenario
stays the same) and output streams hour by hour, so large corpora for benchmarks never sit in
memory.

Examples
--------
>>> from iamforensics.samples import generate
>>> report = generate("out/samples")  # doctest: +SKIP
>>> report.stats.records  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import IamForensicsError
from .answers import build_answers
from .background import hour_events
from .people import people_plan
from .rare_identities import rare_plan
from .scenario import build_story
from .world import BASE, DAY, DEV, HOUR, ORG_ID, PROD, build_world
from .writer import SLOT, DeliveryWriter, Stats, Trail

DEFAULT_SEED = 20240506
#: The scenario runs from the first to the fifth day.
MIN_DAYS = 5


@dataclass
class GenerateReport:
    out_dir: Path
    stats: Stats
    seconds: float
    answers: dict[str, Any]

    def summary(self) -> str:
        s = self.stats
        rate = s.records / self.seconds if self.seconds else 0.0
        return (
            f"{self.out_dir}: {s.files} files, {s.records} records ({s.events - s.unlogged} events, "
            f"{s.duplicates} duplicates from the organization trail), {s.bytes / 1e6:.1f} MB gzip, "
            f"{self.seconds:.1f} s ({rate:,.0f} records/s)"
        )


def generate(
    out_dir: str | Path,
    *,
    days: int = 7,
    scale: int = 1,
    seed: int = DEFAULT_SEED,
    overwrite: bool = False,
) -> GenerateReport:
    """Write the sample evidence and its answer key under ``out_dir``.

    Parameters
    ----------
    out_dir : folder to write ``AWSLogs/`` and ``ANSWERS.yaml`` into (created when missing).
    days : length of the week from 2024-05-06 (the scenario needs at least 5).
    scale : background volume multiplier (1 is about 2,000 events a day).
    seed : the same seed gives byte-identical output.
    overwrite : replace an existing ``out_dir/AWSLogs`` (otherwise an error).

    Examples
    --------
    >>> generate("out/big", scale=100, seed=7).stats.records  # doctest: +SKIP
    """
    if days < MIN_DAYS:
        raise IamForensicsError(f"--days must be at least {MIN_DAYS}: the scenario spans five days")
    if scale < 1:
        raise IamForensicsError("--scale must be a positive integer")
    out = Path(out_dir)
    logs = out / "AWSLogs"
    if logs.exists() and any(logs.iterdir()):
        if not overwrite:
            raise IamForensicsError(f"{logs} already exists: remove it or pass overwrite=True (--force)")
        shutil.rmtree(logs)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    w = build_world(seed)
    story = build_story(w)
    trails = [
        Trail("acme-prod-trail", (PROD,), data=True, gaps=story.gaps.get("acme-prod-trail", [])),
        Trail("acme-dev-trail", (DEV,), gaps=story.gaps.get("acme-dev-trail", [])),
        Trail("acme-org-trail", (PROD, DEV), org_id=ORG_ID),
    ]
    writer = DeliveryWriter(out, trails, seed)
    scripted: dict[int, list[tuple[int, dict[str, Any]]]] = {}
    for t, rec in story.events:
        scripted.setdefault(t - t % HOUR, []).append((t, rec))
    end = BASE + days * DAY
    for h in range(BASE, end, HOUR):
        day = h - h % DAY
        near = [day - DAY, day] if day > BASE else [day]  # sessions may cross midnight
        plans = [people_plan(w, d) for d in near] + [rare_plan(w, d) for d in near]
        writer.add(hour_events(w, h, scale, plans))
        writer.add(scripted.get(h, []))
        # later chunks hold events at or after h + HOUR, delivered at h + HOUR + SLOT at the earliest
        writer.flush(before=h + HOUR + SLOT)
    writer.flush()
    people = [people_plan(w, d) for d in range(BASE, end, DAY)]
    answers = build_answers(w, story, people, trails, writer.stats, days, scale)
    text = yaml.dump(answers, Dumper=_Dumper, sort_keys=False, width=120, allow_unicode=True)
    header = (
        "# Answer key of the sample evidence, written by iamforensics.samples.generate();\n"
        "# do not edit: regenerate. Structure: data/samples/README.md.\n"
    )
    (out / "ANSWERS.yaml").write_text(header + text, encoding="utf-8")
    return GenerateReport(out, writer.stats, time.perf_counter() - started, answers)


def load_answers(folder: str | Path) -> dict[str, Any]:
    """The answer key of generated evidence (``folder/ANSWERS.yaml``) as plain data.

    Examples
    --------
    >>> key = load_answers("data/samples")  # doctest: +SKIP
    >>> key["leaked_key"]["access_key_id"]  # doctest: +SKIP
    'AKIA...'
    """
    path = Path(folder) / "ANSWERS.yaml"
    if not path.is_file():
        raise IamForensicsError(
            f"{path} not found: generate the evidence first (iamforensics samples --out ...)"
        )
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "leaked_key" not in data:
        raise IamForensicsError(f"{path} is not an answer key written by iamforensics.samples")
    return data


class _Dumper(yaml.SafeDumper):
    """Quotes digit-only strings: a YAML 1.2 reader would turn account 058264710392 into a number."""


def _str(dumper: yaml.SafeDumper, s: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", s, style="'" if s.isdigit() else None)


_Dumper.add_representer(str, _str)


def _cli(args: argparse.Namespace) -> int:
    report = generate(args.out, days=args.days, scale=args.scale, seed=args.seed, overwrite=args.force)
    print(report.summary())
    return 0


def register_cli(subparsers: Any) -> None:
    s = subparsers.add_parser(
        "samples",
        help="generate the sample evidence (a week of CloudTrail with a compromise) and its answer key",
    )
    s.add_argument("--out", required=True, help="output folder (AWSLogs/ and ANSWERS.yaml are written there)")
    s.add_argument(
        "--days", type=int, default=7, help=f"days from 2024-05-06 (at least {MIN_DAYS}; default 7)"
    )
    s.add_argument("--scale", type=int, default=1, help="background volume multiplier (default 1)")
    s.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    s.add_argument("--force", action="store_true", help="replace an existing OUT/AWSLogs")
    s.set_defaults(func=_cli)


__all__ = ["DEFAULT_SEED", "GenerateReport", "generate", "load_answers", "register_cli"]
