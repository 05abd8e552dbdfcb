// The wallboard: the whole board once, then merge patches over the socket.
// Clocks (longest wait, time in status, time to breach) count on here
// between updates, from the moments the board gives.
"use strict";

(() => {
  let board = null;
  let seq = 0;
  let skew = 0; // server clock minus ours, from each frame's `at`
  const $ = (id) => document.getElementById(id);
  const now = () => Date.now() + skew;
  const pct = (x) => (x === null || x === undefined ? "–" : (x * 100).toFixed(1) + "%");
  const secs = (ms) => SB.duration(ms);

  function setTile(tile, breached) {
    if (tile) tile.classList.toggle("breached", !!breached);
  }

  function render() {
    if (!board) return;
    const c = board.centre;
    const queues = Object.values(board.queues || {});
    const agents = Object.entries(board.agents || {});
    const ar = c.abandon_rate;
    $("abandon-rate").textContent = ar ? pct(ar.value) : pct(c.today.abandon_rate);
    $("abandon-sub").textContent = ar ? SB.t("target") + " ≤ " + pct(ar.target) : "";
    setTile($("tile-abandon"), ar && ar.breached);
    const sl = c.service_level;
    $("service-level").textContent = sl ? pct(sl.value) : pct(c.today.service_level);
    $("service-sub").textContent = sl ? SB.t("target") + " ≥ " + pct(sl.target) : "";
    setTile($("tile-service"), sl && sl.breached);
    $("total-waiting").textContent = queues.reduce((n, q) => n + q.waiting, 0);
    $("handled-today").textContent = agents.reduce((n, [, a]) => n + a.handled_today, 0);
    const by = (status) => agents.filter(([, a]) => a.status === status).length;
    $("agents-available").textContent = by("available");
    $("agents-sub").textContent = ["busy", "wrap_up", "break"].map((s) => SB.t(s) + " " + by(s)).join(" · ");
    $("answered-today").textContent = c.today.answered;
    $("abandoned-today").textContent = c.today.abandoned;
    $("callbacks-due").textContent = c.callbacks.due;
    $("callbacks-overdue").textContent = c.callbacks.overdue;
    $("callbacks-done").textContent = c.callbacks.done_within_deadline_today + " / " + c.callbacks.done_today;
    setTile($("tile-callbacks"), c.callbacks.overdue > 0);
    $("missed-backlog").textContent = board.missed.backlog;
    $("next-checkpoint").textContent = board.missed.next_checkpoint ? SB.clock(board.missed.next_checkpoint) : "–";
    for (const [id, r] of [["first", c.first_response], ["average", c.average_response]]) {
      $(id + "-response").textContent = r ? (r.average_ms / 1000).toFixed(1) + " s" : "–";
      $(id + "-sub").textContent = r ? SB.t("score") + " " + r.score : "";
      setTile($("tile-" + id), r && r.score <= 60); // 40 s or more: the lowest band
    }
    // Queues nobody is online to answer in working hours (确保该时段有在线客服接待).
    const uncovered = (board.coverage && board.coverage.uncovered) || [];
    $("uncovered").textContent = uncovered.length;
    $("uncovered-sub").textContent = uncovered.length ? SB.t("nobody_online") + ": " + uncovered.join(", ") : "";
    setTile($("tile-coverage"), uncovered.length > 0);
    // Today's satisfaction calls against the target (服务满意率 ≥ 98%).
    const sat = board.satisfaction || { asked: 0, satisfied: 0 };
    $("satisfaction").textContent = sat.rate ? pct(sat.rate.value) : "–";
    $("satisfaction-sub").textContent = sat.satisfied + " / " + sat.asked + (sat.rate ? " · " + SB.t("target") + " ≥ " + pct(sat.rate.target) : "");
    setTile($("tile-satisfaction"), sat.rate && sat.rate.breached);
    // Calls placed by Switchboard going on past [calls] limit_secs (通话不超过5分钟).
    const long = agents.filter(([, a]) => a.call_past_limit);
    $("calls-past-limit").textContent = c.calls_past_limit || 0;
    $("long-calls-sub").textContent = long.map(([, a]) => a.name + " " + secs(now() - a.talking_since)).join(" · ");
    setTile($("tile-long-calls"), long.length > 0);
    const e = board.escalations || {};
    const parts = [["esc_cars", e.car_orders], ["esc_inns", e.inn_orders], ["esc_cases", e.cases_unanswered], ["esc_merchants", e.merchant_replies], ["esc_lists", e.merchant_lists]];
    const total = parts.reduce((n, [, v]) => n + (v || 0), 0);
    $("escalations").textContent = total;
    $("escalations-sub").textContent = parts.map(([k, v]) => SB.t(k) + " " + (v || 0)).join(" · ");
    setTile($("tile-escalations"), total > 0);
    for (const [id, w] of [["15", c.last_15_min], ["60", c.last_60_min]]) {
      $("window-" + id).textContent = pct(w.abandon_rate);
      $("window-" + id + "-sub").textContent = SB.t("sl") + " " + pct(w.service_level) + " · " + SB.t("answered") + " " + w.answered;
    }
    const rows = queues.sort((a, b) => (a.queue + a.kind).localeCompare(b.queue + b.kind)).map((q) => {
      const wait = q.waiting_since ? now() - q.waiting_since : null;
      const toBreach = q.oldest_deadline ? q.oldest_deadline - now() : null;
      return SB.el("tr", {},
        SB.el("td", {}, q.queue), SB.el("td", {}, SB.t(q.kind)),
        SB.el("td", { class: "num", "data-queue": q.queue + "/" + q.kind }, q.waiting),
        SB.el("td", { class: "num" }, q.offered), SB.el("td", { class: "num" }, q.held),
        SB.el("td", { class: "num" }, wait === null ? "–" : secs(wait)),
        SB.el("td", { class: "num" + (toBreach !== null && toBreach < 0 ? " bad" : "") }, toBreach === null ? "–" : secs(toBreach)),
        SB.el("td", { class: "num" }, q.entered_today), SB.el("td", { class: "num" }, q.answered_today),
        SB.el("td", { class: "num" }, q.abandoned_today),
        SB.el("td", { class: "num", "data-wait": q.queue }, waitText(q.queue)));
    });
    $("queues").replaceChildren(...rows);
    const longest = queues.filter((q) => q.waiting_since).map((q) => now() - q.waiting_since);
    $("longest-wait").textContent = longest.length ? secs(Math.max(...longest)) : "–";
    const people = agents.sort(([, a], [, b]) => a.name.localeCompare(b.name)).map(([id, a]) =>
      SB.el("tr", { "data-agent": id, class: a.call_past_limit ? "bad" : "" },
        SB.el("td", {}, a.name),
        SB.el("td", { class: "status-" + a.status }, SB.t(a.status) + (a.reason ? " (" + a.reason + ")" : "")),
        SB.el("td", { class: "num" }, secs(now() - a.since)),
        SB.el("td", { class: "num" }, a.handled_today),
        SB.el("td", { class: "num" }, a.average_handling_secs === null || a.average_handling_secs === undefined ? "–" : secs(a.average_handling_secs * 1000))));
    $("agents").replaceChildren(...people);
    renderStaffing();
    $("clock").textContent = SB.clock(now());
  }

  // A queue's estimated wait for a caller arriving now.
  function waitText(queue) {
    const w = (board.waits || {})[queue];
    if (!w) return "–";
    if (w.estimated_wait_secs === undefined) return SB.t("nobody_at_work");
    return secs(w.estimated_wait_secs * 1000);
  }

  // Agents needed per interval (the larger of the two rules) against those
  // scheduled; the interval now running is marked, forecast bars are pale.
  function renderStaffing() {
    const s = board.staffing || { intervals: {} };
    const keys = Object.keys(s.intervals || {}).sort();
    const need = (i) => Math.max(i.needed_for_service_level, i.needed_for_abandonment);
    const cur = s.intervals && s.intervals[s.current];
    $("at-work").textContent = s.at_work === undefined ? "–" : s.at_work;
    $("needed-now").textContent = cur ? need(cur) : "–";
    setTile($("tile-staffing"), cur && s.at_work < need(cur));
    const rows = keys.map((k) => {
      const i = s.intervals[k];
      const cls = (k === s.current ? "now " : "") + (i.scheduled < need(i) ? "short" : "");
      return SB.el("tr", { "data-interval": k, class: cls.trim() },
        SB.el("td", {}, k),
        SB.el("td", { class: "num" }, (i.forecast ? "≈" : "") + Math.round(i.arrivals)),
        SB.el("td", { class: "num" }, i.needed_for_service_level),
        SB.el("td", { class: "num" }, i.needed_for_abandonment),
        SB.el("td", { class: "num" }, i.scheduled));
    });
    $("staffing").replaceChildren(...rows);
    const svg = $("staffing-chart");
    const ns = "http://www.w3.org/2000/svg";
    const top = Math.max(1, ...keys.map((k) => Math.max(need(s.intervals[k]), s.intervals[k].scheduled)));
    const w = 960 / Math.max(1, keys.length);
    const y = (v) => 155 - (v / top) * 145;
    const shapes = [];
    keys.forEach((k, n) => {
      const i = s.intervals[k];
      const r = document.createElementNS(ns, "rect");
      r.setAttribute("x", n * w + 1);
      r.setAttribute("width", Math.max(1, w - 2));
      r.setAttribute("y", y(need(i)));
      r.setAttribute("height", 155 - y(need(i)));
      r.setAttribute("class", "need" + (i.forecast ? " forecast" : "") + (k === s.current ? " now" : ""));
      shapes.push(r);
    });
    if (keys.length) {
      const line = document.createElementNS(ns, "polyline");
      line.setAttribute("points", keys.map((k, n) => (n * w + w / 2) + "," + y(s.intervals[k].scheduled)).join(" "));
      line.setAttribute("class", "scheduled");
      shapes.push(line);
    }
    svg.replaceChildren(...shapes);
  }

  function onMessage(m) {
    if (m.type === "figures") {
      board = m.board;
      seq = m.seq;
    } else if (m.type === "patch") {
      if (!board || m.seq <= seq) return;
      board = SB.mergePatch(board, m.patch);
      seq = m.seq;
    } else if (m.type === "error") {
      $("refused").textContent = m.message;
      return;
    } else {
      return;
    }
    if (m.at) skew = m.at - Date.now();
    document.body.dataset.seq = seq;
    render();
  }

  document.addEventListener("DOMContentLoaded", async () => {
    await SB.loginForm(["supervisor", "admin"], "not_allowed");
    const state = $("state");
    SB.socket("/ws/wallboard", {
      message: onMessage,
      state: (s) => {
        state.className = "state " + s;
        state.dataset.t = s;
        state.textContent = SB.t(s);
      },
      refused: (reason) => {
        if (!$("refused").textContent) $("refused").textContent = reason;
      },
    });
    setInterval(render, 1000);
    document.addEventListener("sb-lang", render);
  });
})();
