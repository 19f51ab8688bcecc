//! Interaction responses and messages, built as twilight-model values.
//!
//! Functions returning [`InteractionResponse`] are the HTTP answer to an
//! interaction. Functions returning [`InteractionResponseData`] are message
//! bodies the worker sends later: a follow-up or an edit of the original
//! response (interaction webhook), or a new message in a ticket channel (its
//! fields are those of Discord's create-message JSON).
//!
//! Nothing here pings anyone unless it means to: every message sets
//! `allowed_mentions`.

use twilight_model::channel::message::component::{
    ActionRow, Button, ButtonStyle, Label, TextInput, TextInputStyle,
};
use twilight_model::channel::message::embed::{EmbedField, EmbedFooter};
use twilight_model::channel::message::{AllowedMentions, Component, Embed, MessageFlags};
use twilight_model::http::interaction::{
    InteractionResponse, InteractionResponseData, InteractionResponseType,
};
use twilight_model::id::Id;
use twilight_model::id::marker::{RoleMarker, UserMarker};

use crate::audit::{AuditOutcome, Verdict};
use crate::settings::{GuildSettings, Setting, SettingsChange, TicketCloseAction};
use crate::ticket::{OPEN_MODAL_ID, REASON_INPUT_ID, TicketButton, TicketId};

/// Discord's limit on message content.
pub const CONTENT_MAX: usize = 2000;
/// The longest ticket reason the modal accepts.
pub const REASON_MAX: u16 = 1000;

pub const COLOR_GREEN: u32 = 0x2E_CC_71;
pub const COLOR_YELLOW: u32 = 0xF1_C4_0F;
pub const COLOR_RED: u32 = 0xE7_4C_3C;
/// The panel and ticket messages.
pub const COLOR_BRAND: u32 = 0x58_65_F2;

/// Embed limits (Discord): field value 1024, description 4096. Reasons are
/// kept shorter so a full audit stays under the 6000-character embed total.
const FIELD_VALUE_MAX: usize = 1024;
const REASONS_MAX: usize = 8;
const REASON_TEXT_MAX: usize = 500;

fn respond(
    kind: InteractionResponseType,
    data: Option<InteractionResponseData>,
) -> InteractionResponse {
    InteractionResponse { kind, data }
}

fn no_mentions() -> Option<AllowedMentions> {
    Some(AllowedMentions::default())
}

/// Cuts `text` to at most `max` characters, marking the cut with `…`.
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

fn button(style: ButtonStyle, label: &str, custom_id: String) -> Component {
    Component::Button(Button {
        custom_id: Some(custom_id),
        disabled: false,
        emoji: None,
        id: None,
        label: Some(label.to_owned()),
        sku_id: None,
        style,
        url: None,
    })
}

fn row(components: Vec<Component>) -> Component {
    Component::ActionRow(ActionRow {
        components,
        id: None,
    })
}

fn embed(title: &str, description: &str, color: u32) -> Embed {
    Embed {
        author: None,
        color: Some(color),
        description: Some(description.to_owned()),
        fields: Vec::new(),
        flags: None,
        footer: None,
        image: None,
        kind: "rich".to_owned(),
        provider: None,
        thumbnail: None,
        timestamp: None,
        title: Some(title.to_owned()),
        url: None,
        video: None,
    }
}

/// What an interaction whose work runs past the worker's time limit is
/// answered with (to its user alone); the answer replaces it later.
pub const STILL_WORKING_MESSAGE: &str =
    "Still working on it: this is taking longer than usual. The answer will appear here.";

/// The answer to Discord's PING.
pub fn pong() -> InteractionResponse {
    respond(InteractionResponseType::Pong, None)
}

/// A message only the invoking member sees.
pub fn ephemeral_message(text: &str) -> InteractionResponse {
    respond(
        InteractionResponseType::ChannelMessageWithSource,
        Some(ephemeral_data(text)),
    )
}

