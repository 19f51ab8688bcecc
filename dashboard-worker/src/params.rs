//! Page parameters from query strings: defaults, limits, and a message
//! saying what to fix when a value is out of range (shown as a 400).

use community_store::{ChurnRule, Day, LogLevel, RisingQuery, TicketStatus, VerdictFilter};
use time::Duration;

/// The query string of a request, decoded.
#[derive(Debug, Clone, Default)]
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub(crate) fn new(pairs: Vec<(String, String)>) -> Self {
        Self { pairs }
    }

    /// Every pair, as given.
    pub(crate) fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.trim())
            .filter(|value| !value.is_empty())
    }

    fn number<T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy>(
        &self,
        name: &str,
        default: T,
        min: T,
        max: T,
        what: &str,
    ) -> Result<T, String> {
        let Some(raw) = self.get(name) else {
            return Ok(default);
        };
        match raw.parse::<T>() {
            Ok(value) if value >= min && value <= max => Ok(value),
            _ => Err(format!("{what} must be a number from {min} to {max}")),
        }
    }

    fn day(&self, name: &str, default: Day, what: &str) -> Result<Day, String> {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => {
                parse_day(raw).ok_or_else(|| format!("{what} must be a date (YYYY-MM-DD)"))
            }
        }
    }
}

pub(crate) fn parse_day(raw: &str) -> Option<Day> {
    let mut parts = raw.split('-');
    let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let month = time::Month::try_from(m.parse::<u8>().ok()?).ok()?;
    Day::from_calendar_date(y.parse().ok()?, month, d.parse().ok()?).ok()
}

/// `YYYY-MM-DD`.
pub(crate) fn format_day(day: Day) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}

/// A range of days picked on a page: a preset length ending today, or custom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DayRange {
    pub(crate) from: Day,
    pub(crate) to: Day,
    /// 7, 30 or 90 for a preset; `None` for custom.
    pub(crate) preset: Option<u32>,
}

impl DayRange {
    pub(crate) fn days(&self) -> i64 {
        (self.to - self.from).whole_days() + 1
    }
}

/// `range=7|30|90` (ending today) or `range=custom&from=..&to=..` (at most 366 days).
pub(crate) fn day_range(query: &Query, today: Day, default: u32) -> Result<DayRange, String> {
    let preset = match query.get("range") {
        None if query.get("from").is_some() || query.get("to").is_some() => None,
        None => Some(default),
        Some("custom") => None,
        Some(value) => match value.parse::<u32>() {
            Ok(days @ (7 | 30 | 90)) => Some(days),
            _ => return Err("range must be 7, 30, 90 or custom".to_owned()),
        },
    };
    if let Some(days) = preset {
        return Ok(DayRange {
            from: today - Duration::days(i64::from(days) - 1),
            to: today,
            preset: Some(days),
        });
    }
    let to = query.day("to", today, "to")?;
    let from = query.day("from", to - Duration::days(29), "from")?;
    if from > to {
        return Err("from must be on or before to".to_owned());
    }
    if (to - from).whole_days() >= 366 {
        return Err("a custom range can span at most 366 days".to_owned());
    }
    Ok(DayRange {
        from,
        to,
        preset: None,
    })
}

/// Rising Stars: `window` (days, 1–45, default 7), `as_of`, `limit`.
pub(crate) fn rising(
    query: &Query,
    today: Day,
    default_limit: u32,
    max_limit: u32,
) -> Result<RisingQuery, String> {
    Ok(RisingQuery {
        as_of: query.day("as_of", today, "as_of")?,
        window_days: query.number("window", 7, 1, 45, "window")?,
        limit: query.number("limit", default_limit, 1, max_limit, "limit")?,
    })
}

/// An id as the database keeps it (Discord snowflakes and ticket and audit
/// ids are `bigint`): digits, at most `i64::MAX`. `None` for anything else,
/// which no row can have.
pub(crate) fn database_id(raw: &str) -> Option<u64> {
    raw.parse::<u64>()
        .ok()
        .filter(|id| i64::try_from(*id).is_ok())
}

/// Churn Risks: `baseline` (days), `silent` (days), `min_score`, `drop`
/// (percent), `as_of`, `limit`.
pub(crate) fn churn(
    query: &Query,
    today: Day,
    default_limit: u32,
    max_limit: u32,
) -> Result<ChurnRule, String> {
    let rule = ChurnRule {
        as_of: query.day("as_of", today, "as_of")?,
        baseline_days: query.number("baseline", 30, 1, 180, "baseline")?,
        silent_days: query.number("silent", 14, 1, 180, "silent")?,
        // At least half a point (one reaction): with 0, a member who never
        // scored would count as having dropped from nothing.
        min_baseline_score: query.number("min_score", 20.0, 0.5, 1_000_000.0, "min_score")?,
        min_drop_pct: query.number("drop", 75.0, 0.0, 100.0, "drop")?,
        limit: query.number("limit", default_limit, 1, max_limit, "limit")?,
    };
    Ok(rule)
}

pub(crate) fn ticket_status(query: &Query) -> Result<Option<TicketStatus>, String> {
    match query.get("status") {
        None | Some("all") => Ok(None),
        Some("open") => Ok(Some(TicketStatus::Open)),
        Some("claimed") => Ok(Some(TicketStatus::Claimed)),
        Some("closed") => Ok(Some(TicketStatus::Closed)),
        Some("opening") => Ok(Some(TicketStatus::Opening)),
        Some("failed") => Ok(Some(TicketStatus::Failed)),
        Some(_) => Err("status must be open, claimed, closed, opening, failed or all".to_owned()),
    }
}

