//! Support tickets: the state machine, channel names and component ids.
//!
//! A ticket is Open until a staff member claims it (which sets the first
//! response time), and Closed when its opener or a staff member closes it.
//! Every refusal is the user's doing and its message is safe to show in an
//! ephemeral reply.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use twilight_model::id::Id;
use twilight_model::id::marker::UserMarker;
use twilight_model::util::Timestamp;

/// The ticket's row id in the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TicketId(pub u64);

impl fmt::Display for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for TicketId {
    type Err = CustomIdError;

    /// Canonical decimal only (no sign, no leading zeros, not zero), so one
    /// ticket has exactly one spelling in a custom id.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let canonical =
            !s.is_empty() && s.bytes().all(|byte| byte.is_ascii_digit()) && !s.starts_with('0');
        match s.parse::<u64>() {
            Ok(id) if canonical => Ok(Self(id)),
            _ => Err(CustomIdError::BadTicketId(s.to_owned())),
        }
    }
}

/// Where a ticket stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TicketState {
    Open,
    Claimed { by: Id<UserMarker>, at: Timestamp },
    Closed { by: Id<UserMarker>, at: Timestamp },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ticket {
    pub id: TicketId,
    pub opener: Id<UserMarker>,
    pub opened_at: Timestamp,
    pub state: TicketState,
    /// When staff first responded, i.e. first claimed the ticket.
    pub first_response_at: Option<Timestamp>,
}

/// What someone asks to do to a ticket. Whether they are staff or the opener
/// is decided by the caller (roles and permissions live in the interaction).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TicketAction {
    Claim {
        staff: Id<UserMarker>,
        at: Timestamp,
        is_staff: bool,
    },
    Close {
        by: Id<UserMarker>,
        at: Timestamp,
        is_staff: bool,
        is_opener: bool,
    },
}

/// What a successful action changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub ticket: Ticket,
    pub effect: TicketEffect,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TicketEffect {
    /// `first_response` is set when this claim was the ticket's first.
    Claimed {
        first_response: bool,
    },
    Closed,
}

/// Why an action was refused; safe to show to the member.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TicketError {
    #[error("only staff can claim tickets")]
    NotStaff,
    #[error("this ticket is already claimed by <@{by}>")]
    ClaimedByOther { by: Id<UserMarker> },
    #[error("you have already claimed this ticket")]
    AlreadyYours,
    #[error("only the member who opened this ticket or staff can close it")]
    NotAllowedToClose,
    #[error("this ticket was already closed by <@{by}>")]
    AlreadyClosed { by: Id<UserMarker>, at: Timestamp },
}

impl Ticket {
    pub fn new(id: TicketId, opener: Id<UserMarker>, opened_at: Timestamp) -> Self {
        Self {
            id,
            opener,
            opened_at,
            state: TicketState::Open,
            first_response_at: None,
        }
    }

    /// Seconds from opening to the first staff response, once there is one.
    pub fn first_response_secs(&self) -> Option<i64> {
        self.first_response_at
            .map(|at| at.as_secs().saturating_sub(self.opened_at.as_secs()))
    }
}

/// Applies `action` to `ticket`, or says why it cannot be done.
pub fn transition(ticket: &Ticket, action: TicketAction) -> Result<Transition, TicketError> {
    if let TicketState::Closed { by, at } = ticket.state {
        return Err(TicketError::AlreadyClosed { by, at });
    }
    let mut next = ticket.clone();
    let effect = match action {
        TicketAction::Claim {
            staff,
            at,
            is_staff,
        } => {
            if !is_staff {
                return Err(TicketError::NotStaff);
            }
            match ticket.state {
                TicketState::Claimed { by, .. } if by == staff => {
                    return Err(TicketError::AlreadyYours);
                }
                TicketState::Claimed { by, .. } => return Err(TicketError::ClaimedByOther { by }),
                TicketState::Open | TicketState::Closed { .. } => {}
            }
            next.state = TicketState::Claimed { by: staff, at };
            let first_response = next.first_response_at.is_none();
            if first_response {
                next.first_response_at = Some(at);
            }
            TicketEffect::Claimed { first_response }
        }
        TicketAction::Close {
            by,
            at,
            is_staff,
            is_opener,
        } => {
            // The caller decides what counts as the opener closing: the
            // buttons and /close let the opener close, `!close` is staff only.
            if !(is_staff || is_opener) {
                return Err(TicketError::NotAllowedToClose);
            }
            next.state = TicketState::Closed { by, at };
            TicketEffect::Closed
        }
    };
    Ok(Transition {
        ticket: next,
        effect,
    })
}

