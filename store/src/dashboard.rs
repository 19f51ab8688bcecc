//! What the dashboard reads: analytics over the rollups and per-member state
//! (Overview, Rising Stars, Churn Risks, a member's page), tickets, audits,
//! the AI ledger, the application log, health inputs, and the login throttle.
//!
//! Every call is one SQL function in `database/migration_003_*.sql`; the rules
//! (what counts as rising or at risk) live there and are tested against it.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use twilight_model::id::Id;
use twilight_model::id::marker::ChannelMarker;

use crate::{DatabaseHealth, Day, Error, GuildId, LogLevel, LogLine, MemberId, Store};

/// A guild the dashboard can show.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct DashboardGuild {
    pub guild_id: GuildId,
    pub last_active_day: Day,
    pub messages: i64,
    pub points: f64,
}

/// The Overview page: a range of days, its totals and the previous period's.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Overview {
    pub from: Day,
    pub to: Day,
    pub previous_from: Day,
    pub previous_to: Day,
    /// One entry per day of the range, oldest first (zeros included).
    pub days: Vec<OverviewDay>,
    /// The previous period's score per day, oldest first.
    pub previous_points: Vec<f64>,
    pub totals: PeriodTotals,
    pub previous: PeriodTotals,
    pub active: ActiveMembers,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct OverviewDay {
    pub day: Day,
    pub messages: i64,
    pub reactions: i64,
    /// The day's engagement score.
    pub points: f64,
    pub active_members: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
pub struct PeriodTotals {
    pub messages: i64,
    pub reactions: i64,
    pub points: f64,
    /// Distinct members active at least once in the period.
    pub active_members: i64,
}

/// Distinct members active in the last 1, 7 and 30 days up to the range's
/// end, and the same up to the day before it started.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
pub struct ActiveMembers {
    pub d1: i64,
    pub d7: i64,
    pub d30: i64,
    pub d1_before: i64,
    pub d7_before: i64,
    pub d30_before: i64,
}

/// Which Rising Stars to list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RisingQuery {
    /// The window ends on this day (inclusive).
    pub as_of: Day,
    /// 1 to 45 days.
    pub window_days: u32,
    pub limit: u32,
}

/// A member among the top scorers of the window.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct RisingStar {
    pub rank: u32,
    pub member_id: MemberId,
    pub display_name: Option<String>,
    /// Score in the window.
    pub score: f64,
    /// Score in the window of the same length just before.
    pub previous_score: f64,
    pub growth: f64,
    /// Growth in percent of the previous score; none when it was zero.
    pub growth_pct: Option<f64>,
    pub last_active_day: Option<Day>,
    /// The window's daily scores, oldest first.
    pub sparkline: Vec<f64>,
}

/// The churn rule's parameters: a member is at risk when they scored at
/// least `min_baseline_score` over the `baseline_days` before the recent
/// period, and over the recent `silent_days` (ending `as_of`) scored nothing
/// or at most `100 - min_drop_pct` percent of what their baseline rate
/// predicts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChurnRule {
    pub as_of: Day,
    pub baseline_days: u32,
    pub silent_days: u32,
    pub min_baseline_score: f64,
    pub min_drop_pct: f64,
    pub limit: u32,
}

/// Whether an at-risk member went quiet or only dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChurnStatus {
    Silent,
    Dropped,
}

impl ChurnStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Silent => "silent",
            Self::Dropped => "dropped",
        }
    }
}

/// A member the churn rule flags, ranked by the score they lost.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ChurnRisk {
    pub rank: u32,
    pub member_id: MemberId,
    pub display_name: Option<String>,
    pub baseline_score: f64,
    pub recent_score: f64,
    /// The baseline score scaled to the length of the recent period.
    pub expected_score: f64,
    /// `expected_score - recent_score`.
    pub score_lost: f64,
    pub drop_pct: f64,
    pub status: ChurnStatus,
    pub last_active_day: Option<Day>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_seen_at: Option<OffsetDateTime>,
    pub days_silent: Option<i32>,
}

