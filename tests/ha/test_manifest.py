"""What hassfest and HACS validation check (they run only on GitHub), checked here on every run.

Each check runs against the Home Assistant under test, so both ends of the supported range are
covered: the manifest's requirements must install under that release's own pins.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import homeassistant
import pytest
import yaml
from homeassistant.const import __version__ as HA_VERSION
from homeassistant.util.package import is_installed
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
INTEGRATION = ROOT / "custom_components" / "printernizer_usage"
MANIFEST: dict[str, Any] = json.loads((INTEGRATION / "manifest.json").read_text())
HACS: dict[str, Any] = json.loads((ROOT / "hacs.json").read_text())
# Home Assistant installs an integration's requirements under these pins (`pip -c`).
CONSTRAINTS = Path(homeassistant.__file__).parent / "package_constraints.txt"

# hassfest's requirement pattern (script/hassfest/requirements.py).
PACKAGE_REGEX = re.compile(r"^(?:--.+\s)?([-_,\.\w\d\[\]]+)(==|>=|<=|~=|!=|<|>|===)*(.*)$")
# HACS' hacs.json schema (hacs/action): these keys and no others.
HACS_KEYS = {
    "name",
    "content_in_root",
    "zip_release",
    "filename",
    "hide_default_branch",
    "country",
    "homeassistant",
    "hacs",
    "persistent_directory",
    "render_readme",
}


def _pins(path: Path) -> dict[str, Version]:
    """name -> version for every `name==version` line of a constraints file."""
    pins: dict[str, Version] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        requirement = Requirement(line)
        specs = list(requirement.specifier)
        if len(specs) == 1 and specs[0].operator == "==" and not requirement.marker:
            pins[canonicalize_name(requirement.name)] = Version(specs[0].version)
    return pins


def test_manifest_keys_as_hassfest_wants() -> None:
    """domain and name first, the rest sorted; what a custom integration must carry."""
    keys = list(MANIFEST)
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:])
    for required in ("codeowners", "documentation", "issue_tracker", "version", "iot_class"):
        assert required in MANIFEST
    assert MANIFEST["domain"] == INTEGRATION.name
    assert MANIFEST["integration_type"] in {"device", "hub", "service", "helper"}
    assert MANIFEST["config_flow"] is (INTEGRATION / "config_flow.py").is_file()
    # HACS' brands check: since Home Assistant 2026.3 the integration's own brand/ folder.
    assert (INTEGRATION / "brand" / "icon.png").is_file()
    assert Version(MANIFEST["version"])


def test_requirements_are_ranges_not_pins() -> None:
    """hassfest's format, and no `==`: a pin collides with some release's own pins."""
    for requirement in MANIFEST["requirements"]:
        assert " " not in requirement
        assert PACKAGE_REGEX.match(requirement)
        assert "==" not in requirement, f"{requirement} is pinned"


def test_requirements_match_pyproject() -> None:
    """One list of runtime dependencies: the manifest's are pyproject's less what HA requires."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shipped_by_ha = {"aiohttp"}  # a hard dependency of homeassistant itself
    expected = sorted(
        dep
        for dep in pyproject["project"]["dependencies"]
        if Requirement(dep).name not in shipped_by_ha
    )
    assert sorted(MANIFEST["requirements"]) == expected


def test_requirements_install_under_this_releases_constraints() -> None:
    """What Home Assistant does: keep an installed match, else `pip install -c constraints`.

    A requirement whose package this release pins must admit that pin, or pip ends in
    ResolutionImpossible and Home Assistant refuses to set the integration up.
    """
    pins = _pins(CONSTRAINTS)
    assert "pydantic" in pins, f"{CONSTRAINTS} has no pydantic pin ({HA_VERSION})"
    for line in MANIFEST["requirements"]:
        requirement = Requirement(line)
        pin = pins.get(canonicalize_name(requirement.name))
        if pin is not None:
            assert pin in requirement.specifier, f"{line} excludes {requirement.name}=={pin}"
        # The environment under test satisfies it as Home Assistant checks (no install then).
        assert is_installed(line), f"{line} is not satisfied here ({HA_VERSION})"


@pytest.mark.parametrize("constraints", ["ha-latest-constraints.txt", "ha-boot-constraints.txt"])
def test_requirements_admit_the_newer_releases_pins(constraints: str) -> None:
    """The same check against the committed pins of the newest releases we test and boot, so
    a manifest range that a newer release's pins fall outside fails on every version here."""
    pins = _pins(ROOT / "requirements" / constraints)
    assert "pydantic" in pins and "aiohttp" in pins
    for line in MANIFEST["requirements"]:
        requirement = Requirement(line)
        pin = pins.get(canonicalize_name(requirement.name))
        if pin is not None:
            assert pin in requirement.specifier, f"{line} excludes {requirement.name}=={pin}"


def test_the_booted_release_is_the_newest_end() -> None:
    """requirements/ha-boot.txt names a release no older than the newest one tests/ha runs on."""
    requirements = ROOT / "requirements"
    booted = _pins(requirements / "ha-boot.txt")["homeassistant"]
    assert booted >= _pins(requirements / "ha-latest.txt")["homeassistant"]


def test_pin_check_refuses_the_old_pins() -> None:
    """The check above refuses a pin that is not this release's (as 2.10.6 was on 2026.10)."""
    assert _pins(CONSTRAINTS)["pydantic"] not in Requirement("pydantic==1.10.0").specifier


