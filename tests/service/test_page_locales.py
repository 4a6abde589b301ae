"""The page's text catalogues (static/locales/*.json): complete, consistent and all in use."""

from __future__ import annotations

import re

import pytest
from printernizer_usage_core.models import DeploymentMode, PrinterType
from printernizer_usage_core.privacy import EVENT_TYPES

from .page_texts import LANGUAGES, LOCALES, PLACEHOLDER, catalogue, forms

PACKAGE = LOCALES.parents[1]
TEMPLATE = (PACKAGE / "templates" / "index.html").read_text(encoding="utf-8")
SCRIPT = (PACKAGE / "static" / "app.js").read_text(encoding="utf-8")
CODE = re.compile(r"`([^`]+)`")
# Keys the page builds at run time from a value: prefix -> the values it can take.
DYNAMIC = {
    "pill": ["off", "on", "sending", "failing", "blocked"],
    "series": ["jobs", "files", "printers", "errors", "other"],
    "event": sorted(EVENT_TYPES),
    "type": sorted(EVENT_TYPES),
    "family": [p.value for p in PrinterType],
    "mode": [m.value for m in DeploymentMode],
    "stat": [
        "jobs_completed",
        "jobs_failed",
        "jobs_created",
        "file_count",
        "upload_count",
        "uptime_hours",
        "printer_connections",
        "app_starts",
        "errors",
    ],
    "collect.yes": [str(n) for n in range(1, 9)],
    "collect.no": [str(n) for n in range(1, 7)],
    "policy": [
        f"{part}.{kind}"
        for part in ("purpose", "optin", "sent", "local", "server", "rights")
        for kind in ("title", "text")
    ],
}
# Entries that are names or the same word in both languages.
SAME_IN_BOTH = {
    "stat.upload_count",
    "facts.title",
    "facts.versions_value",
    "footer.openapi",
    "dialog.token.label",
}


@pytest.mark.parametrize("lang", [x for x in LANGUAGES if x != "en"])
def test_languages_have_the_same_entries(lang: str) -> None:
    en, translated = catalogue("en"), catalogue(lang)
    assert set(en) == set(translated)
    for key, value in en.items():
        other = translated[key]
        assert type(value) is type(other), key
        if isinstance(value, dict):
            assert set(value) == set(other) == {"one", "other"}, key
        for a, b in zip(forms(value), forms(other), strict=True):
            # Same values to fill, same literal commands and names in `code`, same emphasis.
            assert set(PLACEHOLDER.findall(a)) == set(PLACEHOLDER.findall(b)), key
            assert sorted(CODE.findall(a)) == sorted(CODE.findall(b)), key
            assert a.count("**") == b.count("**") and a.count("**") % 2 == 0, key
            assert a.count("`") % 2 == 0, key


def test_german_is_not_english_copied() -> None:
    en, de = catalogue("en"), catalogue("de")
    same = {k for k in en if en[k] == de[k]}
    names = {f"family.{p.value}" for p in PrinterType if p is not PrinterType.UNKNOWN}
    names |= {f"mode.{m}" for m in ("homeassistant", "docker", "pi")}
    assert same == SAME_IN_BOTH | names


def test_every_event_type_printer_family_and_deployment_has_a_text() -> None:
    for lang in LANGUAGES:
        keys = set(catalogue(lang))
        for prefix in ("event", "type", "family", "mode"):
            wanted = {f"{prefix}.{value}" for value in DYNAMIC[prefix]}
            assert wanted <= keys, (lang, sorted(wanted - keys))


def used_keys() -> set[str]:
    """Every key the template and the script name, literally or through DYNAMIC."""
    known = set(catalogue("en"))
    literal = set(re.findall(r"""["'`]([a-z_]+(?:\.[a-z_0-9]+)+)["'`]""", SCRIPT + TEMPLATE))
    literal |= set(re.findall(r"""data-i18n(?:-attr)?="(?:[a-z-]+=)?([a-z_.0-9]+)""", TEMPLATE))
    dynamic = {f"{prefix}.{value}" for prefix, values in DYNAMIC.items() for value in values}
    return (literal & known) | dynamic


def test_every_entry_is_used_and_every_used_key_exists() -> None:
    keys = set(catalogue("en"))
    assert keys - used_keys() == set()
    key = r"([a-z_]+(?:\.[a-z_0-9]+)+)"
    named = set(re.findall(rf'(?:\bt\(|render\([^,]+,|part\()\s*"{key}"', SCRIPT))
    named |= set(re.findall(rf'\[\s*"{key}"\s*[,\]]', SCRIPT))
    named |= set(re.findall(rf'data-i18n(?:-attr)?="(?:[a-z-]+=)?{key}"', TEMPLATE))
    assert named, "the patterns above no longer find the page's keys"
    assert named - keys == set()


def test_the_template_holds_no_text_of_its_own() -> None:
    """Visible words come from the catalogues; the template only has names and data."""
    body = TEMPLATE.split("<body", 1)[1]
    body = re.sub(r"<(script|style|noscript|code)\b.*?</\1>", "", body, flags=re.S)
    body = re.sub(r"\{\{.*?\}\}|\{%.*?%\}", "", body)
    body = re.sub(r'<[^>]*translate="no"[^>]*>[^<]*<', "<", body)
    words = re.findall(r">([^<]*[A-Za-z][^<]*)<", body)
    assert [w.strip() for w in words if w.strip()] == []
