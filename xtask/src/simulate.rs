//! A lively community for `cargo xtask dev`: members chat and react in
//! several channels through a local Discord gateway (which the relay reads),
//! some go quiet, newcomers ramp up; members open tickets and run audits
//! through signed interactions to the local worker; staff claim tickets and
//! type `!close`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result};
use e2e::discord::{self as payload, Member, Signer};
use fake_gateway::payloads::{Emoji, MessageCreate, Reaction};
use fake_gateway::{FakeGateway, Options};
use local_stack::http;
use stand_ins::StandIns;

/// The simulated guild: the one `cargo xtask seed` fills with history (its default).
pub(crate) const GUILD: u64 = crate::seed::DEFAULT_GUILD;
pub(crate) const STAFF_ROLE: u64 = 1_100_000_000_000_000_050;
pub(crate) const TICKET_CATEGORY: u64 = 1_100_000_000_000_000_060;
/// Where members open tickets.
const SUPPORT: u64 = 1_100_000_000_000_000_070;
const CHANNELS: [u64; 4] = [
    1_100_000_000_000_000_071, // general
    1_100_000_000_000_000_072, // art
    1_100_000_000_000_000_073, // clips
    1_100_000_000_000_000_074, // memes
];

const LINES: [&str; 12] = [
    "that stream was amazing",
    "anyone up for a game later?",
    "new video is out, go watch!",
    "lol",
    "this emote is perfect",
    "good morning everyone",
    "can't wait for the collab",
    "who's going to the meetup?",
    "just finished my fan art, thoughts?",
    "the clip from yesterday 😂",
    "welcome to the new folks!",
    "gg",
];
const AUDIT_TEXTS: [&str; 5] = [
    "Join our movie night this Friday at 8pm!",
    "Use my code SAVE20 for 20% off, sponsored by Acme",
    "This supplement cures anxiety, guaranteed!",
    "Giveaway: 3 signed posters, reply to enter",
    "100% guaranteed returns on my trading course, risk-free",
];
const TICKET_REASONS: [&str; 4] = [
    "My order never arrived",
    "I can't see the members-only channel",
    "Someone is sending me spam DMs",
    "How do I link my Twitch account?",
];
const EMOJI: [&str; 5] = ["👍", "❤️", "😂", "🔥", "🎉"];

/// How a simulated member behaves over the run.
#[derive(Clone, Copy, Debug)]
enum Persona {
    /// Steady.
    Regular,
    /// More active as time goes on.
    Rising,
    /// Active at first, then silent.
    Fading,
    /// Joins a few minutes in.
    Newcomer,
}

#[derive(Clone, Debug)]
struct SimMember {
    id: u64,
    name: String,
    persona: Persona,
}

impl SimMember {
    /// Relative activity `minutes` into the run.
    fn weight(&self, minutes: f64) -> f64 {
        match self.persona {
            Persona::Regular => 1.0,
            Persona::Rising => 0.2 + minutes / 3.0,
            Persona::Fading => (1.5 - minutes / 4.0).max(0.0),
            Persona::Newcomer if minutes < 2.0 => 0.0,
            Persona::Newcomer => ((minutes - 2.0) / 2.0).min(2.0),
        }
    }
}

/// Where the simulation sends things.
pub(crate) struct Wiring {
    pub(crate) gateway_port: u16,
    pub(crate) interactions_url: String,
    pub(crate) signer_seed: [u8; 32],
    pub(crate) stand_ins: Arc<StandIns>,
}

/// The running simulation; dropping it stops it and its gateway.
pub(crate) struct Simulation {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    runtime: Option<tokio::runtime::Runtime>,
    pub(crate) gateway_url: String,
}

impl std::fmt::Debug for Simulation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulation")
            .field("gateway_url", &self.gateway_url)
            .finish_non_exhaustive()
    }
}

impl Simulation {
    pub(crate) fn start(wiring: Wiring) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .context("starting the simulation runtime")?;
        let options = Options {
            heartbeat_interval: Duration::from_secs(15),
            ..Options::default()
        };
        let gateway = runtime
            .block_on(FakeGateway::start_on(wiring.gateway_port, options))
            .with_context(|| {
                format!(
                    "starting the simulated gateway on port {}",
                    wiring.gateway_port
                )
            })?;
        let gateway_url = gateway.url().to_owned();
        for (id, name) in staff() {
            wiring.stand_ins.seed_member(
                &GUILD.to_string(),
                &id.to_string(),
                name,
                &[&STAFF_ROLE.to_string()],
            );
        }
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name("community-simulation".into())
            .spawn(move || Community::new(gateway, wiring).run(&stopping))
            .context("starting the simulation")?;
        Ok(Self {
            stop,
            thread: Some(thread),
            runtime: Some(runtime),
            gateway_url,
        })
    }
}

