//! `cargo xtask interact ...`: send correctly signed interactions to the
//! local interactions worker, as Discord would, and print what came back —
//! including the message a deferred answer finishes with.
//!
//! Uses the signing key `cargo xtask dev` generated (`.state/dev-secrets.json`)
//! and the local Discord stand-in to read follow-ups and find ticket channels.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, anyhow, bail};
use e2e::discord::{self as payload, Member, Signer};
use local_stack::http;
use serde_json::Value;

use crate::dev_secrets;
use crate::simulate::{GUILD, STAFF_ROLE};
use crate::workspace::Workspace;

#[derive(Debug, clap::Args)]
pub(crate) struct InteractArgs {
    #[command(subcommand)]
    what: What,
    /// Act as a staff member (staff role) instead of an ordinary member.
    #[arg(long, global = true)]
    staff: bool,
    /// The interactions worker.
    #[arg(long, global = true, default_value = "http://127.0.0.1:8787")]
    url: String,
    /// The Discord stand-in `cargo xtask dev` runs.
    #[arg(long, global = true, default_value = "http://127.0.0.1:54330")]
    discord: String,
}

#[derive(Debug, clap::Subcommand)]
enum What {
    /// PING: the endpoint check Discord makes.
    Ping,
    /// `/audit text:<TEXT>`.
    Audit { text: String },
    /// "Audit message" on a message with this content.
    AuditMessage { content: String },
    /// `/ticket-panel` (try it with and without --staff).
    TicketPanel,
    /// Ticket buttons and modal.
    Ticket {
        #[command(subcommand)]
        action: TicketAction,
    },
    /// `/close` inside a ticket's channel (the newest open ticket unless --channel).
    Close {
        #[arg(long)]
        channel: Option<u64>,
    },
    /// `/settings` as a server admin (Manage Server): no argument shows the
    /// settings; `NAME=VALUE` sets one (`open-ticket-limit=2`,
    /// `close-action=archive`, `staff-role=<role id>`), `reset=NAME` returns
    /// one to its default.
    Settings { changes: Vec<String> },
    /// A command the bot does not know.
    Unknown,
}

#[derive(Debug, clap::Subcommand)]
enum TicketAction {
    /// Press "Open ticket" (answers with the reason modal, or a link to your open ticket).
    Button,
    /// Submit the modal: open a ticket with this reason.
    Open {
        #[arg(default_value = "I need help with my order")]
        reason: String,
    },
    /// Press "Claim" on a ticket (use --staff).
    Claim { id: u64 },
    /// Press "Close", then confirm.
    Close { id: u64 },
}

const MEMBER: u64 = 1_100_000_000_000_200_001;
const STAFF: u64 = 1_100_000_000_000_200_002;
const GENERAL: u64 = 1_100_000_000_000_000_071;

