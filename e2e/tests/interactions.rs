//! The interactions worker end to end: built to wasm, served by real workerd
//! under `wrangler dev`, with the local database stack and the Discord and
//! Gemini stand-ins. Requests are signed as Discord signs them; assertions
//! are on the HTTP answers, the database rows and what the stand-ins received.

use std::time::{Duration, Instant};

use e2e::Worker;
use e2e::discord::{self as payload, GENERAL, GUILD, Member, STAFF_ROLE, Signer};
use local_stack::testing::TestDatabase;
use local_stack::{WranglerDev, http};
use serde_json::{Value, json};
use stand_ins::StandIns;

const RELAY_SECRET: &str = "relay-secret-relay-secret-relay-secret!";
const ALICE: u64 = 1_000_000_000_000_000_002;
const STAFF: u64 = 1_000_000_000_000_000_009;

struct System {
    db: TestDatabase,
    stand_ins: StandIns,
    worker: WranglerDev,
    signer: Signer,
    /// The tickets category (made at the stand-in, named in the settings).
    category: String,
}

impl System {
    fn start() -> Self {
        let db = TestDatabase::create().expect("test database");
        let stand_ins = StandIns::start().expect("stand-ins");
        // The category ticket channels go in, as an admin made it in Discord.
        let category = stand_ins
            .seed_channel(&GUILD.to_string(), "Tickets", 4)
            .expect("tickets category")
            .id;
        db.sql(&format!(
            "insert into guild_settings (guild_id, staff_role_id, ticket_category_id) \
             values ({GUILD}, {STAFF_ROLE}, {category})"
        ));
        let signer = Signer::default();
        let (key, app, discord, gemini) = (
            signer.public_key_hex(),
            payload::APPLICATION.to_string(),
            stand_ins.discord_api_base(),
            stand_ins.gemini_api_base(),
        );
        let worker = Worker::Interactions
            .start_with_database(
                &db,
                &[
                    ("DISCORD_PUBLIC_KEY", &key),
                    ("DISCORD_APPLICATION_ID", &app),
                    ("DISCORD_BOT_TOKEN", "bot-token"),
                    ("DISCORD_API_BASE", &discord),
                    ("GEMINI_API_BASE", &gemini),
                    ("GEMINI_API_KEY", "gemini-key"),
                    // Short, so a Gemini that never answers is quick to test.
                    ("GEMINI_TIMEOUT_MS", "2000"),
                    ("RELAY_SHARED_SECRET", RELAY_SECRET),
                ],
            )
            .expect("interactions worker");
        Self {
            db,
            stand_ins,
            worker,
            signer,
            category,
        }
    }

    fn post(&self, body: &[u8], signature: Option<&str>, timestamp: Option<&str>) -> (u16, Value) {
        let mut headers = vec![];
        if let Some(s) = signature {
            headers.push(("X-Signature-Ed25519", s));
        }
        if let Some(t) = timestamp {
            headers.push(("X-Signature-Timestamp", t));
        }
        let url = format!("{}/interactions", self.worker.url());
        let response = http::post_json(&url, &headers, std::str::from_utf8(body).expect("utf-8"))
            .expect("worker answers");
        let json = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        (response.status, json)
    }

    fn send(&self, payload: &Value) -> (u16, Value) {
        let body = serde_json::to_vec(payload).expect("json");
        let timestamp = "1764100000";
        let signature = self.signer.sign(timestamp, &body);
        self.post(&body, Some(&signature), Some(timestamp))
    }

    /// Alice asks for `/audit` of `text`; the answer (a deferral).
    fn audit(&self, text: &str, token: &str) -> Value {
        let alice = Member::ordinary(ALICE, "alice");
        let (_, answer) = self.send(&payload::slash(
            "audit",
            &[("text", text)],
            &alice,
            GENERAL,
            token,
        ));
        answer
    }

