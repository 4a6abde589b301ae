"""Translations: en.json is strings.json with its references resolved; de.json is complete."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

COMPONENT = Path(__file__).parents[2] / "custom_components" / "printernizer_usage"
REFERENCE = re.compile(r"\[%key:([a-z0-9_:]+)%\]")


def _load(name: str) -> dict[str, Any]:
    return dict(json.loads((COMPONENT / name).read_text(encoding="utf-8")))


def _lookup(tree: dict[str, Any], path: list[str]) -> Any:
    for part in path:
        tree = tree[part]
    return tree


def _resolve(value: Any, strings: dict[str, Any], common: dict[str, str]) -> Any:
    """strings.json's value with [%key:...%] replaced as Home Assistant's translation build does."""
    if isinstance(value, dict):
        return {key: _resolve(item, strings, common) for key, item in value.items()}

    def _replace(match: re.Match[str]) -> str:
        parts = match.group(1).split("::")
        if parts[0] == "common":
            return common[match.group(1)]
        assert parts[:2] == ["component", "printernizer_usage"], parts
        return str(_resolve(_lookup(strings, parts[2:]), strings, common))

    return REFERENCE.sub(_replace, value)


def _keys(tree: Any, prefix: str = "") -> set[str]:
    if not isinstance(tree, dict):
        return {prefix}
    return {key for name, item in tree.items() for key in _keys(item, f"{prefix}/{name}")}


def _common_strings() -> dict[str, str]:
    """Home Assistant's own common strings, from the installed package."""
    import homeassistant

    source = Path(homeassistant.__file__).parent / "strings.json"
    tree = json.loads(source.read_text(encoding="utf-8"))["common"]
    flat: dict[str, str] = {}

    def _walk(node: Any, path: list[str]) -> None:
        if isinstance(node, dict):
            for key, item in node.items():
                _walk(item, [*path, key])
        else:
            flat["::".join(["common", *path])] = node

    _walk(tree, [])
    return flat


def test_english_is_strings_resolved() -> None:
    """translations/en.json says exactly what strings.json says."""
    strings = _load("strings.json")
    assert _load("translations/en.json") == _resolve(strings, strings, _common_strings())


@pytest.mark.parametrize("language", ["de"])
def test_translation_is_complete(language: str) -> None:
    """Every string has a translation, with the same placeholders."""
    english = _load("translations/en.json")
    other = _load(f"translations/{language}.json")
    assert _keys(other) == _keys(english)
    for key in _keys(english):
        path = key.strip("/").split("/")
        wanted = set(re.findall(r"\{\w+\}", _lookup(english, path)))
        assert set(re.findall(r"\{\w+\}", _lookup(other, path))) == wanted, key
