//! The control port (`[TRANSPORT] control_port`): a line protocol on 127.0.0.1 only, as the
//! reference's `runCPServer` / `runCPClient` (`Notifications/Server.hs`, commands in
//! `Notifications/Server/Control.hs`, roles in `controlPortAuth`).
//!
//! ```text
//! greeting = "Ntf server control port" LF "'help' for supported commands" LF
//! line     = command [CR] LF
//! command  = "auth" SP password   ; -> "Current role is CPRAdmin" / "CPRUser" / "CPRNone"
//!                                 ;    (a second auth: the role, and ", start new session
//!                                 ;    to change." when it differs)
//!          / "stats"              ; user or admin: "name: value" lines (below)
//!          / "stats-rts"          ; the GHC runtime's statistics: not available here
//!          / "server-info"        ; user or admin: relay connections and subscriptions
//!          / "help"               ; "commands: stats, stats-rts, server-info, help, quit"
//!          / "quit"               ; closes the connection
//!          / ""                   ; nothing
//! password = 1*(printable, not space, '@', ':' or '/')   ; BasicAuth
//! ```
//!
//! Without a role `stats` and `server-info` answer `AUTH`; anything else answers `error: `
//! and why. `stats` prints `fromTime` (`show` of a `UTCTime`), the counters `tknCreated` ..
//! `ntfVrfInvalidTkn` (since the start: this server keeps no stats file, so they are not
//! restored or reset), `daily active tokens` and `daily active subscriptions`.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tracing::{error, warn};

use super::metrics::{NtfMetrics, RelayInfo};

/// The passwords (`[AUTH] control_port_admin_password`, `control_port_user_password`).
#[derive(Clone, Debug, Default)]
pub struct ControlAuth {
    pub admin: Option<String>,
    pub user: Option<String>,
}

/// `CPClientRole`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    None,
    User,
    Admin,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Self::None => "CPRNone",
            Self::User => "CPRUser",
            Self::Admin => "CPRAdmin",
        }
    }
}

/// `ControlProtocol`.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Auth(String),
    Stats,
    StatsRts,
    ServerInfo,
    Help,
    Quit,
    Skip,
}

/// `strDecode`: the word up to a space, then for `auth` a space and the password, and
/// nothing after.
fn parse(line: &str) -> Result<Command, String> {
    let (word, rest) = line.split_once(' ').map_or((line, None), |(w, r)| (w, Some(r)));
    let cmd = match word {
        "auth" => {
            let pw = rest.ok_or("not enough input")?;
            let valid = |c: char| c.is_ascii_graphic() && !"@:/".contains(c);
            let end = pw.find(|c| c == '@').unwrap_or(pw.len());
            if end == 0 {
                return Err("Failed reading: takeWhile1".into());
            }
            if !pw[..end].chars().all(valid) {
                return Err("Failed reading: invalid character in BasicAuth".into());
            }
            if end != pw.len() {
                return Err("endOfInput".into());
            }
            return Ok(Command::Auth(pw.to_string()));
        }
        "stats" => Command::Stats,
        "stats-rts" => Command::StatsRts,
        "server-info" => Command::ServerInfo,
        "help" => Command::Help,
        "quit" => Command::Quit,
        "" => Command::Skip,
        _ => return Err("Failed reading: bad ControlProtocol command".into()),
    };
    match rest {
        Some(_) => Err("endOfInput".into()),
        None => Ok(cmd),
    }
}

/// Binds `127.0.0.1:port` (`runLocalTCPServer`).
///
/// # Errors
/// The port cannot be bound.
pub async fn bind(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await
}

/// Serves the control port on `listener` until the task is dropped (its connections too).
pub async fn serve(listener: TcpListener, auth: ControlAuth, metrics: Arc<NtfMetrics>) {
    let auth = Arc::new(auth);
    let mut conns = tokio::task::JoinSet::new();
    while let Ok((c, _)) = listener.accept().await {
        let (auth, metrics) = (auth.clone(), metrics.clone());
        conns.spawn(async move {
            if let Err(e) = client(c, &auth, &metrics).await {
                warn!("control port connection: {e}");
            }
        });
        while conns.try_join_next().is_some() {}
    }
}

async fn client(c: TcpStream, auth: &ControlAuth, metrics: &NtfMetrics) -> std::io::Result<()> {
    let (r, mut w) = c.into_split();
    let mut lines = BufReader::new(r).lines();
    w.write_all(b"Ntf server control port\n'help' for supported commands\n").await?;
    let mut role = Role::None;
    while let Some(line) = lines.next_line().await? {
        let line = line.strip_suffix('\r').unwrap_or(&line);
        let out = match parse(line) {
            Ok(Command::Quit) => return Ok(()),
            Ok(cmd) => {
                if matches!(cmd, Command::Stats | Command::StatsRts | Command::ServerInfo) {
                    warn!("ControlPort: {line:?}");
                }
                answer(cmd, &mut role, auth, metrics)
            }
            Err(e) => format!("error: {e}\n"),
        };
        w.write_all(out.as_bytes()).await?;
    }
    Ok(())
}

