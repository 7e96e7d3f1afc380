"""The ingest benchmark runs end to end on a tiny corpus, and its corpus is deterministic.

Timings are not asserted (the machine is shared); what is checked is that the generator
gives byte-identical files for a seed, the shapes the benchmark claims, and that the kit's
contender ingests every record of it.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import Counter
from pathlib import Path

from bench import corpus
from bench import ingest as bench_ingest


def _digest(root: Path) -> dict[str, str]:
    return {
        str(Path(f).relative_to(root)): hashlib.sha256(Path(f).read_bytes()).hexdigest()
        for f in corpus.files(root)
    }


def test_corpus_is_deterministic_and_shaped_like_s3(tmp_path):
    a = corpus.generate(tmp_path / "a", 2000, seed=7, jobs=1)
    b = corpus.generate(tmp_path / "b", 2000, seed=7, jobs=1)
    corpus.generate(tmp_path / "c", 2000, seed=8, jobs=1)
    assert a == b and a["records"] == 2000
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")
    files = corpus.files(tmp_path / "a")
    assert len(files) == a["files"]
    types: Counter[str] = Counter()
    names: Counter[str] = Counter()
    sizes = []
    for f in files:
        parts = Path(f).relative_to(tmp_path / "a").parts
        assert parts[0] == "AWSLogs" and parts[2] == "CloudTrail" and len(parts) == 8
        assert parts[-1].startswith(f"{parts[1]}_CloudTrail_{parts[3]}_") and parts[-1].endswith(".json.gz")
        recs = json.loads(gzip.decompress(Path(f).read_bytes()))["Records"]
        sizes.append(len(recs))
        for r in recs:
            types[r["userIdentity"]["type"]] += 1
            names[r["eventName"]] += 1
            assert 600 < len(json.dumps(r, separators=(",", ":"))) < 4000
    assert sum(sizes) == 2000 and all(corpus.MIN_FILE <= n <= corpus.MAX_FILE for n in sizes)
    assert {"IAMUser", "AssumedRole", "AWSService", "Root"} <= set(types)
    assert {"GetObject", "AssumeRole", "ConsoleLogin", "RunInstances", "Decrypt"} <= set(names)
    # A second call with the same arguments reuses the finished corpus.
    assert corpus.generate(tmp_path / "a", 2000, seed=7) == a


def test_bench_runs_the_kit_and_the_floor(tmp_path, capsys):
    out = tmp_path / "out"
    report = tmp_path / "figures.json"
    # Someone else's case next to the bench's scratch: the bench must not delete it.
    (out / "case-1").mkdir(parents=True)
    (out / "case-1" / "case.json").write_text("{}")
    rc = bench_ingest.main(
        [
            "--records", "2000", "--seed", "3", "--corpus-dir", str(tmp_path / "corpus"),
            "--out", str(out), "--only", "floor,kit-1", "--json", str(report),
        ]
    )  # fmt: skip
    assert rc == 0
    text = capsys.readouterr().out
    assert "iamforensics ingest, 1 worker" in text and "parse floor" in text
    figures = json.loads(report.read_text())
    rows = {r["name"]: r for _, r in figures["rows"]}
    assert rows["kit-1"]["records"] == 2000 and rows["kit-1"]["written"] == 2000
    assert rows["floor"]["records"] == 2000
    assert all(r["seconds"] > 0 and r["rss_max_mb"] > 0 for r in rows.values())
    assert [p.name for p in out.iterdir()] == ["case-1"] and (out / "case-1" / "case.json").exists()
