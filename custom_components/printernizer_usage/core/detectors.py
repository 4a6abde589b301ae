"""Linear-time detectors of personal data: what no stored or sent string may contain.

Every pattern here is built so that one search costs O(len(text)) whatever the input:
- a match may begin only where a bounded piece of text (a literal or a one-character class)
  sits, or only at the start of a maximal run of the pattern's characters (a look-behind
  refuses every other start), so no run is scanned from more than one start;
- unbounded repetitions are possessive (`*+`) or followed by a literal the run cannot hold,
  and every other repetition is bounded.
benchmarks/privacy_detectors.py measures the worst case over adversarial families and
tests/core/test_privacy_linear.py guards it with generated long inputs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Final

# A hex "word" character class without the case flag (flags would slow the literal scans).
_HEX = "0-9A-Fa-f"

# An IPv4 address: four 1-3 digit groups not inside a longer number or dotted run.
# ASCII digits only: `\d` would also match Arabic-Indic or full-width digits.
IPV4_PATTERN: Final = (
    r"[0-9](?<![0-9.][0-9])[0-9]{0,2}+\.[0-9]{1,3}+\.[0-9]{1,3}+\.[0-9]{1,3}+(?![0-9.])"
)
IPV4: Final = re.compile(IPV4_PATTERN)

# name@domain.tld: starts at the '@' (a literal: the engine jumps from one '@' to the next);
# the scan after it stops at the next '.', '@' or space, so scans never overlap.
_EMAIL = re.compile(r"@(?<=[^\s@]@)[^\s@][^\s@.]*+\.[^\s@]")
# 2-7 colon groups of up to 4 hex digits, the whole maximal hex/colon run (bounded length).
_IPV6 = re.compile(
    rf"[{_HEX}:](?<![{_HEX}:][{_HEX}:])"  # the first character of a maximal hex/colon run
    rf"(?:(?<=:)|(?<=[{_HEX}])[{_HEX}]{{0,3}}+:)(?:[{_HEX}]{{0,4}}+:){{1,6}}+[{_HEX}]{{0,4}}+"
    rf"(?![{_HEX}:])"
)
# Six hex pairs joined by ':', '-' or '.', found from the first separator (bounded length);
# or Cisco's dotted form aabb.ccdd.eeff.
_MAC = re.compile(
    rf"[:\-.](?<=[{_HEX}]{{2}}[:\-.])(?<![{_HEX}]{{3}}[:\-.])[{_HEX}]{{2}}(?:[:\-.][{_HEX}]{{2}}){{4}}"
    rf"(?![{_HEX}])"
    rf"|\.(?<=[{_HEX}]{{4}}\.)(?<![{_HEX}]{{5}}\.)[{_HEX}]{{4}}\.[{_HEX}]{{4}}(?![{_HEX}])"
)
# scheme:// (from the literal, one scheme character before it) or www. at a word start.
_URL = re.compile(r"://(?<=[A-Za-z0-9+.\-]://)")
_WWW = re.compile(r"[wW](?<![\w][wW])[wW]{2}\.")
# label.tld: a dot after a label character, then a whole run of 2-24 letters.
_HOSTNAME = re.compile(r"\.(?<=[A-Za-z0-9\-]\.)[A-Za-z]{2,24}+(?!\w)")
# /something after the start, a quote, '=', ':', '(', '~' or '.' (bounded).
_POSIX_PATH = re.compile(r"/(?<![^\s=:'\"(~.]/)[^\s/]")
# C:\ or C:/ at a word start, or \\server\ (the scan stops at the next backslash).
_WINDOWS_PATH = re.compile(r":(?<=[A-Za-z]:)(?<![\w][A-Za-z]:)[\\/]|\\\\[^\\\s]++\\")
_FILE_NAME = re.compile(
    r"\.(?=[3AaBbGgJjLlOoPpSsTtUuZz])"  # a cheap first look before the list of extensions
    r"(?:3[mM][fF]|(?i:b?gcode|gco|stl|obj|step|stp|amf|ufp|txt|json|zip|png|jpe?g|log))(?!\w)"
)
# Serial numbers and keys, each from the start of its maximal run only: upper-case letters
# mixed with digits (8+, dashes allowed), 12+ hex digits, or 9+ plain digits.
# Each begins by consuming one character of its class (so the engine skips ahead to the next
# candidate) and looks back to make sure that character starts its run.
_SERIAL_MIXED = re.compile(
    r"[A-Z0-9\-](?<![A-Z0-9\-][A-Z0-9\-])"
    r"(?:(?<=[0-9])|(?=[A-Z\-]*+[0-9]))(?:(?<=[A-Z])|(?=[0-9\-]*+[A-Z]))[A-Z0-9\-]{7,}\b"
)
# 12+ hex digits, or 9+ decimal digits from the start of a hex run.
_SERIAL_HEX = re.compile(
    rf"[{_HEX}](?<![{_HEX}][{_HEX}])(?:[{_HEX}]{{11,}}\b|(?<=[0-9])[0-9]{{8}})"
)


# A clock time (14:31) or a calendar date (2026-12-02, 2026/12/02): exact times are never kept.
_TIME = re.compile(
    r":(?<=[0-9]:)(?<![0-9]{3}:)[0-5][0-9](?![0-9])"
    r"|[\-/](?<=[12][0-9]{3}[\-/])(?<![0-9]{5}[\-/])(?:0[1-9]|1[0-2])[\-/](?:0[1-9]|[12][0-9]|3[01])"
    r"(?![0-9])"
)
_WHITESPACE = re.compile(r"\s")

Detector = Callable[[str], object]


def _needing(needles: str, *patterns: re.Pattern[str]) -> Detector:
    """A detector that runs its patterns only when `text` holds one of the characters each
    of its matches must contain (a C-speed scan): most texts skip most patterns."""

    def search(text: str) -> bool:
        if needles and not any(needle in text for needle in needles):
            return False
        return any(pattern.search(text) for pattern in patterns)

    return search


def _serial(text: str) -> bool:
    # The mixed form needs an upper-case letter; lower() copies, but at C speed.
    if text.lower() != text and _SERIAL_MIXED.search(text):
        return True
    return _SERIAL_HEX.search(text) is not None


# Checked in this order; the first that fires names the kind of data that was found.
DETECTORS: Final[dict[str, Detector]] = {
    "email": _needing("@", _EMAIL),
    "mac_address": _needing(":-.", _MAC),
    "ipv4": _needing(".", IPV4),
    "ipv6": _needing(":", _IPV6),
    "url": _needing(":wW", _URL, _WWW),
    "windows_path": _needing(":\\", _WINDOWS_PATH),
    "posix_path": _needing("/", _POSIX_PATH),
    "file_name": _needing(".", _FILE_NAME),
    "hostname": _needing(".", _HOSTNAME),
    "serial": _serial,
    "time": _needing(":-/", _TIME),
    "free_text": _needing("", _WHITESPACE),
}


def pii_kind(text: str) -> str | None:
    """The name of the first detector that fires on `text`, or None when it looks harmless."""
    for name, found in DETECTORS.items():
        if found(text):
            return name
    return None


MAX_IDENTIFIER_LENGTH: Final = 128

# How personal data is squeezed into identifier shape: separators become '_' or '-'.
_SQUEEZE = str.maketrans({"_": ".", "-": "."})
_SQUEEZE_AT = str.maketrans({"_": "@", "-": "@"})
_SQUEEZE_COLON = str.maketrans({"_": ":", "-": ":"})


def unsqueezed(text: str) -> Iterator[str]:
    """`text` and the readings of it with its '_' and '-' read as '.', '@' and ':'."""
    yield text
    if "_" in text or "-" in text:
        yield text.translate(_SQUEEZE)
        yield text.translate(_SQUEEZE_AT)
        yield text.translate(_SQUEEZE_COLON)


def identifier_pii_kind(text: str) -> str | None:
    """pii_kind of a free-form identifier, also read with its separators undone.

    `alices_macbook_local` is a host name and `E192_168_1_5` an address once '_' reads as '.'.
    Only for free-form names: registry keys such as `auto_download` are checked by the
    registry, not by this (read with dots it would look like a host name). No identifier is
    longer than MAX_IDENTIFIER_LENGTH; a longer text is refused without reading it four times.
    """
    if len(text) > MAX_IDENTIFIER_LENGTH:
        return "too_long"
    for reading in unsqueezed(text):
        kind = pii_kind(reading)
        if kind is not None:
            return kind
    return None


# Identifiers hidden inside a CamelCase class name, where no word boundary ends them (the `E`
# of `Error` follows at once), so the serial detectors above, which want one, do not see them.
# 12 hex digits in a row, either case, from the start of a hex run: a MAC address or a key
# with its separators squeezed out (`Mac001A2B3C4D5EError`, `A4c1386b2f9dError`).
_NAME_HEX_RUN = re.compile(rf"[{_HEX}](?<![{_HEX}][{_HEX}])[{_HEX}]{{11}}")
# Capitals and digits (`SNAB12CD34EF`), or one capital and lower-case letters and digits
# (`Ab12cd34ef`): each maximal run once (possessive), the pieces a serial number is made of.
_NAME_CAPITAL_RUN = re.compile(r"[A-Z0-9]++")
_NAME_WORD = re.compile(r"[A-Z]?[a-z0-9]++")
_LOWER_CASE = re.compile(r"[a-z]")
# Real names stay below: the longest such piece Python, aiohttp, h2, paho and the other
# libraries in the lock name an exception with is 7 (`RFC1122` of h2's RFC1122Error).
NAME_SERIAL_LENGTH: Final = 8
NAME_SERIAL_DIGITS: Final = 2


def _serial_piece(piece: str) -> bool:
    return len(piece) >= NAME_SERIAL_LENGTH and (
        sum(character in "0123456789" for character in piece) >= NAME_SERIAL_DIGITS
    )


def name_identifier_kind(name: str) -> str | None:
    """`serial` when a class name such as `A4C1386B2F9DError` carries a serial number or an
    address squeezed in without a word boundary after it; None otherwise.

    Refused: a run of 12+ hex digits of either case (a MAC address or a key, `Mac` before it
    or not), or a piece of 8+ characters holding 2+ digits, a piece being a run of capitals
    and digits (the capital that begins the next word, such as the `E` of `Error`, does not
    count) or a CamelCase word (a capital, then lower-case letters and digits). Exception
    names such as `HTTP404Error`, `X509CertificateError`, `IPv6AddressError`,
    `UTF8DecodeError` or `RFC1122Error` pass. Linear: every run is read once.
    """
    if _NAME_HEX_RUN.search(name):
        return "serial"
    for match in _NAME_CAPITAL_RUN.finditer(name):
        piece = match.group()
        if piece[-1] not in "0123456789" and _LOWER_CASE.match(name, match.end()):
            piece = piece[:-1]
        if _serial_piece(piece):
            return "serial"
    if any(_serial_piece(match.group()) for match in _NAME_WORD.finditer(name)):
        return "serial"
    return None
