"""ISO 3166 country codes and the time-zone → country map, read from the IANA zone tables."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from functools import cache
from importlib import resources
from pathlib import Path

UNKNOWN_COUNTRY = "XX"
_SYSTEM_ZONEINFO = Path("/usr/share/zoneinfo")


def _read_table(name: str) -> str:
    """A zone table from the tzdata package, or the system's copy when the package lacks it."""
    try:
        return resources.files("tzdata").joinpath("zoneinfo", name).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        return (_SYSTEM_ZONEINFO / name).read_text(encoding="utf-8")


def _rows(text: str) -> Iterator[list[str]]:
    for line in text.splitlines():
        if line and not line.startswith("#"):
            yield line.split("\t")


@cache
def country_codes() -> frozenset[str]:
    """Every ISO 3166-1 alpha-2 code the zone tables know."""
    return frozenset(row[0] for row in _rows(_read_table("iso3166.tab")) if len(row) >= 2)


@cache
def zone_countries() -> dict[str, str]:
    """Canonical IANA zone name → the country it belongs to (zone.tab: one country a zone)."""
    return {row[2]: row[0] for row in _rows(_read_table("zone.tab")) if len(row) >= 3}


def _zone_bytes(zone: str) -> bytes | None:
    try:
        return resources.files("tzdata").joinpath("zoneinfo", *zone.split("/")).read_bytes()
    except (ModuleNotFoundError, FileNotFoundError, OSError, ValueError):
        try:
            return (_SYSTEM_ZONEINFO / zone).read_bytes()
        except OSError:
            return None


@cache
def _countries_by_zone_content() -> dict[str, str | None]:
    """sha256 of a zone's compiled rules → its country, or None where countries share rules."""
    found: dict[str, str | None] = {}
    for zone, country in zone_countries().items():
        data = _zone_bytes(zone)
        if data is None:
            continue
        digest = hashlib.sha256(data).hexdigest()
        found[digest] = country if found.get(digest, country) == country else None
    return found


def country_for_zone(zone: str | None) -> str:
    """The country of an IANA zone name; backward links resolve by their rules; else 'XX'."""
    if not zone:
        return UNKNOWN_COUNTRY
    zone = zone.strip().lstrip(":")
    table = zone_countries()
    if zone in table:
        return table[zone]
    if ".." in zone or zone.startswith("/"):
        return UNKNOWN_COUNTRY
    data = _zone_bytes(zone)
    if data is None:
        return UNKNOWN_COUNTRY
    return _countries_by_zone_content().get(hashlib.sha256(data).hexdigest()) or UNKNOWN_COUNTRY


COUNTRY_CODES = country_codes()