    /// Wait for the deferred work (`wait_until`) to show in the database.
    fn eventually(&self, query: &str, expected: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let got = self.db.sql(query);
            if got == expected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{query}: got {got:?}, expected {expected:?}\n{}",
                self.worker.log_tail(30)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait until the deferral of interaction `token` has had `tries`
    /// edits sent (a refused one counts), and the last one's content
    /// contains `text` (anything when empty).
    fn eventually_edit(&self, token: &str, tries: usize, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let edits: Vec<Value> = self
                .stand_ins
                .discord_requests()
                .into_iter()
                .filter(|r| {
                    r.method == "PATCH" && r.path.ends_with(&format!("/{token}/messages/@original"))
                })
                .map(|r| r.body)
                .collect();
            if edits.len() >= tries {
                assert_eq!(edits.len(), tries, "{token}: {edits:?}");
                let content = edits[tries - 1]["content"].as_str().unwrap_or_default();
                assert!(content.contains(text), "{token}: {}", edits[tries - 1]);
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{token}: {} edits\n{}",
                edits.len(),
                self.worker.log_tail(30)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn last_edit(&self) -> Value {
        self.stand_ins
            .discord_requests()
            .into_iter()
            .rev()
            .find(|r| r.method == "PATCH" && r.path.ends_with("/messages/@original"))
            .map(|r| r.body)
            .unwrap_or(Value::Null)
    }

    /// The last edit of interaction `token`'s original message (wait for
    /// it with [`Self::eventually_edit`] first).
    fn edit_of(&self, token: &str) -> Value {
        self.stand_ins
            .discord_requests()
            .into_iter()
            .rev()
            .find(|r| {
                r.method == "PATCH" && r.path.ends_with(&format!("/{token}/messages/@original"))
            })
            .map(|r| r.body)
            .unwrap_or(Value::Null)
    }

    /// Poll `check` until it gives something, for up to 15 s.
    fn wait_for<T>(&self, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(found) = check() {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "waiting for {what}\n{}",
                self.worker.log_tail(30)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The one follow-up message interaction `token` was finished with.
    fn eventually_followup(&self, token: &str) -> Value {
        let suffix = format!("/{token}");
        let followups = self.wait_for(&format!("a follow-up to {token}"), || {
            let sent: Vec<Value> = self
                .stand_ins
                .discord_requests()
                .into_iter()
                .filter(|r| {
                    r.method == "POST" && r.path.contains("/webhooks/") && r.path.ends_with(&suffix)
                })
                .map(|r| r.body)
                .collect();
            (!sent.is_empty()).then_some(sent)
        });
        assert_eq!(followups.len(), 1, "{token}: {followups:?}");
        followups[0].clone()
    }

    /// The guild's ticket channels at the stand-in (its text channels: the
    /// tickets category is not one).
    fn ticket_channels(&self) -> Vec<stand_ins::Channel> {
        self.stand_ins
            .channels(&GUILD.to_string())
            .into_iter()
            .filter(|c| c.kind == 0)
            .collect()
    }

    /// Open a ticket for `member` through the reason modal and wait until
    /// it is open; its id and channel.
    fn open_ticket(&self, member: &Member, reason: &str, token: &str) -> (String, String) {
        let (status, deferred) =
            self.send(&payload::open_ticket_modal(reason, member, GENERAL, token));
        assert_eq!((status, deferred["type"].as_u64()), (200, Some(5)));
        self.eventually_edit(token, 1, "Your ticket is open");
        let id = self.db.sql(&format!(
            "select max(id) from tickets where opener_id = {} and status = 'open'",
            member.id
        ));
        let channel = self
            .db
            .sql(&format!("select channel_id from tickets where id = {id}"));
        (id, channel)
    }

    /// POST a batch of relay events to `/events`, signed as the relay
    /// signs them.
    fn send_events(&self, events: &[Value]) -> (u16, Value) {
        let body = json!({ "events": events }).to_string();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs() as i64;
        let mac = community_core::relay::sign(RELAY_SECRET.as_bytes(), now, body.as_bytes());
        let timestamp = now.to_string();
        let response = http::post_json(
            &format!("{}/events", self.worker.url()),
            &[
                ("X-Relay-Timestamp", timestamp.as_str()),
                ("X-Relay-Signature", mac.as_str()),
            ],
            &body,
        )
        .expect("worker answers");
        let json = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        (response.status, json)
    }
}

/// A message the relay saw (`is_close_command`: it was `!close`).
fn message_event(message_id: &str, author: u64, is_close_command: bool, channel: &str) -> Value {
    json!({
        "kind": "message_create",
        "guild_id": GUILD.to_string(),
        "channel_id": channel,
        "message_id": message_id,
        "user_id": author.to_string(),
        "occurred_at": "2026-11-20T10:00:00.000000+00:00",
        "is_bot": false,
        "is_close_command": is_close_command,
        "dedupe": message_id,
    })
}

/// Whether a permission overwrite's `allow` (a decimal string) has `bit`.
fn allows(overwrite: &Value, bit: u64) -> bool {
    overwrite["allow"]
        .as_str()
        .and_then(|a| a.parse::<u64>().ok())
        .is_some_and(|a| a & bit == bit)
}

const VIEW_CHANNEL: u64 = 1 << 10;

#[test]
fn ping_and_signatures_under_workerd() {
    let system = System::start();
    let (status, body) = system.send(&payload::ping());
    assert_eq!((status, body["type"].as_u64()), (200, Some(1)));

    let body = serde_json::to_vec(&payload::ping()).expect("json");
    let good = system.signer.sign("1764100000", &body);
    let other = Signer::from_seed([9; 32]).sign("1764100000", &body);
    // The worker checks with WebCrypto (not the native dalek path the app
    // tests use): every refusal must hold there too.
    let other_body = system.signer.sign("1764100000", b"{\"type\":1}");
    let zeros = "0".repeat(128);
    let malleated = with_s_plus_l(&good);
    let mut not_hex = good.clone();
    not_hex.replace_range(0..2, "zz");
    for (signature, timestamp) in [
        (None, Some("1764100000")),
        (Some(good.as_str()), None),
        (None, None),
        (Some("nothex"), Some("1764100000")),
        (Some(not_hex.as_str()), Some("1764100000")),
        (Some(""), Some("1764100000")),
        (Some(&good[..10]), Some("1764100000")),
        (Some(&good[..126]), Some("1764100000")),
        (Some(good.as_str()), Some("1764100001")),
        (Some(other.as_str()), Some("1764100000")),
        (Some(other_body.as_str()), Some("1764100000")),
        (Some(zeros.as_str()), Some("1764100000")),
        (Some(malleated.as_str()), Some("1764100000")),
    ] {
        assert_eq!(
            system.post(&body, signature, timestamp).0,
            401,
            "{signature:?} {timestamp:?}"
        );
    }
    let upper = good.to_uppercase();
    assert_eq!(
        system.post(&body, Some(&upper), Some("1764100000")).0,
        200,
        "uppercase hex is hex"
    );
    let garbage = b"{not json";
    let signature = system.signer.sign("1764100000", garbage);
    assert_eq!(
        system.post(garbage, Some(&signature), Some("1764100000")).0,
        400
    );
}

/// Badly signed requests that would do something if they were believed
/// (an `/audit`, an "Open ticket" submit): 401, and nothing reaches Discord,
/// Gemini or the database. The same payloads signed properly do.
#[test]
fn bad_signatures_under_workerd_change_nothing() {
    let system = System::start();
    let alice = Member::ordinary(ALICE, "alice");
    let audit = payload::slash(
        "audit",
        &[("text", "Guaranteed returns, risk-free!")],
        &alice,
        GENERAL,
        "tok-audit",
    );
    let open = payload::open_ticket_modal("help", &alice, GENERAL, "tok-open");
    let timestamp = "1764100000";
    let other_key = Signer::from_seed([9; 32]);
    for payload in [&audit, &open] {
        let body = serde_json::to_vec(payload).expect("json");
        let good = system.signer.sign(timestamp, &body);
        // The same interaction with another text or reason: what an
        // attacker holding one signed request would send.
        let mut tampered = payload.clone();
        if payload == &audit {
            tampered["data"]["options"][0]["value"] = json!("Movie night on Friday!");
        } else {
            tampered["data"]["components"][0]["component"]["value"] = json!("something else");
        }
        let tampered = serde_json::to_vec(&tampered).expect("json");
        assert_ne!(tampered, body);
        let cases: [(&[u8], Option<String>, Option<&str>); 6] = [
            (
                &body,
                Some(other_key.sign(timestamp, &body)),
                Some(timestamp),
            ),
            (&tampered, Some(good.clone()), Some(timestamp)),
            (&body, Some(good.clone()), Some("1764100001")),
            (&body, None, Some(timestamp)),
            (&body, Some(good.clone()), None),
            (&body, Some("0".repeat(128)), Some(timestamp)),
        ];
        for (i, (body, signature, timestamp)) in cases.into_iter().enumerate() {
            let (status, _) = system.post(body, signature.as_deref(), timestamp);
            assert_eq!(status, 401, "{} case {i}", payload["type"]);
        }
    }
    // Deferred work, had any been started, would have shown by now.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(system.stand_ins.discord_requests().len(), 0);
    assert_eq!(system.stand_ins.gemini_requests().len(), 0);
    assert_eq!(
        system.db.sql(
            "select (select count(*) from audits), (select count(*) from tickets), \
             (select count(*) from ai_usage_ledger)"
        ),
        "0|0|0"
    );
    assert!(system.ticket_channels().is_empty());

    // Signed properly, the same two do their work.
    assert_eq!(system.send(&audit).1["type"], 5);
    assert_eq!(system.send(&open).1["type"], 5);
    system.eventually_edit("tok-audit", 1, "");
    system.eventually_edit("tok-open", 1, "Your ticket is open");
    assert_eq!(
        system.db.sql(
            "select (select string_agg(verdict, ',') from audits), \
             (select string_agg(status || ':' || reason, ',') from tickets), \
             (select count(*) from ai_usage_ledger)"
        ),
        "red|open:help|1"
    );
    assert_eq!(system.stand_ins.gemini_requests().len(), 1);
    assert_eq!(system.ticket_channels().len(), 1);
}

#[test]
fn tickets_under_workerd() {
    let system = System::start();
    let alice = Member::ordinary(ALICE, "alice");
    let staff = Member::staff(STAFF, "sam");
    let (status, panel) = system.send(&payload::slash("ticket-panel", &[], &staff, GENERAL, "t"));
    assert_eq!((status, panel["type"].as_u64()), (200, Some(4)), "{panel}");
    assert_eq!(
        panel["data"]["components"][0]["components"][0]["custom_id"],
        "ticket:open"
    );
    let (_, modal) = system.send(&payload::button("ticket:open", &alice, GENERAL, "t"));
    assert_eq!(
        modal["type"], 9,
        "the button opens the reason modal: {modal}"
    );

    // Two submits at once: one channel, one row; the other click is told
    // the member already has a ticket.
    let (first, second) = (
        payload::open_ticket_modal("my order", &alice, GENERAL, "tok-a"),
        payload::open_ticket_modal("my order", &alice, GENERAL, "tok-b"),
    );
    std::thread::scope(|s| {
        let a = s.spawn(|| system.send(&first));
        let b = s.spawn(|| system.send(&second));
        assert_eq!(a.join().expect("a").1["type"], 5);
        assert_eq!(b.join().expect("b").1["type"], 5);
    });
    system.eventually_edit("tok-a", 1, "");
    system.eventually_edit("tok-b", 1, "");
    system.eventually(
        "select count(*) from app_logs where message = 'ticket opened'",
        "1",
    );
    assert_eq!(
        system
            .db
            .sql("select count(*), count(*) filter (where status = 'open') from tickets"),
        "1|1"
    );
    let channels = system.ticket_channels();
    assert_eq!(channels.len(), 1, "{channels:?}");
    let channel = channels[0].id.clone();
    let id = system.db.sql("select id from tickets");
    let mut answers: Vec<String> = ["tok-a", "tok-b"]
        .iter()
        .map(|token| {
            system.edit_of(token)["content"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    answers.sort_by_key(|a| a.contains("already have an open ticket"));
    assert_eq!(answers[0], format!("Your ticket is open: <#{channel}>"));
    assert!(
        answers[1].contains("already have an open ticket"),
        "{answers:?}"
    );

    // The channel: in the category, private to the member, staff and bot.
    assert_eq!(
        channels[0].parent_id.as_deref(),
        Some(system.category.as_str())
    );
    let creates: Vec<_> = system
        .stand_ins
        .discord_requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == format!("/api/v10/guilds/{GUILD}/channels"))
        .collect();
    assert_eq!(creates.len(), 1, "one create for two clicks");
    let created = &creates[0];
    assert_eq!(created.header("authorization"), Some("Bot bot-token"));
    assert_eq!(created.body["parent_id"], system.category.as_str());
    assert_eq!(
        created.body["topic"],
        format!("Ticket #{id} opened by <@{ALICE}>")
    );
    let overwrites = created.body["permission_overwrites"]
        .as_array()
        .expect("overwrites");
    let find = |id: String, kind: u64| {
        overwrites
            .iter()
            .find(|o| o["id"] == id.as_str() && o["type"] == kind)
            .unwrap_or_else(|| panic!("no overwrite for {id}: {overwrites:?}"))
    };
    let everyone = find(GUILD.to_string(), 0);
    assert_eq!(everyone["deny"], "1024", "@everyone denied View Channel");
    assert!(!allows(everyone, VIEW_CHANNEL), "{everyone}");
    assert!(allows(find(ALICE.to_string(), 1), VIEW_CHANNEL));
    assert!(allows(find(STAFF_ROLE.to_string(), 0), VIEW_CHANNEL));
    assert!(allows(
        find(stand_ins::discord::BOT_USER_ID.to_owned(), 1),
        VIEW_CHANNEL
    ));
    assert_eq!(
        system
            .db
            .sql("select status, channel_id, opener_id, reason from tickets"),
        format!("open|{channel}|{ALICE}|my order")
    );
    // The welcome, with its Claim and Close buttons.
    let welcome = system.stand_ins.messages(&channel);
    assert_eq!(welcome.len(), 1, "{welcome:?}");
    assert_eq!(welcome[0].author.id, stand_ins::discord::BOT_USER_ID);
    assert_eq!(welcome[0].content, format!("<@{ALICE}> <@&{STAFF_ROLE}>"));
    assert_eq!(welcome[0].embeds[0]["title"], format!("Ticket #{id}"));
    let buttons: Vec<(&str, &str)> = welcome[0].components[0]["components"]
        .as_array()
        .expect("buttons")
        .iter()
        .map(|b| {
            (
                b["label"].as_str().unwrap_or_default(),
                b["custom_id"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        buttons,
        [
            ("Claim", format!("ticket:claim:{id}").as_str()),
            ("Close", format!("ticket:close:{id}").as_str())
        ]
    );

    // A member cannot claim; staff can, which is the first response.
    let channel_id: u64 = channel.parse().expect("id");
    let (_, refused) = system.send(&payload::button(
        &format!("ticket:claim:{id}"),
        &alice,
        channel_id,
        "t",
    ));
    assert!(
        refused["data"]["content"]
            .as_str()
            .unwrap_or_default()
            .contains("Only staff"),
        "{refused}"
    );
    assert_eq!(
        system
            .db
            .sql("select status, claimed_by is null, first_response_at is null from tickets"),
        "open|t|t"
    );
    let (_, claimed) = system.send(&payload::button(
        &format!("ticket:claim:{id}"),
        &staff,
        channel_id,
        "t",
    ));
    assert_eq!(claimed["type"], 4, "{claimed}");
    assert_eq!(
        claimed["data"]["content"],
        format!("<@{STAFF}> has claimed this ticket and will help you.")
    );
    assert_eq!(
        system.db.sql(
            "select status, claimed_by, first_response_at is not null, \
             first_response_at >= opened_at from tickets"
        ),
        format!("claimed|{STAFF}|t|t")
    );

    system
        .stand_ins
        .seed_message(&channel, &ALICE.to_string(), "alice", "still waiting")
        .expect("seed");
    // Closed tickets are summed up in a log channel (kept out of the guild's
    // channel list this test counts).
    let log = system
        .stand_ins
        .seed_channel("1000000000000000999", "ticket-log", 0)
        .expect("log channel");
    system.db.sql(&format!(
        "update guild_settings set ticket_log_channel_id = {} where guild_id = {GUILD}",
        log.id
    ));
    let (_, deferred) = system.send(&payload::slash("close", &[], &alice, channel_id, "tok-c"));
    assert_eq!(deferred["type"], 5);
    system.eventually_edit("tok-c", 1, &format!("Ticket #{id} is closed"));
    assert_eq!(
        system
            .db
            .sql("select status, closed_by, closed_at is not null from tickets"),
        format!("closed|{ALICE}|t")
    );
    assert_eq!(
        system
            .db
            .sql("select content from ticket_messages order by sent_at, message_id"),
        format!("<@{ALICE}> <@&{STAFF_ROLE}>\nstill waiting")
    );
    assert!(system.ticket_channels().is_empty());
    let logged = system.stand_ins.messages(&log.id);
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert_eq!(logged[0].embeds[0]["title"], format!("Ticket #{id} closed"));

    // Another ticket, whose channel an admin deletes in Discord: the next
    // "Open ticket" click answers with the link at once, then finds the
    // channel gone, closes that ticket and says so.
    let (_, channel) = system.open_ticket(&alice, "again", "tok-d");
    assert_eq!(system.ticket_channels()[0].id, channel);
    system
        .stand_ins
        .delete_channel_by_hand(&channel)
        .expect("delete by hand");
    let (_, stale) = system.send(&payload::button("ticket:open", &alice, GENERAL, "tok-e"));
    assert!(
        stale["data"]["content"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!("<#{channel}>")),
        "{stale}"
    );
    system.eventually_edit("tok-e", 1, "its channel had been deleted");
    assert_eq!(
        system.db.sql(&format!(
            "select status, closed_by is null, close_note <> '' from tickets where channel_id = {channel}"
        )),
        "closed|t|t"
    );
}

/// The Close button asks first; confirming is acknowledged at once (type 6)
/// and the close is finished by a follow-up, with the transcript saved and
/// the channel deleted.
#[test]
fn close_by_button_under_workerd() {
    let system = System::start();
    let alice = Member::ordinary(ALICE, "alice");
    let (id, channel) = system.open_ticket(&alice, "help", "tok-open");
    for (author, name, text) in [
        (ALICE, "alice", "It never came"),
        (STAFF, "sam", "Refunded!"),
    ] {
        system
            .stand_ins
            .seed_message(&channel, &author.to_string(), name, text)
            .expect("seed");
    }
    let channel_id: u64 = channel.parse().expect("id");

    let (status, confirm) = system.send(&payload::button(
        &format!("ticket:close:{id}"),
        &alice,
        channel_id,
        "tok-ask",
    ));
    assert_eq!(
        (status, confirm["type"].as_u64()),
        (200, Some(4)),
        "{confirm}"
    );
    assert_eq!(confirm["data"]["flags"], 64, "{confirm}");
    assert_eq!(
        confirm["data"]["components"][0]["components"][0]["custom_id"],
        format!("ticket:close-confirm:{id}")
    );
    assert_eq!(
        system.db.sql("select status from tickets"),
        "open",
        "asking is not closing"
    );

    let (status, deferred) = system.send(&payload::button(
        &format!("ticket:close-confirm:{id}"),
        &alice,
        channel_id,
        "tok-close",
    ));
    assert_eq!(
        (status, deferred["type"].as_u64()),
        (200, Some(6)),
        "{deferred}"
    );
    let followup = system.eventually_followup("tok-close");
    assert_eq!(followup["flags"], 64, "{followup}");
    assert_eq!(
        followup["content"],
        format!(
            "Ticket #{id} is closed and its transcript (3 messages) is saved. Its channel is deleted."
        ),
    );
    assert_eq!(
        system.db.sql(
            "select status, closed_by, closed_at is not null, closed_at >= opened_at from tickets"
        ),
        format!("closed|{ALICE}|t|t")
    );
    // The transcript: the bot's welcome, then the conversation, oldest first.
    assert_eq!(
        system.db.sql(&format!(
            "select concat_ws(' ', author_id, content) from ticket_messages \
             where ticket_id = {id} order by sent_at, message_id"
        )),
        format!(
            "{} <@{ALICE}> <@&{STAFF_ROLE}>\n{ALICE} It never came\n{STAFF} Refunded!",
            stand_ins::discord::BOT_USER_ID
        )
    );
    assert!(system.ticket_channels().is_empty(), "channel deleted");
    // Read, then deleted; the confirmation is not edited, only followed up.
    let requests = system.stand_ins.discord_requests();
    let at = |method: &str, path: &str| {
        requests
            .iter()
            .position(|r| r.method == method && r.path == path)
            .unwrap_or_else(|| panic!("no {method} {path}"))
    };
    let history = at("GET", &format!("/api/v10/channels/{channel}/messages"));
    let deleted = at("DELETE", &format!("/api/v10/channels/{channel}"));
    assert!(
        history < deleted,
        "the transcript is read before the delete"
    );
    assert!(
        !requests
            .iter()
            .any(|r| r.path.ends_with("/tok-close/messages/@original")),
        "{requests:?}"
    );
}

/// `!close` arrives through the relay's events: from a member it is refused
/// in the channel; from staff (known by their roles at Discord) it closes.
#[test]
fn bang_close_under_workerd() {
    let system = System::start();
    let (id, channel) = system.open_ticket(&Member::ordinary(ALICE, "alice"), "help", "tok-open");
    let guild = GUILD.to_string();
    system
        .stand_ins
        .seed_member(&guild, &ALICE.to_string(), "alice", &[]);
    system.stand_ins.seed_member(
        &guild,
        &STAFF.to_string(),
        "sam",
        &[&STAFF_ROLE.to_string()],
    );

    // A member types `!close`.
    let typed = system
        .stand_ins
        .seed_message(&channel, &ALICE.to_string(), "alice", "!close")
        .expect("seed");
    let (status, body) = system.send_events(&[message_event(&typed.id, ALICE, true, &channel)]);
    assert_eq!(
        (status, body["close_requests"].as_u64()),
        (200, Some(1)),
        "{body}"
    );
    let said = system.wait_for("the answer in the ticket channel", || {
        let messages = system.stand_ins.messages(&channel);
        (messages.len() == 3).then(|| messages[2].clone())
    });
    assert_eq!(said.author.id, stand_ins::discord::BOT_USER_ID);
    assert!(
        said.content.starts_with(&format!("<@{ALICE}>")) && said.content.contains("is for staff"),
        "{}",
        said.content
    );
    system.eventually(
        "select count(*) from app_logs where message = '!close handled'",
        "1",
    );
    assert_eq!(
        system
            .db
            .sql("select status, closed_by is null, closed_at is null from tickets"),
        "open|t|t",
        "members cannot !close"
    );
    assert_eq!(system.ticket_channels().len(), 1);
    assert!(
        system
            .stand_ins
            .discord_requests()
            .iter()
            .any(|r| r.method == "GET"
                && r.path == format!("/api/v10/guilds/{GUILD}/members/{ALICE}")),
        "her roles were read from Discord"
    );

    // Staff type it.
    let typed = system
        .stand_ins
        .seed_message(&channel, &STAFF.to_string(), "sam", "!close")
        .expect("seed");
    let (status, body) = system.send_events(&[message_event(&typed.id, STAFF, true, &channel)]);
    assert_eq!(
        (status, body["close_requests"].as_u64()),
        (200, Some(1)),
        "{body}"
    );
    system.eventually(
        "select count(*) from app_logs where message = '!close handled'",
        "2",
    );
    assert_eq!(
        system
            .db
            .sql("select status, closed_by, closed_at is not null from tickets"),
        format!("closed|{STAFF}|t")
    );
    assert!(system.ticket_channels().is_empty(), "channel deleted");
    // The transcript holds the whole exchange, the refusal included.
    let bot = stand_ins::discord::BOT_USER_ID;
    assert_eq!(
        system.db.sql(&format!(
            "select author_id from ticket_messages where ticket_id = {id} order by sent_at, message_id"
        )),
        format!("{bot}\n{ALICE}\n{bot}\n{STAFF}")
    );
    assert_eq!(
        system.db.sql(&format!(
            "select count(*) from ticket_messages where ticket_id = {id} and content = '!close'"
        )),
        "2"
    );
    // Nothing is said in a channel that is gone.
    let requests = system.stand_ins.discord_requests();
    let deleted = requests
        .iter()
        .position(|r| r.method == "DELETE" && r.path == format!("/api/v10/channels/{channel}"))
        .expect("the channel's delete");
    assert!(
        !requests[deleted..]
            .iter()
            .any(|r| r.method == "POST" && r.path.contains(&channel)),
        "{requests:?}"
    );
    // Both messages still count toward their authors' scores.
    assert_eq!(system.db.sql("select count(*) from activity_logs"), "2");
}

/// Work still running long after "still working" (a database slower than
/// `SLOW_AFTER`): its user is told it is slow, and its answer still replaces
/// that once it is done. (That the late work is woken by whichever of its
/// two waits settles first is `settings_under_workerd`'s check: here the
/// timer settles first either way.)
#[test]
fn very_slow_work_under_workerd_says_so_then_answers() {
    let system = System::start();
    let slow_after = SLOW_AFTER;
    system.db.sql(&format!(
        "create function slow_down() returns trigger language plpgsql as \
         $$ begin perform pg_sleep({}); return new; end $$; \
         create trigger slow before update on guild_settings for each row execute function slow_down();",
        slow_after.as_secs_f64() + 3.0
    ));
    let (_, still) = system.send(&payload::settings(
        &[("open-ticket-limit", 4, json!(3))],
        &Member::admin(1_000_000_000_000_000_011, "ada"),
        GENERAL,
        "tok-very-slow",
    ));
    assert_eq!(
        still["data"]["content"],
        community_core::responses::STILL_WORKING_MESSAGE
    );
    let deadline = Instant::now() + slow_after + Duration::from_secs(20);
    let edits = loop {
        let edits: Vec<Value> = system
            .stand_ins
            .discord_requests()
            .into_iter()
            .filter(|r| r.method == "PATCH" && r.path.contains("/tok-very-slow/"))
            .map(|r| r.body)
            .collect();
        if edits.len() >= 2 {
            break edits;
        }
        assert!(
            Instant::now() < deadline,
            "{edits:?}\n{}",
            system.worker.log_tail(30)
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(edits.len(), 2, "{edits:?}");
    assert!(
        edits[0]["content"]
            .as_str()
            .is_some_and(|c| c.starts_with("This is taking much longer than it should")),
        "{edits:?}"
    );
    assert_eq!(
        edits[1]["embeds"][0]["description"],
        "Updated: Open tickets per member."
    );
    system.eventually(
        "select count(*) from app_logs where message = 'an interaction''s work is still running'",
        "1",
    );
}

/// The worker's `app::SLOW_AFTER` (the e2e crate does not link the worker).
const SLOW_AFTER: Duration = Duration::from_secs(20);

#[test]
fn settings_under_workerd() {
    let system = System::start();
    let admin = Member::admin(1_000_000_000_000_000_011, "ada");
    let (status, changed) = system.send(&payload::settings(
        &[
            ("open-ticket-limit", 4, json!(2)),
            ("ticket-category", 7, json!("1000000000000000008")),
            ("reset", 3, json!("staff-role")),
        ],
        &admin,
        GENERAL,
        "tok-s",
    ));
    assert_eq!(
        (status, changed["type"].as_u64()),
        (200, Some(4)),
        "{changed}"
    );
    assert_eq!(changed["data"]["flags"], 64);
    assert_eq!(
        changed["data"]["embeds"][0]["description"],
        "Updated: Staff role, Ticket category, Open tickets per member."
    );
    assert_eq!(
        system.db.sql(&format!(
            "select concat_ws(' ', coalesce(staff_role_id::text, '-'), ticket_category_id, max_open_tickets) \
             from guild_settings where guild_id = {GUILD}"
        )),
        "- 1000000000000000008 2"
    );
    // Without Manage Server: refused, nothing changes.
    let (_, refused) = system.send(&payload::settings(
        &[("open-ticket-limit", 4, json!(5))],
        &Member::moderator(STAFF, "mod"),
        GENERAL,
        "tok-s2",
    ));
    assert!(
        refused["data"]["content"]
            .as_str()
            .is_some_and(|c| c.contains("Manage Server")),
        "{refused}"
    );
    system.eventually(
        &format!("select max_open_tickets from guild_settings where guild_id = {GUILD}"),
        "2",
    );
    system.eventually(
        "select count(*) from app_logs where message = 'settings changed'",
        "1",
    );

    // A database slower than the worker's 2 s limit: answered "still
    // working" in time, and the answer replaces it once the work is done.
    system.db.sql(
        "create function slow_down() returns trigger language plpgsql as \
         $$ begin perform pg_sleep(2.5); return new; end $$; \
         create trigger slow before update on guild_settings for each row execute function slow_down();",
    );
    let started = Instant::now();
    let (status, still) = system.send(&payload::settings(
        &[("open-ticket-limit", 4, json!(4))],
        &admin,
        GENERAL,
        "tok-slow",
    ));
    assert!(started.elapsed() < Duration::from_millis(2_800), "in time");
    assert_eq!(status, 200);
    assert_eq!(
        still["data"]["content"],
        community_core::responses::STILL_WORKING_MESSAGE
    );
    // The answer comes as soon as the work is done (about half a second
    // later), not when the late work's other wait, the `SLOW_AFTER` timer,
    // goes off: the deferred-work executor must wake it for either
    // (`community_fetch::undriven`, ADR 0008).
    system.eventually_edit("tok-slow", 1, "");
    assert!(
        started.elapsed() < SLOW_AFTER / 2,
        "answered {:?} after the request",
        started.elapsed()
    );
    assert_eq!(
        system.last_edit()["embeds"][0]["description"],
        "Updated: Open tickets per member."
    );
    system.eventually(
        &format!("select max_open_tickets from guild_settings where guild_id = {GUILD}"),
        "4",
    );
}

/// Every refusal Discord gives for a ticket channel: the member is told
/// why, the row is `failed` with no channel, nothing is left at Discord,
/// and the error is logged. (Failed tickets do not count toward the open
/// limit, so one worker serves every case.)
#[test]
fn discord_refusals_under_workerd_leave_nothing_behind() {
    use stand_ins::discord::faults;
    let system = System::start();
    let alice = Member::ordinary(ALICE, "alice");
    let create = format!("/api/v10/guilds/{GUILD}/channels");
    // (fault, what the member is told, the failure logged, tries made:
    // a rate limit is waited out twice, as told, then given up on.)
    let cases = [
        (
            faults::missing_permissions(),
            "permissions",
            "MissingPermissions",
            1,
        ),
        (
            faults::category_full(),
            "category is full",
            "CategoryFull",
            1,
        ),
        (
            faults::guild_channel_limit(),
            "500 channels",
            "ChannelLimit",
            1,
        ),
        (
            faults::rate_limited().times(5),
            "rate limiting",
            "RateLimited",
            3,
        ),
    ];
    let mut logged = Vec::new();
    for (n, (fault, expected, failure, tries)) in cases.into_iter().enumerate() {
        system.stand_ins.clear();
        system
            .stand_ins
            .fail_discord(fault.on("POST", "/api/v10/guilds/"));
        let token = format!("tok-{failure}");
        let (status, deferred) =
            system.send(&payload::open_ticket_modal("help", &alice, GENERAL, &token));
        assert_eq!(
            (
                status,
                deferred["type"].as_u64(),
                deferred["data"]["flags"].as_u64()
            ),
            (200, Some(5), Some(64)),
            "{failure}: {deferred}"
        );
        system.eventually_edit(&token, 1, expected);
        assert_eq!(system.edit_of(&token)["flags"], 64, "{failure}");
        let count = n + 1;
        assert_eq!(
            system.db.sql(
                "select count(*), count(*) filter (where status = 'failed' and channel_id is null \
                 and failure <> '') from tickets"
            ),
            format!("{count}|{count}"),
            "{failure}"
        );
        assert!(system.ticket_channels().is_empty(), "{failure}");
        assert_eq!(
            system.stand_ins.channels(&GUILD.to_string()).len(),
            1,
            "only the category: {failure}"
        );
        let attempts = system
            .stand_ins
            .discord_requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path == create)
            .count();
        assert_eq!(attempts, tries, "{failure}");
        logged.push(failure);
        assert_eq!(
            system.db.sql(
                "select fields->>'failure' from app_logs \
                 where level = 'error' and message = 'creating a ticket channel' order by id"
            ),
            logged.join("\n")
        );
        assert_eq!(
            system.db.sql(
                "select count(*) from app_logs l join tickets t on t.id = (l.fields->>'ticket_id')::bigint \
                 where l.message = 'creating a ticket channel' and t.status = 'failed'"
            ),
            count.to_string(),
            "each log row names its failed ticket"
        );
    }
}

#[test]
fn audits_under_workerd() {
    use community_core::responses::{COLOR_GREEN, COLOR_RED};
    let system = System::start();
    let deferred = system.audit("Movie night on Friday!", "tok-1");
    assert_eq!(deferred["type"], 5);
    assert_eq!(deferred["data"]["flags"], 64, "ephemeral by default");
    system.eventually("select status, verdict from audits", "ok|green");
    // Green: the embed the member gets, for them alone.
    system.eventually_edit("tok-1", 1, "");
    let green = system.edit_of("tok-1");
    assert_eq!(green["flags"], 64, "{green}");
    let embed = &green["embeds"][0];
    assert_eq!(embed["title"], "Audit: 🟢 Green", "{green}");
    assert_eq!(embed["color"], COLOR_GREEN);
    assert_eq!(embed["description"], "No compliance issues found.");
    assert!(
        embed["fields"].as_array().is_none_or(Vec::is_empty),
        "{embed}"
    );

    let red_text = "Guaranteed returns, risk-free!";
    system.audit(red_text, "tok-2");
    system.eventually(
        "select string_agg(verdict, ',' order by id) from audits",
        "green,red",
    );
    // Red: each reason Gemini gave, under its category, then the fixes.
    system.eventually_edit("tok-2", 1, "");
    let red = system.edit_of("tok-2");
    let embed = &red["embeds"][0];
    assert_eq!(embed["title"], "Audit: 🔴 Red", "{red}");
    assert_eq!(embed["color"], COLOR_RED);
    let judged = stand_ins::gemini::judge(red_text);
    assert_eq!(judged.reasons.len(), 2, "guaranteed, risk-free");
    let mut expected: Vec<Value> = judged
        .reasons
        .iter()
        .map(|reason| {
            let category: community_core::audit::Category =
                serde_json::from_value(json!(reason.category)).expect("a category");
            json!({ "name": category.label(), "value": reason.explanation, "inline": false })
        })
        .collect();
    let fixes: Vec<String> = judged
        .suggested_fixes
        .iter()
        .map(|fix| format!("• {fix}"))
        .collect();
    expected.push(json!({ "name": "Suggested fixes", "value": fixes.join("\n"), "inline": false }));
    assert_eq!(embed["fields"], json!(expected), "{red}");
    assert_eq!(
        system
            .db
            .sql("select jsonb_array_length(reasons), jsonb_array_length(suggested_fixes) from audits where verdict = 'red'"),
        "2|2"
    );
    // What Gemini was asked: the member's text, with the project's key.
    let asked = system.stand_ins.gemini_requests();
    assert_eq!(asked.len(), 2);
    for (request, text) in asked.iter().zip(["Movie night on Friday!", red_text]) {
        assert!(
            request.path.ends_with(":generateContent"),
            "{}",
            request.path
        );
        assert_eq!(request.header("x-goog-api-key"), Some("gemini-key"));
        assert!(
            stand_ins::gemini::member_text(&request.body).as_deref() == Some(text),
            "{}",
            request.body
        );
    }

    // The same text again: the cache answers, Gemini is not called.
    system.audit("Movie night on Friday!", "tok-3");
    system.eventually(
        "select string_agg(status, ',' order by id) from audits",
        "ok,ok,cached",
    );
    system.eventually_edit("tok-3", 1, "Same text as a recent audit");
    assert_eq!(
        system.edit_of("tok-3")["embeds"][0]["title"],
        "Audit: 🟢 Green"
    );
    let calls = system.stand_ins.gemini_requests().len();
    assert_eq!(calls, 2);

    // `public:True`: the verdict is for the channel, from the deferral on.
    let mut asked = payload::slash(
        "audit",
        &[("text", "Guaranteed returns, risk-free!")],
        &Member::ordinary(ALICE, "alice"),
        GENERAL,
        "tok-public",
    );
    if let Some(options) = asked["data"]["options"].as_array_mut() {
        options.push(json!({ "name": "public", "type": 5, "value": true }));
    }
    let (_, deferral) = system.send(&asked);
    assert_eq!(deferral["type"], 5);
    assert!(deferral["data"]["flags"].is_null(), "{deferral}");
    system.eventually_edit("tok-public", 1, "Same text as a recent audit");
    assert!(system.last_edit()["flags"].is_null());
    system.eventually(
        "select string_agg(status, ',' order by id) from audits",
        "ok,ok,cached,cached",
    );

    // Gemini failing: a clear message and a recorded failure.
    system
        .stand_ins
        .fail_gemini(stand_ins::gemini::faults::internal());
    system.audit("Another text", "tok-4");
    system.eventually(
        "select count(*) from ai_usage_ledger where not succeeded",
        "1",
    );
    system.eventually_edit("tok-4", 1, "unavailable");
    assert!(
        system.edit_of("tok-4")["embeds"]
            .as_array()
            .is_none_or(Vec::is_empty)
    );
    assert_eq!(
        system.db.sql(
            "select a.status, l.succeeded, l.error_kind, l.model from audits a \
             join ai_usage_ledger l on l.audit_id = a.id where a.id = (select max(id) from audits)"
        ),
        "failed|f|unavailable|gemini-2.5-flash"
    );
    assert_eq!(
        system.db.sql(
            "select level from app_logs where source = 'interactions-worker' and message = 'Gemini call failed'"
        ),
        "error"
    );

    // Gemini too slow: the audit gives up at GEMINI_TIMEOUT_MS, says so,
    // and records a timeout.
    system
        .stand_ins
        .fail_gemini(stand_ins::gemini::faults::slow(Duration::from_secs(10)));
    system.audit("A text Gemini is slow on", "tok-slow");
    system.eventually(
        "select count(*) from ai_usage_ledger where error_kind = 'timeout'",
        "1",
    );
    system.eventually_edit("tok-slow", 1, "took too long");

    // Discord rate limits the edit once: the worker waits the retry_after
    // it was given, then edits again (the wait is the executor's sleep).
    system
        .stand_ins
        .fail_discord(stand_ins::discord::faults::rate_limited().on("PATCH", "/api/v10/webhooks/"));
    system.audit("Edited after a rate limit", "tok-429");
    system.eventually_edit("tok-429", 2, "");
    system.eventually(
        "select string_agg(status, ',' order by id) from audits",
        "ok,ok,cached,cached,failed,failed,ok",
    );

    // Budget spent: no call.
    system.db.sql(&format!(
        "update guild_settings set ai_daily_budget_usd = 0 where guild_id = {GUILD}"
    ));
    system.audit("Yet another", "tok-5");
    system.eventually(
        "select count(*) from audits where status = 'budget_exhausted'",
        "1",
    );
    system.eventually_edit("tok-5", 1, "budget for this server ($0.00) is spent");
    assert_eq!(system.stand_ins.gemini_requests().len(), 5);
    // One ledger row per AI call, succeeded or not; none for the cached
    // answers or the spent budget.
    assert_eq!(
        system.db.sql(
            "select string_agg(concat_ws(':', succeeded, error_kind), ',' order by id) from ai_usage_ledger"
        ),
        "t,t,f:unavailable,f:timeout,t"
    );
    assert_eq!(
        system.db.sql(
            "select count(*) from audits a where (status in ('ok', 'failed')) \
             <> exists (select 1 from ai_usage_ledger l where l.audit_id = a.id)"
        ),
        "0",
        "a ledger row for each audit that called Gemini, and only those"
    );
    assert_eq!(
        system
            .db
            .sql("select level from app_logs where message = 'AI budget exhausted'"),
        "warn"
    );
}

#[test]
fn relay_events_under_workerd() {
    let system = System::start();
    let body = json!({ "events": [{
        "kind": "message_create", "guild_id": GUILD.to_string(), "channel_id": GENERAL.to_string(),
        "message_id": "9001", "user_id": ALICE.to_string(), "occurred_at": "2026-11-20T10:00:00.000000+00:00",
        "is_bot": false, "is_close_command": false, "dedupe": "9001"
    }]})
    .to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let mac = community_core::relay::sign(RELAY_SECRET.as_bytes(), now, body.as_bytes());
    let url = format!("{}/events", system.worker.url());
    let timestamp = now.to_string();
    let headers = [
        ("X-Relay-Timestamp", timestamp.as_str()),
        ("X-Relay-Signature", mac.as_str()),
    ];
    let first = http::post_json(&url, &headers, &body).expect("answers");
    assert_eq!(first.status, 200, "{}", first.text());
    let again = http::post_json(&url, &headers, &body).expect("answers");
    assert_eq!(again.status, 200);
    assert_eq!(
        system
            .db
            .sql("select count(*), sum(points_value)::float8 from activity_logs"),
        "1|1"
    );
    let bad = http::post_json(
        &url,
        &[
            ("X-Relay-Timestamp", timestamp.as_str()),
            ("X-Relay-Signature", "00"),
        ],
        &body,
    )
    .expect("answers");
    assert_eq!(bad.status, 401);
}

/// The same signature with S + L (the group order) in place of S: valid
/// under lax verification, refused by strict verification (malleability).
fn with_s_plus_l(signature_hex: &str) -> String {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut bytes = hex::decode(signature_hex).expect("hex");
    let mut carry = 0_u16;
    for (s, l) in bytes[32..].iter_mut().zip(L) {
        let sum = u16::from(*s) + u16::from(l) + carry;
        *s = (sum & 0xff) as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0, "S + L fits in 32 bytes");
    hex::encode(bytes)
}
