"""The page follows the browser's language in real Chromium: German, English, English fallback."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.browser import CHROMIUM, chromium

from .conftest import ServiceFactory
from .page_texts import assert_one_language, foreign_texts, text

pytestmark = pytest.mark.browser

if not os.path.exists(CHROMIUM):  # pragma: no cover - depends on the machine
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)

pytest.importorskip("playwright.async_api")

FORMATS = "() => [I18n.locale, I18n.number(12345.5), I18n.day('2026-12-02')]"


async def load(context: Any, url: str) -> Any:
    page = await context.new_page()
    await page.goto(url)
    await page.wait_for_selector("body[data-loaded='true']")
    return page


@pytest.mark.parametrize(
    ("browser_locale", "lang", "formats"),
    [
        ("de-DE", "de", ["de-DE", "12.345,5", "2. Dez. 2026"]),
        # Austrian German: German texts, Austrian digit grouping (a no-break space).
        ("de-AT", "de", ["de-AT", "12\u00a0345,5", "2. Dez. 2026"]),
        ("en-US", "en", ["en-US", "12,345.5", "Dec 2, 2026"]),
        ("en-GB", "en", ["en-GB", "12,345.5", "2 Dec 2026"]),
        # A language the page does not have: English texts, English formats.
        ("fr-FR", "en", ["en", "12,345.5", "Dec 2, 2026"]),
    ],
)
async def test_page_follows_the_browser_language(
    browser_locale: str, lang: str, formats: list[str], start_service: ServiceFactory
) -> None:
    svc = await start_service()
    async with chromium() as browser:
        context = await browser.new_context(locale=browser_locale)
        page = await load(context, svc.url + "/")
        await assert_one_language(page, lang)
        assert await page.title() == text(lang, "page.title")
        assert await page.locator("#btn-opt-in").text_content() == text(lang, "btn.opt_in")
        assert await page.evaluate(FORMATS) == formats
        # The consent explanation and the privacy policy are translated, too.
        version = await page.locator("body").get_attribute("data-consent-version")
        assert await page.locator("#consent-line").text_content() == text(
            lang, "consent.before", version=version
        )
        await page.click("#policy summary")
        assert await page.locator("#policy h3").first.text_content() == text(
            lang, "policy.purpose.title"
        )
        await context.close()


async def test_chromium_started_with_lang_de_shows_german(start_service: ServiceFactory) -> None:
    """A German Chromium, no locale emulated by the test.

    Headless Chromium takes its languages from --accept-lang (--lang alone leaves en-US).
    """
    svc = await start_service()
    async with chromium("--lang=de", "--accept-lang=de") as browser:
        context = await browser.new_context()
        page = await load(context, svc.url + "/")
        assert await page.evaluate("navigator.language") == "de"
        await assert_one_language(page, "de")
        await context.close()


async def test_the_language_check_finds_leftovers(start_service: ServiceFactory) -> None:
    """The check used by every browser test notices a text of the other language."""
    svc = await start_service()
    async with chromium() as browser:
        for lang, catalogue_text, hard_coded in (
            ("de", text("en", "share.lead.on"), "Report sent (or nothing was due yet)."),
            (
                "en",
                text("de", "delivery.none"),
                "Bericht gesendet (oder es war noch nichts fällig).",
            ),
        ):
            context = await browser.new_context(locale={"de": "de-DE", "en": "en-US"}[lang])
            page = await load(context, svc.url + "/")
            assert await foreign_texts(page, lang) == []
            await page.evaluate(
                """([a, b]) => {
                  const main = document.querySelector('main');
                  const one = document.createElement('p'); one.textContent = a;
                  const two = document.createElement('button'); two.title = b;
                  const data = document.createElement('code'); data.translate = false;
                  data.setAttribute('translate', 'no'); data.textContent = a;
                  main.append(one, two, data);
                }""",
                [catalogue_text, hard_coded],
            )
            found = await foreign_texts(page, lang)
            assert len(found) == 2, found
            await context.close()