/// A message the whole channel sees (mentions in it ping no one).
pub fn channel_message(text: &str) -> InteractionResponse {
    respond(
        InteractionResponseType::ChannelMessageWithSource,
        Some(text_data(text, false)),
    )
}

/// The body of an ephemeral follow-up, or of an edit to a deferred
/// ephemeral response.
pub fn ephemeral_data(text: &str) -> InteractionResponseData {
    text_data(text, true)
}

/// A text message's body, for its user alone or for the channel.
pub fn text_data(text: &str, ephemeral: bool) -> InteractionResponseData {
    InteractionResponseData {
        allowed_mentions: no_mentions(),
        content: Some(truncate(text, CONTENT_MAX)),
        flags: ephemeral.then_some(MessageFlags::EPHEMERAL),
        ..InteractionResponseData::default()
    }
}

/// "Thinking…" for a command whose answer comes later (type 5).
pub fn deferred_channel_message(ephemeral: bool) -> InteractionResponse {
    respond(
        InteractionResponseType::DeferredChannelMessageWithSource,
        ephemeral.then(|| InteractionResponseData {
            flags: Some(MessageFlags::EPHEMERAL),
            ..InteractionResponseData::default()
        }),
    )
}

/// Acknowledges a button press whose work comes later (type 6).
pub fn deferred_update() -> InteractionResponse {
    respond(InteractionResponseType::DeferredUpdateMessage, None)
}

/// The modal asking why the member opens a ticket.
pub fn modal_open_ticket() -> InteractionResponse {
    #[allow(deprecated)] // `label` must be named; the Label component carries it
    let input = TextInput {
        custom_id: REASON_INPUT_ID.to_owned(),
        id: None,
        label: None,
        max_length: Some(REASON_MAX),
        min_length: Some(1),
        placeholder: Some("Tell the team what you need help with".to_owned()),
        required: Some(true),
        style: TextInputStyle::Paragraph,
        value: None,
    };
    respond(
        InteractionResponseType::Modal,
        Some(InteractionResponseData {
            custom_id: Some(OPEN_MODAL_ID.to_owned()),
            title: Some("Open a ticket".to_owned()),
            components: Some(vec![Component::Label(Label {
                component: Box::new(Component::TextInput(input)),
                description: None,
                id: None,
                label: "What do you need help with?".to_owned(),
            })]),
            ..InteractionResponseData::default()
        }),
    )
}

/// The panel `/ticket-panel` posts in the channel, with "Open ticket".
pub fn ticket_panel_message() -> InteractionResponse {
    respond(
        InteractionResponseType::ChannelMessageWithSource,
        Some(InteractionResponseData {
            allowed_mentions: no_mentions(),
            embeds: Some(vec![embed(
                "Need help?",
                "Open a private ticket and the team will answer you there.",
                COLOR_BRAND,
            )]),
            components: Some(vec![row(vec![button(
                ButtonStyle::Primary,
                "Open ticket",
                TicketButton::Open.custom_id(),
            )])]),
            ..InteractionResponseData::default()
        }),
    )
}

/// What the ticket log channel is told about a closed ticket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClosedTicket<'a> {
    pub id: TicketId,
    pub opener: Id<UserMarker>,
    pub reason: &'a str,
    pub claimed_by: Option<Id<UserMarker>>,
    /// Who closed it; `None`: its channel was deleted outside the bot, and
    /// it was closed when that was found (no transcript).
    pub closed_by: Option<Id<UserMarker>>,
    /// Unix seconds.
    pub opened_at: i64,
    pub closed_at: i64,
    /// Messages in the saved transcript, and whether it is the whole
    /// conversation.
    pub messages: usize,
    pub complete: bool,
}

/// A ticket's reason as its messages show it: trimmed, at most `max`
/// characters, and said to be missing when blank.
fn shown_reason(reason: &str, max: usize) -> String {
    if reason.trim().is_empty() {
        "(no reason given)".to_owned()
    } else {
        truncate(reason.trim(), max)
    }
}

