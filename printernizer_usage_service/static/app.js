// Printernizer usage statistics page: plain JavaScript, no libraries, nothing loaded from elsewhere.
"use strict";

const API = "/api/v1/usage-stats";
const SVG_NS = "http://www.w3.org/2000/svg";
const REFRESH_MS = 10000;
// Event types grouped into the chart's stacked series (anything else lands in "Other").
const SERIES = [
  { key: "jobs", label: "Jobs", cls: "s1", colour: "--c1", types: ["job_created", "job_completed"] },
  { key: "files", label: "Files", cls: "s2", colour: "--c2", types: ["file_downloaded", "file_uploaded"] },
  { key: "printers", label: "Printers", cls: "s3", colour: "--c3", types: ["printer_connected", "printer_disconnected"] },
  { key: "errors", label: "Errors", cls: "s4", colour: "--c4", types: ["job_failed", "error_occurred"] },
  { key: "other", label: "App and features", cls: "s5", colour: "--c5", types: [] },
];

const state = { days: 30, local: null, preview: "", formatted: true, busy: false };
const $ = (id) => document.getElementById(id);

function token() { return sessionStorage.getItem("printernizer-usage-token") || ""; }

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
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error || message; } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

function askToken() {
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

function toast(message, bad = false) {
  const el = $("toast");
  el.textContent = message;
  el.classList.toggle("bad", bad);
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, 4000);
}

function fmtDay(value, opts = { year: "numeric", month: "short", day: "numeric" }) {
  if (!value) return "–";
  const d = new Date(typeof value === "string" && value.length === 10 ? value + "T00:00:00Z" : value);
  return d.toLocaleDateString(undefined, Object.assign({ timeZone: "UTC" }, opts));
}

function fmtNumber(n) { return new Intl.NumberFormat().format(n || 0); }

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

// --- sharing card -------------------------------------------------------------------------

function renderSharing(settings, status) {
  const sharing = status ? status.state : (settings.opted_in ? "on" : "off");
  const pill = $("sharing-pill");
  const labels = { off: "Sharing off", on: "Sharing on", failing: "Sending failing", blocked: "Sending blocked" };
  pill.textContent = labels[sharing] || sharing;
  pill.className = `pill pill-${sharing}`;
  pill.dataset.state = sharing;
  document.body.dataset.sharing = sharing;
  $("btn-opt-in").hidden = settings.opted_in;
  $("btn-opt-out").hidden = !settings.opted_in;
  $("btn-send-now").hidden = !settings.opted_in || settings.blocked_by_environment;
  $("blocked-line").hidden = !settings.blocked_by_environment;
  const lead = $("share-lead");
  lead.replaceChildren();
  if (settings.opted_in) {
    lead.append("Sharing is ", el("strong", {}, "on"), ". Thank you! A small anonymous report is sent once a week; you can see it below, exactly as it will be sent.");
    $("consent-line").textContent = `You agreed to privacy policy version ${settings.consent_version || "–"} on ${fmtDay(settings.consented_at)}. You can stop at any time.`;
  } else {
    lead.append("Sharing is ", el("strong", {}, "off"), ". Nothing leaves this machine until you switch it on. Your own statistics below are always kept locally.");
    $("consent-line").textContent = `Opting in records your agreement to privacy policy version ${document.body.dataset.consentVersion}. You can change your mind at any time.`;
  }
  const line = $("delivery-line");
  line.hidden = !(status && settings.opted_in);
  if (status && settings.opted_in) {
    const parts = [];
    parts.push(status.last_success ? `Last report delivered ${fmtDay(status.last_success)}.` : "No report delivered yet.");
    if (status.next_attempt) parts.push(`Next attempt ${fmtDay(status.next_attempt)}.`);
    if (status.last_error && status.state === "failing") parts.push(`Last error: ${status.last_error}.`);
    line.textContent = parts.join(" ");
    line.className = status.state === "failing" ? "note warn" : "note";
  }
}

// --- statistics ---------------------------------------------------------------------------