pub(crate) fn command(workspace: &Workspace, args: &InteractArgs) -> Result<()> {
    let secrets = dev_secrets::existing(&workspace.state_dir())
        .ok_or_else(|| anyhow!("no local signing key yet: start `cargo xtask dev` first"))?;
    let signer = Signer::from_seed(secrets.signer_seed);
    let who = if args.staff {
        Member::staff(STAFF, "you-staff")
            .with_role(STAFF_ROLE)
            .in_guild(GUILD)
    } else {
        Member::ordinary(MEMBER, "you").in_guild(GUILD)
    };
    // Unique per run: the follow-up is found by its interaction token.
    let token = format!(
        "interact-{}-{}",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
        std::process::id()
    );
    let bodies: Vec<Value> = match &args.what {
        What::Ping => vec![payload::ping()],
        What::Audit { text } => vec![payload::slash(
            "audit",
            &[("text", text)],
            &who,
            GENERAL,
            &token,
        )],
        What::AuditMessage { content } => {
            vec![payload::audit_message(content, &who, GENERAL, &token)]
        }
        What::TicketPanel => vec![payload::slash("ticket-panel", &[], &who, GENERAL, &token)],
        What::Settings { changes } => {
            let admin = Member::admin(STAFF, "you-admin").in_guild(GUILD);
            let options = changes
                .iter()
                .map(|change| settings_option(change))
                .collect::<Result<Vec<_>>>()?;
            let options: Vec<(&str, u8, Value)> = options
                .iter()
                .map(|(name, kind, value)| (name.as_str(), *kind, value.clone()))
                .collect();
            vec![payload::settings(&options, &admin, GENERAL, &token)]
        }
        What::Unknown => vec![payload::slash(
            "no-such-command",
            &[],
            &who,
            GENERAL,
            &token,
        )],
        What::Ticket { action } => match action {
            TicketAction::Button => vec![payload::button("ticket:open", &who, GENERAL, &token)],
            TicketAction::Open { reason } => {
                vec![payload::open_ticket_modal(reason, &who, GENERAL, &token)]
            }
            TicketAction::Claim { id } => {
                let channel = ticket_channel(&args.discord, Some(*id))?;
                vec![payload::button(
                    &format!("ticket:claim:{id}"),
                    &who,
                    channel,
                    &token,
                )]
            }
            TicketAction::Close { id } => {
                let channel = ticket_channel(&args.discord, Some(*id))?;
                vec![
                    payload::button(&format!("ticket:close:{id}"), &who, channel, &token),
                    payload::button(&format!("ticket:close-confirm:{id}"), &who, channel, &token),
                ]
            }
        },
        What::Close { channel } => {
            let channel = match channel {
                Some(channel) => *channel,
                None => ticket_channel(&args.discord, None)?,
            };
            vec![payload::slash("close", &[], &who, channel, &token)]
        }
    };
    for body in bodies {
        send(args, &signer, &body, &token)?;
    }
    Ok(())
}