/// Discord's limit on a channel name.
pub const CHANNEL_NAME_MAX: usize = 100;
/// How much of the member's name goes into the channel name.
const NAME_PART_MAX: usize = 32;

/// The ticket channel's name: `ticket-<name>-<id>`, where `<name>` is the
/// member's name lowercased with anything outside `a-z0-9` turned into single
/// dashes (`member` when nothing is left) and `<id>` the ticket id, at least
/// four digits. Always a valid Discord text channel name.
pub fn channel_name(member_name: &str, ticket_id: TicketId) -> String {
    let mut name = String::with_capacity(NAME_PART_MAX);
    for c in member_name.chars().flat_map(char::to_lowercase) {
        if name.len() >= NAME_PART_MAX {
            break;
        }
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            name.push(c);
        } else if !name.is_empty() && !name.ends_with('-') {
            name.push('-');
        }
    }
    let name = name.trim_end_matches('-');
    let name = if name.is_empty() { "member" } else { name };
    let mut channel = format!("ticket-{name}-{:04}", ticket_id.0);
    channel.truncate(CHANNEL_NAME_MAX);
    channel
}

/// The modal a member fills in to open a ticket.
pub const OPEN_MODAL_ID: &str = "ticket:open-modal";
/// The text input in that modal holding the reason.
pub const REASON_INPUT_ID: &str = "reason";

/// A ticket button, as encoded in its `custom_id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TicketButton {
    /// `ticket:open` on the panel.
    Open,
    /// `ticket:claim:<id>` on the welcome message.
    Claim(TicketId),
    /// `ticket:close:<id>` on the welcome message: asks for confirmation.
    Close(TicketId),
    /// `ticket:close-confirm:<id>` on the confirmation.
    CloseConfirm(TicketId),
}

/// A `custom_id` that is not one of ours.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CustomIdError {
    #[error("unknown component id {0:?}")]
    Unknown(String),
    #[error("{0:?} is not a ticket id")]
    BadTicketId(String),
}

impl TicketButton {
    pub fn custom_id(self) -> String {
        match self {
            Self::Open => "ticket:open".to_owned(),
            Self::Claim(id) => format!("ticket:claim:{id}"),
            Self::Close(id) => format!("ticket:close:{id}"),
            Self::CloseConfirm(id) => format!("ticket:close-confirm:{id}"),
        }
    }

