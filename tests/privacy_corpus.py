"""Personal data, plain and squeezed into identifier shape: what no front may store or send.

Shared by the core suite (record_event → store, report, preview, logs) and the aggregation
suite (POST /submit → 4xx, nothing stored, nothing logged). Every value is also offered in the
shapes it takes when someone squeezes it into an identifier: separators turned into `_` or
`-` or dropped, lower-cased, CamelCased, with an `E` in front.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

PERSONAL: dict[str, list[str]] = {
    "name": ["John Smith", "Bob", "Alice", "Müller", "alice"],
    "email": ["alice@example.com", "john.smith@example.com", "bob+3d@mail.co.uk"],
    "path": ["/home/alice/benchy.3mf", "C:\\Users\\Bob\\prints", "~/prints/x", "../private/johns"],
    "file": ["benchy.3mf", "johns_part.gcode"],
    "ipv4": ["192.168.1.5", "10.0.0.7"],
    "ipv6": ["fe80::1ff:fe23:4567:890a", "2001:db8::8a2e:370:7334"],
    "mac": ["aa:bb:cc:dd:ee:ff", "00-1A-2B-3C-4D-5E"],
    "host": ["alices-macbook.local", "octopi.fritz.box", "nas.example.org"],
    "url": ["http://printer.lan/api", "https://example.com/u/alice", "www.example.org"],
    "serial": ["01S00C123456789", "SN-AB12CD34EF", "CZPX1234X004XK12345"],
    "api_key": ["sk_live_1234567890abcdef", "ghp_16C7e42F292c6912E7710c838347Ae178B4a"],
    "exact_time": ["2026-12-02T14:31:07Z", "14:31:07", "1733149867", "2026-12-02"],
    "behaviour": ["click_count", "time_on_page", "exact_duration", "mouse_moves", "scroll_depth"],
    "free_text": ["kitchen printer", "Alice's Printer", "printer in Bob's garage"],
}


def _words(value: str) -> list[str]:
    return [w for w in re.split(r"[^0-9A-Za-zÀ-ÿ]+", value) if w]


def squeezed(value: str) -> list[str]:
    """`value` as it looks when forced into identifier shape."""
    words = _words(value)
    if not words:
        return []
    snake = "_".join(words)
    shapes = {
        snake,
        snake.lower(),
        "-".join(words),
        "".join(words),
        "".join(w[:1].upper() + w[1:] for w in words),
        "E" + snake.lower(),
        "E" + "".join(words),
    }
    shapes.discard(value)
    return sorted(shapes)


def corpus() -> Iterator[tuple[str, str]]:
    """(kind, value) for every plain value and every squeezed shape of it."""
    for kind, values in PERSONAL.items():
        for value in values:
            yield kind, value
            for shape in squeezed(value):
                yield f"{kind} (squeezed)", shape


CORPUS: list[tuple[str, str]] = sorted(set(corpus()))
# The issue's own examples, which every front must refuse.
ISSUE_EXAMPLES = [
    "John Smith",
    "Bob",
    "Ejohn_smith_example_com",
    "alices_macbook_local",
    "E192_168_1_5",
    "aa_bb_cc_dd_ee_ff",
    "sk_live_1234567890abcdef",
    "click_count",
    "time_on_page",
    "exact_duration",
]


def string_places(report: dict[str, Any]) -> Iterator[tuple[tuple[str, ...], str]]:
    """(path, "value" or "key") of every string field and every map key of a wire report."""

    def walk(node: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], str]]:
        if isinstance(node, dict):
            for key, item in node.items():
                yield (*path, key), "key"
                yield from walk(item, (*path, key))
        elif isinstance(node, list):
            for index, item in enumerate(node):
                yield from walk(item, (*path, str(index)))
        elif isinstance(node, str):
            yield path, "value"

    yield from walk(report, ())


def inject(report: dict[str, Any], path: tuple[str, ...], where: str, text: str) -> dict[str, Any]:
    """A deep copy of `report` with `text` as the value (or the key) at `path`."""
    body = copy.deepcopy(report)
    node: Any = body
    for part in path[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    last = path[-1]
    if where == "key":
        node[text] = node.pop(last)
    elif isinstance(node, list):
        node[int(last)] = text
    else:
        node[last] = text
    return body
