// Printernizer usage statistics page: plain JavaScript, no libraries, nothing loaded from elsewhere.
// Texts come from I18n (static/i18n.js and static/locales/*.json).
"use strict";

const API = "/api/v1/usage-stats";
const SVG_NS = "http://www.w3.org/2000/svg";
const REFRESH_MS = 10000;
// After Share or Send now, /status is polled until the round has finished, at most this long.
const WATCH_MS = 30000;
const WATCH_MAX_STEP_MS = 2000;
// A next attempt further away than this means no round is coming now.
const WATCH_IDLE_MS = 60000;
// Event types grouped into the chart's stacked series (anything else lands in "other").
const SERIES = [
  { key: "jobs", cls: "s1", colour: "--c1", types: ["job_created", "job_completed"] },
  { key: "files", cls: "s2", colour: "--c2", types: ["file_downloaded", "file_uploaded"] },
  { key: "printers", cls: "s3", colour: "--c3", types: ["printer_connected", "printer_disconnected"] },
  { key: "errors", cls: "s4", colour: "--c4", types: ["job_failed", "error_occurred"] },
  { key: "other", cls: "s5", colour: "--c5", types: [] },
];

const state = { days: 30, local: null, status: null, preview: "", formatted: true, busy: false, sending: false };
const $ = (id) => document.getElementById(id);
const t = (key, vars) => I18n.t(key, vars);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function token() { return sessionStorage.getItem("printernizer-usage-token") || ""; }

/** An answer other than 2xx: the HTTP status and the service's own sentence. */
class ApiError extends Error {
  constructor(status, detail) {
    super(detail || String(status));
    this.status = status;
    this.detail = detail;
  }
}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(options.json);
  }
  if (token()) headers.Authorization = `Bearer ${token()}`;
  const response = await fetch(API + path, { method: options.method || "GET", headers, body: options.body, cache: "no-store" });
  if (response.status === 401 && !options.retried && (await askToken())) {
    return api(path, Object.assign({}, options, { retried: true }));
  }
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).error || detail; } catch (_) { /* not JSON */ }
    throw new ApiError(response.status, detail);
  }
  return response;
}

async function getJson(path) { return (await api(path)).json(); }

/** A failure as a message part in the page's language (the service's own words only as detail). */
function describeError(err) {
  if (!(err instanceof ApiError)) return ["error.network"];
  if (err.status === 401) return ["error.token"];
  if (err.status === 409) return ["error.conflict", { detail: err.detail }];
  if (err.status === 504) return ["error.timeout"];
  if (err.status >= 500) return ["error.server", { status: String(err.status) }];
  return ["error.rejected", { status: String(err.status), detail: err.detail }];
}

/** Ask for the token once: requests refused at the same time share one open dialog. */
function askToken() {
  if (!askToken.pending) {
    askToken.pending = promptForToken().finally(() => { askToken.pending = null; });
  }
  return askToken.pending;
}

function promptForToken() {
  const dialog = $("dlg-token");
  $("token-input").value = token();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      const value = $("token-input").value.trim();
      if (dialog.returnValue === "confirm" && value) {
        sessionStorage.setItem("printernizer-usage-token", value);
        resolve(true);
      } else {
        resolve(false);
      }
    }, { once: true });
    dialog.showModal();
  });
}

/** Show a message made of catalogue parts: [[key, vars], ...] (values inside `code` stay as sent). */
function toast(parts, bad = false) {
  const node = $("toast");
  const spans = [];
  for (const [key, vars] of parts) {
    const span = el("span");
    I18n.render(span, key, vars);
    spans.push(span, " ");
  }
  spans.pop();
  node.replaceChildren(...spans);
  node.dataset.keys = parts.map(([key]) => key).join(" ");
  node.classList.toggle("bad", bad);
  node.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { node.hidden = true; }, 6000);
}

function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

/** A translated label for an identifier (event type, printer family), else the identifier. */
function labelOf(prefix, name) {
  return I18n.has(`${prefix}.${name}`) ? t(`${prefix}.${name}`) : name.replace(/_/g, " ");
}

/** A span holding data that is shown as it is (identifiers, versions, URLs), never translated. */
function raw(text, tag = "span") { return el(tag, { translate: "no" }, text); }