/// The summary posted in the guild's ticket log channel when a ticket
/// closes. Mentions show names and ping no one.
pub fn ticket_closed_log(closed: &ClosedTicket<'_>) -> InteractionResponseData {
    let reason = shown_reason(closed.reason, FIELD_VALUE_MAX);
    let field = |name: &str, value: String| EmbedField {
        inline: true,
        name: name.to_owned(),
        value,
    };
    let mut summary = embed(
        &format!("Ticket #{} closed", closed.id),
        &format!("**Reason**\n{reason}"),
        COLOR_BRAND,
    );
    summary.fields = vec![
        field("Opened by", format!("<@{}>", closed.opener)),
        field(
            "Claimed by",
            closed
                .claimed_by
                .map_or_else(|| "nobody".to_owned(), |staff| format!("<@{staff}>")),
        ),
        field(
            "Closed by",
            closed.closed_by.map_or_else(
                || "nobody: its channel was deleted outside the bot".to_owned(),
                |by| format!("<@{by}>"),
            ),
        ),
        field("Opened", format!("<t:{}:f>", closed.opened_at)),
        field("Closed", format!("<t:{}:f>", closed.closed_at)),
        field(
            "Transcript",
            if closed.closed_by.is_none() {
                "none: the channel was gone".to_owned()
            } else if closed.complete {
                format!(
                    "{} message{}",
                    closed.messages,
                    if closed.messages == 1 { "" } else { "s" }
                )
            } else {
                format!(
                    "the newest {} messages (older ones not kept)",
                    closed.messages
                )
            },
        ),
    ];
    InteractionResponseData {
        allowed_mentions: no_mentions(),
        embeds: Some(vec![summary]),
        ..InteractionResponseData::default()
    }
}

/// The first message in a new ticket channel: pings the opener and the staff
/// role, shows the reason, and offers Claim and Close.
pub fn ticket_welcome(
    ticket_id: TicketId,
    opener: Id<UserMarker>,
    staff_role: Option<Id<RoleMarker>>,
    reason: &str,
) -> InteractionResponseData {
    let content = match staff_role {
        Some(role) => format!("<@{opener}> <@&{role}>"),
        None => format!("<@{opener}>"),
    };
    let reason = shown_reason(reason, usize::from(REASON_MAX));
    let mut welcome = embed(
        &format!("Ticket #{ticket_id}"),
        &format!(
            "Thanks for reaching out, <@{opener}>. A team member will be with you shortly.\n\n**Reason**\n{reason}"
        ),
        COLOR_BRAND,
    );
    welcome.footer = Some(EmbedFooter {
        icon_url: None,
        proxy_icon_url: None,
        text: "Staff: claim the ticket to take it. Close it when you are done.".to_owned(),
    });
    InteractionResponseData {
        allowed_mentions: Some(AllowedMentions {
            users: vec![opener],
            roles: staff_role.into_iter().collect(),
            ..AllowedMentions::default()
        }),
        content: Some(content),
        embeds: Some(vec![welcome]),
        components: Some(vec![row(vec![
            button(
                ButtonStyle::Primary,
                "Claim",
                TicketButton::Claim(ticket_id).custom_id(),
            ),
            button(
                ButtonStyle::Danger,
                "Close",
                TicketButton::Close(ticket_id).custom_id(),
            ),
        ])]),
        ..InteractionResponseData::default()
    }
}

/// "Close this ticket?" with a confirm button, seen only by who asked,
/// saying what becomes of its channel (the guild's `action`).
pub fn close_confirmation(ticket_id: TicketId, action: TicketCloseAction) -> InteractionResponse {
    let channel = match action {
        TicketCloseAction::Delete => "the channel deleted",
        TicketCloseAction::Archive => "the channel archived (kept, read-only for staff)",
    };
    respond(
        InteractionResponseType::ChannelMessageWithSource,
        Some(InteractionResponseData {
            allowed_mentions: no_mentions(),
            content: Some(format!(
                "Close ticket #{ticket_id}? The conversation is saved and {channel}."
            )),
            components: Some(vec![row(vec![button(
                ButtonStyle::Danger,
                "Close ticket",
                TicketButton::CloseConfirm(ticket_id).custom_id(),
            )])]),
            flags: Some(MessageFlags::EPHEMERAL),
            ..InteractionResponseData::default()
        }),
    )
}

