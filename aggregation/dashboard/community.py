"""The public community page's figures: nothing from which a group under k can be worked out.

Three rules (docs/DASHBOARD.md, "Community page"):
- Groups under k installations are never named (the stats service folds them into "other").
- Complements are suppressed too: in a chart where every installation sits in exactly one
  group, the installations outside the named groups (total minus the named ones) are shown as
  "other" only when they are k or more. When they are between 1 and k-1, the smallest named
  groups are hidden as well until they are not; a chart left with no named group shows nothing.
  Charts where an installation can sit in several groups (printer families) get no "other" row
  and the same suppression of the uncovered installations, so subtraction never yields 1..k-1.
- The total is published rounded ("about 40"), shares as whole percents: the exact count that
  would turn shares back into counts is never on the page.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from ..rollups import version_key
from .charts import WINDOW_DAYS

OTHER = "other"
# Published totals are rounded to this many installations.
TOTAL_STEP = 10


@dataclass(frozen=True, slots=True)
class Group:
    """One bucket of a chart with its exact count (never published as such)."""

    label: str
    installations: int


def percent(part: int, whole: int) -> int:
    """A whole percent, halves rounded up (the page and its tests share this rule)."""
    return (200 * part + whole) // (2 * whole) if whole else 0


def published_total(active: int, k: int) -> str:
    """The active-installation count as the page shows it: rounded, never exact."""
    if active < k:
        return f"fewer than {k}"
    if active < TOTAL_STEP:
        return f"fewer than {TOTAL_STEP}"
    rounded = (active + TOTAL_STEP // 2) // TOTAL_STEP * TOTAL_STEP
    return f"about {rounded}"


def safe_groups(groups: list[Group], active: int, k: int, *, exclusive: bool = True) -> list[Group]:
    """The groups a chart may show, "other" included, after complement suppression.

    `exclusive`: every installation is in exactly one group (mode, country, version), so the
    named groups and "other" add up to `active`. Otherwise (printer families) no "other" row
    is shown, and the count of installations outside the named groups is still kept out of
    1..k-1 as far as subtraction from the total can tell.
    """
    if active < k:
        return []
    named = sorted(
        (g for g in groups if g.label != OTHER and g.installations >= k),
        key=lambda g: (-g.installations, g.label),
    )
    outside = active - sum(g.installations for g in named)
    while named and 0 < outside < k:
        outside += named.pop().installations  # the smallest named group joins the rest
    if not named:
        return []
    if exclusive and outside >= k:
        return [*named, Group(OTHER, outside)]
    return named


def _rows(groups: list[Group], active: int) -> list[dict[str, Any]]:
    rows = []
    for group in groups:
        share = percent(group.installations, active)
        rows.append({"label": group.label, "share": share, "display": f"{share} %"})
    return rows


def _groups(items: list[dict[str, Any]], key: str) -> list[Group]:
    return [Group(str(item[key]), int(item["installations"])) for item in items]


def _feature_rows(features: list[dict[str, Any]], k: int) -> list[dict[str, Any]]:
    """Enabled rates; the stats service already hides a rate whose enabled or disabled
    installations are under k, and the reporting count itself is never shown."""
    rows = []
    for feature in features:
        if feature["enabled_rate"] is None or feature["reporting"] < k:
            continue
        if feature["feature"] == OTHER:
            continue
        share = percent(feature["enabled"], feature["reporting"])
        rows.append({"label": feature["feature"], "share": share, "display": f"{share} %"})
    return rows


async def build_community(stats: Any, k: int) -> dict[str, Any]:
    """The public page: a rounded total, shares of safe groups only, no exact counts."""
    modes, geo, printers, versions, features = await asyncio.gather(
        stats.deployment_modes(WINDOW_DAYS),
        stats.geography(WINDOW_DAYS),
        stats.printers(WINDOW_DAYS),
        stats.versions(WINDOW_DAYS),
        stats.features(WINDOW_DAYS),
    )
    active = modes["installations"]
    deployment = safe_groups(_groups(modes["modes"], "mode"), active, k)
    countries = safe_groups(_groups(geo["countries"], "country"), active, k)
    families = safe_groups(_groups(printers["types"], "key"), active, k, exclusive=False)
    adoption = safe_groups(_groups(versions["adoption"], "version"), active, k)
    # The tiles name only what the charts show (a hidden version is not "latest").
    named_versions = [g.label for g in adoption if g.label != OTHER]
    latest = max(named_versions, key=version_key) if named_versions else None
    shown = active >= k
    enabled = _feature_rows(features["features"], k) if shown else []
    return {
        "generated": modes["generated_at"][:10],
        "tiles": [
            {"label": "Active installations (30 days)", "value": published_total(active, k)},
            {
                "label": "Countries",
                "value": sum(g.label != OTHER for g in countries) if countries else "n/a",
            },
            {"label": "Latest version", "value": latest or "n/a"},
            {
                "label": "Printers per installation",
                "value": round(printers["per_installation"], 1) if shown else "n/a",
            },
        ],
        "charts": [
            {"title": "Deployment", "rows": _rows(deployment, active)},
            {"title": "Countries", "rows": _rows(countries, active)},
            {"title": "Printer families", "rows": _rows(families, active)},
            {"title": "Versions", "rows": _rows(adoption, active)},
            {"title": "Features enabled", "rows": enabled},
        ],
    }