/// One member's page.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct MemberProfile {
    pub member_id: MemberId,
    pub display_name: Option<String>,
    pub is_bot: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub first_seen_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_seen_at: Option<OffsetDateTime>,
    pub totals: MemberTotals,
    /// One entry per day of the range, oldest first.
    pub days: Vec<MemberDay>,
    /// Activity per channel over the range, highest score first.
    pub channels: Vec<ChannelActivity>,
    pub tickets: Vec<MemberTicket>,
    pub audits: Vec<MemberAudit>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct MemberTotals {
    pub messages: i64,
    pub reactions: i64,
    pub points: f64,
    pub active_days: i64,
    pub first_active_day: Option<Day>,
    pub last_active_day: Option<Day>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct MemberDay {
    pub day: Day,
    pub messages: i64,
    pub reactions: i64,
    pub points: f64,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ChannelActivity {
    pub channel_id: Id<ChannelMarker>,
    pub messages: i64,
    pub reactions: i64,
    pub points: f64,
    pub last_day: Day,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct MemberTicket {
    pub id: u64,
    pub status: crate::TicketStatus,
    pub reason: String,
    #[serde(with = "time::serde::rfc3339")]
    pub opened_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub closed_at: Option<OffsetDateTime>,
    /// `opener`, `claimed` or `closed`: how the member was involved.
    pub role: String,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct MemberAudit {
    pub id: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub verdict: Option<String>,
    pub status: String,
    pub source: String,
    pub reasons: serde_json::Value,
}

/// Ticket figures for tickets opened in a range of days.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct TicketStats {
    pub from: Day,
    pub to: Day,
    pub counts: TicketCounts,
    pub first_response: FirstResponse,
    pub resolution: Resolution,
    pub open_now: OpenNow,
    pub staff: Vec<StaffTickets>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub struct TicketCounts {
    pub opening: u64,
    pub open: u64,
    pub claimed: u64,
    pub closed: u64,
    pub failed: u64,
    pub total: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
pub struct FirstResponse {
    pub count: u64,
    pub avg_minutes: Option<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
pub struct Resolution {
    pub count: u64,
    pub avg_hours: Option<f64>,
}

/// Tickets still open or claimed, whenever they were opened.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
pub struct OpenNow {
    pub count: u64,
    pub avg_age_hours: Option<f64>,
    pub max_age_hours: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct StaffTickets {
    pub staff_id: MemberId,
    pub display_name: Option<String>,
    pub handled: u64,
    pub closed: u64,
    pub avg_first_response_minutes: Option<f64>,
    pub avg_resolution_hours: Option<f64>,
}

/// A ticket in the list.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct TicketSummary {
    pub id: u64,
    pub status: crate::TicketStatus,
    pub opener_id: MemberId,
    pub opener_name: Option<String>,
    pub reason: String,
    #[serde(with = "time::serde::rfc3339")]
    pub opened_at: OffsetDateTime,
    pub claimed_by: Option<MemberId>,
    pub claimed_by_name: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub claimed_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub first_response_at: Option<OffsetDateTime>,
    pub closed_by: Option<MemberId>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub closed_at: Option<OffsetDateTime>,
    /// Messages in its stored transcript.
    pub messages: u64,
}

/// A ticket and its transcript.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct TicketTranscript {
    pub ticket: TranscriptTicket,
    pub messages: Vec<TranscriptLine>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct TranscriptTicket {
    pub id: u64,
    pub channel_id: Option<Id<ChannelMarker>>,
    pub opener_id: MemberId,
    pub opener_display_name: Option<String>,
    pub reason: String,
    pub status: crate::TicketStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub opened_at: OffsetDateTime,
    pub claimed_by: Option<MemberId>,
    /// The claimer's name, from their member row or the transcripts.
    #[serde(default)]
    pub claimed_by_name: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub claimed_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub first_response_at: Option<OffsetDateTime>,
    pub closed_by: Option<MemberId>,
    #[serde(default)]
    pub closed_by_name: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub closed_at: Option<OffsetDateTime>,
    pub close_note: Option<String>,
    pub failure: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct TranscriptLine {
    pub message_id: String,
    pub author_id: MemberId,
    pub author_name: Option<String>,
    pub content: String,
    pub attachments: serde_json::Value,
    #[serde(with = "time::serde::rfc3339")]
    pub sent_at: OffsetDateTime,
}

/// A verdict to filter audits by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VerdictFilter {
    Green,
    Yellow,
    Red,
    /// No verdict: the call failed or the budget was spent.
    None,
}

impl VerdictFilter {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Green => "green",
            Self::Yellow => "yellow",
            Self::Red => "red",
            Self::None => "none",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "green" => Some(Self::Green),
            "yellow" => Some(Self::Yellow),
            "red" => Some(Self::Red),
            "none" => Some(Self::None),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct AuditHistory {
    pub counts: VerdictCounts,
    pub audits: Vec<AuditEntry>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub struct VerdictCounts {
    pub all: u64,
    pub green: u64,
    pub yellow: u64,
    pub red: u64,
    pub none: u64,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct AuditEntry {
    pub id: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub requested_by: MemberId,
    pub requester_name: Option<String>,
    pub channel_id: Option<Id<ChannelMarker>>,
    pub source: String,
    pub verdict: Option<String>,
    pub reasons: serde_json::Value,
    pub suggested_fixes: serde_json::Value,
    pub model: Option<String>,
    pub status: String,
    pub error: Option<String>,
    pub cost_usd: f64,
    pub text_length: u32,
}

/// The AI cost ledger against the daily budget.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct AiLedger {
    pub daily_budget_usd: f64,
    /// Newest day first; days without calls are absent.
    pub days: Vec<LedgerDay>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct LedgerDay {
    pub day: Day,
    pub calls: u64,
    pub failures: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    pub over_budget: bool,
    pub models: Vec<LedgerModel>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct LedgerModel {
    pub model: String,
    pub calls: u64,
    pub failures: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
}

/// Which log lines to read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogQuery {
    /// Only these levels; all when empty.
    pub levels: Vec<LogLevel>,
    pub source: Option<String>,
    /// Only lines newer than this id (live updates).
    pub after_id: Option<i64>,
    /// Only lines older than this id (paging).
    pub before_id: Option<i64>,
    pub limit: u32,
}

/// What the health page reads from the database.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct HealthInputs {
    pub database: DatabaseHealth,
    pub heartbeats: Vec<crate::ServiceHeartbeat>,
}

/// Whether a client may try to log in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub struct LoginGate {
    pub allowed: bool,
    pub retry_after_secs: u32,
}

/// What a wrong password did to the client's allowance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub struct LoginFailure {
    pub blocked: bool,
    pub retry_after_secs: u32,
}

/// How many failed logins, in what window, block a client for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginLimits {
    pub max_failures: u32,
    pub window_secs: u32,
    pub block_secs: u32,
}

impl Default for LoginLimits {
    fn default() -> Self {
        Self {
            max_failures: 5,
            window_secs: 900,
            block_secs: 900,
        }
    }
}

impl Store {
    /// Guilds with activity, busiest first.
    pub async fn dashboard_guilds(&self) -> Result<Vec<DashboardGuild>, Error> {
        self.rpc("dashboard_guilds", &serde_json::json!({})).await
    }

    /// The Overview of `[from, to]` (at most 366 days) and the period before.
    pub async fn dashboard_overview(
        &self,
        guild: GuildId,
        from: Day,
        to: Day,
    ) -> Result<Overview, Error> {
        self.rpc(
            "dashboard_overview",
            &serde_json::json!({ "p_guild_id": guild, "p_from": day(from), "p_to": day(to) }),
        )
        .await
    }

    /// The top scorers of the window.
    pub async fn rising_stars(
        &self,
        guild: GuildId,
        query: RisingQuery,
    ) -> Result<Vec<RisingStar>, Error> {
        self.rpc(
            "rising_stars",
            &serde_json::json!({
                "p_guild_id": guild, "p_as_of": day(query.as_of),
                "p_window_days": query.window_days, "p_limit": query.limit,
            }),
        )
        .await
    }

    /// Members the churn rule flags, most score lost first.
    pub async fn churn_risks(
        &self,
        guild: GuildId,
        rule: ChurnRule,
    ) -> Result<Vec<ChurnRisk>, Error> {
        self.rpc(
            "churn_risks",
            &serde_json::json!({
                "p_guild_id": guild, "p_as_of": day(rule.as_of),
                "p_baseline_days": rule.baseline_days, "p_silent_days": rule.silent_days,
                "p_min_baseline_score": rule.min_baseline_score,
                "p_min_drop_pct": rule.min_drop_pct, "p_limit": rule.limit,
            }),
        )
        .await
    }

    /// A member's page over `[from, to]`; `None` if the guild never saw them.
    pub async fn member_profile(
        &self,
        guild: GuildId,
        member: MemberId,
        from: Day,
        to: Day,
    ) -> Result<Option<MemberProfile>, Error> {
        self.rpc(
            "member_profile",
            &serde_json::json!({
                "p_guild_id": guild, "p_member_id": member,
                "p_from": day(from), "p_to": day(to),
            }),
        )
        .await
    }

    /// Ticket figures for tickets opened in `[from, to]`, open ages as of `now`.
    pub async fn ticket_stats(
        &self,
        guild: GuildId,
        from: Day,
        to: Day,
        now: OffsetDateTime,
    ) -> Result<TicketStats, Error> {
        self.rpc(
            "ticket_stats",
            &serde_json::json!({
                "p_guild_id": guild, "p_from": day(from), "p_to": day(to),
                "p_now": rfc3339(now),
            }),
        )
        .await
    }

    /// Tickets newest first, optionally in one status.
    pub async fn tickets_list(
        &self,
        guild: GuildId,
        status: Option<crate::TicketStatus>,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<TicketSummary>, Error> {
        self.rpc(
            "tickets_list",
            &without_nulls(serde_json::json!({
                "p_guild_id": guild, "p_status": status, "p_limit": limit, "p_offset": offset,
            })),
        )
        .await
    }

    /// One ticket of the guild with its transcript.
    pub async fn ticket_transcript(
        &self,
        guild: GuildId,
        ticket_id: u64,
    ) -> Result<Option<TicketTranscript>, Error> {
        self.rpc(
            "ticket_transcript",
            &serde_json::json!({ "p_guild_id": guild, "p_ticket_id": ticket_id }),
        )
        .await
    }

    /// Audits newest first, optionally with one verdict, with counts per verdict.
    pub async fn audits_history(
        &self,
        guild: GuildId,
        verdict: Option<VerdictFilter>,
        limit: u32,
        before_id: Option<u64>,
    ) -> Result<AuditHistory, Error> {
        self.rpc(
            "audits_history",
            &without_nulls(serde_json::json!({
                "p_guild_id": guild, "p_verdict": verdict, "p_limit": limit,
                "p_before_id": before_id,
            })),
        )
        .await
    }

    /// The AI ledger per day and model over `[from, to]`.
    pub async fn ai_ledger(&self, guild: GuildId, from: Day, to: Day) -> Result<AiLedger, Error> {
        self.rpc(
            "ai_ledger_daily",
            &serde_json::json!({ "p_guild_id": guild, "p_from": day(from), "p_to": day(to) }),
        )
        .await
    }

    /// Log lines, newest first.
    /// Every line `query` matches after `after_id`, oldest first, for the
    /// live log: read in pages of `query.limit` from the newest back, so a
    /// burst of more lines than a page between two polls is not skipped.
    /// At most `cap` lines: past that, the newest `cap` and `true` (lines
    /// were left out; the log page has them all).
    pub async fn logs_after(
        &self,
        query: &LogQuery,
        after_id: i64,
        cap: usize,
    ) -> Result<(Vec<LogLine>, bool), Error> {
        let mut page = LogQuery {
            after_id: Some(after_id),
            before_id: None,
            limit: query.limit.max(1),
            ..query.clone()
        };
        let mut lines: Vec<LogLine> = Vec::new();
        loop {
            let batch = self.logs(&page).await?;
            let full = batch.len() >= page.limit as usize;
            page.before_id = batch.last().map(|line| line.id);
            lines.extend(batch);
            if !full {
                break;
            }
            if lines.len() >= cap {
                lines.truncate(cap);
                lines.reverse();
                return Ok((lines, true));
            }
        }
        lines.reverse();
        Ok((lines, false))
    }

    pub async fn logs(&self, query: &LogQuery) -> Result<Vec<LogLine>, Error> {
        let levels: Option<Vec<&str>> = (!query.levels.is_empty())
            .then(|| query.levels.iter().map(|level| level.as_str()).collect());
        self.rpc(
            "app_logs_page",
            &without_nulls(serde_json::json!({
                "p_levels": levels, "p_source": query.source, "p_after_id": query.after_id,
                "p_before_id": query.before_id, "p_limit": query.limit,
            })),
        )
        .await
    }

    /// The sources that have written to the log.
    pub async fn log_sources(&self) -> Result<Vec<String>, Error> {
        self.rpc("app_log_sources", &serde_json::json!({})).await
    }

    /// The database's health and every service's last heartbeat, in one call.
    pub async fn health_inputs(&self) -> Result<HealthInputs, Error> {
        self.rpc("dashboard_health_inputs", &serde_json::json!({}))
            .await
    }

    /// A sign-in attempt by `client` begins: counted at once, under the
    /// client's row lock, so attempts sent together are counted one after
    /// another (migration 008). Refused while the client is blocked, and
    /// the attempt past `limits.max_failures` in a window blocks it.
    pub async fn login_begin(
        &self,
        client: &str,
        now: OffsetDateTime,
        limits: LoginLimits,
    ) -> Result<LoginGate, Error> {
        self.rpc(
            "login_begin",
            &serde_json::json!({
                "p_client": client, "p_now": rfc3339(now),
                "p_max_failures": limits.max_failures, "p_window_secs": limits.window_secs,
                "p_block_secs": limits.block_secs,
            }),
        )
        .await
    }

    /// The attempt's password was wrong: logged (it was already counted),
    /// and the client blocked if it was the last its allowance had.
    pub async fn login_refused(
        &self,
        client: &str,
        now: OffsetDateTime,
        limits: LoginLimits,
    ) -> Result<LoginFailure, Error> {
        self.rpc(
            "login_refused",
            &serde_json::json!({
                "p_client": client, "p_now": rfc3339(now),
                "p_max_failures": limits.max_failures, "p_block_secs": limits.block_secs,
            }),
        )
        .await
    }

    /// Clear `client`'s failures after a successful login (and log it).
    pub async fn login_succeeded(&self, client: &str, now: OffsetDateTime) -> Result<(), Error> {
        self.rpc_unit(
            "login_succeeded",
            &serde_json::json!({ "p_client": client, "p_now": rfc3339(now) }),
        )
        .await
    }
}

/// Leaves out absent arguments so the function's defaults apply: postrust
/// (the local PostgREST stand-in) passes a JSON null as an empty string.
fn without_nulls(mut args: serde_json::Value) -> serde_json::Value {
    if let Some(map) = args.as_object_mut() {
        map.retain(|_, value| !value.is_null());
    }
    args
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// `YYYY-MM-DD`.
fn day(day: Day) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_from_the_api_deserialize() {
        let row: RisingStar = serde_json::from_str(
            r#"{"rank":1,"member_id":"2000000000000000001","display_name":"<b>ann</b>",
                "score":21.00,"previous_score":7.00,"growth":14.00,"growth_pct":200.0,
                "last_active_day":"2026-11-30","sparkline":[3.00,3.00]}"#,
        )
        .expect("rising star");
        assert_eq!(row.member_id.get(), 2_000_000_000_000_000_001);
        assert_eq!(
            row.last_active_day,
            Some(time::macros::date!(2026 - 11 - 30))
        );
        let risk: ChurnRisk = serde_json::from_str(
            r#"{"rank":1,"member_id":"5","display_name":null,"baseline_score":28.0,
                "recent_score":0,"expected_score":14.0,"score_lost":14.0,"drop_pct":100.0,
                "status":"silent","last_active_day":"2026-11-16",
                "last_seen_at":"2026-11-16T10:00:00+00:00","days_silent":14}"#,
        )
        .expect("churn risk");
        assert_eq!(risk.status, ChurnStatus::Silent);
        assert!(risk.last_seen_at.is_some());
    }

    #[test]
    fn days_go_over_the_wire_as_iso_dates() {
        assert_eq!(day(time::macros::date!(2026 - 01 - 05)), "2026-01-05");
    }

    #[test]
    fn verdict_filters_round_trip() {
        for filter in [
            VerdictFilter::Green,
            VerdictFilter::Yellow,
            VerdictFilter::Red,
            VerdictFilter::None,
        ] {
            assert_eq!(VerdictFilter::parse(filter.as_str()), Some(filter));
        }
        assert_eq!(VerdictFilter::parse("purple"), None);
    }
}
