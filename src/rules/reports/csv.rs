//! A report as one CSV table (RFC 4180) in long form, `section,item,
//! metric,value`: every figure of the JSON on a row of its own, so a
//! spreadsheet can filter or pivot it without knowing the report's shape.

use std::fmt::Write;

use super::Report;

/// One field, quoted when it needs to be. A text that a spreadsheet would
/// take for a formula (it begins with `=`, `+`, `-`, `@`, a tab or a
/// carriage return: a merchant named `=HYPERLINK(...)`, say) is given a
/// leading `'` so that it shows as text (OWASP, CSV injection); numbers,
/// negative ones included, stay numbers.
fn field(v: &str) -> String {
    let formula = v.starts_with(['=', '+', '-', '@', '\t', '\r']) && v.parse::<f64>().is_err();
    let v = if formula { format!("'{v}") } else { v.to_owned() };
    if formula || v.contains([',', '"', '\n', '\r']) { format!("\"{}\"", v.replace('"', "\"\"")) } else { v }
}

struct Rows(String);

impl Rows {
    fn row(&mut self, section: &str, item: &str, metric: &str, value: impl ToString) {
        let _ =
            write!(self.0, "{},{},{},{}\r\n", field(section), field(item), field(metric), field(&value.to_string()));
    }

    fn opt<T: ToString>(&mut self, section: &str, item: &str, metric: &str, value: Option<T>) {
        self.row(section, item, metric, value.map(|v| v.to_string()).unwrap_or_default());
    }
}

