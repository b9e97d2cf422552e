//! Words every front end shows alike: how long ago something was, counts, durations. One
//! wording, so the command line, the tray and the screens never disagree.

use chrono::{DateTime, Utc};

/// The wording of [`ago`], as data shared with the screens (`ui/src/format.ts` imports the
/// same file), so that the two cannot drift apart.
const AGO_TABLE: &str = include_str!("ago.json");

#[derive(serde::Deserialize)]
struct AgoTable {
    future: AgoFuture,
    steps: Vec<AgoStep>,
    count: AgoCount,
}

#[derive(serde::Deserialize)]
struct AgoFuture {
    beyond: i64,
    say: String,
}

#[derive(serde::Deserialize)]
struct AgoStep {
    below: Option<i64>,
    say: Option<String>,
    unit: Option<String>,
    seconds: Option<i64>,
}

#[derive(serde::Deserialize)]
struct AgoCount {
    one: String,
    many: String,
}

fn ago_table() -> &'static AgoTable {
    static TABLE: std::sync::LazyLock<AgoTable> = std::sync::LazyLock::new(|| {
        serde_json::from_str(AGO_TABLE).expect("ago.json is valid (a unit test reads it)")
    });
    &TABLE
}

/// How long ago `then` was, as a person says it: "just now", "5 minutes ago", "yesterday",
/// "3 days ago". A moment ahead of `now` by more than a minute says the clock is wrong.
pub fn ago(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let t = ago_table();
    let s = (now - then).num_seconds();
    if s < -t.future.beyond {
        return t.future.say.clone();
    }
    let step = t
        .steps
        .iter()
        .find(|st| st.below.is_none_or(|b| s < b))
        .expect("the last step has no bound");
    if let Some(say) = &step.say {
        return say.clone();
    }
    let unit = step.unit.as_deref().unwrap_or("second");
    let per = step.seconds.unwrap_or(1).max(1);
    let n = ((s.max(0) + per / 2) / per).max(1);
    let pattern = if n == 1 { &t.count.one } else { &t.count.many };
    pattern
        .replace("{n}", &n.to_string())
        .replace("{unit}", unit)
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
    fn the_shared_table_of_ago_is_ordered_and_ends_without_a_bound() {
        let t = ago_table();
        let bounds: Vec<Option<i64>> = t.steps.iter().map(|s| s.below).collect();
        assert_eq!(bounds.last(), Some(&None), "the last step catches the rest");
        let set: Vec<i64> = bounds.iter().flatten().copied().collect();
        assert!(set.windows(2).all(|w| w[0] < w[1]), "{set:?}");
        assert_eq!(
            set.len() + 1,
            bounds.len(),
            "only the last step is unbounded"
        );
        for st in &t.steps {
            assert!(
                st.say.is_some() != st.unit.is_some(),
                "a step either says its words or counts a unit"
            );
        }
    }

    #[test]
    fn durations_keep_a_decimal_only_when_short() {
        assert_eq!(seconds(0.42), "0.4 s");
        assert_eq!(seconds(12.6), "13 s");
    }
}
