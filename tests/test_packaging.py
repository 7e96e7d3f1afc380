"""environment.yml installs the same kit as pyproject.toml."""

from __future__ import annotations

import re
import tomllib

import yaml

from tests.conftest import ROOT

# conda-forge names that differ from PyPI names.
CONDA_NAMES = {"duckdb": "python-duckdb", "pyyaml": "pyyaml"}


def _name(spec: str) -> str:
    return re.split(r"[<>=!~\[ ;]", spec, maxsplit=1)[0].strip().lower()


def test_environment_yml_matches_pyproject():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda: set[str] = set()
    pip: set[str] = set()
    for d in env["dependencies"]:
        if isinstance(d, dict):
            pip |= {_name(x) for x in d["pip"] if not x.startswith("-")}
        else:
            conda.add(_name(d))
    wanted = {_name(d) for d in deps}
    have = {n for n in wanted if CONDA_NAMES.get(n, n) in conda or n in pip}
    assert wanted == have, f"missing from environment.yml: {sorted(wanted - have)}"
    extra = {n for n in conda if n not in {"python", "pip"}} - {CONDA_NAMES.get(n, n) for n in wanted}
    assert not extra, f"in environment.yml but not pyproject.toml: {sorted(extra)}"
    assert "-e ." in next(d for d in env["dependencies"] if isinstance(d, dict))["pip"]
