//! The well-behaved long-poll client, as phoenix.js's `LongPoll` transport
//! behaves: one `GET` always waiting for messages (each answer carrying a
//! fresh token, used from then on), and `POST`s of its pushes on a second
//! connection, each of which must be answered `{"status":200}`. Everything
//! the polls bring goes through the same [`Checker`] as a WebSocket client's
//! frames.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::Value;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use super::dial::connect_from;
use super::good_check::{Checker, GoodReport};
use super::good_client::{broadcasts_expected, settled, Role, Shared, DRAIN_LIMIT, ECHO_EVERY};
use super::http::{HttpConn, Response};
use super::target::GoodPlan;

/// A poll is answered within the server's window (10 s); a little more.
const POLL_LIMIT: Duration = Duration::from_secs(20);
/// How long a client may take to open its session and join.
const JOIN_LIMIT: Duration = Duration::from_secs(30);

/// The session as both connections use it.
struct Session {
    checker: Mutex<Checker>,
    token: Mutex<String>,
    path: String,
    params: String,
}

impl Session {
    fn target(&self) -> String {
        format!(
            "{}/longpoll?vsn=2.0.0&token={}{}{}",
            self.path,
            self.token.lock(),
            if self.params.is_empty() { "" } else { "&" },
            self.params
        )
    }
}

fn status(response: &Response) -> Option<i64> {
    response.json()?.get("status")?.as_i64()
}

async fn open_conn(server: SocketAddr) -> Result<HttpConn, String> {
    let stream = connect_from(server, None)
        .await
        .map_err(|e| format!("cannot connect to {server}: {e}"))?;
    Ok(HttpConn::new(stream, server))
}

/// `POST`s `lines`; an error unless answered `{"status":200}`.
async fn post(conn: &mut HttpConn, session: &Session, lines: &[String]) -> Result<(), String> {
    let body = lines.join("\n");
    let target = session.target();
    let headers = [("Content-Type", "application/json".to_string())];
    let response = conn
        .request("POST", &target, &headers, body.as_bytes(), POLL_LIMIT)
        .await
        .map_err(|e| format!("a POST failed: {e}"))?;
    match status(&response) {
        Some(200) => Ok(()),
        _ => Err(format!(
            "a POST was answered HTTP {} {}",
            response.status,
            String::from_utf8_lossy(&response.body)
        )),
    }
}

/// One poll: hands the messages to the checker and keeps the new token.
async fn poll(conn: &mut HttpConn, session: &Session) -> Result<(), String> {
    let target = session.target();
    let response = conn
        .request("GET", &target, &[], b"", POLL_LIMIT)
        .await
        .map_err(|e| format!("a poll failed: {e}"))?;
    let json = response.json().unwrap_or(Value::Null);
    match status(&response) {
        Some(200) | Some(204) => {}
        _ => {
            return Err(format!(
                "a poll was answered HTTP {} {}",
                response.status,
                String::from_utf8_lossy(&response.body)
            ))
        }
    }
    if let Some(token) = json.get("token").and_then(Value::as_str) {
        *session.token.lock() = token.to_string();
    }
    let messages = json.get("messages").and_then(Value::as_array);
    for message in messages.into_iter().flatten() {
        let mut checker = session.checker.lock();
        match message.as_str() {
            Some(text) => {
                checker.receive(text);
            }
            None => checker.fail(format!("a polled message that is not a string: {message}")),
        }
    }
    Ok(())
}

