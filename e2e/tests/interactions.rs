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
}

impl System {
    fn start() -> Self {
        let db = TestDatabase::create().expect("test database");
        db.sql(&format!(
            "insert into guild_settings (guild_id, staff_role_id) values ({GUILD}, {STAFF_ROLE})"
        ));
        let stand_ins = StandIns::start().expect("stand-ins");
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
}

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

#[test]
fn tickets_under_workerd() {
    let system = System::start();
    let alice = Member::ordinary(ALICE, "alice");
    let (_, panel) = system.send(&payload::slash(
        "ticket-panel",
        &[],
        &Member::staff(STAFF, "sam"),
        GENERAL,
        "t",
    ));
    assert_eq!(
        panel["data"]["components"][0]["components"][0]["custom_id"],
        "ticket:open"
    );

    // Two submits at once: one channel, one row.
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
    system.eventually(
        "select count(*) from app_logs where message = 'ticket opened'",
        "1",
    );
    system.eventually(
        "select count(*) from tickets where status <> 'opening'",
        "1",
    );
    assert_eq!(system.stand_ins.channels(&GUILD.to_string()).len(), 1);
    let channel = system.stand_ins.channels(&GUILD.to_string())[0].id.clone();
    let id = system.db.sql("select id from tickets");

    let (_, claimed) = system.send(&payload::button(
        &format!("ticket:claim:{id}"),
        &Member::staff(STAFF, "sam"),
        channel.parse().expect("id"),
        "t",
    ));
    assert!(
        claimed["data"]["content"]
            .as_str()
            .unwrap_or_default()
            .contains("has claimed"),
        "{claimed}"
    );
    assert_eq!(system.db.sql("select status from tickets"), "claimed");

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
    let (_, deferred) = system.send(&payload::slash(
        "close",
        &[],
        &alice,
        channel.parse().expect("id"),
        "tok-c",
    ));
    assert_eq!(deferred["type"], 5);
    system.eventually("select status from tickets", "closed");
    system.eventually(
        "select count(*) from ticket_messages where content = 'still waiting'",
        "1",
    );
    assert!(system.stand_ins.channels(&GUILD.to_string()).is_empty());
    let logged = system.stand_ins.messages(&log.id);
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert_eq!(logged[0].embeds[0]["title"], format!("Ticket #{id} closed"));

    // Another ticket, whose channel an admin deletes in Discord: the next
    // "Open ticket" click answers with the link at once, then finds the
    // channel gone, closes that ticket and says so.
    system.send(&payload::open_ticket_modal(
        "again", &alice, GENERAL, "tok-d",
    ));
    system.eventually("select count(*) from tickets where status = 'open'", "1");
    let channel = system.stand_ins.channels(&GUILD.to_string())[0].id.clone();
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
    system.eventually_edit("tok-slow", 1, "");
    assert_eq!(
        system.last_edit()["embeds"][0]["description"],
        "Updated: Open tickets per member."
    );
    system.eventually(
        &format!("select max_open_tickets from guild_settings where guild_id = {GUILD}"),
        "4",
    );
}

#[test]
fn a_discord_refusal_under_workerd_leaves_nothing_behind() {
    let system = System::start();
    system
        .stand_ins
        .fail_discord(stand_ins::discord::faults::category_full().on("POST", "/api/v10/guilds/"));
    system.send(&payload::open_ticket_modal(
        "help",
        &Member::ordinary(ALICE, "alice"),
        GENERAL,
        "tok",
    ));
    system.eventually("select status from tickets", "failed");
    assert!(system.stand_ins.channels(&GUILD.to_string()).is_empty());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !system.last_edit()["content"]
        .as_str()
        .unwrap_or_default()
        .contains("category is full")
    {
        assert!(Instant::now() < deadline, "{}", system.last_edit());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn audits_under_workerd() {
    let system = System::start();
    let deferred = system.audit("Movie night on Friday!", "tok-1");
    assert_eq!(deferred["type"], 5);
    system.eventually("select status, verdict from audits", "ok|green");

    system.audit("Guaranteed returns, risk-free!", "tok-2");
    system.eventually(
        "select string_agg(verdict, ',' order by id) from audits",
        "green,red",
    );

    // The same text again: the cache answers, Gemini is not called.
    system.audit("Movie night on Friday!", "tok-3");
    system.eventually(
        "select string_agg(status, ',' order by id) from audits",
        "ok,ok,cached",
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
    assert_eq!(system.stand_ins.gemini_requests().len(), 5);
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