// --- sharing card -------------------------------------------------------------------------

/** Where reports go: the status endpoint names the effective server; settings only a chosen one. */
function effectiveEndpoint(settings, status) {
  return (status && status.endpoint) || (settings && settings.endpoint) || null;
}

/** What the pill shows: off, on, sending, failing (the last round failed) or blocked. */
function sharingView(settings, status) {
  if (settings.blocked_by_environment || (status && status.state === "blocked")) return "blocked";
  if (!settings.opted_in) return "off";
  if (state.sending) return "sending";
  if (status && (status.state === "failing" || status.last_error)) return "failing";
  return "on";
}

function renderSharing(settings, status) {
  const view = sharingView(settings, status);
  const pill = $("sharing-pill");
  pill.textContent = t(`pill.${view}`);
  pill.className = `pill pill-${view}`;
  pill.dataset.state = view;
  document.body.dataset.sharing = view;
  $("btn-opt-in").hidden = settings.opted_in;
  $("btn-opt-out").hidden = !settings.opted_in;
  $("btn-send-now").hidden = !settings.opted_in || view === "blocked";
  $("btn-send-now").disabled = view === "sending";

  const lead = $("share-lead");
  const leadKey = view === "blocked" ? (settings.opted_in ? "share.lead.blocked_on" : "share.lead.blocked_off")
    : view === "off" ? "share.lead.off" : view === "failing" ? "share.lead.failing" : "share.lead.on";
  I18n.render(lead, leadKey);
  lead.dataset.key = leadKey;
  lead.classList.toggle("warn", view === "blocked" || view === "failing");

  const consent = $("consent-line");
  if (settings.opted_in) {
    I18n.render(consent, "consent.given", { version: settings.consent_version || "–", date: I18n.day(settings.consented_at) });
  } else {
    I18n.render(consent, "consent.before", { version: document.body.dataset.consentVersion });
  }

  const endpoint = effectiveEndpoint(settings, status);
  const endpointLine = $("endpoint-line");
  endpointLine.hidden = view === "blocked" || !endpoint;
  if (endpoint) I18n.render(endpointLine, "endpoint.line", { endpoint });
  $("f-endpoint").replaceChildren(endpoint ? raw(endpoint, "code") : t("endpoint.unknown"));

  renderDelivery(settings, status, view);
}

function renderDelivery(settings, status, view) {
  const line = $("delivery-line");
  line.hidden = !(status && settings.opted_in && view !== "blocked");
  line.dataset.state = view;
  line.dataset.delivered = String(Boolean(status && status.last_success) && view !== "sending");
  if (line.hidden) return;
  const parts = [];
  const part = (key, vars) => { const span = el("span"); I18n.render(span, key, vars); parts.push(span, " "); };
  if (view === "sending") {
    part("delivery.sending");
  } else {
    if (status.last_success) part("delivery.last", { date: I18n.moment(status.last_success) });
    else part("delivery.none");
    if (status.last_error) part("delivery.failed", { error: status.last_error });
    if (status.failed_periods) part("delivery.failed_periods", { count: status.failed_periods });
    // A retry is an "attempt"; the regular weekly send is the "next report".
    const retry = status.last_error || status.pending_periods > 0;
    if (status.next_attempt) part(retry ? "delivery.next_attempt" : "delivery.next_report", { date: I18n.moment(status.next_attempt) });
  }
  parts.pop();
  line.replaceChildren(...parts);
  line.className = view === "failing" ? "note warn" : "note";
}

/** Whether the round that Share or Send now started is over (or none is coming). */
function roundFinished(before, now) {
  if (now.state === "off" || now.state === "blocked") return true;
  if (now.last_attempt && now.last_attempt !== (before && before.last_attempt)) return true;
  if (now.last_error && now.last_error !== (before && before.last_error)) return true;
  if (now.pending_periods) return false;
  return !now.next_attempt || Date.parse(now.next_attempt) - Date.now() > WATCH_IDLE_MS;
}

