"""Privacy detectors under attack: worst-case time of every detector on adversarial 16 KiB strings.

Families: long runs of every ASCII character and a few non-ASCII ones, alternations of two
characters, and near-misses of every pattern (an e-mail without its dot, an address with one
group short, ...) repeated to the full length. Each string is measured through every detector
one by one, through `pii_kind` (all of them), through `identifier_pii_kind` (all of them on
every squeezed reading of an identifier-sized prefix) and through the aggregation server's
body scan (`privacy_check`).
Target (issue 16): at most 5 ms for any 16 KiB string.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import string
import time
from collections.abc import Callable, Iterator

from printernizer_usage_core.detectors import (
    DETECTORS,
    MAX_IDENTIFIER_LENGTH,
    identifier_pii_kind,
    pii_kind,
)

TARGET_MS = 5.0
# Non-ASCII: a letter, an Arabic-Indic and a full-width digit, two kinds of space.
_SINGLES = [*string.printable, "\u00e9", "\u0662", "\uff12", "\u00a0", "\u2028"]
_PAIRS = ["a.", "1.", "a-", "a:", "1:", "f:", "a/", "a\\", "a@", "A1", "A-", "1-", "a_", "_1"]
# Almost-matches of each detector, repeated: each one forces the pattern to look, then fail.
NEAR_MISSES = [
    "a@a",  # e-mail without the dot
    "a@.",
    "1.1.1.",  # IPv4 one group short
    "1.1.1.1111.",
    "1111.",
    "ab:cd:",  # IPv6 with too few groups / MAC without enough pairs
    "abcd:abcd:abcd:abcd:abcd:abcd:abcd:abcd:",
    "aa:bb:cc:dd:ee:",
    "aa-bb-cc-dd-ee-",
    "aabb.ccdd.",
    "http:/",
    "a:/",
    "ww.",
    "C:",
    "\\\\a",
    "x.3m",
    "x.gcod",
    "a.b1",
    "a.",
    "AB12-",
    "ABCDEFG-",
    "1234567-",
    "deadbeefcaf_",
    "12345678.",
    "1:6",
    "12:",
    "2026-13-",
    "2026-1",
]


def families(length: int) -> Iterator[tuple[str, str]]:
    """(family name, text of `length` characters) for every adversarial family."""
    for unit in _SINGLES + _PAIRS + NEAR_MISSES:
        yield repr(unit), (unit * (length // len(unit) + 1))[:length]
    # A near-miss of every shape after a long run of each character class.
    for filler in ("a", "A", "1", "f", "-", ".", ":", "_"):
        for tail in ("@a.b", "1.1.1.1", "aa:bb:cc:dd:ee:ff", "x.com", "AB12CD34"):
            text = filler * (length - len(tail)) + tail
            yield f"{filler!r}*n+{tail!r}", text


def _best_ms(check: Callable[[str], object], text: str, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        check(text)
        best = min(best, time.perf_counter() - start)
    return best * 1000


def _body_scan() -> Callable[[str], object] | None:
    """The aggregation server's scan of a raw body, when the server package is importable."""
    try:
        from aggregation.errors import ApiError
        from aggregation.validation import privacy_check
    except ImportError:
        return None

    def scan(text: str) -> None:
        raw = json.dumps({"k": text}).encode()
        with contextlib.suppress(ApiError):
            privacy_check(raw, {"k": text})

    return scan


def measure(length: int, repeat: int) -> dict[str, tuple[float, str]]:
    """Worst time in ms (and the family that caused it) per detector and per entry point."""
    checks: dict[str, Callable[[str], object]] = dict(DETECTORS)
    checks["pii_kind (all)"] = pii_kind
    # Identifiers are at most MAX_IDENTIFIER_LENGTH long (longer ones are refused unread).
    name = f"identifier_pii_kind (first {MAX_IDENTIFIER_LENGTH} chars, 4 readings)"
    checks[name] = lambda text: identifier_pii_kind(text[:MAX_IDENTIFIER_LENGTH])
    body = _body_scan()
    if body is not None:
        checks["server body scan (privacy_check)"] = body
    worst: dict[str, tuple[float, str]] = {name: (0.0, "") for name in checks}
    for family, text in families(length):
        for name, check in checks.items():
            ms = _best_ms(check, text, repeat)
            if ms > worst[name][0]:
                worst[name] = (ms, family)
    return worst


def main() -> None:
    """Print the Markdown table docs/BENCHMARKS.md records."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=16 * 1024, help="characters per string")
    parser.add_argument("--repeat", type=int, default=5, help="runs per string (best is kept)")
    args = parser.parse_args()
    count = sum(1 for _ in families(args.length))
    worst = measure(args.length, args.repeat)
    print(f"{count} adversarial strings of {args.length} characters, best of {args.repeat} runs")
    print()
    print("| detector | worst ms | worst family | target ≤ 5 ms |")
    print("|---|---:|---|---|")
    for name, (ms, family) in worst.items():
        verdict = "met" if ms <= TARGET_MS else "MISSED"
        shown = family.replace("|", "\\|")
        print(f"| {name} | {ms:.3f} | `{shown}` | {verdict} |")


if __name__ == "__main__":
    main()
