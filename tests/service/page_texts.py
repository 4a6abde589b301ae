"""The page's text catalogues, and a check that a page in Chromium shows one language only."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import printernizer_usage_service

LOCALES = Path(printernizer_usage_service.__file__).parent / "static" / "locales"
LANGUAGES = ("en", "de")
# What a browser sends for each language (Playwright sets navigator.languages and Accept-Language).
BROWSER_LOCALE = {"en": "en-US", "de": "de-DE"}
# Around a piece of text: spaces, punctuation, the dash and the quotes both languages use.
PUNCTUATION = " .,:;()\"'\u00b7\u2013\u201c\u201d\u201e"
PLACEHOLDER = re.compile(r"\{(\w+)\}")
MARKUP = re.compile(r"\*\*|`")
# Short words that only one of the two languages uses: a hard-coded sentence that never went
# through the catalogue still shows up by these.
FUNCTION_WORDS = {
    "en": {"the", "is", "and", "of", "you", "your", "not", "yet", "with", "this", "no"},
    "de": {
        "der",
        "die",
        "das",
        "und",
        "ist",
        "nicht",
        "noch",
        "wird",
        "mit",
        "für",
        "dein",
        "deine",
    },
}

# Every text node and user-facing attribute outside translate="no" (data shown as it is:
# the payload, ids, URLs, class names), including hidden parts and closed dialogs.
WALK_JS = """() => {
  const skip = (node) => node.closest('[translate="no"], script, style, noscript');
  const out = [];
  const walker = document.createTreeWalker(document, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.textContent.trim();
    if (text && !skip(node.parentElement)) out.push([node.parentElement.tagName, text]);
  }
  for (const node of document.querySelectorAll('[title], [aria-label], [alt], [placeholder]')) {
    if (skip(node)) continue;
    for (const name of ['title', 'aria-label', 'alt', 'placeholder']) {
      const value = (node.getAttribute(name) || '').trim();
      if (value) out.push([`${node.tagName}@${name}`, value]);
    }
  }
  return out;
}"""


@cache
def catalogue(lang: str) -> dict[str, Any]:
    """static/locales/<lang>.json."""
    value: dict[str, Any] = json.loads((LOCALES / f"{lang}.json").read_text(encoding="utf-8"))
    return value


def forms(value: Any) -> list[str]:
    """The texts of one entry: the string itself, or each plural form."""
    return list(value.values()) if isinstance(value, dict) else [value]


def text(lang: str, key: str, form: str = "other", **values: Any) -> str:
    """One entry as the page shows it: markup removed, placeholders filled."""
    entry = catalogue(lang)[key]
    raw = entry[form] if isinstance(entry, dict) else entry
    plain = MARKUP.sub("", raw)
    return PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), m.group(0))), plain)


def fixed_start(lang: str, key: str, form: str = "other") -> str:
    """The part of an entry before its first placeholder (what a test can look for)."""
    return PLACEHOLDER.split(text(lang, key, form))[0].strip()


@cache
def foreign_pieces(lang: str) -> tuple[re.Pattern[str], ...]:
    """Patterns for texts of the *other* languages that must not appear on a `lang` page.

    Each entry that differs between the catalogues is cut at its placeholders; a piece counts
    when it has a letter and does not occur as words in `lang`'s own catalogue (names such as
    Printernizer, Docker or HTTP are the same in both).
    """
    own = catalogue(lang)
    own_text = "\n".join(MARKUP.sub("", f) for v in own.values() for f in forms(v))
    patterns = []
    for other in (x for x in LANGUAGES if x != lang):
        for key, value in catalogue(other).items():
            if value == own.get(key):
                continue
            for form in forms(value):
                for cut in PLACEHOLDER.split(MARKUP.sub("", form))[::2]:
                    piece = cut.strip(PUNCTUATION)
                    if re.search(r"[^\W\d_]", piece) and not words(piece, own_text):
                        patterns.append(words_pattern(piece))
        function_words = "|".join(sorted(FUNCTION_WORDS[other]))
        patterns.append(re.compile(rf"(?<!\w)(?:{function_words})(?!\w)", re.IGNORECASE))
    return tuple(patterns)


def words_pattern(piece: str) -> re.Pattern[str]:
    """`piece` as whole words."""
    return re.compile(rf"(?<!\w){re.escape(piece)}(?!\w)")


def words(piece: str, haystack: str) -> bool:
    """Whether `piece` occurs in `haystack` as whole words."""
    return words_pattern(piece).search(haystack) is not None


async def foreign_texts(page: Any, lang: str) -> list[str]:
    """Texts on `page` (visible or not) that belong to the other language."""
    found = []
    for where, shown in await page.evaluate(WALK_JS):
        for pattern in foreign_pieces(lang):
            match = pattern.search(shown)
            if match:
                found.append(f"{where}: {shown!r} has {match.group(0)!r}")
                break
    return found


async def assert_one_language(page: Any, lang: str) -> None:
    """The page is in `lang`: <html lang>, every key known, nothing of the other language."""
    assert await page.evaluate("document.documentElement.lang") == lang
    missing = await page.evaluate(
        "() => [...document.querySelectorAll('[data-i18n]')]"
        ".map((n) => n.dataset.i18n).filter((k) => !I18n.has(k))"
    )
    assert missing == []
    assert await foreign_texts(page, lang) == []
