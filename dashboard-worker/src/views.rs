//! The pages' templates (askama, `templates/`) and the view models they
//! render: strings formatted here, so templates only lay them out. askama
//! escapes every `{{ value }}`; only the SVG from [`crate::charts`], which
//! escapes its own text, goes in with `|safe`.

use askama::Template;
use time::OffsetDateTime;

/// Bumped when the stylesheet or script change, so browsers refetch them.
pub(crate) const ASSET_VERSION: &str = env!("CARGO_PKG_VERSION");

/// What every page shares: title, navigation, the logout form's token.
#[derive(Debug, Clone)]
pub(crate) struct Chrome {
    pub(crate) title: String,
    pub(crate) nav: Vec<NavItem>,
    pub(crate) csrf: String,
    pub(crate) guild: String,
    pub(crate) signed_in: bool,
    /// `<meta http-equiv=refresh>` for readers without JavaScript.
    pub(crate) refresh: Option<u32>,
    /// Load `/static/app.js` (progressive enhancement only).
    pub(crate) script: bool,
    pub(crate) generated_at: String,
    pub(crate) asset_version: &'static str,
}

#[derive(Debug, Clone)]
pub(crate) struct NavItem {
    pub(crate) href: &'static str,
    pub(crate) label: &'static str,
    pub(crate) current: bool,
}

/// The navigation, with `current` marked.
pub(crate) fn nav(current: &str) -> Vec<NavItem> {
    [
        ("/", "Overview"),
        ("/rising", "Rising Stars"),
        ("/churn", "Churn Risks"),
        ("/tickets", "Tickets"),
        ("/audits", "Audits"),
        ("/settings", "Settings"),
        ("/admin/health", "Health"),
        ("/admin/ledger", "AI ledger"),
        ("/admin/logs", "Live log"),
    ]
    .into_iter()
    .map(|(href, label)| NavItem {
        href,
        label,
        current: href == current,
    })
    .collect()
}

#[derive(Debug, Clone)]
pub(crate) struct LinkItem {
    pub(crate) href: String,
    pub(crate) label: String,
    pub(crate) current: bool,
}

/// A figure and its change against a previous one.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    /// `+12.5%`, `−3%`, `new`, `±0%`.
    pub(crate) text: String,
    /// `up`, `down` or `flat` (colour; the text carries the meaning too).
    pub(crate) class: &'static str,
    pub(crate) title: String,
}

pub(crate) fn change(current: f64, previous: f64, versus: &str) -> Change {
    let title = format!("{} {versus}", number(previous));
    if previous.abs() < 1e-9 {
        return if current.abs() < 1e-9 {
            Change {
                text: "±0%".to_owned(),
                class: "flat",
                title,
            }
        } else {
            Change {
                text: "new".to_owned(),
                class: "up",
                title,
            }
        };
    }
    let pct = 100.0 * (current - previous) / previous;
    let (class, sign) = if pct > 0.05 {
        ("up", "+")
    } else if pct < -0.05 {
        ("down", "−")
    } else {
        ("flat", "±")
    };
    Change {
        text: format!("{sign}{}%", number((pct.abs() * 10.0).round() / 10.0)),
        class,
        title,
    }
}

/// `1,234,567`.
pub(crate) fn thousands(value: i64) -> String {
    let digits = value.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if value < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A score or amount: thousands separated, at most two decimals, no `.0`.
pub(crate) fn number(value: f64) -> String {
    if !value.is_finite() {
        return "–".to_owned();
    }
    let rounded = (value * 100.0).round() / 100.0;
    // Scores fit comfortably in i64 after rounding.
    #[allow(clippy::cast_possible_truncation)]
    let whole = rounded.trunc() as i64;
    let cents = ((rounded - rounded.trunc()).abs() * 100.0).round();
    let sign = if rounded < 0.0 && whole == 0 { "-" } else { "" };
    if cents < 0.5 {
        format!("{sign}{}", thousands(whole))
    } else if (cents % 10.0).abs() < 0.5 {
        format!("{sign}{}.{}", thousands(whole), cents / 10.0)
    } else {
        format!("{sign}{}.{cents:02}", thousands(whole))
    }
}

/// US dollars with enough decimals for AI calls.
pub(crate) fn usd(value: f64) -> String {
    if value != 0.0 && value.abs() < 0.01 {
        format!("${value:.4}")
    } else {
        format!("${value:.2}")
    }
}

/// `2026-11-30 14:05 UTC`.
pub(crate) fn datetime(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{} {:02}:{:02} UTC",
        crate::params::format_day(at.date()),
        at.hour(),
        at.minute()
    )
}

