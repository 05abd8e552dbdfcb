// The dispatch board on a dispatcher's console (car orders, trips,
// drivers, inn bookings), replaced whole with each `board` message.
"use strict";

window.DispatchBoard = (() => {
  let last = null;
  const time = (t) =>
    t ? new Date(t).toLocaleString([], { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" }) : "";

  function table(title, head, rows) {
    return SB.el("section", {},
      SB.el("h2", {}, SB.t(title) + " (" + rows.length + ")"),
      SB.el("table", {}, SB.el("tr", {}, ...head.map((h) => SB.el("th", {}, h))), ...rows));
  }

  function render(board) {
    last = board;
    const now = Date.now();
    const orders = board.car_orders.map((o) => SB.el("tr", { "data-order": o.id },
      SB.el("td", {}, o.kind), SB.el("td", {}, o.status), SB.el("td", {}, o.passenger + " " + o.phone),
      SB.el("td", {}, o.passengers), SB.el("td", {}, o.flight || o.from_address || ""), SB.el("td", {}, o.airport || o.to_address || ""),
      SB.el("td", {}, time(o.time)),
      SB.el("td", { class: o.status === "open" && Date.parse(o.confirm_by) < now ? "bad" : "" }, time(o.confirm_by))));
    const trips = board.trips.map((t) => SB.el("tr", {},
      SB.el("td", {}, t.status), SB.el("td", {}, t.driver_id || "–"), SB.el("td", {}, t.passengers),
      SB.el("td", {}, t.order_ids.length), SB.el("td", {}, t.calls.length)));
    const drivers = board.drivers.map((d) => SB.el("tr", {},
      SB.el("td", {}, d.name), SB.el("td", {}, d.phone), SB.el("td", {}, d.vehicle || ""), SB.el("td", {}, d.seats),
      SB.el("td", {}, d.area), SB.el("td", {}, d.status)));
    const inns = board.inn_orders.map((i) => SB.el("tr", {},
      SB.el("td", {}, i.inn), SB.el("td", {}, i.guest), SB.el("td", {}, i.check_in || ""),
      SB.el("td", {}, i.reminders), SB.el("td", { class: i.escalated_at ? "bad" : "" }, i.task_status || "")));
    document.getElementById("board").replaceChildren(
      table("car_orders", ["", SB.t("status"), SB.t("customer"), "#", "", "", "", SB.t("deadline")], orders),
      table("trips", [SB.t("status"), "", "#", "", ""], trips),
      table("drivers", [SB.t("name"), SB.t("phone"), "", "", "", SB.t("status")], drivers),
      table("inn_orders", ["", SB.t("name"), "", "", SB.t("status")], inns));
  }

  document.addEventListener("sb-lang", () => last && render(last));
  return { render };
})();
