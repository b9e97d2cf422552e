//! Who made a decision, worked out once for every front end.

/// Where a decision came from; says who to record when the person gave no name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The `templesync` command: the account it runs as.
    CommandLine,
    /// The desktop app: the account it runs as.
    Desktop,
    /// The REST API (and the web screens): the server's account is not the person's.
    Api,
}

/// The name to record: the one given (trimmed), else the account this runs as (command line
/// and desktop only), else a word for where the decision came from.
pub fn who(given: Option<&str>, via: Via) -> String {
    who_with(given, via, |k| std::env::var(k).ok(), os_account)
}

fn who_with(
    given: Option<&str>,
    via: Via,
    env: impl Fn(&str) -> Option<String>,
    account: impl FnOnce() -> Option<String>,
) -> String {
    let named = |s: Option<String>| s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    if let Some(name) = named(given.map(str::to_string)) {
        return name;
    }
    let fallback = match via {
        Via::Api => return "api".to_string(),
        Via::CommandLine => "unknown",
        Via::Desktop => "TempleSync app",
    };
    ["USER", "USERNAME", "LOGNAME"]
        .into_iter()
        .find_map(|k| named(env(k)))
        .or_else(|| named(account()))
        .unwrap_or_else(|| fallback.to_string())
}

/// The name of the account this process runs as, from the system's user list (Linux), for
/// when no login variable is set (services, cron).
fn os_account() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut parts = l.split(':');
        let name = parts.next()?;
        (parts.nth(1)? == uid).then(|| name.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_name_wins_then_the_login_then_where_it_came_from() {
        let env = |k: &str| (k == "USERNAME").then(|| "priya".to_string());
        let none = |_: &str| None;
        assert_eq!(who_with(Some(" Ravi "), Via::Api, env, || None), "Ravi");
        assert_eq!(
            who_with(Some("  "), Via::CommandLine, env, || None),
            "priya"
        );
        assert_eq!(
            who_with(None, Via::Desktop, none, || None),
            "TempleSync app"
        );
        assert_eq!(who_with(None, Via::CommandLine, none, || None), "unknown");
        assert_eq!(
            who_with(None, Via::CommandLine, none, || Some("svc".into())),
            "svc"
        );
        assert_eq!(
            who_with(None, Via::Api, env, || Some("svc".into())),
            "api",
            "a server's account is not the person who decided"
        );
    }
}