pub(crate) fn maybe_datetime(at: Option<OffsetDateTime>) -> String {
    at.map_or_else(|| "–".to_owned(), datetime)
}

/// The day a churn risk was last active, and how long before the rule's
/// `as_of` that was (`days_silent`, as the database counts it): "ago" when
/// `as_of` is today. (Their last-seen time is not bounded by `as_of`: with a
/// past `as_of` it can be later than the day the page is about, so the page
/// does not show it.)
pub(crate) fn last_active(
    day: Option<community_store::Day>,
    days_silent: Option<i32>,
    as_of_today: bool,
) -> String {
    let (Some(day), Some(days)) = (day, days_silent) else {
        return "–".to_owned();
    };
    let when = match (days, as_of_today) {
        (0, true) => "today".to_owned(),
        (0, false) => "that day".to_owned(),
        (1, true) => "yesterday".to_owned(),
        (1, false) => "1 day before".to_owned(),
        (n, true) => format!("{n} days ago"),
        (n, false) => format!("{n} days before"),
    };
    format!("{} ({when})", crate::params::format_day(day))
}

/// A duration given in minutes, in the unit that reads best.
pub(crate) fn duration_minutes(minutes: f64) -> String {
    if minutes < 90.0 {
        format!("{} min", number(minutes.round()))
    } else if minutes < 48.0 * 60.0 {
        format!("{} h", number((minutes / 6.0).round() / 10.0))
    } else {
        format!("{} d", number((minutes / 144.0).round() / 10.0))
    }
}

pub(crate) fn maybe_minutes(minutes: Option<f64>) -> String {
    minutes.map_or_else(|| "–".to_owned(), duration_minutes)
}

/// A member as a page shows them: their name, else their id.
pub(crate) fn member_name(name: Option<&str>, id: impl std::fmt::Display) -> String {
    match name {
        Some(name) if !name.trim().is_empty() => name.to_owned(),
        _ => format!("member {id}"),
    }
}

