//! Snowflakes and timestamps in the formats the real services use.

use std::time::{SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// 2015-01-01T00:00:00Z, where Discord snowflakes count from.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

pub(crate) fn rfc3339_now() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_else(|_| String::from("1970-01-01T00:00:00Z"))
}

pub(crate) fn unix_now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs_f64())
        .unwrap_or_default()
}

/// Hands out Discord snowflakes: the current time in the top bits, so ids
/// sort like creation times, and always strictly increasing, so two made in
/// the same millisecond still differ and keep their order.
#[derive(Debug, Default)]
pub(crate) struct Snowflakes {
    last: u64,
}

impl Snowflakes {
    pub(crate) fn next(&mut self) -> u64 {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or_default();
        let from_clock = now_ms.saturating_sub(DISCORD_EPOCH_MS) << 22;
        self.last = from_clock.max(self.last + 1);
        self.last
    }
}

/// The creation time a snowflake carries, as Discord writes message
/// timestamps: `2024-05-01T12:00:00.123000+00:00`.
pub(crate) fn snowflake_timestamp(id: u64) -> String {
    let ms = (id >> 22) + DISCORD_EPOCH_MS;
    discord_timestamp(i128::from(ms) * 1_000_000)
}

pub(crate) fn discord_now() -> String {
    discord_timestamp(OffsetDateTime::now_utc().unix_timestamp_nanos())
}

fn discord_timestamp(unix_nanos: i128) -> String {
    let format = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]+00:00"
    );
    OffsetDateTime::from_unix_timestamp_nanos(unix_nanos)
        .ok()
        .and_then(|moment| moment.format(&format).ok())
        .unwrap_or_else(|| String::from("1970-01-01T00:00:00.000000+00:00"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snowflakes_increase_even_within_one_millisecond() {
        let mut snowflakes = Snowflakes::default();
        let ids: Vec<u64> = (0..1000).map(|_| snowflakes.next()).collect();
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn a_snowflake_carries_its_creation_time() {
        // Discord's documented example: 175928847299117063 was made at
        // 2016-04-30 11:18:25.796 UTC.
        assert_eq!(
            snowflake_timestamp(175_928_847_299_117_063),
            "2016-04-30T11:18:25.796000+00:00"
        );
    }
}
