//! Transports carry a connection's frames; the protocol lives in `session.rs`.
//!
//! Both transports share the connect step: read the params from the query
//! string, pick the serializer by `vsn`, check the origin, and ask the socket's
//! `connect` — logging the outcome the way Phoenix does.

mod coalesce;
pub mod longpoll;
pub mod websocket;

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use runtime::log_text::bounded;
use serde_json::Value;

use crate::mount::Mount;
use crate::serializer::Serializer;
use crate::session::filter_params;
use crate::socket::{ConnectInfo, Params, Socket};

/// The body type of every response the endpoint sends.
pub type Body = Full<Bytes>;

/// A response with a status and a plain body.
pub fn plain(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Full::new(body.into()))
        .expect("static response parts are valid")
}

/// Params from a query string, with `vsn` taken out.
pub fn query_params(query: Option<&str>) -> (Params, Option<String>) {
    let mut params: Params = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let vsn = params.remove("vsn");
    (params, vsn)
}

/// What connecting produced: the assigns and the serializer, or the response
/// to send instead (403).
pub(crate) enum Connected<S: Socket> {
    Accepted(S::Assigns, Serializer),
    Refused(Response<Body>),
}

/// The shared connect step of every transport.
/// Whether the page the request comes from may use this socket
/// (`check_origin`); a refusal is logged, as Phoenix logs it.
pub(crate) fn origin_allowed<S: Socket>(mount: &Mount<S>, headers: &http::HeaderMap) -> bool {
    let header = |name| {
        headers
            .get(name)
            .and_then(|v: &http::HeaderValue| v.to_str().ok())
    };
    let origin = header(http::header::ORIGIN);
    let allowed = mount
        .config
        .check_origin
        .allows(origin, header(http::header::HOST));
    if !allowed {
        let shown = origin.map(|o| bounded(o).to_string()).unwrap_or_default();
        tracing::error!(origin = %shown, "could not check origin for Phoenix.Socket transport");
    }
    allowed
}

pub(crate) async fn connect<S: Socket>(mount: &Arc<Mount<S>>, info: &ConnectInfo) -> Connected<S> {
    let started = Instant::now();
    let (params, vsn) = query_params(info.uri.query());
    let Some(serializer) = Serializer::from_vsn(vsn.as_deref()) else {
        tracing::warn!(vsn = ?vsn, "refusing connection: unsupported serializer version");
        return Connected::Refused(plain(StatusCode::FORBIDDEN, ""));
    };
    if !origin_allowed(mount, &info.headers) {
        return Connected::Refused(plain(StatusCode::FORBIDDEN, ""));
    }
    let shown = log_params(&params, vsn.as_deref());
    let name = mount.handler.name();
    match mount.handler.connect(&params, info).await {
        Ok(assigns) => {
            mount
                .services
                .metrics
                .increment("socket_connect", &[("status", "success"), ("socket", name)]);
            tracing::info!(
                "CONNECTED TO {name} in {:?}\n  Transport: {}\n  Serializer: {}\n  Parameters: {shown}",
                started.elapsed(),
                info.transport.as_str(),
                serializer.name()
            );
            Connected::Accepted(assigns, serializer)
        }
        Err(refused) => {
            mount
                .services
                .metrics
                .increment("socket_connect", &[("status", "error"), ("socket", name)]);
            tracing::info!(
                "REFUSED CONNECTION TO {name} in {:?}\n  Transport: {}\n  Serializer: {}\n  Parameters: {shown}\n  Reason: {}",
                started.elapsed(),
                info.transport.as_str(),
                serializer.name(),
                refused.0
            );
            Connected::Refused(plain(StatusCode::FORBIDDEN, ""))
        }
    }
}

/// Params as Phoenix logs them: with `vsn`, secrets filtered.
fn log_params(params: &Params, vsn: Option<&str>) -> Value {
    let mut shown: serde_json::Map<String, Value> = params
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    if let Some(vsn) = vsn {
        shown.insert("vsn".into(), Value::String(vsn.into()));
    }
    filter_params(&Value::Object(shown))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vsn_is_taken_out_of_the_params() {
        let (params, vsn) = query_params(Some("token=abc%20d&vsn=2.0.0"));
        assert_eq!(vsn.as_deref(), Some("2.0.0"));
        assert_eq!(params.get("token").map(String::as_str), Some("abc d"));
        assert!(!params.contains_key("vsn"));
    }

    #[test]
    fn logged_params_hide_tokens_and_passwords() {
        let (params, vsn) = query_params(Some("token=secret&password=p&user=1&vsn=2.0.0"));
        let shown = log_params(&params, vsn.as_deref());
        assert_eq!(shown["token"], "[FILTERED]");
        assert_eq!(shown["password"], "[FILTERED]");
        assert_eq!(shown["user"], "1");
        assert_eq!(shown["vsn"], "2.0.0");
    }
}