/** Show "sending" and poll /status (backing off, bounded) until the round finished. */
async function watchDelivery(before) {
  if (state.status && roundFinished(before, state.status)) return; // over before we looked
  state.sending = true;
  if (state.local) renderSharing(state.local.settings, state.status);
  const started = Date.now();
  let step = 200;
  try {
    while (Date.now() - started < WATCH_MS) {
      await sleep(step);
      step = Math.min(step * 2, WATCH_MAX_STEP_MS);
      const status = await getJson("/status");
      state.status = status;
      if (roundFinished(before, status)) break;
    }
  } catch (_) {
    // The refresh below reports what is wrong.
  } finally {
    state.sending = false;
    await refresh();
  }
}

/** What "Send report now" achieved, in words: delivered, failed, still queued or nothing due. */
function submitMessage(before, after) {
  const prior = before || {};
  const attempted = after.last_attempt && after.last_attempt !== prior.last_attempt;
  const failed = Boolean(after.last_error) && (attempted || after.last_error !== prior.last_error);
  // `delivered_periods` (reports the server accepted during this call) when the API gives it.
  const delivered = typeof after.delivered_periods === "number" ? after.delivered_periods
    : (after.last_success && after.last_success !== prior.last_success ? 1 : 0);
  const parts = [];
  if (delivered > 0) parts.push(["toast.delivered", { count: delivered }]);
  if (failed) parts.push(["toast.send_failed", { error: after.last_error }]);
  else if (!delivered && after.pending_periods > 0) parts.push(["toast.queued", { date: I18n.moment(after.next_attempt) }]);
  else if (!delivered && after.next_attempt) parts.push(["toast.nothing_due", { date: I18n.moment(after.next_attempt) }]);
  else if (!delivered) parts.push(["toast.nothing_due_later"]);
  const outcome = failed ? "failed" : delivered > 0 ? "delivered" : after.pending_periods > 0 ? "queued" : "nothing_due";
  document.body.dataset.lastSubmit = outcome;
  return { parts, bad: failed };
}

// --- statistics ---------------------------------------------------------------------------

function renderWeek(local) {
  const usage = local.usage_stats;
  const errors = Object.values(local.error_summary || {}).reduce((a, n) => a + n, 0);
  for (const node of document.querySelectorAll("[data-stat]")) {
    node.textContent = I18n.number(node.dataset.stat === "errors" ? errors : usage[node.dataset.stat]);
  }
  const p = local.period;
  const last = new Date(new Date(p.end).getTime() - 86400000);
  const short = { month: "short", day: "numeric" };
  $("week-range").textContent = `${I18n.day(p.start, short)} – ${I18n.day(last.toISOString(), short)}`;
}

function renderFacts(local) {
  let inst = local.installation;
  if (!inst) {
    // Not opted in yet: the facts are still exactly those the report below would carry.
    try { inst = JSON.parse(state.preview).installation; } catch (_) { inst = null; }
  }
  const settings = local.settings;
  $("f-id").replaceChildren(settings.installation_id ? raw(settings.installation_id, "code") : el("span", { class: "muted" }, t("facts.id_pending")));
  $("f-first").textContent = I18n.day(settings.first_seen);
  $("f-versions").replaceChildren(inst ? raw(t("facts.versions_value", { app: inst.app_version, python: inst.python_version })) : "–");
  $("f-platform").replaceChildren(...(inst ? [raw(inst.platform), ` · ${labelOf("mode", inst.deployment_mode)}`] : ["–"]));
  $("f-country").textContent = inst ? (inst.country_code === "XX" ? t("facts.country_unknown") : inst.country_code) : "–";
  const vars = { count: local.total_events, days: settings.retention_days, date: I18n.day(local.oldest_event) };
  $("f-events").textContent = t(local.oldest_event ? "facts.events_since" : "facts.events_value", vars);
}

function seriesOf(type) {
  return SERIES.find((s) => s.types.includes(type)) || SERIES[SERIES.length - 1];
}

// The y-axis top: four whole-number steps of 1, 2 or 5 times a power of ten.
function niceMax(value) {
  if (value <= 4) return 4;
  const raw = value / 4;
  const pow = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const step of [1, 2, 5, 10]) {
    if (step * pow >= raw) return step * pow * 4;
  }
  return value;
}