function renderWeek(local) {
  const usage = local.usage_stats;
  const errors = Object.values(local.error_summary || {}).reduce((a, n) => a + n, 0);
  for (const node of document.querySelectorAll("[data-stat]")) {
    node.textContent = fmtNumber(node.dataset.stat === "errors" ? errors : usage[node.dataset.stat]);
  }
  const p = local.period;
  const last = new Date(new Date(p.end).getTime() - 86400000);
  $("week-range").textContent = `${fmtDay(p.start, { month: "short", day: "numeric" })} – ${fmtDay(last.toISOString(), { month: "short", day: "numeric" })}`;
}

function renderFacts(local) {
  let inst = local.installation;
  if (!inst) {
    // Not opted in yet: the facts are still exactly those the report below would carry.
    try { inst = JSON.parse(state.preview).installation; } catch (_) { inst = null; }
  }
  const settings = local.settings;
  const code = (text) => { const c = el("code", {}, text); return c; };
  $("f-id").replaceChildren(settings.installation_id ? code(settings.installation_id) : el("span", { class: "muted" }, "created when you opt in"));
  $("f-first").textContent = fmtDay(settings.first_seen);
  $("f-versions").textContent = inst ? `Printernizer ${inst.app_version} · Python ${inst.python_version}` : "–";
  $("f-platform").textContent = inst ? `${inst.platform} · ${inst.deployment_mode}` : "–";
  $("f-country").textContent = inst ? (inst.country_code === "XX" ? "unknown" : inst.country_code) : "–";
  $("f-events").textContent = `${fmtNumber(local.total_events)} raw events` + (local.oldest_event ? ` since ${fmtDay(local.oldest_event)}` : "") + ` · kept ${settings.retention_days} days`;
  $("f-endpoint").textContent = settings.endpoint || "Printernizer project server (default)";
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
    label.textContent = fmtNumber(Math.round((max * i) / 4));
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
    const parts = Object.entries(day.by_type).map(([t, n]) => `${t.replace(/_/g, " ")}: ${n}`);
    title.textContent = `${fmtDay(day.day)} — ${day.total} event${day.total === 1 ? "" : "s"}` + (parts.length ? `\n${parts.join("\n")}` : "");
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
      label.textContent = fmtDay(day.day, { month: "short", day: "numeric" });
      chart.append(label);
    }
  });
  const total = daily.reduce((a, d) => a + d.total, 0);
  box.setAttribute("aria-label", `Events per day over the last ${daily.length} days: ${total} in total`);
  box.dataset.total = String(total);
  box.replaceChildren(chart);
  const legend = $("legend");
  legend.replaceChildren(...SERIES.map((s) => { const li = el("li"); li.append(el("span", { class: `swatch ${s.cls}` }), s.label); return li; }));
}

function renderBars(container, entries, cls, emptyText) {
  const node = $(container);
  if (!entries.length) { node.replaceChildren(el("p", { class: "empty" }, emptyText)); return; }
  const max = Math.max(...entries.map(([, n]) => n));
  node.replaceChildren(...entries.map(([name, n]) => {
    const row = el("div", { class: "hbar" });
    row.append(el("span", { class: "hbar-name", title: name }, name.replace(/_/g, " ")));
    const track = el("span", { class: "hbar-track" });
    const fill = el("span", { class: `hbar-fill ${cls}` });
    fill.style.width = `${Math.max(2, (100 * n) / max)}%`;
    track.append(fill);
    row.append(track, el("span", { class: "hbar-value" }, fmtNumber(n)));
    return row;
  }));
}

function renderDetails(local) {
  const features = Object.entries(local.usage_stats.feature_usage || {}).sort();
  const list = $("feature-list");
  if (!features.length) list.replaceChildren(el("li", { class: "empty" }, "No feature flags reported yet."));
  else list.replaceChildren(...features.map(([name, on]) => el("li", { class: `chip ${on ? "on" : "off"}`, title: on ? "on" : "off" }, `${on ? "●" : "○"} ${name.replace(/_/g, " ")}`)));
  const byCount = (obj) => Object.entries(obj || {}).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  renderBars("event-bars", byCount(local.event_counts), "", "No events this week yet.");
  renderBars("fleet-bars", byCount(local.printer_fleet.printer_type_counts), "fleet", "No printers reported yet.");
  renderBars("error-bars", byCount(local.error_summary), "err", "No errors this week.");
}

// --- payload ------------------------------------------------------------------------------

