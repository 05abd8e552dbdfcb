// Shared by the pages Switchboard serves: logging in, REST calls, the
// WebSocket with its ticket and reconnects, JSON merge patches, labels in
// Chinese and English. Plain script, no build step, nothing fetched from
// elsewhere.
"use strict";

const SB = (() => {
  const LABELS = {
    zh: {
      title_wallboard: "坐席监控大屏", title_agent: "坐席工作台", title_dispatch: "调度台",
      username: "用户名", password: "密码", login: "登录", logout: "退出", lang: "English",
      connected: "已连接", connecting: "连接中…", disconnected: "连接断开",
      abandon_rate: "呼损率（今日）", service_level: "服务水平（今日）", sl: "服务水平", target: "目标",
      answered_today: "今日接听", abandoned_today: "今日放弃", handled_today: "今日处理",
      calls_past_limit: "超时通话", calling_you: "正在呼叫您的话机", ringing_customer: "正在呼叫客户", call_connected: "通话中",
      call_ended: "通话结束", call_refused: "无法外呼", dial: "呼叫", over_target: "已超过建议通话时长",
      busy_line: "忙线", failed: "呼叫失败", interrupted: "通话中断", agent_unreachable: "您的话机未应答",
      waiting: "排队中", longest_wait: "最长等待", last_15: "近15分钟", last_60: "近60分钟",
      callbacks_due: "待回访", callbacks_overdue: "已超时", callbacks_done: "今日按时完成",
      missed_backlog: "未接来电待回", next_checkpoint: "下次释放", first_response: "首次响应",
      average_response: "平均响应", score: "得分", queues: "队列", agents: "坐席",
      estimated_wait: "预计等待", staffing: "人力需求", interval: "时段", arrivals: "来电",
      forecast: "预测", needed_sl: "所需坐席（服务水平）", needed_abandon: "所需坐席（呼损）",
      scheduled: "排班", at_work: "在岗", needed_now: "当前所需", nobody_at_work: "无人在岗",
      title_simulations: "模拟推演", new_simulation: "新的推演", from: "开始日期", to: "结束日期", runs: "次数",
      seed: "随机种子", staffing_json: "排班（JSON，可选）", changes_toml: "配置修改（TOML，可选）", run: "开始推演",
      runs_so_far: "推演记录", requested_at: "提交时间", period: "日期范围", comparison: "对比",
      recorded: "实际", simulated: "模拟", figure: "指标", download_csv: "下载 CSV", run_waiting: "排队中", kpi_abandon_rate: "呼损率", kpi_service_level: "服务水平",
      run_running: "进行中", run_done: "完成", run_failed: "失败", calls: "来电", first_response: "首次响应", callbacks_done: "完成回访",
      callbacks_within_deadline: "按时完成回访", overdue_at_end: "日终超时", occupancy: "坐席利用率",
      abandon_rate_by_day: "呼损率（按日）", service_level_by_day: "服务水平（按日）", occupancy_by_day: "坐席利用率（按日）",
      callbacks_by_day: "按时完成回访（按日）",
      queue: "队列", kind: "类型", offered: "振铃中", held: "处理中", oldest_deadline: "最早期限",
      entered: "今日进线", answered: "接听", abandoned: "放弃", name: "姓名", status: "状态",
      in_status: "持续", handled: "处理", aht: "平均处理时长", redis: "Redis",
      available: "空闲", busy: "通话中", wrap_up: "话后整理", break: "小休", offline: "离线",
      set_available: "就绪", set_break: "小休", set_lunch: "午餐", set_offline: "离线",
      offer: "新任务", accept: "接受", decline: "拒绝", expires_in: "剩余应答时间",
      customer: "客户", phone: "电话", reason: "事由", deadline: "期限", attempt: "第几次",
      first_tried: "首次拨打", last_outcome: "上次结果", handover_note: "交接备注", priority: "优先级",
      past_calls: "历史来电", open_cases: "未结投诉", notes: "备注", held_tasks: "手上任务",
      region: "地区", address: "地址", contact_person: "负责人", other_phones: "其他电话", tags: "标签", edit_file: "更新客户资料", saved: "已保存",
      coming: "到场", not_coming: "不到场", people: "人数", save: "保存", expected: "预到场人数", register_for: "代报名",
      work_number: "工号", greeting: "开场白", registrations: "活动报名", main: "主场", special: "专场", new: "新客户", returning: "老客户",
      outcome: "结果", summary: "通话小结", complete: "完成", release: "交回队列", none: "无",
      reached: "已联系", no_answer: "无人接听", wrong_number: "号码错误", done: "已办结",
      handover: "交接班备注", leave_note: "留下备注", no_note: "暂无备注", recurring_work: "今日例行工作", none_today: "今日无例行工作", due_by: "截止",
      agents_available: "空闲坐席", coverage: "无人在线的队列", satisfaction: "今日满意率", nobody_online: "无在线客服", escalations: "待主管处理", esc_cars: "派车超时", esc_inns: "客栈未处理", esc_cases: "投诉未答复", esc_merchants: "商家未回复", esc_lists: "红黑榜未确认",
      overdue: "已超时", car_orders: "用车订单", trips: "行程", drivers: "司机", inn_orders: "客栈订单",
      not_allowed: "此页面仅限主管/管理员", console_only: "此页面供坐席和调度员使用", login_failed: "用户名或密码错误",
      inbound_call: "来电", new_signup_callback: "新报名回访", missed_call_callback: "未接回拨",
      returning_signup_callback: "老客户报名回访", event_callback: "活动回访",
      marketing_attended_no_order: "营销（到场未下单）", marketing_attended_ordered: "营销（到场已下单）",
      marketing_no_show: "营销（未到场）", event_recommendation: "活动推荐", community_outreach: "社区拓展",
      inn_reminder: "客栈提醒", car_dispatch: "派车", insurance_registration: "保险登记",
      complaint_follow_up: "投诉跟进",
      warranty_callback: "保修回访", after_sales_review: "遗留售后跟踪",
    },
    en: {
      title_wallboard: "Wallboard", title_agent: "Agent console", title_dispatch: "Dispatch console",
      username: "Username", password: "Password", login: "Log in", logout: "Log out", lang: "中文",
      connected: "Connected", connecting: "Connecting…", disconnected: "Disconnected",
      abandon_rate: "Abandon rate (today)", service_level: "Service level (today)", sl: "Service level", target: "target",
      answered_today: "Answered today", abandoned_today: "Abandoned today", handled_today: "Handled today",
      calls_past_limit: "Calls past the limit", calling_you: "Calling your phone", ringing_customer: "Ringing the customer", call_connected: "Connected",
      call_ended: "Call ended", call_refused: "Cannot call", dial: "Call", over_target: "Past the target call length",
      busy_line: "Busy", failed: "Call failed", interrupted: "Call cut off", agent_unreachable: "Your phone did not answer",
      waiting: "Waiting", longest_wait: "Longest wait", last_15: "Last 15 min", last_60: "Last 60 min",
      callbacks_due: "Callbacks due", callbacks_overdue: "Overdue", callbacks_done: "Done in time today",
      missed_backlog: "Missed calls to call back", next_checkpoint: "Next release", first_response: "First response",
      average_response: "Average response", score: "score", queues: "Queues", agents: "Agents",
      estimated_wait: "Est. wait", staffing: "Staffing", interval: "Interval", arrivals: "Calls",
      forecast: "forecast", needed_sl: "Needed (service level)", needed_abandon: "Needed (abandonment)",
      scheduled: "Scheduled", at_work: "At work", needed_now: "Needed now", nobody_at_work: "nobody at work",
      title_simulations: "What if", new_simulation: "New run", from: "From", to: "To", runs: "Runs",
      seed: "Seed", staffing_json: "Staffing (JSON, optional)", changes_toml: "Configuration changes (TOML, optional)", run: "Run",
      runs_so_far: "Runs", requested_at: "Asked at", period: "Days", comparison: "Comparison",
      recorded: "Recorded", simulated: "Simulated", figure: "Figure", download_csv: "Download CSV", run_waiting: "Waiting", kpi_abandon_rate: "Abandon rate", kpi_service_level: "Service level",
      run_running: "Running", run_done: "Done", run_failed: "Failed", calls: "Calls", first_response: "First response", callbacks_done: "Callbacks done",
      callbacks_within_deadline: "Callbacks in time", overdue_at_end: "Overdue at day's end", occupancy: "Occupancy",
      abandon_rate_by_day: "Abandon rate by day", service_level_by_day: "Service level by day", occupancy_by_day: "Occupancy by day",
      callbacks_by_day: "Callbacks in time by day",
      queue: "Queue", kind: "Kind", offered: "Ringing", held: "In hand", oldest_deadline: "Oldest deadline",
      entered: "Offered today", answered: "Answered", abandoned: "Abandoned", name: "Name", status: "Status",
      in_status: "For", handled: "Handled", aht: "Avg handling", redis: "Redis",
      available: "Available", busy: "On a call", wrap_up: "Wrap-up", break: "Break", offline: "Offline",
      set_available: "Available", set_break: "Break", set_lunch: "Lunch", set_offline: "Offline",
      offer: "New task", accept: "Accept", decline: "Decline", expires_in: "Answer within",
      customer: "Customer", phone: "Phone", reason: "Reason", deadline: "Deadline", attempt: "Attempt",
      first_tried: "First tried", last_outcome: "Last outcome", handover_note: "Handover note", priority: "Priority",
      past_calls: "Past calls", open_cases: "Open cases", notes: "Notes", held_tasks: "Tasks in hand",
      region: "Region", address: "Address", contact_person: "Contact person", other_phones: "Other numbers", tags: "Tags", edit_file: "Update the customer file", saved: "Saved",
      coming: "Coming", not_coming: "Not coming", people: "People", save: "Save", expected: "Expected", register_for: "Register for event",
      work_number: "Work no.", greeting: "Opening line", registrations: "Registrations", main: "Main event", special: "Special event", new: "New", returning: "Returning",
      outcome: "Outcome", summary: "Call summary", complete: "Complete", release: "Hand back", none: "None",
      reached: "Reached", no_answer: "No answer", wrong_number: "Wrong number", done: "Done",
      handover: "Handover note", leave_note: "Leave note", no_note: "No note waiting", recurring_work: "Today's recurring work", none_today: "No recurring work today", due_by: "due",
      agents_available: "Agents available", coverage: "Queues uncovered", satisfaction: "Satisfied today", nobody_online: "nobody online", escalations: "Escalated", esc_cars: "cars", esc_inns: "inns", esc_cases: "cases unanswered", esc_merchants: "merchants late", esc_lists: "merchant lists unconfirmed",
      overdue: "overdue", car_orders: "Car orders", trips: "Trips", drivers: "Drivers", inn_orders: "Inn bookings",
      not_allowed: "This page is for supervisors and admins", console_only: "This page is for agents and dispatchers", login_failed: "Wrong username or password",
      inbound_call: "Inbound call", new_signup_callback: "New sign-up callback", missed_call_callback: "Missed-call callback",
      returning_signup_callback: "Returning sign-up callback", event_callback: "Event callback",
      marketing_attended_no_order: "Marketing (attended, no order)", marketing_attended_ordered: "Marketing (attended, ordered)",
      marketing_no_show: "Marketing (no-show)", event_recommendation: "Event recommendation", community_outreach: "Community outreach",
      inn_reminder: "Inn reminder", car_dispatch: "Car dispatch", insurance_registration: "Insurance registration",
      complaint_follow_up: "Complaint follow-up",
      warranty_callback: "Warranty callback", after_sales_review: "After-sales review",
    },
  };
  let lang = localStorage.getItem("sb.lang") || "zh";

  function t(key) {
    return (LABELS[lang] && LABELS[lang][key]) || key;
  }

  function relabel(root) {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    for (const el of (root || document).querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t);
  }

  function toggleLang() {
    lang = lang === "zh" ? "en" : "zh";
    localStorage.setItem("sb.lang", lang);
    relabel();
    document.dispatchEvent(new Event("sb-lang"));
  }

  function session() {
    const raw = sessionStorage.getItem("sb.session");
    return raw ? JSON.parse(raw) : null;
  }

  async function api(method, path, body) {
    const s = session();
    const headers = { "content-type": "application/json" };
    if (s) headers.authorization = "Bearer " + s.token;
    const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await resp.text();
    const data = text ? JSON.parse(text) : null;
    if (!resp.ok) {
      const err = new Error((data && data.error && data.error.message) || resp.statusText);
      err.status = resp.status;
      err.code = data && data.error && data.error.code;
      throw err;
    }
    return data;
  }

  async function login(username, password) {
    const r = await api("POST", "/api/v1/login", { username, password });
    sessionStorage.setItem("sb.session", JSON.stringify({ token: r.token, user: r.user }));
    return r.user;
  }

  // Ends the token on the server too (so its sockets close everywhere),
  // then forgets it here.
  async function logout() {
    if (session()) {
      try {
        await api("POST", "/api/v1/logout");
      } catch (e) {
        // Already ended, or the server is away: forgetting it is enough.
      }
    }
    forget();
  }

  function forget() {
    sessionStorage.removeItem("sb.session");
    location.reload();
  }

  // A socket that authenticates with a fresh ticket and reconnects after
  // drops (1 s, doubling to 30 s). A refusal (1008) is final: the page
  // shows why instead of knocking again.
  function socket(path, handlers) {
    let delay = 1000;
    let stopped = false;
    let ws = null;
    async function open() {
      handlers.state("connecting");
      let ticket;
      try {
        ticket = (await api("POST", "/api/v1/ws-ticket")).ticket;
      } catch (e) {
        if (e.status === 401) return forget();
        return retry();
      }
      const scheme = location.protocol === "https:" ? "wss://" : "ws://";
      ws = new WebSocket(scheme + location.host + path);
      ws.onopen = () => ws.send(JSON.stringify({ type: "auth", ticket }));
      ws.onmessage = (ev) => {
        delay = 1000;
        handlers.state("connected");
        handlers.message(JSON.parse(ev.data));
      };
      ws.onclose = (ev) => {
        ws = null;
        // 4003: the session ended (logged out, the account changed): log in again.
        if (ev.code === 4003) return forget();
        if (ev.code === 1008) {
          stopped = true;
          handlers.state("disconnected");
          if (handlers.refused) handlers.refused(ev.reason);
          return;
        }
        retry();
      };
    }
    function retry() {
      handlers.state("disconnected");
      if (stopped) return;
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 30000);
    }
    open();
    setInterval(() => ws && ws.readyState === 1 && ws.send(JSON.stringify({ type: "ping" })), 25000);
    return {
      send(msg) {
        if (!ws || ws.readyState !== 1) return false;
        ws.send(JSON.stringify(msg));
        return true;
      },
    };
  }

  // RFC 7386: a null removes a key, an object merges, anything else replaces.
  function mergePatch(target, patch) {
    if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return patch;
    if (target === null || typeof target !== "object" || Array.isArray(target)) target = {};
    for (const [k, v] of Object.entries(patch)) {
      if (v === null) delete target[k];
      else target[k] = mergePatch(target[k], v);
    }
    return target;
  }

  function duration(ms) {
    const neg = ms < 0;
    let s = Math.floor(Math.abs(ms) / 1000);
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    s = s % 60;
    const two = (n) => String(n).padStart(2, "0");
    return (neg ? "-" : "") + (h ? h + ":" + two(m) : m) + ":" + two(s);
  }

  function clock(at) {
    return new Date(at).toLocaleTimeString(lang === "zh" ? "zh-CN" : "en-GB", { hour: "2-digit", minute: "2-digit" });
  }

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
    return e;
  }

  // The login form each page starts with; resolves with the user. A user
  // of a role not in `allowed` is told `refusal` (a label key).
  function loginForm(allowed, refusal) {
    return new Promise((resolve) => {
      const s = session();
      const form = document.getElementById("login");
      const fail = document.getElementById("login-error");
      const done = (user) => {
        if (allowed && !allowed.includes(user.role)) {
          fail.textContent = t(refusal);
          form.hidden = false;
          sessionStorage.removeItem("sb.session");
          return false;
        }
        form.hidden = true;
        document.getElementById("main").hidden = false;
        resolve(user);
        return true;
      };
      if (s && done(s.user)) return;
      form.hidden = false;
      form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        fail.textContent = "";
        try {
          done(await login(form.username.value, form.password.value));
        } catch (e) {
          fail.textContent = e.status === 401 ? t("login_failed") : e.message;
        }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    relabel();
    for (const b of document.querySelectorAll(".lang-toggle")) b.addEventListener("click", toggleLang);
    for (const b of document.querySelectorAll(".logout")) b.addEventListener("click", logout);
  });

  return { t, relabel, api, login, logout, session, socket, mergePatch, duration, clock, el, loginForm, lang: () => lang };
})();