/// The verdict as an embed: colour, reasons, suggested fixes.
pub fn audit_embed(outcome: &AuditOutcome) -> Embed {
    let (title, summary, color) = match outcome.verdict {
        Verdict::Green => ("🟢 Green", "No compliance issues found.", COLOR_GREEN),
        Verdict::Yellow => (
            "🟡 Yellow",
            "Some issues to fix before posting.",
            COLOR_YELLOW,
        ),
        Verdict::Red => (
            "🔴 Red",
            "Serious issues: do not post this as it is.",
            COLOR_RED,
        ),
    };
    let mut verdict = embed(&format!("Audit: {title}"), summary, color);
    verdict.fields = outcome
        .reasons
        .iter()
        .take(REASONS_MAX)
        .map(|reason| EmbedField {
            inline: false,
            name: reason.category.label().to_owned(),
            value: truncate(non_empty(&reason.shown_explanation()), REASON_TEXT_MAX),
        })
        .collect();
    if outcome.reasons.len() > REASONS_MAX {
        verdict.fields.push(EmbedField {
            inline: false,
            name: "More".to_owned(),
            value: format!(
                "{} more issues not shown.",
                outcome.reasons.len() - REASONS_MAX
            ),
        });
    }
    if !outcome.suggested_fixes.is_empty() {
        let fixes: Vec<String> = outcome
            .suggested_fixes
            .iter()
            .map(|fix| format!("• {}", fix.trim()))
            .collect();
        verdict.fields.push(EmbedField {
            inline: false,
            name: "Suggested fixes".to_owned(),
            value: truncate(&fixes.join("\n"), FIELD_VALUE_MAX),
        });
    }
    verdict.footer = Some(EmbedFooter {
        icon_url: None,
        proxy_icon_url: None,
        text: "AI-assisted review. A person has the final say.".to_owned(),
    });
    verdict
}

fn non_empty(text: &str) -> &str {
    if text.trim().is_empty() { "—" } else { text }
}

/// The audit's follow-up message.
pub fn audit_message(outcome: &AuditOutcome, ephemeral: bool) -> InteractionResponseData {
    InteractionResponseData {
        allowed_mentions: no_mentions(),
        embeds: Some(vec![audit_embed(outcome)]),
        flags: ephemeral.then_some(MessageFlags::EPHEMERAL),
        ..InteractionResponseData::default()
    }
}

/// `/settings`' answer, to its user only: every setting as it now stands
/// (`after`), and what `change` did to the settings as they were (`before`):
/// which it updated, and which already were as it asked (a reset of a
/// setting at its default, a value a setting already had).
pub fn settings_message(
    before: &GuildSettings,
    after: &GuildSettings,
    change: &SettingsChange,
) -> InteractionResponse {
    let changed = change.updated(before, after);
    let description = if change.is_empty() {
        "Change any of these with `/settings` and its options; `reset` returns one to its default."
            .to_owned()
    } else {
        let same: Vec<Setting> = change
            .changed()
            .into_iter()
            .filter(|s| !changed.contains(s))
            .collect();
        let (defaults, values): (Vec<Setting>, Vec<Setting>) =
            same.into_iter().partition(|s| change.reset.contains(s));
        let mut sentences = Vec::new();
        if !changed.is_empty() {
            sentences.push(format!("Updated: {}.", labels(&changed)));
        }
        if !defaults.is_empty() {
            sentences.push(if defaults.len() == 1 {
                format!("{} was already at its default.", labels(&defaults))
            } else {
                format!("{} were already at their defaults.", labels(&defaults))
            });
        }
        if !values.is_empty() {
            sentences.push(if values.len() == 1 {
                format!("{} already had that value.", labels(&values))
            } else {
                format!("{} already had those values.", labels(&values))
            });
        }
        let text = sentences.join(" ");
        if changed.is_empty() {
            format!("Nothing changed: {text}")
        } else {
            text
        }
    };
    let mut summary = embed("Server settings", &description, COLOR_BRAND);
    summary.fields = Setting::ALL
        .into_iter()
        .map(|setting| EmbedField {
            inline: true,
            name: if changed.contains(&setting) {
                format!("{} (updated)", setting.label())
            } else {
                setting.label().to_owned()
            },
            value: setting.show(after),
        })
        .collect();
    respond(
        InteractionResponseType::ChannelMessageWithSource,
        Some(InteractionResponseData {
            allowed_mentions: no_mentions(),
            embeds: Some(vec![summary]),
            flags: Some(MessageFlags::EPHEMERAL),
            ..InteractionResponseData::default()
        }),
    )
}