function renderPayload() {
  const pre = $("payload-text");
  let text = state.preview;
  if (state.formatted) {
    try { text = JSON.stringify(JSON.parse(state.preview), null, 2); } catch (_) { /* show as is */ }
  }
  pre.textContent = text;
  $("btn-view-formatted").setAttribute("aria-pressed", String(state.formatted));
  $("btn-view-exact").setAttribute("aria-pressed", String(!state.formatted));
  const bytes = new TextEncoder().encode(state.preview).length;
  let period = "";
  try {
    const p = JSON.parse(state.preview).period;
    const last = new Date(new Date(p.end).getTime() - 86400000);
    period = ` It covers ${fmtDay(p.start)} – ${fmtDay(last.toISOString())}.`;
  } catch (_) { /* no period */ }
  $("payload-meta").textContent = `The next report, ${fmtNumber(bytes)} bytes.${period} ` + (state.formatted ? "Shown formatted for reading; “Exact bytes” shows the text as sent." : "This is the exact text that is sent; nothing else leaves this machine.");
}

// --- loading ------------------------------------------------------------------------------

async function refresh() {
  try {
    const [localRes, previewRes, statusRes] = await Promise.all([
      api(`/local?days=${state.days}`), api("/preview"), api("/status"),
    ]);
    const local = await localRes.json();
    state.local = local;
    state.preview = await previewRes.text();
    const status = await statusRes.json();
    renderSharing(local.settings, status);
    renderWeek(local);
    renderFacts(local);
    renderChart(local.daily);
    renderDetails(local);
    renderPayload();
    $("updated").textContent = `Updated ${new Date().toLocaleTimeString()}`;
    document.body.dataset.loaded = "true";
  } catch (err) {
    toast(`Could not load statistics: ${err.message}`, true);
  }
}

async function action(button, work, done) {
  if (state.busy) return;
  state.busy = true;
  if (button) button.disabled = true;
  try {
    const result = await work();
    if (done) toast(typeof done === "function" ? done(result) : done);
  } catch (err) {
    toast(err.message, true);
  } finally {
    state.busy = false;
    if (button) button.disabled = false;
    await refresh();
  }
}

function confirmDialog(id) {
  const dialog = $(id);
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  });
}

function remoteNote(result) {
  if (result.remote_error) return ` The server could not be asked to delete its copy (${result.remote_error}).`;
  if (result.remote_deleted) return " The server deleted its copy.";
  return "";
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
  }, "Export downloaded.");
}

function bind() {
  $("btn-opt-in").addEventListener("click", (e) => action(e.currentTarget, () => api("/opt-in", { method: "POST", json: { consent_version: document.body.dataset.consentVersion } }), "Sharing is on. Thank you!"));
  $("btn-opt-out").addEventListener("click", async (e) => {
    $("opt-out-remote").checked = false;
    if (!(await confirmDialog("dlg-opt-out"))) return;
    const remote = $("opt-out-remote").checked;
    await action(e.currentTarget, async () => (await api("/opt-out", { method: "POST", json: { delete_remote: remote } })).json(), (r) => "Sharing is off." + remoteNote(r));
  });
  $("btn-send-now").addEventListener("click", (e) => action(e.currentTarget, async () => (await api("/submit-now", { method: "POST" })).json(), (s) => s.state === "failing" ? `Sending failed: ${s.last_error || "see status"}` : "Report sent (or nothing was due yet)."));
  $("btn-export").addEventListener("click", (e) => exportData(e.currentTarget));
  $("btn-delete").addEventListener("click", async (e) => {
    $("delete-remote").checked = false;
    if (!(await confirmDialog("dlg-delete"))) return;
    const remote = $("delete-remote").checked;
    await action(e.currentTarget, async () => (await api(`/delete-all?delete_remote=${remote}`, { method: "DELETE" })).json(), (r) => "All local data deleted." + remoteNote(r));
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
    try { await navigator.clipboard.writeText(state.preview); toast("Report copied."); }
    catch (_) { toast("Copying is not allowed here; select the text instead.", true); }
  });
  let resizeTimer;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => { if (state.local) renderChart(state.local.daily); }, 150);
  });
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
  setInterval(() => { if (!document.hidden && !state.busy && !document.querySelector("dialog[open]")) refresh(); }, REFRESH_MS);
}

document.addEventListener("DOMContentLoaded", () => { bind(); refresh(); });
