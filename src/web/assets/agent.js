// The console (`/agent`, `/dispatch`): status, the screen-pop of each
// offer with its countdown, accept/decline, the tasks in hand with their
// summary and outcome, and the handover note. A dispatcher's console also
// shows the dispatch board (dispatch.js), which only dispatchers are sent.
"use strict";

const Console = (() => {
  const $ = (id) => document.getElementById(id);
  const offers = new Map(); // task id -> {task, expires_at, why, customer}
  const held = new Map(); // task id -> task card
  const customers = new Map(); // task id -> customer profile from the offer
  const calls = new Map(); // task id -> the latest `call` message of a call Switchboard placed
  let dialling = {}; // kind -> "preview" | "progressive", for kinds Switchboard dials
  const greetings = new Map(); // task id -> the opening line with the agent's work number
  const drafts = new Map(); // task id -> {outcome, summary} being written: kept across re-renders
  let me = null;
  let sock = null;
  let refs = 0;
  const pending = new Map(); // ref -> {what, task}: what an ack or error answers

  function log(text) {
    const line = SB.el("div", {}, SB.clock(Date.now()) + " " + text);
    $("log").prepend(line);
  }

  function send(msg, what) {
    const ref = String(++refs);
    pending.set(ref, { what, task: msg.task_id });
    if (!sock.send({ ...msg, ref })) $("error").textContent = SB.t("disconnected");
  }

  function showStatus(status, reason) {
    const s = $("my-status");
    s.className = "status-" + status;
    s.dataset.status = status;
    s.textContent = SB.t(status) + (reason ? " (" + reason + ")" : "");
  }

  function taskDetails(task) {
    const row = (k, v) => (v === null || v === undefined || v === "" ? [] : [SB.el("dt", {}, SB.t(k)), SB.el("dd", {}, v)]);
    // `attempt` is this attempt's number, from 1.
    const attempt = task.attempts_allowed ? task.attempt + " / " + task.attempts_allowed : task.attempt;
    return SB.el("dl", {},
      ...row("kind", SB.t(task.kind)),
      ...row("phone", task.customer_phone),
      ...row("reason", task.reason),
      ...row("priority", task.priority),
      ...row("attempt", attempt),
      ...row("first_tried", task.first_tried_at && SB.clock(task.first_tried_at)),
      ...row("last_outcome", task.last_outcome && SB.t(task.last_outcome)),
      ...row("handover_note", task.handover_note),
      ...(task.deadline ? [SB.el("dt", {}, SB.t("deadline")), SB.el("dd", { class: "deadline" },
        SB.clock(task.deadline) + " · ", SB.el("span", { class: "countdown", "data-at": Date.parse(task.deadline) }, ""))] : []));
  }

  function customerDetails(profile) {
    if (!profile) return null;
    const c = profile.customer;
    const parts = [SB.el("h3", {}, SB.t("customer") + ": " + ((c && c.name) || profile.phone))];
    if (c && c.notes) parts.push(SB.el("p", {}, SB.t("notes") + ": " + c.notes));
    if (c) {
      // The customer file: address, region, contact person, other numbers,
      // tags and the centre's own fields.
      const row = (k, v) => (v ? [SB.el("dt", {}, SB.t(k)), SB.el("dd", {}, v)] : []);
      const own = fieldDefs.flatMap((f) => {
        const v = c.fields && c.fields[f.name];
        return v ? [SB.el("dt", {}, f.label), SB.el("dd", {}, v)] : [];
      });
      const file = [...row("region", c.region), ...row("address", c.address), ...row("contact_person", c.contact_person),
        ...row("other_phones", (c.other_phones || []).join(", ")), ...row("tags", (c.tags || []).join(", ")), ...own];
      if (file.length) parts.push(SB.el("dl", { class: "customer-file" }, ...file));
    }
    if (profile.registrations && profile.registrations.length) {
      parts.push(SB.el("table", { class: "registrations" },
        SB.el("caption", {}, SB.t("registrations")),
        ...profile.registrations.map((r) => SB.el("tr", {},
          SB.el("td", {}, r.event_date), SB.el("td", {}, r.event_id), SB.el("td", {}, SB.t(r.event_kind)),
          SB.el("td", {}, SB.t(r.customer_kind))))));
    }
    if (profile.past_calls && profile.past_calls.length) {
      parts.push(SB.el("table", { class: "past-calls" },
        SB.el("caption", {}, SB.t("past_calls")),
        ...profile.past_calls.slice(0, 10).map((p) => SB.el("tr", {},
          SB.el("td", {}, p.ended_at ? new Date(p.ended_at).toLocaleString() : ""),
          SB.el("td", {}, SB.t(p.kind)), SB.el("td", {}, p.outcome ? SB.t(p.outcome) : ""),
          SB.el("td", {}, p.summary || "")))));
    }
    if (profile.open_cases && profile.open_cases.length) {
      parts.push(SB.el("table", { class: "open-cases" },
        SB.el("caption", {}, SB.t("open_cases")),
        ...profile.open_cases.map((k) => SB.el("tr", {},
          SB.el("td", {}, k.merchant || ""), SB.el("td", {}, k.category || ""), SB.el("td", {}, k.status),
          SB.el("td", {}, k.answer_by ? SB.t("deadline") + " " + new Date(k.answer_by).toLocaleString() : "")))));
    }
    return SB.el("div", { class: "customer" }, ...parts);
  }

  // Events on a call in hand: the week-before call's answer for each event
  // the customer registered for that has not happened yet (确认是否到场,
  // 统计预到场人数), and registering them for an event (代报名).
  let upcoming = []; // GET /api/v1/events, read once the console starts
  function eventTools(task, profile) {
    const phone = task.customer_phone;
    const today = new Date().toISOString().slice(0, 10);
    const rows = [];
    const regs = ((profile && profile.registrations) || []).filter((r) => r.event_date >= today);
    for (const r of regs) {
      const coming = SB.el("select", { class: "coming" },
        SB.el("option", { value: "yes" }, SB.t("coming")), SB.el("option", { value: "no" }, SB.t("not_coming")));
      const people = SB.el("input", { class: "people", type: "number", min: "0", max: "50", value: "1" });
      const result = SB.el("span", { class: "muted" }, "");
      const save = async () => {
        const yes = coming.value === "yes";
        try {
          const a = await SB.api("PUT", "/api/v1/events/" + encodeURIComponent(r.event_id) + "/attendance/" + encodeURIComponent(phone),
            { coming: yes, people: yes ? Number(people.value) : undefined });
          result.textContent = SB.t("expected") + " " + a.expected_people;
        } catch (e) {
          $("error").textContent = e.message;
        }
      };
      rows.push(SB.el("div", { class: "attendance", "data-event": r.event_id },
        r.event_date + " " + r.event_id + " ", coming, " ", SB.t("people") + " ", people, " ",
        SB.el("button", { class: "secondary save-attendance", onclick: save }, SB.t("save")), " ", result));
    }
    const known = new Set(regs.map((r) => r.event_id));
    const open = upcoming.filter((e) => !known.has(e.id));
    if (open.length) {
      const pick = SB.el("select", { class: "event" }, ...open.map((e) => SB.el("option", { value: e.id }, e.date + " " + e.name)));
      const returning = profile && (profile.customer || (profile.past_calls && profile.past_calls.length));
      const register = async () => {
        const e = open.find((x) => x.id === pick.value);
        try {
          await SB.api("POST", "/api/v1/registrations", { customer_phone: phone, customer_kind: returning ? "returning" : "new",
            event_id: e.id, event_date: e.date, event_kind: e.kind, source: "代报名" });
          log(SB.t("register_for") + ": " + e.name + " · " + phone);
        } catch (err) {
          $("error").textContent = err.message;
        }
      };
      rows.push(SB.el("div", { class: "register" }, SB.t("register_for") + " ", pick, " ",
        SB.el("button", { class: "secondary register-event", onclick: register }, SB.t("register_for"))));
    }
    return rows.length ? SB.el("div", { class: "events" }, ...rows) : null;
  }

  // Keeping the customer file up to date on a call in hand (对客户地址、
  // 电话、负责人等有变更的要及时更改): the parts an agent edits, saved with
  // PUT /api/v1/customers/{phone}; the server keeps each change's history.
  let fieldDefs = []; // GET /api/v1/customer-fields, read once the console starts
  function fileEditor(task) {
    const profile = customers.get(task.id);
    const c = (profile && profile.customer) || {};
    const input = (name, value) => SB.el("input", { class: "file-" + name, value: value || "" });
    const inputs = {
      name: input("name", c.name), region: input("region", c.region), address: input("address", c.address),
      contact_person: input("contact_person", c.contact_person),
      other_phones: input("other_phones", (c.other_phones || []).join(", ")), tags: input("tags", (c.tags || []).join(", ")),
    };
    const own = fieldDefs.map((f) => {
      const v = (c.fields && c.fields[f.name]) || "";
      const el = f.choices && f.choices.length
        ? SB.el("select", { class: "file-field", "data-field": f.name }, SB.el("option", { value: "" }, ""),
          ...f.choices.map((x) => SB.el("option", { value: x }, x)))
        : SB.el("input", { class: "file-field", "data-field": f.name, value: v });
      el.value = v;
      return [f, el];
    });
    const list = (v) => v.split(/[,，]/).map((x) => x.trim()).filter((x) => x);
    const result = SB.el("span", { class: "muted file-saved" }, "");
    const save = async () => {
      const body = {
        name: inputs.name.value, region: inputs.region.value, address: inputs.address.value,
        contact_person: inputs.contact_person.value, other_phones: list(inputs.other_phones.value), tags: list(inputs.tags.value),
        fields: Object.fromEntries(own.map(([f, el]) => [f.name, el.value])),
      };
      try {
        const saved = await SB.api("PUT", "/api/v1/customers/" + encodeURIComponent(task.customer_phone), body);
        if (profile) profile.customer = saved;
        result.textContent = SB.t("saved");
      } catch (e) {
        $("error").textContent = e.message;
      }
    };
    const label = (k, el) => SB.el("label", {}, SB.t(k) + " ", el);
    return SB.el("details", { class: "file-editor" }, SB.el("summary", {}, SB.t("edit_file")),
      label("name", inputs.name), label("region", inputs.region), label("address", inputs.address),
      label("contact_person", inputs.contact_person), label("other_phones", inputs.other_phones), label("tags", inputs.tags),
      ...own.map(([f, el]) => SB.el("label", {}, f.label + " ", el)),
      SB.el("div", {}, SB.el("button", { class: "secondary save-file", onclick: save }, SB.t("save")), " ", result));
  }

  // The line to open the call with (开场白), with the agent's work number.
  function greetingLine(text) {
    return text ? SB.el("p", { class: "greeting" }, SB.t("greeting") + ": " + text) : null;
  }

  function renderOffers() {
    const cards = [...offers.values()].map((o) => SB.el("section", { class: "offer", "data-task": o.task.id },
      SB.el("h2", {}, SB.t("offer") + ": " + SB.t(o.task.kind)),
      greetingLine(o.greeting || greetings.get(o.task.id)),
      SB.el("div", {}, SB.t("expires_in") + " ", SB.el("span", { class: "countdown expiry", "data-at": Date.parse(o.expires_at) }, "")),
      taskDetails(o.task),
      customerDetails(o.customer),
      SB.el("div", { class: "actions" },
        SB.el("button", { class: "accept", onclick: () => send({ type: "accept", task_id: o.task.id }, "accept") }, SB.t("accept")),
        SB.el("button", { class: "decline secondary", onclick: () => send({ type: "decline", task_id: o.task.id }, "decline") }, SB.t("decline")))));
    $("offers").replaceChildren(...cards);
    tick();
  }

  function renderHeld() {
    const cards = [...held.values()].map((task) => {
      const outcome = SB.el("select", { class: "outcome" },
        ...["reached", "no_answer", "busy", "wrong_number", "done"].map((o) => SB.el("option", { value: o }, SB.t(o))));
      const summary = SB.el("textarea", { class: "summary", maxlength: "4000", placeholder: SB.t("summary") });
      const draft = drafts.get(task.id) || { outcome: "reached", summary: "" };
      outcome.value = draft.outcome;
      summary.value = draft.summary;
      const keep = () => drafts.set(task.id, { outcome: outcome.value, summary: summary.value });
      outcome.addEventListener("change", keep);
      summary.addEventListener("input", keep);
      const complete = () => {
        const text = summary.value.trim();
        send({ type: "complete", task_id: task.id, outcome: outcome.value, summary: text || undefined }, "complete");
      };
      const release = () => {
        const text = summary.value.trim();
        send({ type: "release", task_id: task.id, note: text || undefined }, "release");
      };
      return SB.el("div", { class: "card held-task", "data-task": task.id },
        SB.el("strong", {}, SB.t(task.kind) + " · " + task.customer_phone),
        callLine(task),
        greetingLine(greetings.get(task.id)),
        taskDetails(task),
        customerDetails(customers.get(task.id)),
        eventTools(task, customers.get(task.id)),
        fileEditor(task),
        SB.el("label", {}, SB.t("outcome") + " ", outcome),
        SB.el("label", {}, SB.t("summary"), summary),
        SB.el("div", { class: "actions" },
          SB.el("button", { class: "complete", onclick: complete }, SB.t("complete")),
          SB.el("button", { class: "release secondary", onclick: release }, SB.t("release"))));
    });
    $("held").replaceChildren(...(cards.length ? cards : [SB.el("p", { class: "muted" }, SB.t("none"))]));
    tick();
  }

  // A call Switchboard places for a held task: the Call button (preview
  // kinds), then where the call is, with a timer once connected that turns
  // red at [calls] target_secs. The number is never typed.
  function callLine(task) {
    const mode = dialling[task.kind];
    if (!mode) return SB.el("span", {});
    const call = calls.get(task.id);
    const going = call && call.state !== "ended";
    const parts = [];
    if (!going) {
      parts.push(SB.el("button", { class: "dial", onclick: () => send({ type: "dial", task_id: task.id }, "dial") }, SB.t("dial")));
    }
    if (call) {
      const label = { calling_you: "calling_you", ringing_customer: "ringing_customer", connected: "call_connected", ended: "call_ended" }[call.state];
      let text = SB.t(label);
      if (call.state === "ended" && call.outcome) text += ": " + SB.t(call.outcome === "busy" ? "busy_line" : call.outcome) + (call.code ? " (" + call.code + ")" : "");
      parts.push(SB.el("span", { class: "call-state", "data-state": call.state }, text));
      if (call.state === "connected") {
        parts.push(SB.el("span", { class: "call-timer num", "data-since": Date.parse(call.connected_at), "data-target": call.target_secs * 1000 }, "0:00"));
      }
    }
    return SB.el("div", { class: "call" }, ...parts);
  }

  // Countdowns (offer expiry, deadlines) count on between messages.
  function tick() {
    for (const e of document.querySelectorAll("[data-since]")) {
      const talked = Date.now() - Number(e.dataset.since);
      e.textContent = SB.duration(talked);
      const over = talked >= Number(e.dataset.target);
      e.classList.toggle("bad", over);
      e.title = over ? SB.t("over_target") : "";
    }
    for (const e of document.querySelectorAll("[data-at]")) {
      const left = Number(e.dataset.at) - Date.now();
      e.textContent = SB.duration(left) + (left < 0 ? " " + SB.t("overdue") : "");
      e.classList.toggle("bad", left < 60000);
    }
  }

  function onMessage(m) {
    switch (m.type) {
      case "hello":
        $("me").textContent = m.name + (m.work_number ? " · " + SB.t("work_number") + " " + m.work_number : "");
        dialling = m.dialling || {};
        offers.clear();
        held.clear();
        for (const o of m.snapshot.offers) offers.set(o.task.id, o);
        for (const t of m.snapshot.held) {
          held.set(t.id, t);
          if (!customers.has(t.id)) loadCustomer(t);
        }
        showStatus(m.snapshot.status, m.snapshot.reason);
        renderOffers();
        renderHeld();
        break;
      case "offer":
        offers.set(m.task.id, m);
        if (m.customer) customers.set(m.task.id, m.customer);
        if (m.greeting) greetings.set(m.task.id, m.greeting);
        log(SB.t("offer") + ": " + SB.t(m.task.kind) + " " + m.task.customer_phone);
        renderOffers();
        break;
      case "offer_rescinded":
        offers.delete(m.task_id);
        log(SB.t("offer") + " ✕ " + m.reason);
        renderOffers();
        break;
      case "task_assigned":
        offers.delete(m.task.id);
        held.set(m.task.id, m.task);
        renderOffers();
        renderHeld();
        break;
      case "task_revoked":
        held.delete(m.task_id);
        drafts.delete(m.task_id);
        log("✕ " + m.reason);
        renderHeld();
        break;
      case "call":
        calls.set(m.task_id, m);
        log(SB.t({ calling_you: "calling_you", ringing_customer: "ringing_customer", connected: "call_connected", ended: "call_ended" }[m.state]) + " " + m.number);
        if (m.state === "ended" && m.attempt_recorded) {
          // The attempt is recorded from SIP and the task left this agent's hands.
          held.delete(m.task_id);
          drafts.delete(m.task_id);
        }
        renderHeld();
        break;
      case "status":
        showStatus(m.status, m.reason);
        break;
      case "board":
        if (window.DispatchBoard) window.DispatchBoard.render(m.board);
        break;
      case "ack": {
        const asked = pending.get(m.ref);
        pending.delete(m.ref);
        $("error").textContent = "";
        if (!asked) break;
        if (asked.what === "complete" || asked.what === "release") {
          // Carried out: the task has left this agent's hands.
          held.delete(asked.task);
          drafts.delete(asked.task);
          renderHeld();
        }
        log("✓ " + SB.t(asked.what));
        break;
      }
      case "error":
        pending.delete(m.ref);
        $("error").textContent = m.message;
        log("✕ " + m.code);
        break;
    }
  }

  // After a reconnect the snapshot has the tasks in hand but not their
  // callers' records: fetched once each.
  async function loadCustomer(task) {
    try {
      customers.set(task.id, await SB.api("GET", "/api/v1/customers/" + encodeURIComponent(task.customer_phone)));
      renderHeld();
    } catch (e) {
      if (e.status !== 404) log("✕ " + e.message);
    }
  }

  async function loadHandover() {
    try {
      const h = await SB.api("GET", "/api/v1/agents/" + me.id + "/handover");
      $("handover-note").textContent = h.note;
      $("handover-note").removeAttribute("data-t");
    } catch (e) {
      if (e.status !== 404) $("error").textContent = e.message;
    }
  }

  // Today's recurring work (未成交分析 30, orders reviewed by 16:00) with
  // its count: the agent counts up here; the reports read the same figure.
  async function loadRecurring() {
    try {
      const items = await SB.api("GET", "/api/v1/recurring-work");
      const box = $("recurring");
      box.replaceChildren();
      if (!items.length) {
        const p = document.createElement("p");
        p.className = "muted";
        p.dataset.t = "none_today";
        p.textContent = SB.t("none_today");
        box.append(p);
        return;
      }
      for (const w of items) {
        const row = document.createElement("div");
        row.className = "recurring" + (w.done >= w.target ? " met" : "");
        row.dataset.id = w.id;
        const label = document.createElement("span");
        label.textContent = w.label + " " + w.done + " / " + w.target + " · " + SB.t("due_by") + " " + SB.clock(Date.parse(w.due_at));
        const more = document.createElement("button");
        more.className = "secondary";
        more.textContent = "+1";
        more.addEventListener("click", async () => {
          try {
            await SB.api("PUT", "/api/v1/recurring-work/" + encodeURIComponent(w.id) + "/done", { done: w.done + 1 });
            loadRecurring();
          } catch (e) {
            $("error").textContent = e.message;
          }
        });
        row.append(label, " ", more);
        box.append(row);
      }
    } catch (e) {
      $("error").textContent = e.message;
    }
  }

  async function start() {
    me = await SB.loginForm(["agent", "dispatcher"], "console_only");
    SB.api("GET", "/api/v1/events").then((list) => { upcoming = list; }, () => {});
    SB.api("GET", "/api/v1/customer-fields").then((list) => { fieldDefs = list; }, () => {});
    $("title").dataset.t = me.role === "dispatcher" ? "title_dispatch" : "title_agent";
    SB.relabel();
    const state = $("state");
    sock = SB.socket("/ws", {
      message: onMessage,
      state: (s) => {
        state.className = "state " + s;
        state.dataset.t = s;
        state.textContent = SB.t(s);
      },
      refused: (reason) => {
        $("error").textContent = reason;
      },
    });
    $("set-available").addEventListener("click", () => send({ type: "set_status", status: "available" }, "set_available"));
    $("set-break").addEventListener("click", () => send({ type: "set_status", status: "break", reason: "rest" }, "set_break"));
    $("set-lunch").addEventListener("click", () => send({ type: "set_status", status: "break", reason: "lunch" }, "set_lunch"));
    $("set-offline").addEventListener("click", () => send({ type: "set_status", status: "offline" }, "set_offline"));
    $("handover-save").addEventListener("click", async () => {
      const note = $("handover-text").value.trim();
      if (!note) return;
      try {
        await SB.api("POST", "/api/v1/agents/" + me.id + "/handover", { note });
        $("handover-text").value = "";
        loadHandover();
      } catch (e) {
        $("error").textContent = e.message;
      }
    });
    loadHandover();
    loadRecurring();
    setInterval(loadRecurring, 60000);
    setInterval(tick, 1000);
    document.addEventListener("sb-lang", () => {
      renderOffers();
      renderHeld();
    });
  }

  return { start, held };
})();

document.addEventListener("DOMContentLoaded", Console.start);