impl Drop for Simulation {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

fn staff() -> [(u64, &'static str); 2] {
    [
        (1_100_000_000_000_000_091, "mod-maya"),
        (1_100_000_000_000_000_092, "mod-theo"),
    ]
}

/// A Discord snowflake for "now" (ids encode their creation time).
fn snowflake(sequence: u64) -> u64 {
    const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;
    let now_ms = u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis()),
    )
    .unwrap_or_default();
    ((now_ms - DISCORD_EPOCH_MS) << 22) | (sequence & 0x3F_FFFF)
}

fn now_iso() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

struct Community {
    gateway: FakeGateway,
    wiring: Wiring,
    signer: Signer,
    members: Vec<SimMember>,
    rng: fastrand::Rng,
    started: Instant,
    sequence: u64,
    /// Recent messages: (id, channel, author).
    recent: Vec<(u64, u64, u64)>,
    /// Reactions that may be taken back: (message, channel, user, author, emoji).
    reactions: Vec<(u64, u64, u64, u64, &'static str)>,
    /// Tickets in progress: (channel, opened at, claimed).
    tickets: Vec<(String, Instant, bool)>,
    next_ticket: Instant,
    next_audit: Instant,
}

impl Community {
    fn new(gateway: FakeGateway, wiring: Wiring) -> Self {
        let personas = [
            Persona::Regular,
            Persona::Regular,
            Persona::Rising,
            Persona::Fading,
            Persona::Newcomer,
        ];
        let names = [
            "ana", "ben", "cleo", "dev", "eli", "fay", "gus", "hana", "ivo", "jun", "kai", "lea",
            "mo", "nia", "oli", "pia", "quin", "rae", "sol", "tia", "uma", "vic", "wes", "xia",
        ];
        let members = names
            .iter()
            .enumerate()
            .map(|(i, name)| SimMember {
                id: 1_100_000_000_000_100_000 + i as u64,
                name: (*name).to_owned(),
                persona: personas[i % personas.len()],
            })
            .collect();
        let signer = Signer::from_seed(wiring.signer_seed);
        let now = Instant::now();
        Self {
            gateway,
            wiring,
            signer,
            members,
            rng: fastrand::Rng::new(),
            started: now,
            sequence: 0,
            recent: Vec::new(),
            reactions: Vec::new(),
            tickets: Vec::new(),
            next_ticket: now + Duration::from_secs(20),
            next_audit: now + Duration::from_secs(10),
        }
    }

    fn run(mut self, stop: &AtomicBool) {
        while !stop.load(Ordering::SeqCst) {
            let minutes = self.started.elapsed().as_secs_f64() / 60.0;
            // A few events a second, more in bursts.
            let burst = if self.rng.u8(..10) == 0 { 6 } else { 1 };
            for _ in 0..burst {
                self.chatter(minutes);
            }
            self.tickets_step();
            if Instant::now() >= self.next_audit {
                self.audit();
                self.next_audit = Instant::now() + Duration::from_secs(25 + self.rng.u64(..20));
            }
            thread::sleep(Duration::from_millis(300 + self.rng.u64(..400)));
        }
    }

    fn pick_member(&mut self, minutes: f64) -> Option<SimMember> {
        let total: f64 = self.members.iter().map(|m| m.weight(minutes)).sum();
        if total <= 0.0 {
            return None;
        }
        let mut target = self.rng.f64() * total;
        for member in &self.members {
            target -= member.weight(minutes);
            if target <= 0.0 {
                return Some(member.clone());
            }
        }
        self.members.last().cloned()
    }

    fn chatter(&mut self, minutes: f64) {
        let Some(member) = self.pick_member(minutes) else {
            return;
        };
        self.sequence += 1;
        let roll = self.rng.u8(..100);
        if roll < 65 || self.recent.is_empty() {
            let id = snowflake(self.sequence);
            let channel = CHANNELS[self.rng.usize(..CHANNELS.len())];
            let line = LINES[self.rng.usize(..LINES.len())];
            self.gateway.message_create(
                &MessageCreate::new(id, GUILD, channel, member.id)
                    .global_name(member.name.clone())
                    .content(line)
                    .timestamp(now_iso()),
            );
            self.recent.push((id, channel, member.id));
            if self.recent.len() > 200 {
                self.recent.remove(0);
            }
        } else if roll < 95 {
            let (message, channel, author) = self.recent[self.rng.usize(..self.recent.len())];
            if author == member.id {
                return;
            }
            let emoji = EMOJI[self.rng.usize(..EMOJI.len())];
            self.gateway.reaction_add(
                &Reaction::new(message, GUILD, channel, member.id, author)
                    .emoji(Emoji::Unicode(emoji.to_owned())),
            );
            self.reactions
                .push((message, channel, member.id, author, emoji));
        } else if let Some(index) =
            (!self.reactions.is_empty()).then(|| self.rng.usize(..self.reactions.len()))
        {
            let (message, channel, user, author, emoji) = self.reactions.swap_remove(index);
            self.gateway.reaction_remove(
                &Reaction::new(message, GUILD, channel, user, author)
                    .emoji(Emoji::Unicode(emoji.to_owned())),
            );
        }
    }