/// A JSON array of strings as one line (`a; b`); other JSON as text.
pub(crate) fn json_list(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Array(items) if items.is_empty() => "–".to_owned(),
        serde_json::Value::Array(items) => items
            .iter()
            .map(|item| match item {
                serde_json::Value::String(text) => text.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join("; "),
        serde_json::Value::Null => "–".to_owned(),
        other => other.to_string(),
    }
}

/// An audit's stored reasons (`[{category, explanation}]`), read as the
/// Discord embed shows them: "Health claims: Claims to cure…", one after
/// another. Anything else stored there is shown as [`json_list`] would.
pub(crate) fn audit_reasons(value: &serde_json::Value) -> String {
    match serde_json::from_value::<Vec<community_core::audit::AuditReason>>(value.clone()) {
        Ok(reasons) if !reasons.is_empty() => reasons
            .iter()
            .map(|reason| {
                format!(
                    "{}: {}",
                    reason.category.label(),
                    reason.shown_explanation()
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        _ => json_list(value),
    }
}

// ---------------------------------------------------------------------------
// Pages
// ---------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "login.html")]
pub(crate) struct LoginPage {
    pub(crate) page: Chrome,
    pub(crate) error: Option<String>,
    pub(crate) login_token: String,
    pub(crate) next: String,
}

#[derive(Template)]
#[template(path = "error.html")]
pub(crate) struct ErrorPage {
    pub(crate) page: Chrome,
    pub(crate) heading: String,
    pub(crate) message: String,
    pub(crate) details: Vec<String>,
    pub(crate) back_href: String,
    pub(crate) back_label: String,
}

/// One setting as the settings page lists it.
#[derive(Debug)]
pub(crate) struct SettingRow {
    pub(crate) label: &'static str,
    pub(crate) value: String,
    /// The `/settings` option that changes it.
    pub(crate) option: &'static str,
}

/// A setting the page's form changes: one that names no Discord object.
#[derive(Debug)]
pub(crate) struct SettingField {
    /// The field's name: the setting's `/settings` option.
    pub(crate) option: &'static str,
    pub(crate) label: &'static str,
    pub(crate) description: &'static str,
    /// What the field holds: the setting's value, or what was submitted.
    pub(crate) value: String,
    /// The value the page showed first (`shown-<option>`): a field left
    /// as it is changes nothing.
    pub(crate) shown: String,
    /// What the number counts in (`USD`, `hours`, `seconds`), if anything.
    pub(crate) unit: &'static str,
    /// `number` limits (`min`, `max`, `step`); `choices` for a list.
    pub(crate) min: String,
    pub(crate) max: String,
    pub(crate) step: String,
    pub(crate) choices: Vec<(&'static str, &'static str)>,
}

#[derive(Template)]
#[template(path = "settings.html")]
pub(crate) struct SettingsPage {
    pub(crate) page: Chrome,
    pub(crate) rows: Vec<SettingRow>,
    pub(crate) fields: Vec<SettingField>,
    /// What the last save changed.
    pub(crate) notice: Option<String>,
    /// Why the form was refused.
    pub(crate) error: Option<String>,
}

#[derive(Template)]
#[template(path = "empty.html")]
pub(crate) struct EmptyPage {
    pub(crate) page: Chrome,
}

#[derive(Debug)]
pub(crate) struct GuildRow {
    pub(crate) id: String,
    pub(crate) last_active_day: String,
    pub(crate) messages: String,
    pub(crate) points: String,
    pub(crate) current: bool,
}

#[derive(Template)]
#[template(path = "guilds.html")]
pub(crate) struct GuildsPage {
    pub(crate) page: Chrome,
    pub(crate) fixed: bool,
    pub(crate) guilds: Vec<GuildRow>,
}

#[derive(Debug)]
pub(crate) struct Stat {
    pub(crate) label: String,
    pub(crate) value: String,
    pub(crate) change: Change,
}

#[derive(Debug)]
pub(crate) struct DayRow {
    pub(crate) day: String,
    pub(crate) messages: String,
    pub(crate) reactions: String,
    pub(crate) points: String,
    pub(crate) active: String,
}

#[derive(Template)]
#[template(path = "overview.html")]
pub(crate) struct OverviewPage {
    pub(crate) page: Chrome,
    pub(crate) period: String,
    pub(crate) previous_period: String,
    pub(crate) ranges: Vec<LinkItem>,
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) active: Vec<Stat>,
    pub(crate) totals: Vec<Stat>,
    pub(crate) score_chart: String,
    pub(crate) activity_chart: String,
    pub(crate) active_chart: String,
    pub(crate) days: Vec<DayRow>,
}

#[derive(Debug)]
pub(crate) struct RisingRow {
    pub(crate) rank: u32,
    pub(crate) href: String,
    pub(crate) name: String,
    pub(crate) score: String,
    pub(crate) previous: String,
    pub(crate) growth: Change,
    pub(crate) sparkline: String,
    pub(crate) last_active: String,
}

#[derive(Template)]
#[template(path = "rising.html")]
pub(crate) struct RisingPage {
    pub(crate) page: Chrome,
    pub(crate) limit: u32,
    pub(crate) window: u32,
    pub(crate) as_of: String,
    pub(crate) csv_href: String,
    pub(crate) rows: Vec<RisingRow>,
}

#[derive(Debug)]
pub(crate) struct ChurnRow {
    pub(crate) rank: u32,
    pub(crate) href: String,
    pub(crate) name: String,
    pub(crate) baseline: String,
    pub(crate) expected: String,
    pub(crate) recent: String,
    pub(crate) lost: String,
    pub(crate) drop: String,
    pub(crate) status: &'static str,
    pub(crate) last_active: String,
}

#[derive(Template)]
#[template(path = "churn.html")]
pub(crate) struct ChurnPage {
    pub(crate) page: Chrome,
    pub(crate) baseline: u32,
    pub(crate) silent: u32,
    pub(crate) min_score: String,
    pub(crate) drop: String,
    pub(crate) as_of: String,
    pub(crate) limit: u32,
    pub(crate) baseline_from: String,
    pub(crate) baseline_to: String,
    pub(crate) recent_from: String,
    pub(crate) csv_href: String,
    pub(crate) rows: Vec<ChurnRow>,
}

#[derive(Debug)]
pub(crate) struct MemberTicketRow {
    pub(crate) id: u64,
    pub(crate) role: String,
    pub(crate) status: &'static str,
    pub(crate) reason: String,
    pub(crate) opened: String,
    pub(crate) closed: String,
}

#[derive(Debug)]
pub(crate) struct MemberAuditRow {
    pub(crate) when: String,
    pub(crate) source: String,
    pub(crate) verdict: String,
    pub(crate) verdict_class: String,
    pub(crate) reasons: String,
}

#[derive(Template)]
#[template(path = "member.html")]
pub(crate) struct MemberPage {
    pub(crate) page: Chrome,
    pub(crate) name: String,
    pub(crate) member_id: String,
    pub(crate) is_bot: bool,
    pub(crate) first_seen: String,
    pub(crate) last_seen: String,
    pub(crate) totals: Vec<(String, String)>,
    pub(crate) self_href: String,
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) score_chart: String,
    pub(crate) days: Vec<(String, String, String, String)>,
    pub(crate) channels: Vec<(String, String, String, String, String)>,
    pub(crate) tickets: Vec<MemberTicketRow>,
    pub(crate) audits: Vec<MemberAuditRow>,
}

#[derive(Debug)]
pub(crate) struct StaffRow {
    pub(crate) href: String,
    pub(crate) name: String,
    pub(crate) handled: String,
    pub(crate) closed: String,
    pub(crate) first_response: String,
    pub(crate) resolution: String,
}

#[derive(Debug)]
pub(crate) struct TicketRow {
    pub(crate) id: u64,
    pub(crate) status: &'static str,
    pub(crate) opener_href: String,
    pub(crate) opener: String,
    pub(crate) reason: String,
    pub(crate) opened: String,
    pub(crate) age: String,
    pub(crate) claimed_by: String,
    pub(crate) messages: u64,
}

#[derive(Template)]
#[template(path = "tickets.html")]
pub(crate) struct TicketsPage {
    pub(crate) page: Chrome,
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) ranges: Vec<LinkItem>,
    pub(crate) stats: Vec<(String, String)>,
    pub(crate) staff: Vec<StaffRow>,
    pub(crate) filters: Vec<LinkItem>,
    pub(crate) csv_href: String,
    pub(crate) tickets: Vec<TicketRow>,
    pub(crate) more_href: Option<String>,
}

#[derive(Debug)]
pub(crate) struct TranscriptRow {
    pub(crate) author: String,
    pub(crate) datetime: String,
    pub(crate) when: String,
    pub(crate) content: String,
    /// File name and, when it is an http(s) URL, its link.
    pub(crate) attachments: Vec<(String, Option<String>)>,
}

#[derive(Template)]
#[template(path = "ticket.html")]
pub(crate) struct TicketPage {
    pub(crate) page: Chrome,
    pub(crate) id: u64,
    pub(crate) status: &'static str,
    pub(crate) opener_href: String,
    pub(crate) opener: String,
    pub(crate) opened: String,
    pub(crate) reason: String,
    pub(crate) claimed: String,
    pub(crate) first_response: String,
    pub(crate) closed: String,
    pub(crate) note: Option<String>,
    pub(crate) messages: Vec<TranscriptRow>,
}

#[derive(Debug)]
pub(crate) struct AuditRow {
    pub(crate) when: String,
    pub(crate) requester_href: String,
    pub(crate) requester: String,
    pub(crate) source: String,
    pub(crate) verdict: String,
    pub(crate) verdict_class: String,
    pub(crate) reasons: String,
    pub(crate) fixes: String,
    pub(crate) model: String,
    pub(crate) cost: String,
}

#[derive(Template)]
#[template(path = "audits.html")]
pub(crate) struct AuditsPage {
    pub(crate) page: Chrome,
    pub(crate) filters: Vec<LinkItem>,
    pub(crate) caption: String,
    pub(crate) audits: Vec<AuditRow>,
    pub(crate) more_href: Option<String>,
}

#[derive(Debug)]
pub(crate) struct CheckRow {
    pub(crate) name: String,
    /// `ok` or `failing`.
    pub(crate) class: &'static str,
    pub(crate) state: &'static str,
    pub(crate) detail: String,
    pub(crate) last_error: String,
}

#[derive(Template)]
#[template(path = "health.html")]
pub(crate) struct HealthPage {
    pub(crate) page: Chrome,
    pub(crate) checked_at: String,
    pub(crate) checks: Vec<CheckRow>,
}

#[derive(Debug)]
pub(crate) struct LedgerRow {
    pub(crate) day: String,
    pub(crate) calls: String,
    pub(crate) failures: String,
    pub(crate) input_tokens: String,
    pub(crate) output_tokens: String,
    pub(crate) cost: String,
    pub(crate) meter: String,
    pub(crate) share: String,
    pub(crate) over: bool,
    pub(crate) models: Vec<(String, String, String, String, String, String)>,
}

#[derive(Template)]
#[template(path = "ledger.html")]
pub(crate) struct LedgerPage {
    pub(crate) page: Chrome,
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) budget: String,
    pub(crate) ranges: Vec<LinkItem>,
    pub(crate) totals: Vec<(String, String)>,
    pub(crate) days: Vec<LedgerRow>,
}

