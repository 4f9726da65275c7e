//! The RPC listeners: JSON-RPC over HTTP and WebSocket on one port (jsonrpsee), plus
//! plain HTTP `GET /status`, `/health`, `/ready` and `/metrics`; per-client rate limits;
//! and an admin listener that requires a bearer token.
//!
//! Requests larger than `rpc.max-request-bytes` are refused by jsonrpsee with a JSON-RPC
//! error before they are parsed; malformed JSON, unknown methods and bad parameters get
//! the standard JSON-RPC errors with a message saying what was wrong.

pub mod methods;

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use anyhow::{Context as _, Result};
use jsonrpsee::core::BoxError;
use jsonrpsee::server::{HttpBody, HttpRequest, HttpResponse, Methods, StopHandle};
use jsonrpsee::RpcModule;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;

use crate::service::Shared;

/// Clients remembered by the rate limiter, at most; idle ones are dropped first.
const MAX_TRACKED_CLIENTS: usize = 65_536;

/// A token bucket per client address.
#[derive(Debug)]
struct RateLimiter {
    per_second: f64,
    clients: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl RateLimiter {
    fn allow(&self, client: IpAddr) -> bool {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if clients.len() >= MAX_TRACKED_CLIENTS && !clients.contains_key(&client) {
            clients.retain(|_, (_, last)| now.duration_since(*last).as_secs() < 10);
            if clients.len() >= MAX_TRACKED_CLIENTS {
                return false;
            }
        }
        let (tokens, last) = clients.entry(client).or_insert((self.per_second, now));
        let refill = now.duration_since(*last).as_secs_f64() * self.per_second;
        *tokens = (*tokens + refill).min(self.per_second);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Settings of one listener.
#[derive(Debug, Clone)]
pub struct Listener {
    /// Address to bind.
    pub addr: std::net::SocketAddr,
    /// Largest request body.
    pub max_request_bytes: u32,
    /// Most concurrent connections.
    pub max_connections: u32,
    /// Requests per second per client address.
    pub rate_limit: u32,
    /// Bearer token every request must carry (admin listener).
    pub token: Option<String>,
}

/// Starts a listener serving `module`; returns the bound address. It stops when
/// `stop` is stopped.
pub async fn start<C: Send + Sync + 'static>(
    listener: Listener,
    module: RpcModule<C>,
    shared: Shared,
    metrics: PrometheusHandle,
    stop: StopHandle,
) -> Result<SocketAddr> {
    let socket = tokio::net::TcpListener::bind(&listener.addr)
        .await
        .with_context(|| format!("cannot bind the RPC listener to {}", listener.addr))?;
    let local = socket.local_addr()?;
    let methods: Methods = module.into();
    let server_config = jsonrpsee::server::ServerConfig::builder()
        .max_request_body_size(listener.max_request_bytes)
        .max_response_body_size(32 << 20)
        .max_connections(listener.max_connections)
        .max_subscriptions_per_connection(64)
        .build();
    let builder = jsonrpsee::server::Server::builder()
        .set_config(server_config)
        .to_service_builder();
    let limiter = Arc::new(RateLimiter {
        per_second: f64::from(listener.rate_limit.max(1)),
        clients: Mutex::new(HashMap::new()),
    });
    let token = listener.token.map(|t| Arc::new(format!("Bearer {t}")));
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                accepted = socket.accept() => accepted,
                _ = stop.clone().shutdown() => break,
            };
            let (stream, remote) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::debug!(error = %e, "accept failed");
                    continue;
                }
            };
            let service = Endpoints {
                inner: builder.clone().build(methods.clone(), stop.clone()),
                client: remote.ip(),
                limiter: limiter.clone(),
                shared: shared.clone(),
                metrics: metrics.clone(),
                token: token.clone(),
            };
            let stopped = stop.clone().shutdown();
            tokio::spawn(async move {
                let _ =
                    jsonrpsee::server::serve_with_graceful_shutdown(stream, service, stopped).await;
            });
        }
    });
    Ok(local)
}

/// Per-connection service: rate limit, token check, the plain HTTP endpoints, then
/// jsonrpsee.
#[derive(Clone)]
struct Endpoints<S> {
    inner: S,
    client: IpAddr,
    limiter: Arc<RateLimiter>,
    shared: Shared,
    metrics: PrometheusHandle,
    token: Option<Arc<String>>,
}

fn reply(status: u16, content_type: &str, body: String) -> HttpResponse {
    http::Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(HttpBody::from(body))
        .expect("static status and header are valid")
}

fn rpc_error(status: u16, code: i32, message: &str) -> HttpResponse {
    let body = json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": message}});
    reply(status, "application/json", body.to_string())
}

impl<S> Endpoints<S> {
    fn plain(&self, path: &str) -> Option<HttpResponse> {
        let json_reply =
            |status, v: serde_json::Value| Some(reply(status, "application/json", v.to_string()));
        match path {
            "/health" => json_reply(200, json!({"status": "ok"})),
            "/status" => json_reply(
                200,
                serde_json::to_value(&*self.shared.status.borrow()).ok()?,
            ),
            "/ready" => {
                let s = self.shared.status.borrow().clone();
                // 200 synced, 206 syncing, 503 not ready (no peer to learn from).
                let (code, state) = if s.peers == 0 && self.shared.committee.borrow().size() > 1 {
                    (503, "not ready: no peers")
                } else if s.synced {
                    (200, "synced")
                } else {
                    (206, "syncing")
                };
                json_reply(
                    code,
                    json!({"status": state, "finalized": s.finalized_height, "network": s.network_height}),
                )
            }
            "/metrics" => Some(reply(
                200,
                "text/plain; version=0.0.4",
                self.metrics.render(),
            )),
            _ => None,
        }
    }
}

type Boxed = Pin<Box<dyn Future<Output = Result<HttpResponse, BoxError>> + Send>>;

impl<S, B> tower::Service<HttpRequest<B>> for Endpoints<S>
where
    S: tower::Service<HttpRequest<B>, Response = HttpResponse> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    B: Send + 'static,
{
    type Response = HttpResponse;
    type Error = BoxError;
    type Future = Boxed;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: HttpRequest<B>) -> Self::Future {
        let ready = |r: HttpResponse| -> Boxed { Box::pin(async move { Ok(r) }) };
        if !self.limiter.allow(self.client) {
            metrics::counter!("synod_rpc_rate_limited_total").increment(1);
            return ready(rpc_error(429, -32005, "rate limit exceeded: slow down"));
        }
        if let Some(token) = &self.token {
            let given = request
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok());
            if given != Some(token.as_str()) {
                return ready(rpc_error(401, -32006, "missing or wrong bearer token"));
            }
        }
        if request.method() == http::Method::GET {
            if let Some(response) = self.plain(request.uri().path()) {
                return ready(response);
            }
        }
        metrics::counter!("synod_rpc_requests_total").increment(1);
        let future = self.inner.call(request);
        Box::pin(async move { future.await.map_err(Into::into) })
    }
}

/// The admin methods: network details. Served only on the admin listener.
pub fn admin_module(shared: Shared, network: synod_p2p::NetworkHandle) -> RpcModule<Shared> {
    let mut m = RpcModule::new(shared);
    m.register_method("admin_peers", move |_, _, _| {
        let s = network.status();
        json!({
            "peer_id": network.local_peer_id().to_string(),
            "peers": s.peers,
            "listen": s.listen.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            "banned_peers": s.banned_peers,
            "dropped_events": s.dropped_events,
            "invalid_messages": s.invalid_messages,
        })
    })
    .expect("method names are unique");
    m
}