    fn send_interaction(&self, body: &serde_json::Value) {
        let body = body.to_string();
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            .to_string();
        let signature = self.signer.sign(&timestamp, body.as_bytes());
        let url = format!("{}/interactions", self.wiring.interactions_url);
        let headers = [
            ("X-Signature-Ed25519", signature.as_str()),
            ("X-Signature-Timestamp", timestamp.as_str()),
        ];
        if let Err(err) = http::post_json(&url, &headers, &body) {
            eprintln!("[simulation] interaction failed: {err:#}");
        }
    }

    fn token(&mut self) -> String {
        format!("sim-{}", self.rng.u64(..))
    }

    fn audit(&mut self) {
        let Some(member) = self.pick_member(self.started.elapsed().as_secs_f64() / 60.0) else {
            return;
        };
        let text = AUDIT_TEXTS[self.rng.usize(..AUDIT_TEXTS.len())];
        let token = self.token();
        let who = Member::ordinary(member.id, member.name.clone()).in_guild(GUILD);
        self.send_interaction(&payload::slash(
            "audit",
            &[("text", text)],
            &who,
            CHANNELS[0],
            &token,
        ));
    }

    fn tickets_step(&mut self) {
        let now = Instant::now();
        if now >= self.next_ticket {
            self.next_ticket = now + Duration::from_secs(45 + self.rng.u64(..30));
            let member = self.members[self.rng.usize(..self.members.len())].clone();
            let reason = TICKET_REASONS[self.rng.usize(..TICKET_REASONS.len())];
            let token = self.token();
            let who = Member::ordinary(member.id, member.name.clone()).in_guild(GUILD);
            self.send_interaction(&payload::open_ticket_modal(reason, &who, SUPPORT, &token));
        }
        // Newly created ticket channels join the list.
        for channel in self.wiring.stand_ins.channels(&GUILD.to_string()) {
            if channel.name.starts_with("ticket-")
                && !self.tickets.iter().any(|(id, _, _)| *id == channel.id)
            {
                self.tickets.push((channel.id.clone(), now, false));
            }
        }
        let (staff_id, staff_name) = staff()[self.rng.usize(..2)];
        let mut remaining = Vec::new();
        for (channel, opened, claimed) in std::mem::take(&mut self.tickets) {
            let age = now.duration_since(opened);
            let exists = self
                .wiring
                .stand_ins
                .channels(&GUILD.to_string())
                .iter()
                .any(|c| c.id == channel);
            if !exists {
                continue;
            }
            let channel_id: u64 = channel.parse().unwrap_or_default();
            if !claimed && age > Duration::from_secs(8) {
                if let Some(ticket_id) = self.ticket_id(&channel) {
                    let token = self.token();
                    let staff = Member::staff(staff_id, staff_name)
                        .with_role(STAFF_ROLE)
                        .in_guild(GUILD);
                    let press = payload::button(
                        &format!("ticket:claim:{ticket_id}"),
                        &staff,
                        channel_id,
                        &token,
                    );
                    self.send_interaction(&press);
                    let _ = self.wiring.stand_ins.seed_message(
                        &channel,
                        &staff_id.to_string(),
                        staff_name,
                        "Hi! I'm on it.",
                    );
                }
                remaining.push((channel, opened, true));
            } else if claimed && age > Duration::from_secs(30) {
                self.sequence += 1;
                self.gateway.message_create(
                    &MessageCreate::new(snowflake(self.sequence), GUILD, channel_id, staff_id)
                        .global_name(staff_name)
                        .content("!close")
                        .timestamp(now_iso()),
                );
            } else {
                remaining.push((channel, opened, claimed));
            }
        }
        self.tickets = remaining;
    }

    /// The ticket id from the channel's topic ("Ticket #N opened by …").
    fn ticket_id(&self, channel: &str) -> Option<u64> {
        let channels = self.wiring.stand_ins.channels(&GUILD.to_string());
        let topic = channels.iter().find(|c| c.id == channel)?.topic.clone()?;
        topic
            .strip_prefix("Ticket #")?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }
}
