"""config.yaml, build.yaml, repository.yaml and translations checked against the add-on rules.

The rules are transcribed from the Supervisor (supervisor/addons/validate.py, options.py,
const.py) and from the add-on linter (frenck/action-addon-linter), which rejects keys that
repeat a default and obsolete keys.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.addon.addon_paths import ADDON, ROOT, load_yaml

# supervisor/addons/const.py RE_SLUG, plus the Home Assistant convention (lowercase, "_").
RE_SLUG = re.compile(r"^[-_.A-Za-z0-9]+$")
RE_SLUG_CONVENTION = re.compile(r"^[a-z][a-z0-9_]*$")
# supervisor/addons/options.py RE_SCHEMA_ELEMENT
RE_SCHEMA_ELEMENT = re.compile(
    r"^(?:"
    r"|bool"
    r"|email"
    r"|url"
    r"|port"
    r"|device(?:\((?P<filter>subsystem=[a-z]+)\))?"
    r"|str(?:\((?P<s_min>\d+)?,(?P<s_max>\d+)?\))?"
    r"|password(?:\((?P<p_min>\d+)?,(?P<p_max>\d+)?\))?"
    r"|int(?:\((?P<i_min>-?\d+)?,(?P<i_max>-?\d+)?\))?"
    r"|float(?:\((?P<f_min>-?\d*\.?\d+)?,(?P<f_max>-?\d*\.?\d+)?\))?"
    r"|match\((?P<match>.*)\)"
    r"|list\((?P<list>.+)\)"
    r")\??$"
)
# supervisor/validate.py docker_ports / webui; supervisor/addons/validate.py build images.
RE_PORT_KEY = re.compile(r"^\d+(?:/(?:tcp|udp))?$")
RE_WEBUI = re.compile(r"^(?:https?|\[PROTO:\w+\]):\/\/\[HOST\]:\[PORT:\d+\].*$")
RE_DOCKER_IMAGE_BUILD = re.compile(
    r"^([a-zA-Z\-\.:\d{}]+/)*?([\-\w{}]+)/([\-\w{}]+)(:[\.\-\w{}]+)?$"
)
RE_VERSION = re.compile(r"^\d+\.\d+\.\d+$")

ARCH_ALL = {"aarch64", "amd64", "armhf", "armv7", "i386"}
# 32-bit architectures are deprecated since Home Assistant 2025.12; the linter warns.
ARCH_DEPRECATED = {"armhf", "armv7", "i386"}
REQUIRED_KEYS = {"name", "version", "slug", "description", "arch"}
# Every key _SCHEMA_ADDON_CONFIG knows (anything else the Supervisor silently drops).
KNOWN_KEYS = REQUIRED_KEYS | {
    "machine", "url", "startup", "boot", "init", "advanced", "stage", "ports",
    "ports_description", "watchdog", "webui", "ingress", "ingress_port", "ingress_entry",
    "ingress_stream", "panel_icon", "panel_title", "panel_admin", "homeassistant",
    "host_network", "host_pid", "host_ipc", "host_uts", "host_dbus", "devices", "udev",
    "tmpfs", "map", "environment", "privileged", "apparmor", "full_access", "audio", "video",
    "gpio", "usb", "uart", "devicetree", "kernel_modules", "realtime", "hassio_api",
    "hassio_role", "homeassistant_api", "stdin", "legacy", "docker_api", "auth_api",
    "services", "discovery", "backup_exclude", "backup_pre", "backup_post", "restore_pre",
    "restore_post", "backup", "options", "schema", "image", "ulimits", "timeout", "journald",
    "breaking_versions",
}  # fmt: skip
# The Supervisor's defaults: stating one of them is a linter error.
DEFAULTS: dict[str, Any] = {
    "startup": "application", "boot": "auto", "init": True, "advanced": False,
    "stage": "stable", "ingress": False, "ingress_port": 8099, "ingress_stream": False,
    "panel_icon": "mdi:puzzle", "panel_admin": True, "host_network": False, "host_pid": False,
    "host_ipc": False, "host_uts": False, "host_dbus": False, "udev": False, "tmpfs": False,
    "apparmor": True, "full_access": False, "audio": False, "video": False, "gpio": False,
    "usb": False, "uart": False, "devicetree": False, "kernel_modules": False,
    "realtime": False, "hassio_api": False, "hassio_role": "default",
    "homeassistant_api": False, "stdin": False, "legacy": False, "docker_api": False,
    "auth_api": False, "backup": "hot", "timeout": 10, "journald": False, "options": {},
    "schema": {}, "map": [], "ulimits": {}, "breaking_versions": [],
}  # fmt: skip
# Keys the Supervisor migrates with a warning or the linter reports as obsolete.
OBSOLETE_KEYS = {
    "auto_uart", "codenotary", "watchdog", "snapshot", "snapshot_exclude", "snapshot_pre",
    "snapshot_post",
}  # fmt: skip
BUILD_KEYS = {"build_from", "args", "labels"}


def project_version() -> str:
    """The version in pyproject.toml."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return str(data["project"]["version"])


