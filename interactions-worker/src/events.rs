//! `POST /events`: the scoring endpoint the gateway relay sends batches to.
//!
//! A bad MAC or a stale timestamp is 401; a malformed batch is 400 with the
//! reason and nothing of it applied; otherwise the batch is scored by the
//! guilds' rules and ingested in one RPC (one transaction). A database that
//! cannot take it answers 503, so the relay keeps the batch and retries.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::rc::Rc;

use community_clients::Sleep;
use community_core::relay::{self, RelayBatch};
use community_core::scoring::{self, GuildMember, ScoringRules};
use community_store::{Heartbeat, LogLevel};
use time::OffsetDateTime;
use twilight_model::id::Id;
use twilight_model::id::marker::GuildMarker;
use twilight_model::util::Timestamp;

use crate::app::{App, Rejection, Reply};
use crate::tickets;

/// The relay's status, sent alongside the events (at least every 30 s).
#[derive(Debug, Default, serde::Deserialize)]
struct Envelope {
    #[serde(default)]
    status: Option<serde_json::Value>,
}

pub async fn ingest<S: Sleep + 'static>(
    app: &Rc<App<S>>,
    timestamp: Option<&str>,
    mac: Option<&str>,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<Reply, Rejection> {
    relay::verify(
        app.relay_secret.expose().as_bytes(),
        timestamp,
        mac,
        body,
        now.unix_timestamp(),
        app.relay_max_skew_secs,
    )
    .map_err(|err| Rejection::Unauthorized(err.to_string()))?;
    let batch = RelayBatch::parse(body).map_err(|err| Rejection::BadRequest(err.to_string()))?;
    let envelope: Envelope = serde_json::from_slice(body).unwrap_or_default();

    // Every guild of the batch with its members: their settings and (for a
    // message cooldown) when each last scored, in one call however many
    // guilds the batch spans (a Worker has a budget of subrequests).
    let mut members: BTreeMap<Id<GuildMarker>, BTreeSet<_>> = BTreeMap::new();
    for event in &batch.events {
        let guild = members.entry(event.guild_id).or_default();
        guild.extend(event.user_id);
    }
    let guilds: Vec<_> = members
        .into_iter()
        .map(|(guild, members)| (guild, members.into_iter().collect::<Vec<_>>()))
        .collect();
    let context = app
        .store
        .scoring_context(&guilds)
        .await
        .map_err(|err| unavailable(&err))?;
    let mut rules = HashMap::new();
    let mut last_scored = HashMap::new();
    for ((guild, _), context) in guilds.iter().zip(context) {
        let settings = context.settings;
        let guild_rules = ScoringRules::new(
            settings.message_points,
            settings.reaction_points,
            settings.message_cooldown_secs,
        )
        .unwrap_or_default();
        for (member, at) in context.last_scored {
            let member_id = member.parse::<u64>().ok().and_then(Id::new_checked);
            if let (Some(member_id), Some(at)) = (member_id, database_time(&at)) {
                last_scored.insert(
                    GuildMember {
                        guild_id: *guild,
                        member_id,
                    },
                    at,
                );
            }
        }
        rules.insert(*guild, guild_rules);
    }

    let scored = scoring::score_batch(&batch.events, &rules, &last_scored);
    let report = match app.store.ingest_events(&scored.events).await {
        Ok(report) => report,
        Err(err) => {
            app.log_error(
                "ingesting a relay batch",
                &err,
                serde_json::json!({ "events": scored.events.len() }),
            )
            .await;
            return Err(unavailable(&err));
        }
    };

    if let Some(status) = envelope.status {
        let beat = Heartbeat {
            service: "gateway-relay".to_owned(),
            instance: status
                .get("instance")
                .and_then(|v| v.as_str())
                .unwrap_or("relay")
                .to_owned(),
            started_at: status
                .get("started_at")
                .and_then(|v| v.as_str())
                .and_then(|s| {
                    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
                })
                .unwrap_or(now),
            status,
        };
        if let Err(err) = app.store.record_heartbeat(&beat).await {
            app.log_error(
                "recording the relay's heartbeat",
                &err,
                serde_json::json!({}),
            )
            .await;
        }
    }

    // Each `!close` message is acted on once, however often the relay
    // delivers it: only the ones claimed now (claimed before answering, so
    // a database that cannot take the claim gets the batch sent again).
    let requests = if scored.close_requests.is_empty() {
        Vec::new()
    } else {
        let mut claimed: HashSet<_> = app
            .store
            .claim_close_requests(&scored.close_requests)
            .await
            .map_err(|err| unavailable(&err))?
            .into_iter()
            .collect();
        // (Each claimed message once, should a batch carry one twice.)
        scored
            .close_requests
            .iter()
            .filter(|request| claimed.remove(&request.message_id))
            .copied()
            .collect()
    };
    let later = (!requests.is_empty()).then(|| {
        let app = Rc::clone(app);
        Box::pin(async move {
            for request in requests {
                tickets::close_from_relay(
                    &app,
                    request.guild_id,
                    request.channel_id,
                    request.user_id,
                    now,
                )
                .await;
            }
        }) as crate::app::Later
    });

    if report.duplicates > 0 {
        app.log(
            LogLevel::Debug,
            "relay batch held replayed events",
            serde_json::json!({ "duplicates": report.duplicates }),
        )
        .await;
    }
    Ok(Reply {
        status: 200,
        body: serde_json::json!({
            "received": batch.events.len(),
            "recorded": report.received,
            "inserted": report.inserted,
            "duplicates": report.duplicates,
            "skipped": {
                "bot": scored.skipped.bot,
                "own_message": scored.skipped.own_message,
                "message_deleted": scored.skipped.message_deleted,
                "incomplete": scored.skipped.incomplete,
            },
            "cooled_down": scored.cooled_down,
            "close_requests": scored.close_requests.len(),
        })
        .to_string(),
        later,
        later_races: false,
    })
}

fn unavailable(err: &community_store::Error) -> Rejection {
    Rejection::Unavailable(format!("database: {err}"))
}

/// A time as PostgREST writes a `timestamptz` (RFC 3339, any offset, any
/// fraction) as the core's timestamp. (twilight's own parser takes only the
/// `+00:00` form Discord sends: given `Z`, it refuses, and the message
/// cooldown then never saw a member's earlier batches.)
fn database_time(at: &str) -> Option<Timestamp> {
    OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
        .ok()
        .and_then(crate::app::checked_timestamp)
}
