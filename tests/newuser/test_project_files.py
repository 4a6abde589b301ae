"""What a project people pick up has: its license, and pre-commit running `make test`'s checks."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_the_license_file_is_the_mit_license_the_metadata_names() -> None:
    license_text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert license_text.startswith("MIT License")
    assert "the Printernizer project contributors" in license_text
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == {"text": "MIT"}


def test_pre_commit_runs_the_checks_make_test_runs() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    entries = {hook["entry"] for repo in config["repos"] for hook in repo["hooks"]}
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    test_target = re.search(r"^test: (.*)$", makefile, re.M)
    assert test_target is not None
    checks = {f"make {name}" for name in ("lint", "typecheck")}
    assert entries == checks
    assert {"lint", "typecheck"} <= set(test_target.group(1).split())