pub fn render(r: &Report) -> String {
    let mut out = Rows(String::from("section,item,metric,value\r\n"));
    out.row("period", r.period.as_str(), "first_day", r.first_day);
    out.row("period", r.period.as_str(), "next_day", r.next_day);
    out.row("period", r.period.as_str(), "from", r.from);
    out.row("period", r.period.as_str(), "to", r.to);
    out.row("period", r.period.as_str(), "time_zone", &r.time_zone);
    let c = &r.calls;
    out.row("calls", "inbound", "answered", c.today.answered);
    out.row("calls", "inbound", "abandoned", c.today.abandoned);
    out.opt("calls", "inbound", "abandon_rate", c.today.abandon_rate);
    out.opt("calls", "inbound", "abandon_rate_target", c.abandon_rate.map(|j| j.target));
    out.opt("calls", "inbound", "abandon_rate_breached", c.abandon_rate.map(|j| j.breached));
    out.row("calls", "inbound", "answered_within_threshold", c.today.answered_within_threshold);
    out.opt("calls", "inbound", "service_level", c.today.service_level);
    out.opt("calls", "first_response", "average_ms", c.first_response.as_ref().map(|x| x.average_ms));
    out.opt("calls", "first_response", "score", c.first_response.as_ref().map(|x| x.score));
    out.opt("calls", "average_response", "average_ms", c.average_response.as_ref().map(|x| x.average_ms));
    out.opt("calls", "average_response", "score", c.average_response.as_ref().map(|x| x.score));
    out.row("missed_calls", "all", "received", r.missed.received);
    out.row("missed_calls", "all", "called_back", r.missed.called_back);
    out.row("missed_calls", "all", "got_through", r.missed.got_through);
    out.row("missed_calls", "all", "waiting", r.missed.waiting);
    for k in &r.callbacks {
        let kind = k.kind.as_str();
        out.row("callbacks", kind, "due", k.due);
        out.row("callbacks", kind, "done_in_time", k.done_in_time);
        out.row("callbacks", kind, "late", k.late);
        out.opt("callbacks", kind, "completion", k.completion.map(|j| j.value));
        out.row("callbacks", kind, "attempts", k.attempts);
        out.opt("callbacks", kind, "attempts_per_callback", k.attempts_per_callback);
    }
    out.row("complaints", "all", "total", r.complaints.total);
    out.row("complaints", "all", "major", r.complaints.major);
    for (section, counts) in [
        ("complaints_by_channel", &r.complaints.by_channel),
        ("complaints_by_category", &r.complaints.by_category),
        ("complaints_by_brand", &r.complaints.by_brand),
        ("complaints_by_merchant", &r.complaints.by_merchant),
    ] {
        for c in counts {
            out.row(section, &c.key, "count", c.count);
        }
    }
    for m in &r.merchants {
        out.row("merchant_ranking", &m.merchant, "rank", m.rank);
        out.row("merchant_ranking", &m.merchant, "complaints", m.complaints);
        out.row("merchant_ranking", &m.merchant, "major", m.major);
        out.row("merchant_ranking", &m.merchant, "resolved", m.resolved);
        out.row("merchant_ranking", &m.merchant, "replies_due", m.replies_due);
        out.row("merchant_ranking", &m.merchant, "replied_in_time", m.replied_in_time);
        out.row("merchant_ranking", &m.merchant, "reply_score", m.reply_score);
    }
    out.row("overdue", "tasks", "count", r.overdue.tasks);
    out.row("overdue", "cases", "answer_late", r.overdue.cases_answer_late);
    out.row("overdue", "cases", "merchant_reply_late", r.overdue.cases_merchant_late);
    for t in &r.overdue.task_list {
        out.row("overdue_task", &t.task_id, "kind", t.kind.as_str());
        out.row("overdue_task", &t.task_id, "deadline", t.deadline);
        out.row("overdue_task", &t.task_id, "status", t.status.as_str());
        out.opt("overdue_task", &t.task_id, "closed_at", t.closed_at);
    }
    for a in &r.agents {
        let item = format!("{} ({})", a.name, a.agent);
        if let Some(w) = &a.work_number {
            out.row("agent", &item, "work_number", w);
        }
        out.row("agent", &item, "handled", a.handled);
        out.row("agent", &item, "reached", a.reached);
        out.opt("agent", &item, "average_handling_secs", a.average_handling_secs);
        out.row("agent", &item, "calls_over_5_min", a.calls_over_5_min);
        out.opt("agent", &item, "average_answer_ms", a.average_answer_ms);
        out.opt("agent", &item, "answer_score", a.answer_score);
        out.row("agent", &item, "calls_talked", a.calls_talked);
        out.opt("agent", &item, "share_over_target", a.share_over_target);
        out.opt("agent", &item, "share_over_limit", a.share_over_limit);
    }
    for c in &r.open_major {
        let item = c.case_id.to_string();
        out.row("open_major_case", &item, "merchant", &c.merchant);
        out.row("open_major_case", &item, "category", &c.category);
        out.row("open_major_case", &item, "received_at", c.received_at);
        out.row("open_major_case", &item, "status", c.status.as_str());
        out.row("open_major_case", &item, "updated_at", c.updated_at);
    }
    if let Some(n) = &r.nominations {
        for (list, nominated) in [("red", &n.red), ("black", &n.black)] {
            for m in nominated {
                out.row(&format!("{list}_list_nomination"), &m.merchant, "why", m.why.join("; "));
            }
        }
    }
    for w in &r.recurring {
        let item = format!("{} {}", w.rule, w.name.as_deref().unwrap_or("(queue)"));
        out.row("recurring_work", &item, "days", w.days);
        out.row("recurring_work", &item, "target", w.target);
        out.row("recurring_work", &item, "done", w.done);
        out.row("recurring_work", &item, "days_met", w.days_met);
    }
    let w = &r.warranty;
    out.row("warranty", "customers", "due", w.customers_due);
    out.row("warranty", "customers", "called", w.customers_called);
    out.row("warranty", "customers", "reached", w.customers_reached);
    out.row("warranty", "callbacks", "due", w.callbacks_due);
    out.row("warranty", "callbacks", "called", w.callbacks_called);
    out.row("warranty", "callbacks", "reached", w.callbacks_reached);
    out.opt("warranty", "customers", "callback_rate", w.callback_rate.map(|j| j.value));
    out.opt("warranty", "customers", "breached", w.callback_rate.map(|j| j.breached));
    for e in &r.events {
        let item = format!("{} {}", e.date, e.id);
        let a = &e.attendance;
        out.row("event", &item, "registered", a.registered);
        out.row("event", &item, "answered", a.answered);
        out.row("event", &item, "coming", a.coming);
        out.row("event", &item, "expected_people", a.expected_people);
        out.opt("event", &item, "attended", a.attended);
        out.opt("event", &item, "attended_as_said", a.attended_as_said);
    }
    let s = &r.satisfaction;
    let mut rate = |item: &str, f: &super::satisfaction::SatisfactionRate| {
        out.row("satisfaction", item, "asked", f.asked);
        out.row("satisfaction", item, "satisfied", f.satisfied);
        out.opt("satisfaction", item, "rate", f.rate.map(|j| j.value));
        out.opt("satisfaction", item, "target", f.rate.map(|j| j.target));
        out.opt("satisfaction", item, "breached", f.rate.map(|j| j.breached));
    };
    rate("centre", &s.centre);
    for d in &s.by_department {
        let item = match (&d.name, d.department) {
            (Some(name), Some(id)) => format!("department {name} ({id})"),
            (None, Some(id)) => format!("department {id}"),
            (_, None) => "department none".to_owned(),
        };
        rate(&item, &d.figures);
    }
    for a in &s.by_agent {
        rate(&format!("agent {} ({})", a.name, a.agent), &a.figures);
    }
    for i in &r.staffing {
        out.row("staffing", &i.starts, "forecast_arrivals", i.forecast_arrivals);
        out.row("staffing", &i.starts, "arrivals", i.arrivals);
        out.row("staffing", &i.starts, "needed_for_forecast", i.needed_for_forecast);
        out.row("staffing", &i.starts, "needed", i.needed);
        out.row("staffing", &i.starts, "scheduled", i.scheduled);
        out.row("staffing", &i.starts, "at_work", i.at_work);
    }
    out.0
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn fields_are_quoted_only_when_they_must_be() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
    }

    #[test]
    fn formulas_come_out_as_text_and_numbers_as_numbers() {
        assert_eq!(field("=HYPERLINK(\"http://evil\",\"x\")"), "\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\"");
        for bad in ["+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"] {
            assert!(field(bad).starts_with("\"'"), "{bad:?} -> {}", field(bad));
        }
        assert_eq!(field("-12.5"), "-12.5");
        assert_eq!(field("Sunny Tiles, Ltd"), "\"Sunny Tiles, Ltd\"");
        assert_eq!(field("Blue Lake"), "Blue Lake");
    }
}
