"""The community page against an attacker who subtracts: no group under k can be worked out.

The attacker reads only the page (it uses no JSON): the published total, and each chart's
whole-percent shares. For every total the page allows, and every count each share allows, it
computes what is left over in each chart (total minus the rows shown). If in every world the
page allows that leftover lies between 1 and k-1, a hidden group has been derived.
"""

from __future__ import annotations

import random
import re
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from agg_payloads import make_stats
from conftest import ADMIN_KEY
from printernizer_usage_core.models import PrinterType

from aggregation.app import create_app
from aggregation.dashboard.community import TOTAL_STEP, percent
from aggregation.demo_data import load_into_repository
from aggregation.settings import Settings

# Charts where each installation is in exactly one row (the leftover must be 0 or >= k).
EXCLUSIVE = {"Deployment": "mode", "Countries": "country", "Versions": "version"}
MULTI = {"Printer families": "families"}
CARD = re.compile(r'<article class="card">(.*?)</article>', re.DOTALL)
TITLE = re.compile(r"<h2>([^<]+)</h2>")
ROW = re.compile(
    r'<span class="bar-label">([^<]+)</span>.*?<span class="bar-value">(\d+) %</span>', re.DOTALL
)
TILE = re.compile(r'<span class="kpi-label">([^<]+)</span><span class="kpi-value">([^<]+)</span>')


@dataclass(frozen=True)
class Member:
    """One installation of a crafted fleet."""

    country: str = "DE"
    version: str = "2.1.0"
    mode: str = "docker"
    families: tuple[PrinterType, ...] = (PrinterType.BAMBU_LAB,)


@dataclass
class Page:
    """What the attacker sees."""

    total: str
    charts: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    tiles: dict[str, str] = field(default_factory=dict)


def read_page(html: str) -> Page:
    tiles = dict(TILE.findall(html))
    page = Page(total=tiles["Active installations (30 days)"], tiles=tiles)
    for card in CARD.findall(html):
        title = TITLE.search(card)
        assert title
        page.charts[title.group(1)] = [(label, int(share)) for label, share in ROW.findall(card)]
    return page


