"""The optional community page: off by default, k-suppressed figures only, no login."""

from __future__ import annotations

import re
from collections.abc import Callable

from quart import Quart

from aggregation.app import create_app
from aggregation.demo_data import DemoOptions, generate_history, load_into_repository
from aggregation.settings import Settings


async def test_off_by_default(app: Quart) -> None:
    assert (await app.test_client().get("/community")).status_code == 404


async def test_only_buckets_of_at_least_k_are_shown(
    make_settings: Callable[..., Settings],
) -> None:
    k = 8
    application = create_app(make_settings(public_page=True, k_anonymity=k))
    async with application.test_app():
        # 30 installations: several countries and versions fall under k=8.
        reports = generate_history(DemoOptions(installations=30, weeks=4, seed=3))
        await load_into_repository(application.config["REPOSITORY"], reports)
        resp = await application.test_client().get("/community")
        assert resp.status_code == 200
        html = await resp.get_data(as_text=True)
    latest = {}
    for report in reports:
        latest[report.installation.installation_id] = report
    countries: dict[str, int] = {}
    for report in latest.values():
        code = report.installation.country_code
        countries[code] = countries.get(code, 0) + 1
    small = [code for code, n in countries.items() if n < k]
    big = [code for code, n in countries.items() if n >= k]
    assert small and big, "the generated fleet has both small and large country groups"
    labels = re.findall(r'<span class="bar-label">([^<]+)</span>', html)
    for code in small:
        assert code not in labels, f"{code} has fewer than {k} installations"
    for code in big:
        assert code in labels
    # Shares only: no exact small counts leak through the page.
    assert "installations</span>" not in html
    assert "Groups smaller than 8 installations are never shown" in html


async def test_tiny_fleet_shows_nothing(make_settings: Callable[..., Settings]) -> None:
    application = create_app(make_settings(public_page=True))
    async with application.test_app():
        reports = generate_history(DemoOptions(installations=3, weeks=2, seed=1))
        await load_into_repository(application.config["REPOSITORY"], reports)
        html = await (await application.test_client().get("/community")).get_data(as_text=True)
    assert "fewer than 5" in html
    assert 'class="bar-label"' not in html
