// What-if runs: ask for one, follow it, and compare the days as recorded
// with the days as replayed, figure by figure and day by day.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const pct = (x) => (x === null || x === undefined ? "–" : (x * 100).toFixed(1) + "%");
  const secs = (ms) => (ms === null || ms === undefined ? "–" : (ms / 1000).toFixed(1) + " s");
  const ns = "http://www.w3.org/2000/svg";
  let shown = null;

  function svg(tag, attrs, text) {
    const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // Recorded and simulated side by side for each day; values 0..top.
  function bars(id, days, value, top, label) {
    const chart = $(id);
    const shapes = [svg("line", { x1: 30, y1: 160, x2: 480, y2: 160, class: "axis" })];
    const w = 450 / Math.max(1, days.length);
    const y = (v) => 160 - (Math.min(v, top) / top) * 140;
    days.forEach((d, n) => {
      const x = 30 + n * w;
      for (const [k, side] of [[0, "recorded"], [1, "simulated"]]) {
        const v = value(d[side]);
        if (v === null || v === undefined) continue;
        const bar = svg("rect", { x: x + 4 + k * (w - 8) / 2, width: Math.max(1, (w - 8) / 2 - 2), y: y(v), height: 160 - y(v), class: "bar " + side, "data-day": d.date, "data-side": side });
        bar.appendChild(svg("title", {}, d.date + " " + SB.t(side) + ": " + label(v)));
        shapes.push(bar);
      }
      shapes.push(svg("text", { x: x + w / 2, y: 175, "text-anchor": "middle", class: "tick" }, d.date.slice(5)));
    });
    shapes.push(svg("text", { x: 0, y: 24, class: "tick" }, label(top)));
    chart.replaceChildren(...shapes);
  }

  function show(run) {
    shown = run.id;
    $("detail").hidden = false;
    $("detail-period").textContent = run.request.from + " – " + run.request.to + " · " + SB.t("run_" + run.status);
    $("detail-error").textContent = run.error || "";
    $("csv").href = "#";
    $("csv").onclick = (ev) => { ev.preventDefault(); download(run.id); };
    const r = run.result;
    document.body.dataset.shown = run.status;
    if (!r) {
      $("kpis").replaceChildren();
      return;
    }
    const rows = [
      ["calls", (k) => k.calls],
      ["kpi_abandon_rate", (k) => pct(k.abandon_rate)],
      ["kpi_service_level", (k) => pct(k.service_level)],
      ["first_response", (k) => secs(k.first_response_ms)],
      ["average_response", (k) => secs(k.average_response_ms)],
      ["callbacks_done", (k) => k.callbacks_done],
      ["callbacks_within_deadline", (k) => k.callbacks_within_deadline],
      ["overdue_at_end", (k) => k.overdue_at_end],
      ["occupancy", (k) => pct(k.mean_occupancy)],
    ];
    $("kpis").replaceChildren(...rows.map(([key, f]) =>
      SB.el("tr", { "data-figure": key }, SB.el("td", {}, SB.t(key)),
        SB.el("td", { class: "num" }, r.recorded ? String(f(r.recorded)) : "–"),
        SB.el("td", { class: "num" }, r.simulated ? String(f(r.simulated)) : "–"))));
    const days = r.days;
    bars("chart-abandon", days, (k) => k.abandon_rate, 1, pct);
    bars("chart-service", days, (k) => k.service_level, 1, pct);
    bars("chart-occupancy", days, (k) => k.mean_occupancy, 1, pct);
    const most = Math.max(1, ...days.map((d) => Math.max(d.recorded.callbacks_done, d.simulated.callbacks_done)));
    bars("chart-callbacks", days, (k) => k.callbacks_within_deadline, most, (v) => String(Math.round(v)));
  }

  async function download(id) {
    const s = SB.session();
    const resp = await fetch("/api/v1/simulations/" + id + "?format=csv", { headers: { authorization: "Bearer " + s.token } });
    const blob = await resp.blob();
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = "simulation-" + id + ".csv";
    a.click();
  }

  async function open(id) {
    try {
      show(await SB.api("GET", "/api/v1/simulations/" + id));
    } catch (e) {
      $("detail-error").textContent = e.message;
    }
  }

  async function refresh() {
    let runs;
    try {
      runs = await SB.api("GET", "/api/v1/simulations");
    } catch (e) {
      $("ask-error").textContent = e.message;
      return;
    }
    $("runs").replaceChildren(...runs.map((r) => {
      const row = SB.el("tr", { "data-run": r.id, class: "clickable status-" + r.status },
        SB.el("td", {}, SB.clock(Date.parse(r.requested_at))),
        SB.el("td", {}, r.request.from + " – " + r.request.to),
        SB.el("td", {}, SB.t("run_" + r.status)));
      row.addEventListener("click", () => open(r.id));
      return row;
    }));
    const current = runs.find((r) => r.id === shown);
    if (current && ["waiting", "running"].includes(document.body.dataset.shown) && !["waiting", "running"].includes(current.status)) {
      open(current.id);
    }
  }

  async function ask(ev) {
    ev.preventDefault();
    const f = ev.target;
    $("ask-error").textContent = "";
    const body = { from: f.from.value, to: f.to.value, runs: Number(f.runs.value), seed: Number(f.seed.value) };
    try {
      if (f.staffing.value.trim()) body.staffing = JSON.parse(f.staffing.value);
    } catch (e) {
      $("ask-error").textContent = SB.t("staffing_json") + ": " + e.message;
      return;
    }
    if (f.changes.value.trim()) body.changes = f.changes.value;
    try {
      const run = await SB.api("POST", "/api/v1/simulations", body);
      show(run);
      refresh();
    } catch (e) {
      $("ask-error").textContent = e.message;
    }
  }

  document.addEventListener("DOMContentLoaded", async () => {
    await SB.loginForm(["supervisor", "admin"], "not_allowed");
    const today = new Date();
    const iso = (d) => d.toISOString().slice(0, 10);
    $("ask").from.value = iso(new Date(today.getTime() - 7 * 86400000));
    $("ask").to.value = iso(new Date(today.getTime() - 86400000));
    $("ask").addEventListener("submit", ask);
    document.addEventListener("sb-lang", () => {
      refresh();
      if (shown) open(shown);
    });
    refresh();
    setInterval(refresh, 2000);
  });
})();
