//! Reading a request body into twilight-model's [`Interaction`], in one pass.
//!
//! twilight's own `Deserialize` for [`Interaction`] is correct but slow where
//! every interaction pays for it, in the worker's CPU time:
//!
//! - it buffers `data` as a `serde_value::Value` (a tree of maps and owned
//!   strings) until it has seen `type`, then deserializes that tree again;
//! - a field it does not know (Discord keeps adding them; today's payloads
//!   carry `entitlement_sku_ids`) makes `next_key` fail, and the error it
//!   builds and then drops formats the whole list of known fields.
//!
//! [`from_slice`] builds the same [`Interaction`] (the tests hold it equal to
//! twilight's on every fixture) with the same required fields and the same
//! duplicate-field errors, but keeps `data` as a slice of the body until the
//! type is known, then reads it once into its twilight type, and skips
//! unknown fields without an error. Every type in and out is twilight's.
//! A PING (Discord's check of the endpoint) is told from its `type` first,
//! and nothing else of it is read.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use twilight_model::application::interaction::{
    Interaction, InteractionContextType, InteractionData, InteractionPartialGuild, InteractionType,
};
use twilight_model::application::monetization::Entitlement;
use twilight_model::channel::{Channel, Message};
use twilight_model::guild::{PartialMember, Permissions};
use twilight_model::id::marker::{
    ApplicationMarker, ChannelMarker, GuildMarker, InteractionMarker, UserMarker,
};
use twilight_model::id::{AnonymizableId, Id};
use twilight_model::oauth::ApplicationIntegrationMap;
use twilight_model::user::User;

use crate::routing::Incoming;

/// Reads a request body: [`Incoming::Ping`] for a PING, else the whole
/// [`Interaction`], equal to what twilight's `Deserialize` builds.
///
/// A PING is told by its `type` alone, in a pass that builds nothing: it is
/// answered whatever else it carries, and its other fields (a `user`, among
/// them) are never read into the model.
pub fn from_slice(body: &[u8]) -> serde_json::Result<Incoming> {
    let peek: KindOnly = serde_json::from_slice(body)?;
    if peek.kind == InteractionType::Ping as u8 {
        return Ok(Incoming::Ping);
    }
    serde_json::from_slice::<Parsed>(body)
        .map(|Parsed(interaction)| Incoming::Interaction(Box::new(interaction)))
}

#[derive(Deserialize)]
struct KindOnly {
    #[serde(rename = "type")]
    kind: u8,
}

struct Parsed(Interaction);

impl<'de> Deserialize<'de> for Parsed {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(InteractionVisitor).map(Parsed)
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum Field {
    AppPermissions,
    ApplicationId,
    AttachmentSizeLimit,
    AuthorizingIntegrationOwners,
    Channel,
    ChannelId,
    Context,
    Data,
    Entitlements,
    Guild,
    GuildId,
    GuildLocale,
    Id,
    Locale,
    Member,
    Message,
    Token,
    Type,
    User,
    /// `version`, and every field twilight does not model.
    #[serde(other)]
    Other,
}

struct InteractionVisitor;

/// What a field's `null` means, as twilight reads each field.
#[derive(Clone, Copy)]
enum Null {
    /// Not a value of the field's type: an error (the required fields).
    Refused,
    /// The field is absent.
    Absent,
}

/// Reads one field's value into its slot, refusing a second occurrence as
/// twilight does.
fn once<'de, T, A>(
    slot: &mut Option<T>,
    name: &'static str,
    null: Null,
    map: &mut A,
) -> Result<(), A::Error>
where
    T: Deserialize<'de>,
    A: MapAccess<'de>,
{
    if slot.is_some() {
        return Err(de::Error::duplicate_field(name));
    }
    *slot = match null {
        Null::Refused => Some(map.next_value()?),
        Null::Absent => map.next_value()?,
    };
    Ok(())
}

fn read_data<'a, T, E>(raw: Option<&'a RawValue>) -> Result<T, E>
where
    T: Deserialize<'a>,
    E: de::Error,
{
    let raw = raw.ok_or_else(|| E::missing_field("data"))?;
    serde_json::from_str(raw.get()).map_err(E::custom)
}

