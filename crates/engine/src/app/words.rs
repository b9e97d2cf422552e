//! Words every front end shows alike: how long ago something was, counts, durations. One
//! wording, so the command line, the tray and the screens never disagree.

use chrono::{DateTime, Utc};

/// How long ago `then` was, as a person says it: "just now", "5 minutes ago", "yesterday",
/// "3 days ago". A moment ahead of `now` by more than a minute says the clock is wrong.
pub fn ago(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let s = (now - then).num_seconds();
    match s {
        ..-60 => "in the future: check this computer's clock".to_string(),
        -60..45 => "just now".to_string(),
        45..2_700 => format!("{} ago", plural(((s + 30) / 60).max(1) as u64, "minute")),
        2_700..79_200 => format!(
            "{} ago",
            plural(((s + 1_800) / 3_600).max(1) as u64, "hour")
        ),
        79_200..129_600 => "yesterday".to_string(),
        _ => format!("{} ago", plural(((s + 43_200) / 86_400) as u64, "day")),
    }
}

/// "1 conflict", "5 conflicts".
pub fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// A run's length: "0.4 s", "12 s".
pub fn seconds(s: f64) -> String {
    if s < 10.0 {
        format!("{s:.1} s")
    } else {
        format!("{} s", s.round())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 10, 19, h, m, s).unwrap()
    }

    #[test]
    fn how_long_ago_reads_like_a_person_says_it() {
        let now = at(10, 35, 0);
        assert_eq!(ago(at(10, 34, 30), now), "just now");
        assert_eq!(ago(at(10, 34, 0), now), "1 minute ago");
        assert_eq!(ago(at(10, 30, 0), now), "5 minutes ago");
        assert_eq!(ago(at(9, 35, 0), now), "1 hour ago");
        assert_eq!(ago(at(7, 0, 0), now), "4 hours ago");
        assert_eq!(ago(now - chrono::Duration::hours(26), now), "yesterday");
        assert_eq!(ago(now - chrono::Duration::days(3), now), "3 days ago");
        assert_eq!(
            ago(now + chrono::Duration::minutes(5), now),
            "in the future: check this computer's clock"
        );
        assert_eq!(
            ago(now + chrono::Duration::seconds(20), now),
            "just now",
            "a clock a few seconds apart is not worth a warning"
        );
    }

    #[test]
    fn durations_keep_a_decimal_only_when_short() {
        assert_eq!(seconds(0.42), "0.4 s");
        assert_eq!(seconds(12.6), "13 s");
    }
}
