//! `fake-gateway`: the fake Discord gateway as a standalone server, driven by
//! line commands on stdin (for local runs of the relay and for scripts).
//!
//! ```text
//! fake-gateway [--port N] [--heartbeat-ms N] [--shards N] [--token T]
//! ```
//! prints `ws://127.0.0.1:PORT` on its first line, then reads commands:
//! `message ID GUILD CHANNEL AUTHOR [CONTENT...]`, `react ID GUILD CHANNEL USER AUTHOR [EMOJI]`,
//! `unreact ID GUILD CHANNEL USER [EMOJI]`, `delete ID GUILD CHANNEL`,
//! `reconnect`, `invalidate [resumable]`, `close CODE`, `zombie`, `drop`,
//! `firehose COUNT [BYTES]`, `counts`, `quit`.

use std::process::ExitCode;
use std::time::Duration;

use fake_gateway::payloads::{Emoji, MessageCreate, MessageDelete, Reaction};
use fake_gateway::{FakeGateway, Options};
use tokio::io::{AsyncBufReadExt as _, BufReader};

fn usage() -> ExitCode {
    eprintln!("usage: fake-gateway [--port N] [--heartbeat-ms N] [--shards N] [--token T]");
    ExitCode::from(2)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut port = 0_u16;
    let mut options = Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let Some(value) = args.next() else {
            return usage();
        };
        let ok = match flag.as_str() {
            "--port" => value.parse().map(|p| port = p).is_ok(),
            "--heartbeat-ms" => value
                .parse()
                .map(|ms| options.heartbeat_interval = Duration::from_millis(ms))
                .is_ok(),
            "--shards" => value.parse().map(|n| options.shards = n).is_ok(),
            "--token" => {
                options.token = Some(value);
                true
            }
            _ => false,
        };
        if !ok {
            return usage();
        }
    }
    let gateway = match FakeGateway::start_on(port, options).await {
        Ok(gateway) => gateway,
        Err(err) => {
            eprintln!("fake-gateway: cannot listen on 127.0.0.1:{port}: {err}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", gateway.url());
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let words: Vec<&str> = line.split_whitespace().collect();
        match run(&gateway, &words).await {
            Ok(Some(reply)) => println!("{reply}"),
            Ok(None) => break,
            Err(why) => println!("error: {why}"),
        }
    }
    ExitCode::SUCCESS
}

async fn run(gateway: &FakeGateway, words: &[&str]) -> Result<Option<String>, String> {
    let number = |i: usize| -> Result<u64, String> {
        words
            .get(i)
            .ok_or_else(|| format!("argument {i} is missing"))?
            .parse()
            .map_err(|_| format!("argument {i} is not a number"))
    };
    let emoji = |i: usize| match words.get(i) {
        Some(word) => match word.parse::<u64>() {
            Ok(id) => Emoji::Custom {
                id,
                name: "custom".to_owned(),
            },
            Err(_) => Emoji::Unicode((*word).to_owned()),
        },
        None => Emoji::Unicode("👍".to_owned()),
    };
    let reply = match words.first().copied().unwrap_or_default() {
        "" => String::new(),
        "message" => {
            let content = words.get(5..).unwrap_or_default().join(" ");
            let message =
                MessageCreate::new(number(1)?, number(2)?, number(3)?, number(4)?).content(content);
            format!("{:?}", gateway.message_create(&message))
        }
        "react" => {
            let reaction =
                Reaction::new(number(1)?, number(2)?, number(3)?, number(4)?, number(5)?)
                    .emoji(emoji(6));
            format!("{:?}", gateway.reaction_add(&reaction))
        }
        "unreact" => {
            let reaction =
                Reaction::new(number(1)?, number(2)?, number(3)?, number(4)?, 0).emoji(emoji(5));
            format!("{:?}", gateway.reaction_remove(&reaction))
        }
        "delete" => {
            let deleted = MessageDelete::new(number(1)?, number(2)?, number(3)?);
            format!("{:?}", gateway.message_delete(&deleted))
        }
        "reconnect" => format!("told {}", gateway.reconnect()),
        "invalidate" => {
            let resumable = words
                .get(1)
                .is_some_and(|w| *w == "resumable" || *w == "true");
            format!("told {}", gateway.invalidate_session(resumable))
        }
        "close" => format!(
            "told {}",
            gateway.close(u16::try_from(number(1)?).map_err(|e| e.to_string())?)
        ),
        "zombie" => format!("told {}", gateway.zombie()),
        "drop" => format!("told {}", gateway.drop_connections()),
        "firehose" => {
            let count = number(1)?;
            let bytes = number(2).map_or(1024, |b| usize::try_from(b).unwrap_or(1024));
            let started = std::time::Instant::now();
            let done = gateway
                .firehose(count, bytes)
                .await
                .map_err(|e| e.to_string())?;
            done.wait().await.map_err(|e| e.to_string())?;
            format!("sent {count} in {:?}", started.elapsed())
        }
        "counts" => format!("{:?}", gateway.counts()),
        "quit" | "exit" => return Ok(None),
        other => return Err(format!("unknown command {other:?}")),
    };
    Ok(Some(reply))
}