impl<'de> Visitor<'de> for InteractionVisitor {
    type Value = Interaction;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Discord interaction")
    }

    #[allow(deprecated)] // `channel_id`: still sent, still modelled
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Interaction, A::Error> {
        let mut app_permissions: Option<Permissions> = None;
        let mut application_id: Option<Id<ApplicationMarker>> = None;
        let mut attachment_size_limit: Option<u64> = None;
        let mut authorizing_integration_owners: Option<
            ApplicationIntegrationMap<AnonymizableId<GuildMarker>, Id<UserMarker>>,
        > = None;
        let mut channel: Option<Channel> = None;
        let mut channel_id: Option<Id<ChannelMarker>> = None;
        let mut context: Option<InteractionContextType> = None;
        let mut data: Option<&'de RawValue> = None;
        let mut entitlements: Option<Vec<Entitlement>> = None;
        let mut guild: Option<InteractionPartialGuild> = None;
        let mut guild_id: Option<Id<GuildMarker>> = None;
        let mut guild_locale: Option<String> = None;
        let mut id: Option<Id<InteractionMarker>> = None;
        let mut kind: Option<InteractionType> = None;
        let mut locale: Option<String> = None;
        let mut member: Option<PartialMember> = None;
        let mut message: Option<Message> = None;
        let mut token: Option<String> = None;
        let mut user: Option<User> = None;

        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::AppPermissions => {
                    once(
                        &mut app_permissions,
                        "app_permissions",
                        Null::Absent,
                        &mut map,
                    )?;
                }
                Field::ApplicationId => once(
                    &mut application_id,
                    "application_id",
                    Null::Refused,
                    &mut map,
                )?,
                Field::AttachmentSizeLimit => {
                    once(
                        &mut attachment_size_limit,
                        "attachment_size_limit",
                        Null::Absent,
                        &mut map,
                    )?;
                }
                Field::AuthorizingIntegrationOwners => once(
                    &mut authorizing_integration_owners,
                    "authorizing_integration_owners",
                    Null::Absent,
                    &mut map,
                )?,
                Field::Channel => once(&mut channel, "channel", Null::Absent, &mut map)?,
                Field::ChannelId => once(&mut channel_id, "channel_id", Null::Absent, &mut map)?,
                Field::Context => once(&mut context, "context", Null::Absent, &mut map)?,
                Field::Data => {
                    if data.is_some() {
                        return Err(de::Error::duplicate_field("data"));
                    }
                    // `null` stays a raw `null`, refused below as twilight
                    // refuses it for a type that needs data.
                    data = Some(map.next_value()?);
                }
                Field::Entitlements => {
                    once(&mut entitlements, "entitlements", Null::Absent, &mut map)?
                }
                Field::Guild => once(&mut guild, "guild", Null::Absent, &mut map)?,
                Field::GuildId => once(&mut guild_id, "guild_id", Null::Absent, &mut map)?,
                Field::GuildLocale => {
                    once(&mut guild_locale, "guild_locale", Null::Absent, &mut map)?
                }
                Field::Id => once(&mut id, "id", Null::Refused, &mut map)?,
                Field::Locale => once(&mut locale, "locale", Null::Absent, &mut map)?,
                Field::Member => once(&mut member, "member", Null::Absent, &mut map)?,
                Field::Message => once(&mut message, "message", Null::Absent, &mut map)?,
                Field::Token => once(&mut token, "token", Null::Refused, &mut map)?,
                // twilight names it by its Rust field in this error.
                Field::Type => once(&mut kind, "kind", Null::Refused, &mut map)?,
                Field::User => once(&mut user, "user", Null::Absent, &mut map)?,
                Field::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }

        let kind = kind.ok_or_else(|| de::Error::missing_field("kind"))?;
        let application_id =
            application_id.ok_or_else(|| de::Error::missing_field("application_id"))?;
        let attachment_size_limit = attachment_size_limit
            .ok_or_else(|| de::Error::missing_field("attachment_size_limit"))?;
        let authorizing_integration_owners = authorizing_integration_owners
            .ok_or_else(|| de::Error::missing_field("authorizing_integration_owners"))?;
        let id = id.ok_or_else(|| de::Error::missing_field("id"))?;
        let token = token.ok_or_else(|| de::Error::missing_field("token"))?;

        let data = match kind {
            InteractionType::Ping => None,
            InteractionType::ApplicationCommand
            | InteractionType::ApplicationCommandAutocomplete => {
                Some(InteractionData::ApplicationCommand(read_data(data)?))
            }
            InteractionType::MessageComponent => {
                Some(InteractionData::MessageComponent(read_data(data)?))
            }
            InteractionType::ModalSubmit => Some(InteractionData::ModalSubmit(read_data(data)?)),
            // A type newer than this twilight: routed as unknown, data unread.
            _ => None,
        };

        Ok(Interaction {
            app_permissions,
            application_id,
            attachment_size_limit,
            authorizing_integration_owners,
            channel,
            channel_id,
            context,
            data,
            entitlements: entitlements.unwrap_or_default(),
            guild,
            guild_id,
            guild_locale,
            id,
            kind,
            locale,
            member,
            message,
            token,
            user,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: [&str; 7] = [
        include_str!("../tests/fixtures/button_claim.json"),
        include_str!("../tests/fixtures/message_context_audit.json"),
        include_str!("../tests/fixtures/modal_open_ticket.json"),
        include_str!("../tests/fixtures/ping.json"),
        include_str!("../tests/fixtures/slash_audit.json"),
        include_str!("../tests/fixtures/slash_ticket_panel.json"),
        include_str!("../tests/fixtures/slash_settings.json"),
    ];

    fn twilights(body: &str) -> serde_json::Result<Interaction> {
        serde_json::from_str(body)
    }

    #[test]
    fn builds_what_twilight_builds_for_every_fixture() {
        for fixture in FIXTURES {
            let theirs = twilights(fixture).expect("twilight reads the fixture");
            match from_slice(fixture.as_bytes()).expect("we read the fixture") {
                Incoming::Ping => assert_eq!(theirs.kind, InteractionType::Ping),
                Incoming::Interaction(ours) => assert_eq!(*ours, theirs, "{fixture}"),
            }
        }
    }

    fn edited(
        fixture: &str,
        edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
    ) -> String {
        let mut value: serde_json::Value = serde_json::from_str(fixture).expect("fixture is JSON");
        edit(value.as_object_mut().expect("fixture is an object"));
        value.to_string()
    }

    fn slash() -> &'static str {
        FIXTURES[4]
    }

    #[test]
    fn fields_in_any_order_read_the_same() {
        // `data` before `type`: what twilight buffers, and we keep as a slice.
        let value: serde_json::Value = serde_json::from_str(slash()).expect("fixture is JSON");
        let object = value.as_object().expect("fixture is an object");
        let mut reordered = String::from("{");
        let mut keys: Vec<&String> = object.keys().collect();
        keys.sort_by_key(|key| std::cmp::Reverse(key.as_str() == "data"));
        for (i, key) in keys.iter().enumerate() {
            if i > 0 {
                reordered.push(',');
            }
            reordered.push_str(&format!("{}:{}", serde_json::json!(key), object[*key]));
        }
        reordered.push('}');
        assert!(reordered.starts_with("{\"data\""));
        let Incoming::Interaction(ours) =
            from_slice(reordered.as_bytes()).expect("reordered reads")
        else {
            panic!("not an interaction");
        };
        assert_eq!(*ours, twilights(slash()).expect("twilight reads it"));
    }

    #[test]
    fn unknown_fields_and_nulls_read_as_twilight_reads_them() {
        let body = edited(slash(), |object| {
            object.insert(
                "some_future_field".into(),
                serde_json::json!({"deep": [1, 2]}),
            );
            object.insert("guild_locale".into(), serde_json::Value::Null);
            object.insert("entitlements".into(), serde_json::Value::Null);
        });
        let Incoming::Interaction(ours) = from_slice(body.as_bytes()).expect("we read it") else {
            panic!("not an interaction");
        };
        assert_eq!(*ours, twilights(&body).expect("twilight reads it"));
        assert_eq!(ours.guild_locale, None);
    }

    #[test]
    fn refuses_what_twilight_refuses() {
        let cases = [
            edited(slash(), |object| {
                object.remove("data");
            }),
            edited(slash(), |object| {
                object.insert("data".into(), serde_json::Value::Null);
            }),
            edited(slash(), |object| {
                object.remove("token");
            }),
            edited(slash(), |object| {
                object.remove("type");
            }),
            edited(slash(), |object| {
                object.insert("type".into(), serde_json::json!(99));
            }),
            edited(slash(), |object| {
                object.insert("id".into(), serde_json::json!("not a snowflake"));
            }),
            edited(slash(), |object| {
                object.insert("data".into(), serde_json::json!({"name": "audit"}));
            }),
            // A duplicate key (serde_json's Value keeps one, so by hand).
            slash().replacen("\"token\":", "\"token\": \"x\", \"token\":", 1),
            "[]".to_owned(),
            "{".to_owned(),
        ];
        for body in cases {
            assert!(twilights(&body).is_err(), "twilight accepts {body}");
            assert!(from_slice(body.as_bytes()).is_err(), "we accept {body}");
        }
    }

    #[test]
    fn a_ping_needs_only_its_type() {
        assert_eq!(
            from_slice(br#"{"type":1}"#).expect("a PING"),
            Incoming::Ping
        );
        assert_eq!(
            from_slice(br#"{"type":1,"user":{"id":"not a snowflake"},"id":7}"#).expect("a PING"),
            Incoming::Ping
        );
        assert_eq!(
            from_slice(br#"{"type":1,"id":"1","application_id":"2","token":"t","version":1}"#)
                .expect("a PING"),
            Incoming::Ping
        );
    }
}