/// Settings by name: "Staff role, Open tickets per member".
fn labels(settings: &[Setting]) -> String {
    settings
        .iter()
        .map(|s| s.label())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditReason, Category, Usage};
    use crate::settings::SettingValue;
    use serde_json::{Value, json};

    fn to_json<T: serde::Serialize>(value: &T) -> Value {
        serde_json::to_value(value).expect("serializes")
    }

    const EPHEMERAL: u64 = 64;

    #[test]
    fn simple_responses_table() {
        let cases: [(&str, InteractionResponse, u64, Value); 6] = [
            ("pong", pong(), 1, Value::Null),
            (
                "deferred public",
                deferred_channel_message(false),
                5,
                Value::Null,
            ),
            (
                "deferred ephemeral",
                deferred_channel_message(true),
                5,
                json!(EPHEMERAL),
            ),
            ("deferred update", deferred_update(), 6, Value::Null),
            ("ephemeral", ephemeral_message("hi"), 4, json!(EPHEMERAL)),
            (
                "close confirmation",
                close_confirmation(TicketId(5), TicketCloseAction::Delete),
                4,
                json!(EPHEMERAL),
            ),
        ];
        for (name, response, kind, flags) in cases {
            let json = to_json(&response);
            assert_eq!(json["type"], kind, "{name}");
            assert_eq!(json["data"]["flags"], flags, "{name}: {json}");
        }
        assert_eq!(to_json(&pong()), json!({ "type": 1 }));
    }

    #[test]
    fn ephemeral_message_never_pings_and_fits() {
        let json = to_json(&ephemeral_message(&"@everyone ".repeat(500)));
        assert_eq!(json["data"]["allowed_mentions"]["parse"], json!([]));
        let content = json["data"]["content"].as_str().expect("content");
        assert_eq!(content.chars().count(), CONTENT_MAX);
        assert!(content.ends_with('…'));
    }

    #[test]
    fn modal_asks_for_the_reason() {
        let json = to_json(&modal_open_ticket());
        assert_eq!(json["type"], 9);
        assert_eq!(json["data"]["custom_id"], OPEN_MODAL_ID);
        let label = &json["data"]["components"][0];
        assert_eq!(label["type"], 18);
        let input = &label["component"];
        assert_eq!(input["type"], 4);
        assert_eq!(input["custom_id"], REASON_INPUT_ID);
        assert_eq!(input["style"], 2);
        assert_eq!(input["required"], true);
    }

    #[test]
    fn panel_has_the_open_button() {
        let json = to_json(&ticket_panel_message());
        assert_eq!(json["type"], 4);
        assert!(json["data"].get("flags").is_none(), "the panel is public");
        let button = &json["data"]["components"][0]["components"][0];
        assert_eq!(button["type"], 2);
        assert_eq!(button["custom_id"], "ticket:open");
        assert_eq!(button["label"], "Open ticket");
    }

    #[test]
    fn welcome_pings_opener_and_staff_and_offers_claim_and_close() {
        let opener = Id::new(10);
        let role = Id::new(20);
        let json = to_json(&ticket_welcome(
            TicketId(42),
            opener,
            Some(role),
            "My order never arrived",
        ));
        assert_eq!(json["content"], "<@10> <@&20>");
        assert_eq!(json["allowed_mentions"]["users"], json!(["10"]));
        assert_eq!(json["allowed_mentions"]["roles"], json!(["20"]));
        assert_eq!(json["allowed_mentions"]["parse"], json!([]));
        let buttons = &json["components"][0]["components"];
        assert_eq!(buttons[0]["custom_id"], "ticket:claim:42");
        assert_eq!(buttons[1]["custom_id"], "ticket:close:42");
        assert_eq!(buttons[1]["style"], 4);
        let description = json["embeds"][0]["description"].as_str().expect("text");
        assert!(description.contains("My order never arrived"));

        let without_role = to_json(&ticket_welcome(TicketId(1), opener, None, "  "));
        assert_eq!(without_role["content"], "<@10>");
        assert!(without_role["allowed_mentions"].get("roles").is_none());
        assert!(
            without_role["embeds"][0]["description"]
                .as_str()
                .is_some_and(|d| d.contains("(no reason given)"))
        );
    }

    #[test]
    fn close_confirmation_button() {
        let json = to_json(&close_confirmation(TicketId(42), TicketCloseAction::Delete));
        assert_eq!(
            json["data"]["components"][0]["components"][0]["custom_id"],
            "ticket:close-confirm:42"
        );
    }

    #[test]
    fn close_confirmation_says_what_becomes_of_the_channel() {
        let said = |action| {
            to_json(&close_confirmation(TicketId(106), action))["data"]["content"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(
            said(TicketCloseAction::Delete),
            "Close ticket #106? The conversation is saved and the channel deleted."
        );
        assert_eq!(
            said(TicketCloseAction::Archive),
            "Close ticket #106? The conversation is saved and the channel archived (kept, read-only for staff)."
        );
    }

    fn outcome(verdict: Verdict, reasons: usize, fixes: &[&str]) -> AuditOutcome {
        AuditOutcome {
            verdict,
            reasons: (0..reasons)
                .map(|i| AuditReason {
                    category: Category::MisleadingClaims,
                    explanation: format!("reason {i} {}", "x".repeat(900)),
                })
                .collect(),
            suggested_fixes: fixes.iter().map(|fix| (*fix).to_owned()).collect(),
            usage: Usage::default(),
        }
    }

    #[test]
    fn audit_embed_table() {
        let cases = [
            (Verdict::Green, 0, &[][..], COLOR_GREEN, 0),
            (Verdict::Yellow, 1, &["Add #ad"][..], COLOR_YELLOW, 2),
            (
                Verdict::Red,
                2,
                &["Remove the guarantee", "Cite a source"][..],
                COLOR_RED,
                3,
            ),
            (
                Verdict::Red,
                12,
                &["Rewrite"][..],
                COLOR_RED,
                REASONS_MAX + 2,
            ),
        ];
        for (verdict, reasons, fixes, color, fields) in cases {
            let embed = audit_embed(&outcome(verdict, reasons, fixes));
            let json = to_json(&embed);
            assert_eq!(json["color"], color, "{verdict:?}");
            assert_eq!(embed.fields.len(), fields, "{verdict:?}");
            if reasons > 0 {
                assert_eq!(json["fields"][0]["name"], "Misleading claims");
            }
            if let Some(last) = embed.fields.last().filter(|_| !fixes.is_empty()) {
                assert_eq!(last.name, "Suggested fixes");
                for fix in fixes {
                    assert!(last.value.contains(&format!("• {fix}")), "{fix}");
                }
            }
            // Discord's limits.
            let total: usize = embed.title.as_deref().map_or(0, |t| t.chars().count())
                + embed
                    .description
                    .as_deref()
                    .map_or(0, |d| d.chars().count())
                + embed.footer.as_ref().map_or(0, |f| f.text.chars().count())
                + embed
                    .fields
                    .iter()
                    .map(|f| f.name.chars().count() + f.value.chars().count())
                    .sum::<usize>();
            assert!(total <= 6000, "{verdict:?}: {total}");
            assert!(embed.fields.len() <= 25);
            for field in &embed.fields {
                assert!(field.value.chars().count() <= FIELD_VALUE_MAX);
                assert!(!field.value.is_empty());
            }
        }
    }

    #[test]
    fn audit_embed_does_not_repeat_a_reasons_label() {
        let outcome = AuditOutcome {
            verdict: Verdict::Yellow,
            reasons: vec![AuditReason {
                category: Category::UndisclosedAdvertising,
                explanation: "Undisclosed sponsorship: the brand is not named as a sponsor."
                    .to_owned(),
            }],
            suggested_fixes: Vec::new(),
            usage: Usage::default(),
        };
        let json = to_json(&audit_embed(&outcome));
        assert_eq!(json["fields"][0]["name"], "Undisclosed ad or sponsorship");
        assert_eq!(
            json["fields"][0]["value"],
            "The brand is not named as a sponsor."
        );
    }

    #[test]
    fn audit_message_is_ephemeral_when_asked() {
        let green = outcome(Verdict::Green, 0, &[]);
        assert_eq!(to_json(&audit_message(&green, true))["flags"], EPHEMERAL);
        assert!(
            to_json(&audit_message(&green, false))
                .get("flags")
                .is_none()
        );
        assert_eq!(
            to_json(&audit_message(&green, true))["embeds"][0]["title"],
            "Audit: 🟢 Green"
        );
    }

    #[test]
    fn settings_message_lists_every_setting_and_marks_what_changed() {
        let settings: GuildSettings = serde_json::from_value(json!({
            "guild_id": "1", "staff_role_id": "50", "ticket_category_id": null,
            "max_open_tickets": 2, "ticket_close_action": "archive",
            "message_points": 1, "reaction_points": 0.5, "message_cooldown_secs": 30,
            "ai_daily_budget_usd": 2.5, "audit_cache_hours": 0,
        }))
        .expect("settings");
        let before = GuildSettings {
            staff_role_id: None,
            max_open_tickets: 1,
            ..settings.clone()
        };
        let change = SettingsChange {
            set: vec![
                (Setting::StaffRole, SettingValue::Role(Id::new(50))),
                (Setting::OpenTicketLimit, SettingValue::Integer(2)),
            ],
            reset: Vec::new(),
        };
        let message = to_json(&settings_message(&before, &settings, &change));
        assert_eq!(message["type"], 4);
        assert_eq!(message["data"]["flags"], 64, "only its user sees it");
        assert_eq!(
            message["data"]["allowed_mentions"],
            json!({ "parse": [] }),
            "pings no one"
        );
        let embed = &message["data"]["embeds"][0];
        assert_eq!(
            embed["description"],
            "Updated: Staff role, Open tickets per member."
        );
        let fields = embed["fields"].as_array().expect("fields");
        assert_eq!(fields.len(), Setting::ALL.len());
        assert_eq!(fields[0]["name"], "Staff role (updated)");
        assert_eq!(fields[0]["value"], "<@&50>");
        assert_eq!(fields[1]["name"], "Ticket category");
        assert_eq!(fields[2]["value"], "2");
        assert_eq!(fields[7]["value"], "off: every audit asks the AI");
        assert_eq!(fields[10]["value"], "30 s");
        let unchanged = to_json(&settings_message(
            &settings,
            &settings,
            &SettingsChange::default(),
        ));
        assert!(
            unchanged["data"]["embeds"][0]["description"]
                .as_str()
                .is_some_and(|d| d.contains("`reset`"))
        );
    }

    #[test]
    fn settings_message_says_what_was_already_as_asked() {
        let settings: GuildSettings = serde_json::from_value(json!({
            "guild_id": "1", "staff_role_id": "50", "ticket_category_id": null,
            "max_open_tickets": 1, "ticket_close_action": "delete",
            "message_points": 1, "reaction_points": 0.5, "message_cooldown_secs": 30,
            "ai_daily_budget_usd": 1, "audit_cache_hours": 24,
        }))
        .expect("settings");
        let description = |before: &GuildSettings, change: SettingsChange| {
            let message = to_json(&settings_message(before, &settings, &change));
            let embed = &message["data"]["embeds"][0];
            let marked: Vec<String> = embed["fields"]
                .as_array()
                .expect("fields")
                .iter()
                .filter_map(|f| f["name"].as_str())
                .filter(|name| name.ends_with("(updated)"))
                .map(str::to_owned)
                .collect();
            (
                embed["description"].as_str().unwrap_or_default().to_owned(),
                marked,
            )
        };
        let reset = |reset: Vec<Setting>| SettingsChange {
            set: Vec::new(),
            reset,
        };
        // A reset of a setting at its default changes nothing, and says so.
        assert_eq!(
            description(&settings, reset(vec![Setting::OpenTicketLimit])),
            (
                "Nothing changed: Open tickets per member was already at its default.".to_owned(),
                Vec::new()
            )
        );
        assert_eq!(
            description(
                &settings,
                reset(vec![Setting::OpenTicketLimit, Setting::ArchiveCategory])
            )
            .0,
            "Nothing changed: Open tickets per member, Archive category were already at their defaults."
        );
        // One reset that did something, one that did not, a value it had.
        let before = GuildSettings {
            max_open_tickets: 3,
            ..settings.clone()
        };
        let mixed = SettingsChange {
            set: vec![(Setting::StaffRole, SettingValue::Role(Id::new(50)))],
            reset: vec![Setting::OpenTicketLimit, Setting::ArchiveCategory],
        };
        assert_eq!(
            description(&before, mixed),
            (
                "Updated: Open tickets per member. Archive category was already at its default. \
                 Staff role already had that value."
                    .to_owned(),
                vec!["Open tickets per member (updated)".to_owned()]
            )
        );
    }

    #[test]
    fn a_closed_ticket_is_summed_up_for_the_log_without_pinging() {
        let closed = ClosedTicket {
            id: TicketId(7),
            opener: Id::new(2),
            reason: "  my order  ",
            claimed_by: None,
            closed_by: Some(Id::new(9)),
            opened_at: 1_795_000_000,
            closed_at: 1_795_003_600,
            messages: 1,
            complete: true,
        };
        let log = to_json(&ticket_closed_log(&closed));
        assert_eq!(log["allowed_mentions"], json!({ "parse": [] }));
        assert!(log["flags"].is_null(), "a channel message");
        let embed = &log["embeds"][0];
        assert_eq!(embed["title"], "Ticket #7 closed");
        assert_eq!(embed["description"], "**Reason**\nmy order");
        let values: Vec<&str> = embed["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .filter_map(|f| f["value"].as_str())
            .collect();
        assert_eq!(
            values,
            [
                "<@2>",
                "nobody",
                "<@9>",
                "<t:1795000000:f>",
                "<t:1795003600:f>",
                "1 message"
            ]
        );
        let partial = to_json(&ticket_closed_log(&ClosedTicket {
            messages: 1000,
            complete: false,
            claimed_by: Some(Id::new(9)),
            ..closed
        }));
        assert_eq!(partial["embeds"][0]["fields"][1]["value"], "<@9>");
        assert_eq!(
            partial["embeds"][0]["fields"][5]["value"],
            "the newest 1000 messages (older ones not kept)"
        );
        let vanished = to_json(&ticket_closed_log(&ClosedTicket {
            closed_by: None,
            messages: 0,
            ..closed
        }));
        assert_eq!(
            vanished["embeds"][0]["fields"][2]["value"],
            "nobody: its channel was deleted outside the bot"
        );
        assert_eq!(
            vanished["embeds"][0]["fields"][5]["value"],
            "none: the channel was gone"
        );
    }
}