/// The long-poll client; `ready` says when it has joined.
pub async fn client(
    name: String,
    plan: GoodPlan,
    server: SocketAddr,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    ready: oneshot::Sender<Result<(), String>>,
) -> GoodReport {
    let hears = Role::Listener.hears_broadcasts(&plan.flavor);
    let session = Arc::new(Session {
        checker: Mutex::new(Checker::new(name.clone(), plan.clone())),
        token: Mutex::new(String::new()),
        path: plan.socket_path.clone(),
        params: plan.params.clone(),
    });
    let fail = |session: &Session, what: String| session.checker.lock().fail(what);

    // Open the session and join.
    let joined = async {
        let mut conn = open_conn(server).await?;
        let opened = conn
            .request("GET", &session.target(), &[], b"", POLL_LIMIT)
            .await
            .map_err(|e| format!("opening the session failed: {e}"))?;
        let token = opened
            .json()
            .and_then(|v| v.get("token")?.as_str().map(str::to_string))
            .filter(|_| status(&opened) == Some(410))
            .ok_or_else(|| format!("the session was not opened: {:?}", opened.json()))?;
        *session.token.lock() = token;
        let joins = session.checker.lock().joins();
        let mut push = open_conn(server).await?;
        post(&mut push, &session, &joins).await?;
        loop {
            {
                let checker = session.checker.lock();
                if checker.failed() {
                    return Err(checker.failures().join("; "));
                }
                if checker.outstanding() == 0 && !checker.initial_push_due() {
                    break;
                }
            }
            poll(&mut conn, &session).await?;
        }
        Ok::<_, String>((conn, push))
    };
    let (mut poll_conn, mut push_conn) = match tokio::time::timeout(JOIN_LIMIT, joined).await {
        Ok(Ok(conns)) => conns,
        Ok(Err(err)) => {
            let _ = ready.send(Err(format!("{name}: {err}")));
            fail(&session, err);
            return into_report(session, 0);
        }
        Err(_) => {
            let err = format!("not joined within {JOIN_LIMIT:?}");
            let _ = ready.send(Err(format!("{name}: {err}")));
            fail(&session, err);
            return into_report(session, 0);
        }
    };
    let _ = ready.send(Ok(()));

    // The poller: until stopped and everything owed has come.
    let stopped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = tokio::spawn({
        let (session, shared, stopped) = (session.clone(), shared.clone(), stopped.clone());
        async move {
            let mut stopped_at: Option<Instant> = None;
            loop {
                if stopped.load(std::sync::atomic::Ordering::Acquire) {
                    let at = *stopped_at.get_or_insert_with(Instant::now);
                    if settled(&session.checker.lock(), hears, &shared) {
                        return;
                    }
                    if at.elapsed() > DRAIN_LIMIT {
                        let mut checker = session.checker.lock();
                        let missing = broadcasts_expected(hears, &shared)
                            .saturating_sub(checker.broadcasts_received);
                        let outstanding = checker.outstanding();
                        checker.fail(format!(
                            "{outstanding} replies and {missing} broadcasts still missing {DRAIN_LIMIT:?} after the attack"
                        ));
                        return;
                    }
                }
                if let Err(err) = poll(&mut poll_conn, &session).await {
                    session.checker.lock().fail(err);
                    return;
                }
            }
        }
    });

    // The pusher.
    let mut echo = tokio::time::interval(ECHO_EVERY);
    echo.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = echo.tick() => {
                let line = session.checker.lock().echo();
                if let Err(err) = post(&mut push_conn, &session, &[line]).await {
                    fail(&session, err);
                    break;
                }
            }
            _ = stop.changed() => break,
        }
        if poller.is_finished() {
            break;
        }
    }
    stopped.store(true, std::sync::atomic::Ordering::Release);
    if poller.await.is_err() {
        fail(&session, "the poller panicked".into());
    }
    let expected = broadcasts_expected(hears, &shared);
    into_report(session, expected)
}

fn into_report(session: Arc<Session>, broadcasts_expected: u64) -> GoodReport {
    match Arc::try_unwrap(session) {
        Ok(session) => session
            .checker
            .into_inner()
            .into_report(broadcasts_expected),
        Err(_) => {
            let mut report = GoodReport {
                clients: 1,
                ..GoodReport::default()
            };
            report
                .failures
                .push("the long-poll session was still in use".into());
            report
        }
    }
}
