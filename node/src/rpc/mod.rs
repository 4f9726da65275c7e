//! The RPC listeners: JSON-RPC over HTTP and WebSocket on one port (jsonrpsee), plus
//! plain HTTP `GET /status`, `/health`, `/ready` and `/metrics`; per-client rate limits;
//! and an admin listener that requires a bearer token.
//!
//! Requests larger than `rpc.max-request-bytes` are refused by jsonrpsee with a JSON-RPC
//! error before they are parsed; malformed JSON, unknown methods and bad parameters get
//! the standard JSON-RPC errors with a message saying what was wrong.

mod limit;
pub mod methods;

use limit::{CallLimit, RateLimiter};

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use anyhow::{Context as _, Result};
use jsonrpsee::core::BoxError;
use jsonrpsee::server::middleware::rpc::RpcServiceBuilder;
use jsonrpsee::server::{
    BatchRequestConfig, HttpBody, HttpRequest, HttpResponse, Methods, StopHandle,
};
use jsonrpsee::RpcModule;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::service::Shared;

/// Calls in one JSON-RPC batch, at most.
const MAX_BATCH_CALLS: u32 = 100;
/// Subscriptions one connection may hold (the node's total is
/// `service::stream::MAX_SUBSCRIPTIONS`).
const MAX_SUBSCRIPTIONS_PER_CONNECTION: u32 = 16;
/// The plain HTTP endpoints.
const PLAIN_PATHS: [&str; 4] = ["/health", "/status", "/ready", "/metrics"];

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
        .max_subscriptions_per_connection(MAX_SUBSCRIPTIONS_PER_CONNECTION)
        .set_batch_request_config(BatchRequestConfig::Limit(MAX_BATCH_CALLS))
        .build();
    let builder = jsonrpsee::server::Server::builder()
        .set_config(server_config)
        .to_service_builder();
    let limiter = Arc::new(RateLimiter::new(listener.rate_limit));
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
            let client = remote.ip();
            let calls = limiter.clone();
            let rpc = builder
                .clone()
                .set_rpc_middleware(RpcServiceBuilder::new().layer_fn(move |service| CallLimit {
                    service,
                    client,
                    limiter: calls.clone(),
                }));
            let service = Endpoints {
                inner: rpc.build(methods.clone(), stop.clone()),
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
        // A WebSocket upgrade takes a token; its calls are counted one by one after.
        let upgrade = request.headers().contains_key("upgrade");
        if upgrade && !self.limiter.allow(self.client) {
            metrics::counter!("synod_rpc_rate_limited_total").increment(1);
            return ready(rpc_error(
                429,
                limit::RATE_LIMITED,
                "rate limit exceeded: slow down",
            ));
        }
        if let Some(token) = &self.token {
            let given = request
                .headers()
                .get("authorization")
                .map_or(&[][..], |v| v.as_bytes());
            // Compared in constant time: the time taken says nothing of the token.
            if !bool::from(given.ct_eq(token.as_bytes())) {
                // Every wrong guess takes a token: guessing is as slow as the limit.
                if !self.limiter.allow(self.client) {
                    metrics::counter!("synod_rpc_rate_limited_total").increment(1);
                    return ready(rpc_error(
                        429,
                        limit::RATE_LIMITED,
                        "rate limit exceeded: slow down",
                    ));
                }
                return ready(rpc_error(401, -32006, "missing or wrong bearer token"));
            }
        }
        if request.method() == http::Method::GET {
            let path = request.uri().path();
            if PLAIN_PATHS.contains(&path) {
                // JSON-RPC calls are counted one by one by `CallLimit`; these here.
                if !self.limiter.allow(self.client) {
                    metrics::counter!("synod_rpc_rate_limited_total").increment(1);
                    return ready(rpc_error(
                        429,
                        limit::RATE_LIMITED,
                        "rate limit exceeded: slow down",
                    ));
                }
                if let Some(response) = self.plain(path) {
                    return ready(response);
                }
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::methods::tests::{genesis, shared_with};
    use jsonrpsee::server::stop_channel;
    use serde_json::Value;

    /// A listener of the public methods allowing `rate` calls a second per client, and
    /// `subscriptions` subscriptions in all.
    async fn listen(
        rate: u32,
        subscriptions: usize,
    ) -> (SocketAddr, StopHandle, std::path::PathBuf) {
        let (shared, dir) = shared_with(&genesis(), subscriptions);
        let (stop, handle) = stop_channel();
        std::mem::forget(handle);
        let listener = Listener {
            addr: "127.0.0.1:0".parse().unwrap(),
            max_request_bytes: 1 << 20,
            max_connections: 16,
            rate_limit: rate,
            token: None,
        };
        let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
            .build_recorder()
            .handle();
        let module = methods::module(shared.clone());
        let addr = start(listener, module, shared, metrics, stop.clone())
            .await
            .unwrap();
        (addr, stop, dir)
    }

    fn call(id: usize) -> Value {
        json!({"jsonrpc": "2.0", "id": id, "method": "synod_chainInfo", "params": []})
    }

    fn limited(answers: &[Value]) -> usize {
        answers
            .iter()
            .filter(|a| a["error"]["code"] == limit::RATE_LIMITED)
            .count()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_call_of_a_batch_counts_against_the_rate_limit() {
        let (addr, _stop, dir) = listen(5, 4).await;
        let url = format!("http://{addr}");
        let batch: Vec<Value> = (0..20).map(call).collect();
        let answers: Vec<Value> = tokio::task::spawn_blocking(move || {
            ureq::post(&url)
                .send_json(&batch)
                .unwrap()
                .body_mut()
                .read_json()
                .unwrap()
        })
        .await
        .unwrap();
        assert_eq!(answers.len(), 20);
        // Five tokens: the other fifteen calls are refused, each in its place.
        assert!(limited(&answers) >= 14, "{answers:?}");
        assert!(answers[0]["result"]["chain_id"] == 31_337, "{}", answers[0]);
        // A batch over the bound is refused whole.
        let url = format!("http://{addr}");
        let huge: Vec<Value> = (0..MAX_BATCH_CALLS as usize + 1).map(call).collect();
        let answer: Value = tokio::task::spawn_blocking(move || {
            ureq::post(&url)
                .send_json(&huge)
                .unwrap()
                .body_mut()
                .read_json()
                .unwrap()
        })
        .await
        .unwrap();
        assert!(answer["error"]["code"].is_i64(), "{answer}");
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A WebSocket to `addr` that sends `messages` and reads an answer to each.
    fn websocket(addr: SocketAddr, messages: Vec<Value>) -> Vec<Value> {
        let (mut ws, _) = tungstenite::connect(format!("ws://{addr}")).unwrap();
        let mut answers = Vec::new();
        for m in messages {
            ws.send(tungstenite::Message::text(m.to_string())).unwrap();
            let answer = ws.read().unwrap();
            answers.push(serde_json::from_str(answer.to_text().unwrap()).unwrap());
        }
        answers
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn calls_over_a_websocket_count_against_the_rate_limit() {
        let (addr, _stop, dir) = listen(5, 4).await;
        let answers =
            tokio::task::spawn_blocking(move || websocket(addr, (0..20).map(call).collect()))
                .await
                .unwrap();
        assert!(limited(&answers) >= 14, "{answers:?}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn subscriptions_are_bounded_in_total() {
        let (addr, _stop, dir) = listen(100, 1).await;
        let subscribe = |id| json!({"jsonrpc": "2.0", "id": id, "method": "synod_subscribeFinalized", "params": []});
        let (first, second) = tokio::task::spawn_blocking(move || {
            // The first connection holds the only slot while the second asks.
            let (mut ws, _) = tungstenite::connect(format!("ws://{addr}")).unwrap();
            ws.send(tungstenite::Message::text(subscribe(1).to_string()))
                .unwrap();
            let first: Value = serde_json::from_str(ws.read().unwrap().to_text().unwrap()).unwrap();
            let second = websocket(addr, vec![subscribe(2)]).remove(0);
            (first, second)
        })
        .await
        .unwrap();
        assert!(
            first["error"].is_null() && !first["result"].is_null(),
            "{first}"
        );
        assert_eq!(
            second["error"]["code"],
            methods::code::TOO_MANY_SUBSCRIPTIONS,
            "{second}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