def test_required_keys_have_the_right_types(config: dict[str, Any]) -> None:
    assert config.keys() >= REQUIRED_KEYS
    for key in ("name", "version", "slug", "description"):
        assert isinstance(config[key], str), f"{key} must be a string"
        assert config[key].strip(), f"{key} must not be empty"
    assert isinstance(config["arch"], list)


def test_only_known_keys(config: dict[str, Any]) -> None:
    unknown = set(config) - KNOWN_KEYS
    assert not unknown, f"keys the Supervisor does not know (it would drop them): {unknown}"


def test_no_key_repeats_a_default(config: dict[str, Any]) -> None:
    repeated = [key for key, default in DEFAULTS.items() if config.get(key, object()) == default]
    assert not repeated, f"keys that only repeat the Supervisor's default: {repeated}"


def test_no_obsolete_keys(config: dict[str, Any]) -> None:
    assert not OBSOLETE_KEYS & config.keys(), "obsolete keys (the add-on linter rejects them)"
    assert config.get("startup") not in {"before", "after"}
    assert all(isinstance(entry, dict) for entry in config.get("map", [])), "map: use the dict form"


def test_version_matches_the_package(config: dict[str, Any]) -> None:
    assert RE_VERSION.match(config["version"])
    assert config["version"] == project_version()


def test_slug(config: dict[str, Any]) -> None:
    assert RE_SLUG.match(config["slug"])
    assert RE_SLUG_CONVENTION.match(config["slug"])
    assert config["slug"] == "printernizer_usage_aggregation"


def test_arch_values(config: dict[str, Any]) -> None:
    arch = config["arch"]
    assert arch, "at least one architecture"
    assert len(arch) == len(set(arch))
    assert set(arch) <= ARCH_ALL
    assert not set(arch) & ARCH_DEPRECATED, "32-bit architectures are deprecated"


def test_init_is_off_for_s6_overlay(config: dict[str, Any]) -> None:
    # The base image runs s6-overlay v3 as PID 1; Docker's tini in front of it breaks it.
    assert config["init"] is False


def test_url(config: dict[str, Any]) -> None:
    url = urlparse(config["url"])
    assert url.scheme == "https" and url.netloc
    assert "webui" not in config or RE_WEBUI.match(config["webui"])


def test_dashboard_opens_in_the_sidebar_through_ingress(config: dict[str, Any]) -> None:
    from aggregation.app import create_app
    from aggregation.settings import Settings

    assert config["ingress"] is True
    assert "webui" not in config, "the linter rejects webui beside ingress"
    # Ingress talks to the server's own port (the one the run script starts it on).
    assert config["ingress_port"] == 8080
    assert f"{config['ingress_port']}/tcp" in config["ports"], "submissions stay published"
    assert re.fullmatch(r"mdi:[a-z0-9]+(?:-[a-z0-9]+)*", config["panel_icon"])
    assert config["panel_title"].strip() and len(config["panel_title"]) <= 30
    # The panel opens a page the server really serves (no leading slash: the Supervisor
    # appends the entry to /api/hassio_ingress/<token>/).
    entry = config["ingress_entry"]
    assert not entry.startswith("/")
    app = create_app(Settings(database_url="sqlite:///:memory:"))
    adapter = app.url_map.bind("localhost")
    assert adapter.match(f"/{entry}", method="GET")[0] == "dashboard.index"


def test_ports_format(config: dict[str, Any]) -> None:
    ports = config["ports"]
    assert ports == {"8080/tcp": 8080}
    for key, value in ports.items():
        assert RE_PORT_KEY.match(key)
        assert value is None or (isinstance(value, int) and 1 <= value <= 65535)
    descriptions = config["ports_description"]
    assert set(descriptions) == set(ports), "every port has exactly one description"
    assert all(isinstance(text, str) and text.strip() for text in descriptions.values())


def test_ingress_is_consistent(config: dict[str, Any]) -> None:
    # The linter: webui and ingress exclude each other; ingress_port 0 needs host_network.
    if config.get("ingress"):
        assert "webui" not in config
        assert config.get("ingress_port", 8099) != 0 or config.get("host_network")
    else:
        assert not {"ingress_port", "ingress_entry", "ingress_stream", "panel_icon"} & set(config)


def _is_optional(element: str) -> bool:
    return element.endswith("?")


def test_every_schema_element_is_valid(config: dict[str, Any]) -> None:
    for key, element in config["schema"].items():
        assert isinstance(element, str), f"{key}: nested schemas are not used here"
        assert RE_SCHEMA_ELEMENT.match(element), f"{key}: {element!r} is not a schema type"


def test_options_and_schema_agree(config: dict[str, Any]) -> None:
    options, schema = config["options"], config["schema"]
    assert set(options) <= set(schema), "every option needs a schema entry"
    required = {key for key, element in schema.items() if not _is_optional(element)}
    # The Supervisor refuses to start when a required option is absent; optional ones
    # ("?") are left out of options so they show up as unused optional settings.
    assert required == set(options), "options are exactly the required schema entries"