/// `NAME=VALUE` as the option Discord would send: its type and its value.
fn settings_option(change: &str) -> Result<(String, u8, Value)> {
    use community_core::settings::{Kind, RESET_OPTION, Setting};
    let (name, value) = change
        .split_once('=')
        .ok_or_else(|| anyhow!("{change:?}: expected NAME=VALUE"))?;
    if name == RESET_OPTION {
        return Ok((name.to_owned(), 3, Value::from(value)));
    }
    let setting = Setting::from_option(name).ok_or_else(|| {
        let names: Vec<&str> = Setting::ALL.iter().map(|s| s.option()).collect();
        anyhow!("{name:?} is not a setting: one of {}", names.join(", "))
    })?;
    let number = |what| anyhow!("{name} takes {what}, not {value:?}");
    let kind = setting.kind();
    let value = match kind {
        Kind::Integer { .. } => {
            Value::from(value.parse::<i64>().map_err(|_| number("a whole number"))?)
        }
        Kind::Number { .. } => Value::from(value.parse::<f64>().map_err(|_| number("a number"))?),
        Kind::Role | Kind::Category | Kind::TextChannel | Kind::CloseAction => Value::from(value),
    };
    let kind = kind.option_type() as u8;
    Ok((name.to_owned(), kind, value))
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn send(args: &InteractArgs, signer: &Signer, body: &Value, token: &str) -> Result<()> {
    let text = body.to_string();
    let timestamp = now_secs().to_string();
    let signature = signer.sign(&timestamp, text.as_bytes());
    let url = format!("{}/interactions", args.url);
    let started = Instant::now();
    let response = http::post_json(
        &url,
        &[
            ("X-Signature-Ed25519", &signature),
            ("X-Signature-Timestamp", &timestamp),
        ],
        &text,
    )
    .with_context(|| format!("POST {url} (is `cargo xtask dev` running?)"))?;
    println!(
        "→ HTTP {} in {} ms",
        response.status,
        started.elapsed().as_millis()
    );
    let answer: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    println!("{}", describe(&answer));
    if matches!(answer["type"].as_u64(), Some(5 | 6)) {
        println!("  (deferred; waiting for the follow-up...)");
        match follow_up(&args.discord, token) {
            Some(message) => println!("{}", describe_message(&message)),
            None => println!("  no follow-up within 20 s: see the worker log"),
        }
    }
    Ok(())
}

fn describe(answer: &Value) -> String {
    let kind = match answer["type"].as_u64() {
        Some(1) => "PONG",
        Some(4) => "message",
        Some(5) => "deferred message (\"thinking…\")",
        Some(6) => "deferred update",
        Some(7) => "message update",
        Some(9) => "modal",
        _ => return format!("  {answer}"),
    };
    let mut out = format!("  type {} = {kind}", answer["type"]);
    if !answer["data"].is_null() {
        out.push('\n');
        out.push_str(&describe_message(&answer["data"]));
    }
    out
}

fn describe_message(data: &Value) -> String {
    let mut lines = Vec::new();
    if data["flags"].as_u64().is_some_and(|f| f & 64 != 0) {
        lines.push("  (ephemeral: only you see it)".to_owned());
    }
    if let Some(content) = data["content"].as_str().filter(|c| !c.is_empty()) {
        lines.push(format!("  {content}"));
    }
    if let Some(title) = data["title"].as_str() {
        lines.push(format!("  modal: {title}"));
    }
    for embed in data["embeds"].as_array().into_iter().flatten() {
        lines.push(format!(
            "  [{}] {}",
            embed["title"].as_str().unwrap_or(""),
            embed["description"].as_str().unwrap_or("")
        ));
        for field in embed["fields"].as_array().into_iter().flatten() {
            lines.push(format!(
                "    {}: {}",
                field["name"].as_str().unwrap_or(""),
                field["value"].as_str().unwrap_or("")
            ));
        }
    }
    for row in data["components"].as_array().into_iter().flatten() {
        for component in row["components"].as_array().into_iter().flatten() {
            if let Some(label) = component["label"].as_str() {
                lines.push(format!(
                    "  [button: {label}] ({})",
                    component["custom_id"].as_str().unwrap_or("")
                ));
            }
        }
    }
    lines.join("\n")
}

/// The follow-up or "edit original" the worker sent for this interaction.
fn follow_up(discord: &str, token: &str) -> Option<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(response) = http::get(&format!("{discord}/_stand_in/requests"), &[]) {
            let requests: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
            let found = requests.as_array().into_iter().flatten().rev().find(|r| {
                r["path"]
                    .as_str()
                    .is_some_and(|p| p.contains(token) && p.starts_with("/api/v10/webhooks/"))
            });
            if let Some(request) = found {
                return Some(request["body"].clone());
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}

/// A ticket's channel (by ticket id), or the newest ticket channel.
fn ticket_channel(discord: &str, ticket: Option<u64>) -> Result<u64> {
    let url = format!("{discord}/_stand_in/discord/guilds/{GUILD}/channels");
    let response = http::get(&url, &[])
        .with_context(|| format!("GET {url} (is `cargo xtask dev` running?)"))?;
    let channels: Value =
        serde_json::from_slice(&response.body).context("the stand-in's channel list")?;
    let mut tickets = channels.as_array().into_iter().flatten().filter(|c| {
        c["name"].as_str().is_some_and(|n| n.starts_with("ticket-"))
            && ticket.is_none_or(|id| {
                c["topic"]
                    .as_str()
                    .is_some_and(|t| t.starts_with(&format!("Ticket #{id} ")))
            })
    });
    let Some(channel) = tickets.next_back() else {
        bail!(
            "no open ticket channel{} found",
            ticket
                .map(|t| format!(" for ticket #{t}"))
                .unwrap_or_default()
        );
    };
    channel["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| anyhow!("bad channel id in {channel}"))
}
