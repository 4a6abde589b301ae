"""The preview as the flows show it: every field, short lines, long values wrapped."""

from __future__ import annotations

import json

from custom_components.printernizer_usage.sharing import format_payload

PAYLOAD = {
    "schema_version": "2.0",
    "installation": {"installation_id": "d4da55c3-46df-44e9-beac-c36002235214", "n": 3},
    "flags": {"on": True, "off": False, "none": None},
    "types": ["bambu_lab", "klipper"],
    "empty_list": [],
    "empty_map": {},
    "items": [{"a": 1}, {"b": 2}],
    "words": "one two three four five six seven eight nine ten eleven",
    "deletion_key_hash": "0834ebd4f56cb1ef0686ce729dadf3089038b5cd2b44f4248b81050881d7d87d",
}


def test_every_field_one_line_each() -> None:
    """Nested maps indent, scalars show as JSON scalars (strings bare), lists inline."""
    assert format_payload(json.dumps(PAYLOAD)).splitlines() == [
        "schema_version: 2.0",
        "installation:",
        "  installation_id:",
        "    d4da55c3-46df-44e9-beac-c36002235214",
        "  n: 3",
        "flags:",
        "  on: true",
        "  off: false",
        "  none: null",
        "types: bambu_lab, klipper",
        "empty_list: []",
        "empty_map: {}",
        "items:",
        "  -",
        "    a: 1",
        "  -",
        "    b: 2",
        "words:",
        "  one two three four five six seven",
        "  eight nine ten eleven",
        "deletion_key_hash:",
        "  0834ebd4f56cb1ef0686ce729dadf308",
        "  9038b5cd2b44f4248b81050881d7d87d",
    ]


def test_lines_fit_the_width() -> None:
    """No line is longer than asked for, and nothing of a value is lost by wrapping."""
    for width in (24, 40, 60):
        lines = format_payload(json.dumps(PAYLOAD), width=width).splitlines()
        assert max(map(len, lines)) <= width
        text = "".join(line.strip() for line in lines)
        assert PAYLOAD["deletion_key_hash"] in text
        assert "d4da55c3-46df-44e9-beac-c36002235214" in text