/// `processCP`: the text for one command.
fn answer(cmd: Command, role: &mut Role, auth: &ControlAuth, metrics: &NtfMetrics) -> String {
    let unauthorized = || {
        error!("Unauthorized control port command");
        "AUTH\n".to_string()
    };
    match cmd {
        Command::Auth(pw) => {
            let new = if auth.admin.as_deref() == Some(pw.as_str()) {
                Role::Admin
            } else if auth.user.as_deref() == Some(pw.as_str()) {
                Role::User
            } else {
                Role::None
            };
            match *role {
                Role::None => {
                    *role = new;
                    format!("Current role is {}\n", new.name())
                }
                r if r == new => format!("Current role is {}\n", r.name()),
                r => format!("Current role is {}, start new session to change.\n", r.name()),
            }
        }
        Command::Stats if *role == Role::None => unauthorized(),
        Command::Stats => stats(metrics),
        Command::StatsRts => "stats-rts: not available (the reference reports the GHC runtime's statistics)\n".into(),
        Command::ServerInfo if *role == Role::None => unauthorized(),
        Command::ServerInfo => server_info(&metrics.relay_info(), *role == Role::Admin),
        Command::Help => "commands: stats, stats-rts, server-info, help, quit\n".into(),
        Command::Quit | Command::Skip => String::new(),
    }
}

fn stats(m: &NtfMetrics) -> String {
    let s = m.stats();
    let from = ref_client::socks::show_utc_time(m.started());
    let mut out = format!("fromTime: {from}\n");
    for (name, v) in [
        ("tknCreated", s.tkn_created),
        ("tknVerified", s.tkn_verified),
        ("tknDeleted", s.tkn_deleted),
        ("tknReplaced", s.tkn_replaced),
        ("subCreated", s.sub_created),
        ("subDeleted", s.sub_deleted),
        ("ntfReceived", s.ntf_received),
        ("ntfDelivered", s.ntf_delivered),
        ("ntfFailed", s.ntf_failed),
        ("ntfCronDelivered", s.ntf_cron_delivered),
        ("ntfCronFailed", s.ntf_cron_failed),
        ("ntfVrfQueued", s.ntf_vrf_queued),
        ("ntfVrfDelivered", s.ntf_vrf_delivered),
        ("ntfVrfFailed", s.ntf_vrf_failed),
        ("ntfVrfInvalidTkn", s.ntf_vrf_invalid_tkn),
    ] {
        out += &format!("{name}: {v}\n");
    }
    out += &format!("daily active tokens: {}\n", m.active_tokens.counts().0);
    out += &format!("daily active subscriptions: {}\n", m.active_subs.counts().0);
    out
}

/// `CPServerInfo`'s lines that this server has (no thread or worker counts); own relays by
/// name for the admin only.
fn server_info(i: &RelayInfo, admin: bool) -> String {
    let mut out = String::new();
    let servers = |out: &mut String, name: &str, own: &[String], other: usize| {
        *out += &format!("{name} own servers count: {}\n", own.len());
        if admin {
            *out += &format!("{name} own servers: {}\n", own.join(","));
        }
        *out += &format!("{name} other servers count: {other}\n");
    };
    servers(&mut out, "SMP subcscribers", &i.subscribers.0, i.subscribers.1);
    servers(&mut out, "SMP clients", &i.clients.0, i.clients.1);
    out += &format!("SMP sessions count: {}\n", i.sessions);
    for (name, (own, other_servers, other_count)) in [
        ("SMP service subscriptions", &i.service),
        ("SMP queue subscriptions", &i.active),
        ("Pending SMP queue subscriptions", &i.pending),
    ] {
        let hosts: Vec<String> = own.iter().map(|(h, _)| h.clone()).collect();
        servers(&mut out, name, &hosts, *other_servers);
        let own_count: i64 = own.iter().map(|(_, n)| n).sum();
        out += &format!("{name} total: {}\n", own_count + other_count);
        out += &format!("{name} on own servers: {own_count}\n");
        if admin {
            for (h, n) in own {
                out += &format!("{name} on {h}: {n}\n");
            }
        }
        out += &format!("{name} on other servers: {other_count}\n");
    }
    out += &format!("Push notifications queue length: {}\n", i.push_queue);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_as_str_decode_reads_them() {
        assert_eq!(parse("auth s3cret"), Ok(Command::Auth("s3cret".into())));
        assert_eq!(parse("stats"), Ok(Command::Stats));
        assert_eq!(parse("stats-rts"), Ok(Command::StatsRts));
        assert_eq!(parse("server-info"), Ok(Command::ServerInfo));
        assert_eq!(parse(""), Ok(Command::Skip));
        assert_eq!(parse("quit"), Ok(Command::Quit));
        assert_eq!(parse("stat"), Err("Failed reading: bad ControlProtocol command".into()));
        assert_eq!(parse("stats now"), Err("endOfInput".into()));
        assert!(parse("auth").is_err());
        assert!(parse("auth a:b").is_err());
        assert!(parse("auth ").is_err());
    }

    #[test]
    fn roles_as_control_port_auth_sets_them() {
        let auth = ControlAuth { admin: Some("adm".into()), user: Some("usr".into()) };
        let m = NtfMetrics::new(Vec::new());
        let mut role = Role::None;
        assert_eq!(answer(Command::Stats, &mut role, &auth, &m), "AUTH\n");
        assert_eq!(answer(Command::Auth("x".into()), &mut role, &auth, &m), "Current role is CPRNone\n");
        assert_eq!(answer(Command::Auth("usr".into()), &mut role, &auth, &m), "Current role is CPRUser\n");
        let again = answer(Command::Auth("adm".into()), &mut role, &auth, &m);
        assert_eq!(again, "Current role is CPRUser, start new session to change.\n");
        assert!(answer(Command::Stats, &mut role, &auth, &m).contains("\ntknCreated: 0\n"));
        let info = answer(Command::ServerInfo, &mut role, &auth, &m);
        assert!(info.contains("SMP sessions count: 0\n"), "{info}");
        // the own relays' names are for the admin only
        assert!(!info.lines().any(|l| l.ends_with(" own servers: ")), "{info}");
        let mut admin = Role::Admin;
        let info = answer(Command::ServerInfo, &mut admin, &auth, &m);
        assert!(info.contains("\nSMP clients own servers: \n"), "{info}");
    }
}