function renderChart(daily) {
  const box = $("chart");
  const width = Math.max(box.clientWidth || 600, 280);
  const height = width < 480 ? 200 : 240;
  const pad = { left: 34, right: 6, top: 10, bottom: 26 };
  const innerW = width - pad.left - pad.right;
  const innerH = height - pad.top - pad.bottom;
  const max = niceMax(Math.max(0, ...daily.map((d) => d.total)));
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", "aria-hidden": "true" });
  for (let i = 0; i <= 4; i++) {
    const y = pad.top + innerH - (innerH * i) / 4;
    chart.append(svg("line", { class: "grid-line", x1: pad.left, x2: width - pad.right, y1: y, y2: y }));
    const label = svg("text", { class: "axis-label", x: pad.left - 6, y: y + 4, "text-anchor": "end" });
    label.textContent = I18n.number(Math.round((max * i) / 4));
    chart.append(label);
  }
  const slot = innerW / daily.length;
  const barW = Math.max(2, Math.min(28, slot * 0.7));
  const labelEvery = Math.ceil(daily.length / (width < 480 ? 4 : 8));
  const styles = getComputedStyle(document.documentElement);
  daily.forEach((day, i) => {
    const x = pad.left + i * slot + (slot - barW) / 2;
    const group = svg("g", { class: "bar", "data-day": day.day, "data-total": day.total });
    const hit = svg("rect", { class: "bar-hit", x: pad.left + i * slot, y: pad.top, width: slot, height: innerH });
    const title = svg("title");
    const parts = Object.entries(day.by_type).map(([type, n]) => `${labelOf("type", type)}: ${I18n.number(n)}`);
    title.textContent = t("chart.tooltip", { date: I18n.day(day.day), count: day.total }) + (parts.length ? `\n${parts.join("\n")}` : "");
    hit.append(title);
    group.append(hit);
    let y = pad.top + innerH;
    const sums = {};
    for (const [type, n] of Object.entries(day.by_type)) {
      const s = seriesOf(type);
      sums[s.key] = (sums[s.key] || 0) + n;
    }
    for (const s of SERIES) {
      const n = sums[s.key] || 0;
      if (!n) continue;
      const h = (innerH * n) / max;
      y -= h;
      const rect = svg("rect", { x, y, width: barW, height: Math.max(h, 1), rx: Math.min(3, barW / 3), fill: styles.getPropertyValue(s.colour).trim(), "pointer-events": "none" });
      group.append(rect);
    }
    chart.append(group);
    const last = i === daily.length - 1;
    if ((i % labelEvery === 0 && daily.length - 1 - i >= labelEvery / 2) || last) {
      const label = svg("text", { class: "axis-label", x: pad.left + i * slot + slot / 2, y: height - 6, "text-anchor": "middle" });
      label.textContent = I18n.day(day.day, { month: "short", day: "numeric" });
      chart.append(label);
    }
  });
  const total = daily.reduce((a, d) => a + d.total, 0);
  box.setAttribute("aria-label", t("chart.aria", { days: daily.length, total }));
  box.dataset.total = String(total);
  box.replaceChildren(chart);
  const legend = $("legend");
  legend.replaceChildren(...SERIES.map((s) => { const li = el("li"); li.append(el("span", { class: `swatch ${s.cls}` }), t(`series.${s.key}`)); return li; }));
}

function renderBars(container, entries, cls, emptyKey, label) {
  const node = $(container);
  if (!entries.length) { node.replaceChildren(el("p", { class: "empty" }, t(emptyKey))); return; }
  const max = Math.max(...entries.map(([, n]) => n));
  node.replaceChildren(...entries.map(([name, n]) => {
    const row = el("div", { class: "hbar" });
    const shown = label ? label(name) : null;
    row.append(shown === null ? el("span", { class: "hbar-name", title: name, translate: "no" }, name) : el("span", { class: "hbar-name", title: shown }, shown));
    const track = el("span", { class: "hbar-track" });
    const fill = el("span", { class: `hbar-fill ${cls}` });
    fill.style.width = `${Math.max(2, (100 * n) / max)}%`;
    track.append(fill);
    row.append(track, el("span", { class: "hbar-value" }, I18n.number(n)));
    return row;
  }));
}

