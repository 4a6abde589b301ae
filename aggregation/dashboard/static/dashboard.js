/* Printernizer usage dashboard: fetches chart specs from the server and draws them with the
   bundled Chart.js. No third-party requests: everything comes from this server. */
(function () {
  "use strict";

  var PALETTE = ["#0f766e", "#2563eb", "#f59e0b", "#db2777", "#7c3aed", "#16a34a",
    "#ea580c", "#0891b2", "#64748b", "#a16207", "#be123c", "#4f46e5"];
  var root = document.getElementById("dashboard");
  var numberFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function color(i, alpha) {
    var hex = PALETTE[i % PALETTE.length];
    if (alpha === undefined) { return hex; }
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + alpha + ")";
  }

  function formatValue(value, unit) {
    if (value === null || value === undefined) { return "–"; }
    if (typeof value === "string") { return value; }
    var text = numberFormat.format(value);
    return unit === "%" ? text + " %" : text;
  }

  function renderKpis(kpis) {
    var box = document.getElementById("kpis");
    box.textContent = "";
    kpis.forEach(function (kpi) {
      var tile = el("div", "kpi");
      tile.dataset.kpi = kpi.id;
      tile.appendChild(el("span", "kpi-label", kpi.label));
      tile.appendChild(el("span", "kpi-value", formatValue(kpi.value, kpi.unit)));
      if (kpi.sub) {
        tile.appendChild(el("span", "kpi-sub" + (kpi.trend ? " " + kpi.trend : ""), kpi.sub));
      }
      box.appendChild(tile);
    });
  }

  function renderAnomalies(anomalies) {
    var list = document.getElementById("anomaly-list");
    list.textContent = "";
    if (!anomalies.length) {
      var ok = el("p", "all-clear", "✓ Nothing unusual: error rates, active installations and submission volume are within their normal range.");
      list.appendChild(ok);
      return;
    }
    anomalies.forEach(function (a) {
      var card = el("article", "anomaly " + (a.severity || "info"));
      card.dataset.kind = a.kind;
      var title = el("div", "anomaly-title");
      title.appendChild(el("span", null, a.title));
      title.appendChild(el("span", "badge", a.severity || "info"));
      card.appendChild(title);
      if (a.message) { card.appendChild(el("p", null, a.message)); }
      var numbers = el("dl", "numbers");
      (a.numbers || []).forEach(function (pair) {
        numbers.appendChild(el("dt", null, pair[0]));
        numbers.appendChild(el("dd", null, pair[1]));
      });
      card.appendChild(numbers);
      list.appendChild(card);
    });
  }

  var SUPPRESSED_COLOR = "#64748b";

  // Weeks withheld under k-anonymity: indexes where any series is suppressed, and which.
  function suppressedWeeks(spec) {
    if (!spec.suppressed_note) { return null; }
    var names = spec.labels.map(function () { return []; });
    spec.series.forEach(function (s) {
      (s.suppressed || []).forEach(function (hidden, j) { if (hidden) { names[j].push(s.name); } });
    });
    return names.some(function (n) { return n.length; }) ? names : null;
  }

  // One dataset for every trend chart's suppressed weeks: a marker on the axis (the hover
  // target of the tooltip) and the legend entry; the band plugin shades its weeks.
  function suppressedDataset(spec, names) {
    return {
      label: "Suppressed (" + spec.suppressed_note + ")",
      data: names.map(function (n) { return n.length ? 0 : null; }),
      suppressedNames: names,
      showLine: false,
      pointStyle: "crossRot",
      pointRadius: 6,
      pointHoverRadius: 7,
      borderWidth: 2,
      borderColor: SUPPRESSED_COLOR,
      backgroundColor: "rgba(100,116,139,0.18)"
    };
  }

  var suppressedBands = {
    id: "suppressedBands",
    beforeDatasetsDraw: function (chart) {
      var index = chart.data.datasets.findIndex(function (d) { return d.suppressedNames; });
      if (index < 0 || !chart.isDatasetVisible(index)) { return; }
      var x = chart.scales.x, area = chart.chartArea, ctx = chart.ctx;
      var last = chart.data.labels.length - 1;
      ctx.save();
      ctx.fillStyle = "rgba(100,116,139,0.14)";
      chart.data.datasets[index].suppressedNames.forEach(function (names, j) {
        if (!names.length) { return; }
        var at = x.getPixelForValue(j);
        var left = j > 0 ? (x.getPixelForValue(j - 1) + at) / 2 : area.left;
        var right = j < last ? (x.getPixelForValue(j + 1) + at) / 2 : area.right;
        ctx.fillRect(left, area.top, right - left, area.bottom - area.top);
      });
      ctx.restore();
    }
  };

  // What lies between the drawn points around a line segment: Chart.js styles a spanned gap
  // step by step (p0 and p1 one index apart, skipped points included), so every step of a
  // gap must answer for the whole gap.
  function gapBetween(values, hidden) {
    return function (ctx) {
      var left = ctx.p1DataIndex - 1, right = ctx.p1DataIndex;
      while (left > 0 && values[left] === null) { left--; }
      while (right < values.length - 1 && values[right] === null) { right++; }
      // A withheld value drawn as a point (a version folded into "other", drawn as 0).
      var found = { empty: false, withheld: !!(hidden[ctx.p0DataIndex] || hidden[ctx.p1DataIndex]) };
      for (var j = left + 1; j < right; j++) {
        if (values[j] === null) { found[hidden[j] ? "withheld" : "empty"] = true; }
      }
      return found;
    };
  }

  function chartConfig(spec) {
    var kind = spec.kind;
    var circular = kind === "doughnut";
    var horizontal = kind === "hbar";
    var lineLike = kind === "line" || kind === "area";
    var datasets = spec.series.map(function (s, i) {
      var ds = { label: s.name, data: s.values };
      if (circular) {
        ds.backgroundColor = spec.labels.map(function (_, j) { return color(j); });
        ds.borderColor = "#fff";
        ds.borderWidth = 2;
      } else if (lineLike) {
        ds.borderColor = color(i);
        ds.backgroundColor = kind === "area" ? color(i, 0.55) : color(i, 0.12);
        ds.fill = kind === "area" ? (i === 0 ? "origin" : "-1") : (spec.series.length === 1);
        ds.tension = 0.3;
        ds.cubicInterpolationMode = "monotone";  // no overshoot below 0 % or above 100 %
        ds.pointRadius = spec.labels.length > 20 ? 0 : 2.5;
        ds.borderWidth = 2;
        if (s.suppressed && s.suppressed.some(Boolean)) {
          // Suppressed weeks (under k installations) are bridged by a dashed line, so they
          // read as "withheld"; a gap with a week without data stays a gap.
          var gap = gapBetween(s.values, s.suppressed);
          ds.spanGaps = true;
          ds.segment = {
            borderColor: function (ctx) { return gap(ctx).empty ? "transparent" : undefined; },
            backgroundColor: function (ctx) { return gap(ctx).empty ? "transparent" : undefined; },
            borderDash: function (ctx) { return gap(ctx).withheld ? [4, 4] : undefined; }
          };
        }
      } else {
        ds.backgroundColor = spec.series.length === 1 && s.colors ? s.colors : color(i, 0.85);
        ds.borderRadius = 4;
        ds.maxBarThickness = 36;
      }
      return ds;
    });
    var suppressed = kind === "line" ? suppressedWeeks(spec) : null;
    if (suppressed) { datasets.push(suppressedDataset(spec, suppressed)); }
    var stacked = !!spec.stacked || kind === "area";
    var percent = spec.unit === "%";
    var options = {
      responsive: true,
      maintainAspectRatio: false,
      animation: { duration: 250 },
      interaction: { mode: circular ? "nearest" : "index", intersect: circular },
      plugins: {
        legend: {
          display: circular || datasets.length > 1,
          position: circular ? "right" : "bottom",
          labels: { boxWidth: 12, usePointStyle: true }
        },
        tooltip: {
          callbacks: {
            label: function (ctx) {
              if (ctx.dataset.suppressedNames) {
                return " Suppressed, " + spec.suppressed_note + ": " +
                  ctx.dataset.suppressedNames[ctx.dataIndex].join(", ");
              }
              var v = horizontal ? ctx.parsed.x : (circular ? ctx.parsed : ctx.parsed.y);
              return " " + (ctx.dataset.label || ctx.label) + ": " + formatValue(v, spec.unit);
            }
          }
        }
      }
    };
    if (!circular) {
      var valueAxis = {
        beginAtZero: true,
        stacked: stacked,
        grid: { color: "#eef2f5" },
        ticks: { callback: function (v) { return formatValue(v, spec.unit); } }
      };
      if (percent && stacked) { valueAxis.max = 100; }
      var categoryAxis = { stacked: stacked, grid: { display: false }, ticks: { autoSkip: true, maxRotation: 0 } };
      options.indexAxis = horizontal ? "y" : "x";
      options.scales = horizontal ? { x: valueAxis, y: categoryAxis } : { x: categoryAxis, y: valueAxis };
    }
    if (circular && window.matchMedia("(max-width: 560px)").matches) {
      options.plugins.legend.position = "bottom";
    }
    return {
      type: circular ? "doughnut" : (lineLike ? "line" : "bar"),
      data: { labels: spec.labels, datasets: datasets },
      options: options,
      plugins: suppressed ? [suppressedBands] : []
    };
  }

  function hasData(spec) {
    // The server decides: 0 % is data, only withheld values are not.
    return !!spec.has_data;
  }

  function renderChart(spec) {
    var card = el("article", "card" + (spec.wide ? " wide" : ""));
    card.id = "chart-" + spec.id;
    card.dataset.chart = spec.id;
    var head = el("div", "card-head");
    head.appendChild(el("h2", null, spec.title));
    var link = el("a", "csv", "CSV");
    link.href = root.dataset.csv.replace("__ID__", encodeURIComponent(spec.id));
    link.setAttribute("download", "");
    link.setAttribute("aria-label", "Download " + spec.title + " as CSV");
    head.appendChild(link);
    card.appendChild(head);
    card.appendChild(el("p", "card-sub", spec.subtitle || ""));
    var box = el("div", "chart-box");
    card.appendChild(box);
    document.getElementById("charts").appendChild(card);
    if (!hasData(spec)) {
      box.appendChild(el("div", "empty", spec.empty_text || "No data yet for this period."));
      card.dataset.state = "empty";
      return;
    }
    var canvas = el("canvas");
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", spec.title);
    box.appendChild(canvas);
    new window.Chart(canvas, chartConfig(spec));
    card.dataset.state = "rendered";
  }

  function fail(message) {
    document.getElementById("generated").textContent = message;
    document.body.dataset.ready = "error";
  }

  function load() {
    fetch(root.dataset.source, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (resp) {
        if (resp.status === 401 || resp.status === 403) { window.location.reload(); return null; }
        if (!resp.ok) { throw new Error("HTTP " + resp.status); }
        return resp.json();
      })
      .then(function (data) {
        if (!data) { return; }
        window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
        window.Chart.defaults.color = "#5d6b78";
        document.getElementById("generated").textContent = data.subtitle;
        renderKpis(data.kpis);
        renderAnomalies(data.anomalies);
        document.getElementById("charts").textContent = "";
        data.charts.forEach(renderChart);
        document.body.dataset.ready = "true";
      })
      .catch(function (err) { fail("Could not load the statistics (" + err.message + "). Reload to try again."); });
  }

  if (!window.Chart) { fail("The chart library did not load."); return; }
  load();
})();