#[derive(Debug)]
pub(crate) struct LogRow {
    pub(crate) id: i64,
    pub(crate) at: String,
    pub(crate) level: &'static str,
    pub(crate) source: String,
    pub(crate) message: String,
    pub(crate) fields: String,
}

#[derive(Template)]
#[template(path = "logs.html")]
pub(crate) struct LogsPage {
    pub(crate) page: Chrome,
    pub(crate) levels: Vec<(String, bool)>,
    pub(crate) sources: Vec<(String, bool)>,
    pub(crate) stream_href: String,
    pub(crate) lines: Vec<LogRow>,
    pub(crate) more_href: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn chrome() -> Chrome {
        Chrome {
            title: "T".to_owned(),
            nav: nav("/rising"),
            csrf: "tok".to_owned(),
            guild: "1".to_owned(),
            signed_in: true,
            refresh: None,
            script: false,
            generated_at: "now".to_owned(),
            asset_version: ASSET_VERSION,
        }
    }

    #[test]
    fn last_active_says_how_long_before_as_of() {
        use time::macros::date;
        let today = date!(2026 - 11 - 26);
        assert_eq!(last_active(None, None, true), "–");
        assert_eq!(
            last_active(Some(today), Some(0), true),
            "2026-11-26 (today)"
        );
        assert_eq!(
            last_active(Some(date!(2026 - 11 - 25)), Some(1), true),
            "2026-11-25 (yesterday)"
        );
        assert_eq!(
            last_active(Some(date!(2026 - 11 - 10)), Some(16), true),
            "2026-11-10 (16 days ago)"
        );
        // As of 2026-11-01, a past day.
        assert_eq!(
            last_active(Some(date!(2026 - 10 - 31)), Some(1), false),
            "2026-10-31 (1 day before)"
        );
        assert_eq!(
            last_active(Some(date!(2026 - 10 - 20)), Some(12), false),
            "2026-10-20 (12 days before)"
        );
        assert_eq!(
            last_active(Some(date!(2026 - 11 - 01)), Some(0), false),
            "2026-11-01 (that day)"
        );
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(-1000), "-1,000");
        assert_eq!(thousands(12), "12");
        assert_eq!(number(21.0), "21");
        assert_eq!(number(1234.5), "1,234.5");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(-0.5), "-0.5");
        assert_eq!(usd(0.0123), "$0.01");
        assert_eq!(usd(0.002), "$0.0020");
        assert_eq!(duration_minutes(12.4), "12 min");
        assert_eq!(duration_minutes(150.0), "2.5 h");
        assert_eq!(duration_minutes(4320.0), "3 d");
    }

    #[test]
    fn changes_say_which_way_and_from_what() {
        let up = change(150.0, 100.0, "in the previous period");
        assert_eq!((up.text.as_str(), up.class), ("+50%", "up"));
        assert_eq!(up.title, "100 in the previous period");
        let down = change(75.0, 100.0, "before");
        assert_eq!((down.text.as_str(), down.class), ("−25%", "down"));
        assert_eq!(change(5.0, 0.0, "").text, "new");
        assert_eq!(change(0.0, 0.0, "").class, "flat");
    }

    #[test]
    fn times_are_utc() {
        assert_eq!(
            datetime(datetime!(2026-11-30 23:05 -02:00)),
            "2026-12-01 01:05 UTC"
        );
    }

    #[test]
    fn a_hostile_display_name_renders_as_text() {
        let page = RisingPage {
            page: chrome(),
            limit: 25,
            window: 7,
            as_of: "2026-11-30".to_owned(),
            csv_href: "/rising.csv".to_owned(),
            rows: vec![RisingRow {
                rank: 1,
                href: "/members/1".to_owned(),
                name: "<script>alert(1)</script>".to_owned(),
                score: "1".to_owned(),
                previous: "0".to_owned(),
                growth: change(1.0, 0.0, ""),
                sparkline: crate::charts::sparkline("<script>alert(1)</script>", &[1.0]),
                last_active: "2026-11-30".to_owned(),
            }],
        };
        let html = page.render().expect("renders");
        assert!(!html.contains("<script>alert(1)</script>"), "{html}");
        assert!(
            html.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
                || html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(html.contains(r#"aria-current="page""#));
        // No inline script or style anywhere: the CSP forbids them.
        assert!(
            !html.contains("<script>") && !html.contains("style="),
            "{html}"
        );
    }

    #[test]
    fn json_lists_read_as_lines() {
        assert_eq!(json_list(&serde_json::json!(["a", "b"])), "a; b");
        assert_eq!(json_list(&serde_json::json!([])), "–");
    }

    #[test]
    fn audit_reasons_read_as_the_embed_shows_them() {
        let stored = serde_json::json!([
            { "category": "health_claims", "explanation": "Claims to cure something (\"cure\")." },
            { "category": "personal_data", "explanation": "A phone number." },
        ]);
        assert_eq!(
            audit_reasons(&stored),
            "Health claims: Claims to cure something (\"cure\").; Personal data: A phone number."
        );
        assert_eq!(audit_reasons(&serde_json::json!([])), "–");
        assert_eq!(audit_reasons(&serde_json::Value::Null), "–");
        assert_eq!(audit_reasons(&serde_json::json!(["plain"])), "plain");
    }
}