def test_hacs_json() -> None:
    """Only keys HACS knows; the minimum stays 2025.4.0; a zip release names its file."""
    assert set(HACS) <= HACS_KEYS
    assert HACS["homeassistant"] == "2025.4.0"
    assert Version(HA_VERSION) >= Version(HACS["homeassistant"])
    assert HACS["name"] == MANIFEST["name"]
    if HACS.get("zip_release"):
        assert HACS["filename"] == f"{MANIFEST['domain']}.zip"


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}::"))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _resolve(value: str, own: dict[str, Any], common: dict[str, Any]) -> str | None:
    """The text of a strings.json value; None where it is Home Assistant's common string.

    Home Assistant words its common strings differently from release to release; en.json
    keeps the wording of the release it was generated with, so only the key must exist.
    """
    references = re.findall(r"\[%key:([^%]+)%\]", value)
    for key in references:
        if key.startswith("common::"):
            assert key in common, f"{key} is not in Home Assistant {HA_VERSION}'s strings"
            return None
        assert key in own, f"{key} is not in strings.json"
        value = value.replace(f"[%key:{key}%]", str(_resolve(own[key], own, common)))
    return value


def test_translations_match_strings() -> None:
    """en.json is strings.json with references resolved; other languages have the same keys."""
    common = _flatten(
        json.loads((Path(homeassistant.__file__).parent / "strings.json").read_text())
    )
    strings = _flatten(json.loads((INTEGRATION / "strings.json").read_text()))
    own = {f"component::{MANIFEST['domain']}::{key}": value for key, value in strings.items()}
    english = _flatten(json.loads((INTEGRATION / "translations" / "en.json").read_text()))
    assert set(english) == set(strings)
    for key, value in strings.items():
        text = _resolve(value, own, common)
        assert text is None or english[key] == text, key
    placeholders = re.compile(r"\{(\w+)\}")
    for path in (INTEGRATION / "translations").glob("*.json"):
        other = _flatten(json.loads(path.read_text()))
        assert set(other) == set(english), path.name
        for key, value in other.items():
            assert set(placeholders.findall(value)) == set(placeholders.findall(english[key])), (
                f"{path.name}: {key}"
            )


def test_services_yaml_matches_strings() -> None:
    """Every action and field in services.yaml has a name and description, and no more."""
    services = yaml.safe_load((INTEGRATION / "services.yaml").read_text())
    strings = json.loads((INTEGRATION / "strings.json").read_text())["services"]
    assert set(services) == set(strings)
    for name, spec in services.items():
        assert {"name", "description"} <= set(strings[name])
        fields = set((spec or {}).get("fields", {}))
        assert set(strings[name].get("fields", {})) == fields, name
        for field in fields:
            assert {"name", "description"} <= set(strings[name]["fields"][field])


@pytest.mark.parametrize("name", ["icons.json"])
def test_icons_cover_the_services(name: str) -> None:
    """icons.json names an icon for every action (hassfest's icon check)."""
    icons = json.loads((INTEGRATION / name).read_text())
    services = yaml.safe_load((INTEGRATION / "services.yaml").read_text())
    assert set(icons.get("services", {})) == set(services)


WORKFLOWS = ROOT / ".github" / "workflows"


def _workflow(name: str) -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    return data


def _steps(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def test_validation_workflow_runs_hacs_and_hassfest() -> None:
    """On every push and pull request: HACS' action for an integration, and hassfest."""
    workflow = _workflow("validate.yml")
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert {"push", "pull_request"} <= set(triggers)
    uses = {step["uses"].split("@")[0]: step for step in _steps(workflow) if "uses" in step}
    assert uses["hacs/action"]["with"]["category"] == "integration"
    assert "home-assistant/actions/hassfest" in uses


def test_release_workflow_attaches_what_hacs_downloads() -> None:
    """With zip_release, each published release carries hacs.json's file, zipped from the
    integration's folder (files at the root), and the tag is checked against the manifest."""
    assert HACS.get("zip_release") is True
    workflow = _workflow("release.yml")
    assert workflow[True]["release"]["types"] == ["published"]
    script = "\n".join(step.get("run", "") for step in _steps(workflow))
    assert f"cd custom_components/{MANIFEST['domain']}\n" in script
    assert f'zip -r -X "$GITHUB_WORKSPACE/{HACS["filename"]}" .' in script
    assert f'gh release upload "$GITHUB_REF_NAME" {HACS["filename"]}' in script
    assert "manifest.json" in script and "GITHUB_REF_NAME#v" in script


def test_newest_lock_keeps_that_releases_pins() -> None:
    """requirements/ha-latest.txt (the newest end) installs what that release pins, from an
    unchanged copy of its package_constraints.txt."""
    requirements = ROOT / "requirements"
    lock = _pins(requirements / "ha-latest.txt")
    release_pins = _pins(requirements / "ha-latest-constraints.txt")
    differing = {
        name: (str(lock[name]), str(pin))
        for name, pin in release_pins.items()
        if name in lock and lock[name] != pin
    }
    assert not differing, f"the newest lock differs from the release's pins: {differing}"
    if Version(HA_VERSION) == lock["homeassistant"]:
        copy = (requirements / "ha-latest-constraints.txt").read_text()
        assert copy == CONSTRAINTS.read_text()
