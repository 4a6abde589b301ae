"""The pinned runtime dependencies the add-on image needs: the project's runtime lock."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements" / "lock.txt"
RUN_LOCK = ROOT / "requirements" / "run.txt"
PYPROJECT = ROOT / "pyproject.toml"
ADDON_REQUIREMENTS = ROOT / "addon" / "install" / "requirements.txt"


def canonical(name: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_pins(lock: Path = LOCK) -> dict[str, str]:
    """Every `name==version` pin of a lock file (requirements/lock.txt unless told)."""
    pins: dict[str, str] = {}
    for raw in lock.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[canonical(name.split("[", 1)[0])] = version.strip().split(";", 1)[0].strip()
    return pins


def _direct_requirements() -> list[Requirement]:
    """The project's base dependencies plus its `server` extra, as declared in pyproject.toml."""
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["server"]]
    return [Requirement(item) for item in declared]


def server_closure() -> set[str]:
    """Names of every distribution the server needs at run time (transitively, markers applied).

    The dependency graph comes from the installed distributions of the development venv,
    whose versions are exactly the lock file's.
    """
    seen: set[str] = set()
    pending = [req for req in _direct_requirements() if _applies(req, "")]
    while pending:
        req = pending.pop()
        name = canonical(req.name)
        if name in seen:
            continue
        seen.add(name)
        extras = req.extras or {""}
        for raw in metadata.requires(req.name) or []:
            child = Requirement(raw)
            if any(_applies(child, extra) for extra in extras):
                pending.append(child)
    return seen


def _applies(req: Requirement, extra: str) -> bool:
    """Whether a requirement's marker holds on Linux/CPython 3.13 for the given extra."""
    if req.marker is None:
        return True
    return req.marker.evaluate({"extra": extra})


def expected_requirements() -> str:
    """The text addon/install/requirements.txt must have (`make lock` writes it)."""
    lines = [
        "# Runtime dependencies of the aggregation server: requirements/run.txt, copied here",
        "# because the add-on is built from addon/ alone. Regenerate with `make lock`.",
    ]
    lines += [f"{name}=={version}" for name, version in lock_pins(RUN_LOCK).items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(expected_requirements(), end="")
