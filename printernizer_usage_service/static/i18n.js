// The page's languages: picks English or German from the browser, loads static/locales/<lang>.json
// (English is the fallback for missing keys) and formats texts, numbers and dates for that locale.
"use strict";

const I18n = (() => {
  const SUPPORTED = ["en", "de"];
  const FALLBACK = "en";
  const catalogues = {};
  let lang = FALLBACK;
  // The browser's own tag (e.g. de-AT, en-GB) when its language is supported: dates and numbers
  // then follow the regional habits while the texts follow the language.
  let locale = FALLBACK;

  function choose(tags) {
    for (const tag of tags) {
      const primary = String(tag || "").toLowerCase().split("-")[0];
      if (SUPPORTED.includes(primary)) return { lang: primary, locale: tag };
    }
    return { lang: FALLBACK, locale: FALLBACK };
  }

  async function fetchCatalogue(name) {
    const base = document.body.dataset.locales || "/static/locales";
    const response = await fetch(`${base}/${name}.json?v=${encodeURIComponent(document.body.dataset.version || "")}`);
    if (!response.ok) throw new Error(`${name}.json: HTTP ${response.status}`);
    return response.json();
  }

  /** Load the catalogues for the browser's language (and the English fallback). */
  async function load(tags = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language]) {
    ({ lang, locale } = choose(tags));
    try { Intl.getCanonicalLocales(locale); } catch (_) { locale = lang; }
    const names = lang === FALLBACK ? [FALLBACK] : [FALLBACK, lang];
    const loaded = await Promise.allSettled(names.map(fetchCatalogue));
    loaded.forEach((result, i) => {
      if (result.status === "fulfilled") catalogues[names[i]] = result.value;
      else console.warn("translation not loaded:", result.reason);
    });
    if (!catalogues[lang]) { lang = FALLBACK; locale = FALLBACK; }
    document.documentElement.lang = lang;
  }

  function lookup(key) {
    for (const name of [lang, FALLBACK]) {
      const cat = catalogues[name];
      if (cat && Object.prototype.hasOwnProperty.call(cat, key)) return cat[key];
    }
    return undefined;
  }

  function pick(entry, vars) {
    if (entry === null || typeof entry !== "object") return entry;
    const count = Number(vars && vars.count);
    const form = new Intl.PluralRules(locale).select(Number.isFinite(count) ? count : 0);
    return entry[form] !== undefined ? entry[form] : entry.other;
  }

  function fill(text, vars) {
    return text.replace(/\{(\w+)\}/g, (whole, name) => {
      if (!vars || vars[name] === undefined || vars[name] === null) return whole;
      return typeof vars[name] === "number" ? number(vars[name]) : String(vars[name]);
    });
  }

  /** The translated text for `key` with {placeholders} filled; numbers are formatted. */
  function t(key, vars) {
    const entry = pick(lookup(key), vars);
    return entry === undefined ? key : fill(entry, vars);
  }

  function has(key) { return lookup(key) !== undefined; }

  /**
   * Put a translation into `node` as text: **bold** and `code` in the catalogue become <strong>
   * and <code translate="no">; values are inserted as plain text, never as markup.
   */
  function render(node, key, vars) {
    const entry = pick(lookup(key), vars);
    if (entry === undefined) { node.textContent = key; return; }
    const parts = [];
    for (const piece of entry.split(/(\*\*[^*]+\*\*|`[^`]+`)/)) {
      if (!piece) continue;
      if (piece.startsWith("**") && piece.endsWith("**") && piece.length > 4) {
        const strong = document.createElement("strong");
        strong.textContent = fill(piece.slice(2, -2), vars);
        parts.push(strong);
      } else if (piece.startsWith("`") && piece.endsWith("`") && piece.length > 2) {
        const code = document.createElement("code");
        code.setAttribute("translate", "no");
        code.textContent = fill(piece.slice(1, -1), vars);
        parts.push(code);
      } else {
        parts.push(fill(piece, vars));
      }
    }
    node.replaceChildren(...parts);
  }

  /** Translate every [data-i18n] text and [data-i18n-attr] attribute under `root`. */
  function apply(root, vars) {
    for (const node of root.querySelectorAll("[data-i18n]")) {
      const key = node.dataset.i18n;
      if (!has(key)) continue; // keep what the server wrote (e.g. a new event type's label)
      const own = node.dataset.i18nCount !== undefined ? { count: Number(node.dataset.i18nCount) } : {};
      render(node, key, Object.assign({}, vars, own));
    }
    for (const node of root.querySelectorAll("[data-i18n-attr]")) {
      for (const pair of node.dataset.i18nAttr.split(";")) {
        const [attr, key] = pair.split("=").map((s) => s.trim());
        if (attr && key && has(key)) node.setAttribute(attr, t(key, vars));
      }
    }
  }

  function number(n) { return new Intl.NumberFormat(locale).format(n || 0); }

  function toDate(value) {
    return new Date(typeof value === "string" && value.length === 10 ? value + "T00:00:00Z" : value);
  }

  /** A calendar day (dates from the API are UTC days). */
  function day(value, opts = { year: "numeric", month: "short", day: "numeric" }) {
    if (!value) return "–";
    return toDate(value).toLocaleDateString(locale, Object.assign({ timeZone: "UTC" }, opts));
  }

  /** A moment in the viewer's own time zone, to the minute. */
  function moment(value) {
    if (!value) return "–";
    return toDate(value).toLocaleString(locale, { dateStyle: "medium", timeStyle: "short" });
  }

  function time(value) { return toDate(value).toLocaleTimeString(locale); }

  return {
    load, t, has, render, apply, number, day, moment, time, choose,
    get lang() { return lang; },
    get locale() { return locale; },
  };
})();