pub(crate) fn verdict(query: &Query) -> Result<Option<VerdictFilter>, String> {
    match query.get("verdict") {
        None | Some("all") => Ok(None),
        Some(value) => VerdictFilter::parse(value)
            .map(Some)
            .ok_or_else(|| "verdict must be green, yellow, red, none or all".to_owned()),
    }
}

/// `level`: the lowest level shown (default all); returns the levels to read.
pub(crate) fn min_level(query: &Query) -> Result<(Option<LogLevel>, Vec<LogLevel>), String> {
    const ALL: [LogLevel; 4] = [
        LogLevel::Debug,
        LogLevel::Info,
        LogLevel::Warn,
        LogLevel::Error,
    ];
    match query.get("level") {
        None | Some("all") => Ok((None, Vec::new())),
        Some(value) => {
            let level = ALL
                .into_iter()
                .find(|level| level.as_str() == value)
                .ok_or_else(|| "level must be debug, info, warn, error or all".to_owned())?;
            Ok((
                Some(level),
                ALL.into_iter().filter(|l| *l >= level).collect(),
            ))
        }
    }
}

/// An id after which to continue (a number), from a parameter or header.
pub(crate) fn id_after(raw: Option<&str>) -> Option<i64> {
    raw.and_then(|raw| raw.trim().parse::<i64>().ok())
        .filter(|id| *id >= 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    const TODAY: Day = date!(2026 - 11 - 30);

    fn q(pairs: &[(&str, &str)]) -> Query {
        Query::new(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn ranges_are_presets_ending_today_or_custom() {
        let r = day_range(&q(&[]), TODAY, 30).expect("default");
        assert_eq!(
            (r.from, r.to, r.preset, r.days()),
            (date!(2026 - 11 - 01), TODAY, Some(30), 30)
        );
        let r = day_range(&q(&[("range", "7")]), TODAY, 30).expect("7");
        assert_eq!(r.from, date!(2026 - 11 - 24));
        let r = day_range(
            &q(&[
                ("range", "custom"),
                ("from", "2026-10-01"),
                ("to", "2026-10-10"),
            ]),
            TODAY,
            30,
        )
        .expect("custom");
        assert_eq!((r.days(), r.preset), (10, None));
        for bad in [
            q(&[("range", "12")]),
            q(&[
                ("range", "custom"),
                ("from", "2026-11-10"),
                ("to", "2026-11-01"),
            ]),
            q(&[("range", "custom"), ("from", "2024-01-01")]),
            q(&[("range", "custom"), ("from", "yesterday")]),
        ] {
            assert!(day_range(&bad, TODAY, 30).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rising_and_churn_parameters_have_defaults_and_limits() {
        let r = rising(&q(&[]), TODAY, 25, 200).expect("defaults");
        assert_eq!((r.as_of, r.window_days, r.limit), (TODAY, 7, 25));
        assert!(rising(&q(&[("window", "46")]), TODAY, 25, 200).is_err());
        assert!(rising(&q(&[("limit", "201")]), TODAY, 25, 200).is_err());
        let c = churn(
            &q(&[("silent", "21"), ("min_score", "12.5")]),
            TODAY,
            50,
            500,
        )
        .expect("churn");
        assert_eq!(
            (
                c.baseline_days,
                c.silent_days,
                c.min_baseline_score,
                c.min_drop_pct
            ),
            (30, 21, 12.5, 75.0)
        );
        let err = churn(&q(&[("drop", "101")]), TODAY, 50, 500).expect_err("bad drop");
        assert!(err.contains("drop"), "{err}");
        // A baseline of nothing would make every member who never scored a
        // churn risk (and divide by zero in the ranking).
        let err = churn(&q(&[("min_score", "0")]), TODAY, 50, 500).expect_err("zero");
        assert!(err.contains("min_score"), "{err}");
        assert!(churn(&q(&[("min_score", "0.5")]), TODAY, 50, 500).is_ok());
    }

    #[test]
    fn ids_are_what_the_database_can_hold() {
        assert_eq!(database_id("42"), Some(42));
        assert_eq!(
            database_id("9223372036854775807"),
            Some(9_223_372_036_854_775_807)
        );
        for bad in ["9223372036854775808", "18446744073709551615", "-1", "x", ""] {
            assert_eq!(database_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn filters_parse_or_say_what_is_allowed() {
        assert_eq!(
            ticket_status(&q(&[("status", "closed")])),
            Ok(Some(TicketStatus::Closed))
        );
        assert!(ticket_status(&q(&[("status", "x")])).is_err());
        assert_eq!(
            verdict(&q(&[("verdict", "red")])),
            Ok(Some(VerdictFilter::Red))
        );
        assert_eq!(verdict(&q(&[])), Ok(None));
        let (level, levels) = min_level(&q(&[("level", "warn")])).expect("warn");
        assert_eq!(level, Some(LogLevel::Warn));
        assert_eq!(levels, vec![LogLevel::Warn, LogLevel::Error]);
        assert_eq!(id_after(Some(" 42 ")), Some(42));
        assert_eq!(id_after(Some("x")), None);
    }

    #[test]
    fn days_parse_strictly() {
        assert_eq!(parse_day("2026-02-28"), Some(date!(2026 - 02 - 28)));
        assert_eq!(parse_day("2026-02-30"), None);
        assert_eq!(parse_day("2026-2"), None);
        assert_eq!(format_day(date!(2026 - 02 - 03)), "2026-02-03");
    }
}