def _valid_default(element: str, value: Any) -> bool:
    """Whether a default value fits its schema type (as options.py would validate it)."""
    match = RE_SCHEMA_ELEMENT.match(element)
    assert match is not None
    kind = element.rstrip("?").split("(", 1)[0]
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        low, high = match.group("i_min"), match.group("i_max")
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and (low is None or value >= int(low))
            and (high is None or value <= int(high))
        )
    if kind == "list":
        return value in match.group("list").split("|")
    if kind in {"str", "password"}:
        return isinstance(value, str)
    if kind == "port":
        return isinstance(value, int) and 1 <= value <= 65535
    return False


def test_option_defaults_fit_their_types(config: dict[str, Any]) -> None:
    for key, value in config["options"].items():
        element = config["schema"][key]
        if value is None:
            # null = the user must fill it in before the add-on starts.
            assert not _is_optional(element), f"{key}: null only makes sense for required options"
            continue
        assert _valid_default(element, value), f"{key}: default {value!r} does not fit {element}"


def test_brief_option_types(config: dict[str, Any]) -> None:
    schema = config["schema"]
    # The sidebar needs no key (Home Assistant signs in); only the port login and the API do.
    assert schema["api_key"] == "password?"
    assert "api_key" not in config["options"]
    assert schema["submit_key"] == "password?"
    assert schema["smtp_password"] == "password?"
    assert schema["database_url"] == "str?"
    assert schema["rate_limit_per_hour"].startswith("int(1,")
    assert schema["log_level"].startswith("list(")
    assert schema["report_schedule"] == "list(off|weekly|monthly|both)"
    assert schema["public_page"] == "bool"


def test_option_defaults_match_the_server(config: dict[str, Any]) -> None:
    from aggregation.settings import Settings

    defaults = Settings()
    options = config["options"]
    assert options["rate_limit_per_hour"] == defaults.rate_limit_per_hour
    assert options["retention_days"] == defaults.retention_days
    assert options["k_anonymity"] == defaults.k_anonymity
    assert options["log_level"].upper() == defaults.log_level
    assert options["report_schedule"] == defaults.report_schedule
    assert options["public_page"] == defaults.public_page
    assert options["demo_data"] == defaults.demo_data
    # The cookie is Secure exactly when the browser used HTTPS: no option for it.
    assert "session_cookie_secure" not in config["schema"]


def test_build_yaml(config: dict[str, Any], build: dict[str, Any]) -> None:
    assert set(build) <= BUILD_KEYS, "squash is gone (BuildKit) and nothing else is known"
    build_from = build["build_from"]
    assert set(build_from) == set(config["arch"]), "one base image per architecture"
    for arch, image in build_from.items():
        assert RE_DOCKER_IMAGE_BUILD.match(image)
        assert re.fullmatch(
            rf"ghcr\.io/home-assistant/{arch}-base-python:3\.13-alpine3\.\d+", image
        ), f"{arch}: Home Assistant's Python 3.13 base image, got {image}"
    for section in ("args", "labels"):
        for key, value in build.get(section, {}).items():
            assert isinstance(key, str) and isinstance(value, str), f"{section}.{key}"


def test_repository_yaml(build: dict[str, Any], config: dict[str, Any]) -> None:
    repository = load_yaml(ROOT / "repository.yaml")
    assert set(repository) <= {"name", "url", "maintainer"}
    assert repository["name"].strip() and repository["maintainer"].strip()
    url = repository["url"]
    assert urlparse(url).scheme == "https"
    # One project URL everywhere: the store link, the add-on page and the release archive.
    assert build["args"]["PACKAGE_REPOSITORY"] == url
    assert config["url"].startswith(url)


def test_translations_cover_every_option(
    config: dict[str, Any], translations: dict[str, Any]
) -> None:
    assert set(translations) <= {"configuration", "network"}
    configuration = translations["configuration"]
    assert set(configuration) == set(config["schema"]), "a name for every option, nothing else"
    for key, entry in configuration.items():
        assert set(entry) <= {"name", "description"}, key
        assert isinstance(entry["name"], str) and entry["name"].strip(), key
        assert isinstance(entry["description"], str) and entry["description"].strip(), key
    assert set(translations["network"]) == set(config["ports"])


def test_docs_describe_every_option(config: dict[str, Any]) -> None:
    docs = (ADDON / "DOCS.md").read_text(encoding="utf-8")
    missing = [key for key in config["schema"] if f"`{key}`" not in docs]
    assert not missing, f"DOCS.md does not describe: {missing}"
    assert (ADDON / "README.md").read_text(encoding="utf-8").strip()
    changelog = (ADDON / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## {config['version']}" in changelog, "CHANGELOG.md has an entry for this version"


def test_requirements_are_the_lock_files_pins() -> None:
    from tests.addon.pins import ADDON_REQUIREMENTS, expected_requirements

    assert ADDON_REQUIREMENTS.read_text(encoding="utf-8") == expected_requirements(), (
        "addon/install/requirements.txt is stale; regenerate it with `make lock`"
    )


@pytest.mark.parametrize("name", ["config.yaml", "build.yaml", "translations/en.yaml"])
def test_yaml_files_parse_to_mappings(name: str) -> None:
    assert isinstance(load_yaml(ADDON / name), dict)