    pub fn parse(custom_id: &str) -> Result<Self, CustomIdError> {
        let unknown = || CustomIdError::Unknown(custom_id.to_owned());
        let rest = custom_id.strip_prefix("ticket:").ok_or_else(unknown)?;
        if rest == "open" {
            return Ok(Self::Open);
        }
        let (verb, id) = rest.split_once(':').ok_or_else(unknown)?;
        let button: fn(TicketId) -> Self = match verb {
            "claim" => Self::Claim,
            "close" => Self::Close,
            "close-confirm" => Self::CloseConfirm,
            _ => return Err(unknown()),
        };
        Ok(button(id.parse()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENER: u64 = 10;
    const STAFF: u64 = 20;
    const OTHER_STAFF: u64 = 21;
    const STRANGER: u64 = 30;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_secs(1_795_000_000 + secs).expect("valid time")
    }

    fn user(id: u64) -> Id<UserMarker> {
        Id::new(id)
    }

    fn open() -> Ticket {
        Ticket::new(TicketId(7), user(OPENER), at(0))
    }

    fn claimed_by(staff: u64) -> Ticket {
        Ticket {
            state: TicketState::Claimed {
                by: user(staff),
                at: at(60),
            },
            first_response_at: Some(at(60)),
            ..open()
        }
    }

    fn closed() -> Ticket {
        Ticket {
            state: TicketState::Closed {
                by: user(OPENER),
                at: at(90),
            },
            ..open()
        }
    }

    fn claim(staff: u64, is_staff: bool) -> TicketAction {
        TicketAction::Claim {
            staff: user(staff),
            at: at(120),
            is_staff,
        }
    }

    fn close(by: u64, is_staff: bool, is_opener: bool) -> TicketAction {
        TicketAction::Close {
            by: user(by),
            at: at(300),
            is_staff,
            is_opener,
        }
    }

    #[test]
    fn transition_table() {
        let claimed_now = |by| TicketState::Claimed {
            by: user(by),
            at: at(120),
        };
        let closed_now = |by| TicketState::Closed {
            by: user(by),
            at: at(300),
        };
        type Case = (
            &'static str,
            Ticket,
            TicketAction,
            Result<(TicketState, TicketEffect, Option<Timestamp>), TicketError>,
        );
        let cases: Vec<Case> = vec![
            (
                "staff claims an open ticket: first response",
                open(),
                claim(STAFF, true),
                Ok((
                    claimed_now(STAFF),
                    TicketEffect::Claimed {
                        first_response: true,
                    },
                    Some(at(120)),
                )),
            ),
            (
                "a member who is not staff cannot claim",
                open(),
                claim(STRANGER, false),
                Err(TicketError::NotStaff),
            ),
            (
                "the opener cannot claim their own ticket",
                open(),
                claim(OPENER, false),
                Err(TicketError::NotStaff),
            ),
            (
                "another staff member is told who has it",
                claimed_by(STAFF),
                claim(OTHER_STAFF, true),
                Err(TicketError::ClaimedByOther { by: user(STAFF) }),
            ),
            (
                "claiming twice",
                claimed_by(STAFF),
                claim(STAFF, true),
                Err(TicketError::AlreadyYours),
            ),
            (
                "claiming a closed ticket",
                closed(),
                claim(STAFF, true),
                Err(TicketError::AlreadyClosed {
                    by: user(OPENER),
                    at: at(90),
                }),
            ),
            (
                "an earlier first response is kept",
                Ticket {
                    first_response_at: Some(at(30)),
                    ..open()
                },
                claim(STAFF, true),
                Ok((
                    claimed_now(STAFF),
                    TicketEffect::Claimed {
                        first_response: false,
                    },
                    Some(at(30)),
                )),
            ),
            (
                "opener closes an open ticket",
                open(),
                close(OPENER, false, true),
                Ok((closed_now(OPENER), TicketEffect::Closed, None)),
            ),
            (
                // `!close` passes is_opener = false: it is for staff only.
                "the opener without the flag (a `!close`) is refused",
                open(),
                close(OPENER, false, false),
                Err(TicketError::NotAllowedToClose),
            ),
            (
                "staff closes a claimed ticket",
                claimed_by(STAFF),
                close(OTHER_STAFF, true, false),
                Ok((closed_now(OTHER_STAFF), TicketEffect::Closed, Some(at(60)))),
            ),
            (
                "a stranger cannot close",
                claimed_by(STAFF),
                close(STRANGER, false, false),
                Err(TicketError::NotAllowedToClose),
            ),
            (
                "closing a closed ticket",
                closed(),
                close(STAFF, true, false),
                Err(TicketError::AlreadyClosed {
                    by: user(OPENER),
                    at: at(90),
                }),
            ),
        ];
        for (name, ticket, action, expected) in cases {
            let got = transition(&ticket, action).map(|transition| {
                assert_eq!(transition.ticket.id, ticket.id, "{name}");
                assert_eq!(transition.ticket.opener, ticket.opener, "{name}");
                (
                    transition.ticket.state,
                    transition.effect,
                    transition.ticket.first_response_at,
                )
            });
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn refusals_read_well() {
        assert_eq!(
            TicketError::ClaimedByOther { by: user(STAFF) }.to_string(),
            "this ticket is already claimed by <@20>"
        );
    }

    #[test]
    fn first_response_secs_counts_from_opening() {
        let claimed = transition(&open(), claim(STAFF, true)).expect("claims");
        assert_eq!(claimed.ticket.first_response_secs(), Some(120));
        assert_eq!(open().first_response_secs(), None);
    }

    #[test]
    fn channel_name_table() {
        let cases = [
            ("Alice", 7, "ticket-alice-0007"),
            ("Bob the Builder", 12345, "ticket-bob-the-builder-12345"),
            ("  __X__Æ A-12!! ", 1, "ticket-x-a-12-0001"),
            ("ÉLODIE", 2, "ticket-lodie-0002"),
            ("🙂🙂", 3, "ticket-member-0003"),
            ("", 4, "ticket-member-0004"),
            ("---", 5, "ticket-member-0005"),
            (
                "a very long display name that goes on and on forever",
                6,
                "ticket-a-very-long-display-name-that-go-0006",
            ),
        ];
        for (member, id, expected) in cases {
            assert_eq!(channel_name(member, TicketId(id)), expected, "{member:?}");
        }
    }

    #[test]
    fn channel_names_are_always_valid() {
        let inputs = [
            "x".repeat(500),
            "Ω".repeat(200),
            "- - - a".to_owned(),
            "9".repeat(50),
        ];
        for input in inputs {
            for id in [1, u64::MAX] {
                let name = channel_name(&input, TicketId(id));
                assert!(name.len() <= CHANNEL_NAME_MAX, "{name}");
                assert!(
                    name.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                    "{name}"
                );
                assert!(!name.contains("--"), "{name}");
                assert!(!name.ends_with('-'), "{name}");
            }
        }
    }

    #[test]
    fn custom_id_round_trips() {
        for button in [
            TicketButton::Open,
            TicketButton::Claim(TicketId(42)),
            TicketButton::Close(TicketId(42)),
            TicketButton::CloseConfirm(TicketId(u64::MAX)),
        ] {
            let id = button.custom_id();
            assert!(id.len() <= 100, "{id}");
            assert_eq!(TicketButton::parse(&id), Ok(button), "{id}");
        }
    }

    #[test]
    fn custom_id_parse_table() {
        let cases: [(&str, Result<TicketButton, &str>); 16] = [
            ("ticket:open", Ok(TicketButton::Open)),
            ("ticket:claim:42", Ok(TicketButton::Claim(TicketId(42)))),
            ("ticket:close:42", Ok(TicketButton::Close(TicketId(42)))),
            (
                "ticket:close-confirm:42",
                Ok(TicketButton::CloseConfirm(TicketId(42))),
            ),
            ("ticket:open:1", Err("unknown")),
            ("ticket:reopen:42", Err("unknown")),
            ("ticket:claim", Err("unknown")),
            ("ticket", Err("unknown")),
            ("other:claim:42", Err("unknown")),
            ("", Err("unknown")),
            ("ticket:claim:", Err("bad id")),
            ("ticket:claim:0", Err("bad id")),
            ("ticket:claim:042", Err("bad id")),
            ("ticket:claim:+42", Err("bad id")),
            ("ticket:claim:42:43", Err("bad id")),
            ("ticket:claim:99999999999999999999", Err("bad id")),
        ];
        for (custom_id, expected) in cases {
            let got = TicketButton::parse(custom_id).map_err(|err| match err {
                CustomIdError::Unknown(_) => "unknown",
                CustomIdError::BadTicketId(_) => "bad id",
            });
            assert_eq!(got, expected, "{custom_id:?}");
        }
    }
}