def possible_totals(text: str, k: int) -> range:
    """Every active-installation count the published total allows."""
    if match := re.fullmatch(r"about (\d+)", text):
        shown = int(match.group(1))
        return range(max(k, shown - TOTAL_STEP // 2), shown + TOTAL_STEP // 2)
    if match := re.fullmatch(r"fewer than (\d+)", text):
        return range(k, int(match.group(1)))
    if text.isdigit():  # an exact total (what the page used to publish)
        return range(int(text), int(text) + 1)
    raise AssertionError(f"unexpected total {text!r}")


def counts_for(share: int, total: int) -> range | None:
    """The counts out of `total` that the page would show as `share` percent."""
    found = [c for c in range(total + 1) if percent(c, total) == share]
    return range(found[0], found[-1] + 1) if found else None


def leftovers(rows: list[tuple[str, int]], totals: list[int]) -> set[int]:
    """Every possible count of installations outside the rows, over every allowed world."""
    left: set[int] = set()
    for total in totals:
        ranges = [counts_for(share, total) for _, share in rows]
        if any(r is None for r in ranges):
            continue
        low = sum(r.start for r in ranges if r is not None)
        high = sum(r.stop - 1 for r in ranges if r is not None)
        left.update(range(total - high, total - low + 1))
    return left


def consistent_totals(page: Page, k: int) -> list[int]:
    """Totals that every chart's shares allow at once (the attacker combines the charts)."""
    return [
        total
        for total in possible_totals(page.total, k)
        if all(
            all(counts_for(share, total) is not None for _, share in rows)
            for title, rows in page.charts.items()
            if title in EXCLUSIVE or title in MULTI
        )
    ]


def derived_groups(page: Page, k: int) -> list[str]:
    """Charts where the page pins a hidden remainder between 1 and k-1."""
    totals = consistent_totals(page, k)
    leaks = []
    for title, rows in page.charts.items():
        if not rows or (title not in EXCLUSIVE and title not in MULTI):
            continue
        left = leftovers(rows, totals)
        if left and all(1 <= n < k for n in left):
            leaks.append(f"{title}: {sorted(left)} left over")
    return leaks


def truth(fleet: list[Member], dimension: str) -> Counter[str]:
    if dimension == "families":
        return Counter(p.value for m in fleet for p in set(m.families))
    return Counter(getattr(m, dimension) for m in fleet)


async def render(settings: Settings, fleet: list[Member]) -> str:
    application = create_app(settings)
    async with application.test_app():
        reports = [
            make_stats(
                uuid.uuid4(),
                country=m.country,
                app_version=m.version,
                mode=m.mode,
                printers=dict.fromkeys(m.families, 1),
            )
            for m in fleet
        ]
        await load_into_repository(application.config["REPOSITORY"], reports)
        response = await application.test_client().get("/community")
        assert response.status_code == 200
        return await response.get_data(as_text=True)


def check(html: str, fleet: list[Member], k: int) -> Page:
    """No derivable hidden group, every named row and "other" hold k or more."""
    assert "<script" not in html, "the page loads no data: what it shows is all there is"
    page = read_page(html)
    assert derived_groups(page, k) == [], html
    for title, dimension in {**EXCLUSIVE, **MULTI}.items():
        counts = truth(fleet, dimension)
        rows = page.charts[title]
        named = [label for label, _ in rows if label != "other"]
        for label in named:
            assert counts[label] >= k, f"{title}: {label} has {counts[label]} < {k}"
        if title in EXCLUSIVE and rows:
            other = len(fleet) - sum(counts[label] for label in named)
            assert ("other" in dict(rows)) == (other > 0), title
            assert other == 0 or other >= k, f"{title}: other holds {other}"
            # The real fleet is a world the attacker must allow: nothing is left over in it.
            assert 0 in leftovers(rows, consistent_totals(page, k)), title
    assert re.fullmatch(r"(about|fewer than) \d+", page.total), "never the exact total"
    return page


def _fleet(*groups: tuple[int, Member]) -> list[Member]:
    return [member for count, member in groups for _ in range(count)]


@pytest.fixture
def public(make_settings: Callable[..., Settings]) -> Callable[..., Settings]:
    return lambda **changes: make_settings(public_page=True, **changes)


async def test_seven_installations_with_one_hidden_country(
    public: Callable[..., Settings],
) -> None:
    """The issue's case: total 7 with DE 86 % gave away a hidden group of 1."""
    fleet = _fleet((6, Member(country="DE")), (1, Member(country="FR")))
    page = check(await render(public(), fleet), fleet, 5)
    assert page.charts["Countries"] == []
    assert page.tiles["Countries"] == "n/a"
    assert page.total == "fewer than 10"
    assert page.charts["Deployment"] == [("docker", 100)]


async def test_forty_installations_with_hidden_groups_of_three_and_four(
    public: Callable[..., Settings],
) -> None:
    """40 installations: a hidden version of 3 and a hidden country of 4 stay hidden."""
    fleet = _fleet(
        (33, Member(country="DE", version="2.1.0")),
        (3, Member(country="DE", version="2.0.0")),
        (4, Member(country="AT", version="2.1.0")),
    )
    page = check(await render(public(), fleet), fleet, 5)
    assert page.total == "about 40"
    assert page.charts["Countries"] == []  # DE alone would leave AT's 4 by difference
    assert page.charts["Versions"] == []
    assert page.tiles["Latest version"] == "n/a"


async def test_hidden_groups_that_make_a_large_other_are_shown_as_other(
    public: Callable[..., Settings],
) -> None:
    fleet = _fleet(
        (20, Member(country="DE", mode="homeassistant")),
        (13, Member(country="US", mode="docker")),
        (3, Member(country="FR", mode="docker")),
        (4, Member(country="NL", mode="pi")),
    )
    page = check(await render(public(), fleet), fleet, 5)
    assert page.charts["Countries"] == [("DE", 50), ("US", 33), ("other", 18)]
    assert page.tiles["Countries"] == "2"
    # Modes: pi (4) alone is hidden; the smallest named mode goes with it, leaving a safe other.
    assert page.charts["Deployment"] == [("homeassistant", 50), ("other", 50)]


async def test_printer_families_leave_no_small_remainder(
    public: Callable[..., Settings], tmp_path: Path
) -> None:
    # Overlapping families (6 installations have two): the shares add up past 100 %, so
    # subtraction tells nothing about the 2 Klipper installations.
    overlapping = _fleet(
        (12, Member(families=(PrinterType.BAMBU_LAB,))),
        (6, Member(families=(PrinterType.BAMBU_LAB, PrinterType.PRUSA_CORE))),
        (2, Member(families=(PrinterType.KLIPPER,))),
    )
    page = check(await render(public(), overlapping), overlapping, 5)
    assert page.charts["Printer families"] == [("bambu_lab", 90), ("prusa_core", 30)]
    # One family only: 15 of 17 would leave the 2 Klipper installations by difference.
    single = _fleet(
        (15, Member(families=(PrinterType.BAMBU_LAB,))),
        (2, Member(families=(PrinterType.KLIPPER,))),
    )
    fresh = public(database_url=f"sqlite:///{tmp_path / 'single.db'}")
    page = check(await render(fresh, single), single, 5)
    assert page.charts["Printer families"] == []


async def test_k_is_respected_when_configured_higher(public: Callable[..., Settings]) -> None:
    fleet = _fleet((14, Member(country="DE")), (9, Member(country="FR")), (7, Member(country="NL")))
    page = check(await render(public(k_anonymity=8), fleet), fleet, 8)
    # NL (7) is under k=8; FR (9) goes with it, so the rest (16) is a safe "other".
    assert page.charts["Countries"] == [("DE", 47), ("other", 53)]


COUNTRIES = ["DE", "US", "FR", "NL", "AT", "GB", "PL"]
VERSIONS = ["2.1.0", "2.0.3", "1.9.0", "1.8.2"]
MODES = ["homeassistant", "docker", "pi", "standalone"]
FAMILIES = [
    PrinterType.BAMBU_LAB,
    PrinterType.PRUSA_CORE,
    PrinterType.OCTOPRINT,
    PrinterType.KLIPPER,
]


def random_fleet(rng: random.Random) -> list[Member]:
    size = rng.randint(5, 60)
    weights = {
        name: [rng.random() ** 3 for _ in values]
        for name, values in (
            ("country", COUNTRIES),
            ("version", VERSIONS),
            ("mode", MODES),
            ("family", FAMILIES),
        )
    }
    return [
        Member(
            country=rng.choices(COUNTRIES, weights["country"])[0],
            version=rng.choices(VERSIONS, weights["version"])[0],
            mode=rng.choices(MODES, weights["mode"])[0],
            families=tuple(set(rng.choices(FAMILIES, weights["family"], k=rng.randint(1, 2)))),
        )
        for _ in range(size)
    ]


@pytest.mark.parametrize("seed", range(40))
async def test_random_small_fleets(seed: int, tmp_path: Path) -> None:
    """Seeded skewed fleets of 5-60 installations (SQLite: the page's arithmetic does not
    depend on the backend; the crafted fleets above run on both)."""
    rng = random.Random(seed)
    fleet = random_fleet(rng)
    k = rng.choice([3, 5, 5, 5, 7])
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'fleet.db'}",
        api_key=ADMIN_KEY,
        public_page=True,
        k_anonymity=k,
        report_schedule="off",
        reports_dir=str(tmp_path / "reports"),
        address_rate_limit_per_minute=0,
    )
    check(await render(settings, fleet), fleet, k)


def test_the_attacker_finds_what_the_old_page_gave_away() -> None:
    """The attacker works: on the figures the page used to publish it derives the groups."""
    old_seven = Page(total="7", charts={"Countries": [("DE", 86)]})
    assert derived_groups(old_seven, 5) == ["Countries: [1] left over"]
    old_forty = Page(total="40", charts={"Versions": [("2.1.0", 93)], "Countries": [("DE", 90)]})
    assert derived_groups(old_forty, 5) == [
        "Versions: [3] left over",
        "Countries: [4] left over",
    ]
    # Rounding the total alone is not enough: shares still pin the remainder.
    rounded = Page(total="about 40", charts={"Versions": [("2.1.0", 93)]})
    assert derived_groups(rounded, 5) == ["Versions: [3] left over"]