function renderDetails(local) {
  const features = Object.entries(local.usage_stats.feature_usage || {}).sort();
  const list = $("feature-list");
  if (!features.length) list.replaceChildren(el("li", { class: "empty" }, t("features.empty")));
  else list.replaceChildren(...features.map(([name, on]) => el("li", { class: `chip ${on ? "on" : "off"}`, title: t(on ? "features.on" : "features.off"), translate: "no" }, `${on ? "●" : "○"} ${name.replace(/_/g, " ")}`)));
  const byCount = (obj) => Object.entries(obj || {}).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  renderBars("event-bars", byCount(local.event_counts), "", "events.empty", (name) => labelOf("type", name));
  renderBars("fleet-bars", byCount(local.printer_fleet.printer_type_counts), "fleet", "fleet.empty", (name) => labelOf("family", name));
  // Error types are class names: shown exactly as reported.
  renderBars("error-bars", byCount(local.error_summary), "err", "errors.empty");
}

// --- payload ------------------------------------------------------------------------------

function renderPayload() {
  const pre = $("payload-text");
  $("btn-copy").disabled = state.preview === null;
  if (state.preview === null) {
    pre.textContent = "";
    $("payload-meta").textContent = t("payload.unavailable");
    return;
  }
  let text = state.preview;
  if (state.formatted) {
    try { text = JSON.stringify(JSON.parse(state.preview), null, 2); } catch (_) { /* show as is */ }
  }
  pre.textContent = text;
  $("btn-view-formatted").setAttribute("aria-pressed", String(state.formatted));
  $("btn-view-exact").setAttribute("aria-pressed", String(!state.formatted));
  const bytes = new TextEncoder().encode(state.preview).length;
  const parts = [t("payload.meta", { bytes })];
  try {
    const p = JSON.parse(state.preview).period;
    const last = new Date(new Date(p.end).getTime() - 86400000);
    parts.push(t("payload.covers", { start: I18n.day(p.start), end: I18n.day(last.toISOString()) }));
  } catch (_) { /* no period */ }
  parts.push(t(state.formatted ? "payload.meta_formatted" : "payload.meta_exact"));
  $("payload-meta").textContent = parts.join(" ");
}

// --- loading ------------------------------------------------------------------------------

async function refresh() {
  const [local, preview, status] = await Promise.allSettled([
    getJson(`/local?days=${state.days}`), api("/preview").then((r) => r.text()), getJson("/status"),
  ]);
  const failed = [local, preview, status].find((r) => r.status === "rejected");
  if (failed) toast([["toast.load_failed"], describeError(failed.reason)], true);
  // What loaded is shown; what did not says so instead of showing stale or made-up values.
  state.preview = preview.status === "fulfilled" ? preview.value : null;
  state.status = status.status === "fulfilled" ? status.value : null;
  if (local.status !== "fulfilled") {
    // Without the statistics the sharing card still tells the truth about sending.
    try { renderSharing(await getJson("/settings"), state.status); } catch (_) { /* toast said it */ }
    return;
  }
  state.local = local.value;
  renderSharing(state.local.settings, state.status);
  renderWeek(state.local);
  renderFacts(state.local);
  renderChart(state.local.daily);
  renderDetails(state.local);
  renderPayload();
  $("updated").textContent = t("footer.updated", { time: I18n.time(new Date()) });
  document.body.dataset.loaded = "true";
}

/**
 * Run one user action: `work` does it, `done` turns its result into a toast ({parts, bad} or
 * just the parts), `after` continues in the background once the page shows the new state.
 */
async function action(button, work, done, after) {
  if (state.busy) return;
  state.busy = true;
  if (button) button.disabled = true;
  let result;
  let ok = false;
  try {
    result = await work();
    ok = true;
    if (done) {
      const message = done(result);
      if (Array.isArray(message)) toast(message);
      else toast(message.parts, message.bad);
    }
  } catch (err) {
    toast([describeError(err)], true);
  } finally {
    state.busy = false;
    if (button) button.disabled = false;
    await refresh();
  }
  if (ok && after) await after(result);
}

function confirmDialog(id) {
  const dialog = $(id);
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  });
}

/** The first message part, then what the server said about deleting its copy (if asked). */
function withRemoteNote(first, result) {
  if (result.remote_error) return [[first], ["toast.remote_error", { error: result.remote_error }]];
  if (result.remote_deleted) return [[first], ["toast.remote_deleted"]];
  return [[first]];
}

/** The current delivery state, or null when it cannot be read (then every change counts). */
async function statusNow() {
  try { return await getJson("/status"); } catch (_) { return null; }
}

async function exportData(button) {
  await action(button, async () => {
    const response = await api("/export");
    const blob = await response.blob();
    const match = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
    const link = el("a", { href: URL.createObjectURL(blob), download: match ? match[1] : "printernizer-usage-export.json" });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  }, () => [["toast.exported"]]);
}

function optIn(button) {
  return action(button, async () => {
    const before = await statusNow();
    const settings = await (await api("/opt-in", { method: "POST", json: { consent_version: document.body.dataset.consentVersion } })).json();
    return { before, settings };
  }, (r) => [[r.settings.blocked_by_environment ? "toast.opted_in_blocked" : "toast.opted_in"]],
  (r) => (r.settings.blocked_by_environment ? null : watchDelivery(r.before)));
}

function sendNow(button) {
  let before = null;
  return action(button, async () => {
    state.sending = true;
    if (state.local) renderSharing(state.local.settings, state.status);
    try {
      before = await statusNow();
      // The service answers once the round is over (delivered, failed or nothing due).
      return await (await api("/submit-now", { method: "POST" })).json();
    } finally {
      state.sending = false;
    }
  }, (after) => submitMessage(before, after));
}

function bind() {
  $("btn-opt-in").addEventListener("click", (e) => optIn(e.currentTarget));
  $("btn-opt-out").addEventListener("click", async (e) => {
    $("opt-out-remote").checked = false;
    if (!(await confirmDialog("dlg-opt-out"))) return;
    const remote = $("opt-out-remote").checked;
    await action(e.currentTarget, async () => (await api("/opt-out", { method: "POST", json: { delete_remote: remote } })).json(), (r) => withRemoteNote("toast.opted_out", r));
  });
  $("btn-send-now").addEventListener("click", (e) => sendNow(e.currentTarget));
  $("btn-export").addEventListener("click", (e) => exportData(e.currentTarget));
  $("btn-delete").addEventListener("click", async (e) => {
    $("delete-remote").checked = false;
    if (!(await confirmDialog("dlg-delete"))) return;
    const remote = $("delete-remote").checked;
    await action(e.currentTarget, async () => (await api(`/delete-all?delete_remote=${remote}`, { method: "DELETE" })).json(), (r) => withRemoteNote("toast.deleted", r));
  });
  for (const button of document.querySelectorAll("[data-days]")) {
    button.addEventListener("click", () => {
      state.days = Number(button.dataset.days);
      for (const b of document.querySelectorAll("[data-days]")) b.setAttribute("aria-pressed", String(b === button));
      refresh();
    });
  }
  $("btn-view-formatted").addEventListener("click", () => { state.formatted = true; renderPayload(); });
  $("btn-view-exact").addEventListener("click", () => { state.formatted = false; renderPayload(); });
  $("btn-copy").addEventListener("click", async () => {
    try { await navigator.clipboard.writeText(state.preview); toast([["toast.copied"]]); }
    catch (_) { toast([["toast.copy_failed"]], true); }
  });
  let resizeTimer;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => { if (state.local) renderChart(state.local.daily); }, 150);
  });
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
  setInterval(() => { if (!document.hidden && !state.busy && !state.sending && !document.querySelector("dialog[open]")) refresh(); }, REFRESH_MS);
}

document.addEventListener("DOMContentLoaded", async () => {
  await I18n.load();
  I18n.apply(document, { version: document.body.dataset.consentVersion });
  $("payload-text").textContent = t("payload.loading");
  document.documentElement.classList.remove("i18n-pending");
  bind();
  // Reads that show the installation need the token: ask before the first load, not per request.
  if (document.body.dataset.tokenRequired === "true" && !token()) await askToken();
  await refresh();
});
