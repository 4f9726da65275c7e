//! Per-client rate limits, counted per JSON-RPC call: each call of a batch and each call
//! over a WebSocket takes a token, not only each HTTP request.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::future::{ready, Either};
use jsonrpsee::server::middleware::rpc::{
    Batch, BatchEntry, BatchEntryErr, Notification, RpcServiceT,
};
use jsonrpsee::types::{ErrorObject, Request};
use jsonrpsee::MethodResponse;

/// JSON-RPC code of a call refused by the rate limit.
pub const RATE_LIMITED: i32 = -32005;
const RATE_LIMITED_MESSAGE: &str = "rate limit exceeded: slow down";

/// Clients remembered by the rate limiter, at most; idle ones are dropped first.
const MAX_TRACKED_CLIENTS: usize = 65_536;

/// A token bucket per client address.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    clients: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl RateLimiter {
    /// A limiter allowing `per_second` calls per second to each client address (bursts
    /// of as many).
    pub fn new(per_second: u32) -> RateLimiter {
        RateLimiter {
            per_second: f64::from(per_second.max(1)),
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one call's token of `client`; false when it has none left.
    pub fn allow(&self, client: IpAddr) -> bool {
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

/// The rate limit as JSON-RPC middleware of one connection from `client`.
#[derive(Debug, Clone)]
pub struct CallLimit<S> {
    /// The service the allowed calls go on to.
    pub service: S,
    /// The connection's client address.
    pub client: IpAddr,
    /// The listener's limiter.
    pub limiter: Arc<RateLimiter>,
}

fn limited() -> ErrorObject<'static> {
    metrics::counter!("synod_rpc_rate_limited_total").increment(1);
    ErrorObject::borrowed(RATE_LIMITED, RATE_LIMITED_MESSAGE, None)
}

impl<S> RpcServiceT for CallLimit<S>
where
    S: RpcServiceT<
            MethodResponse = MethodResponse,
            BatchResponse = MethodResponse,
            NotificationResponse = MethodResponse,
        > + Send
        + Sync
        + Clone
        + 'static,
{
    type MethodResponse = MethodResponse;
    type NotificationResponse = MethodResponse;
    type BatchResponse = MethodResponse;

    fn call<'a>(&self, request: Request<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        metrics::counter!("synod_rpc_requests_total").increment(1);
        if self.limiter.allow(self.client) {
            Either::Left(self.service.call(request))
        } else {
            Either::Right(ready(MethodResponse::error(request.id, limited())))
        }
    }

    fn batch<'a>(&self, batch: Batch<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        // Every call of the batch takes a token; those beyond the client's tokens are
        // answered with the rate-limit error, in their place.
        let entries: Vec<_> = batch
            .into_iter()
            .filter_map(|entry| match entry {
                Ok(BatchEntry::Call(request)) => {
                    metrics::counter!("synod_rpc_requests_total").increment(1);
                    Some(if self.limiter.allow(self.client) {
                        Ok(BatchEntry::Call(request))
                    } else {
                        Err(BatchEntryErr::new(request.id, limited()))
                    })
                }
                Ok(BatchEntry::Notification(n)) => self
                    .limiter
                    .allow(self.client)
                    .then_some(Ok(BatchEntry::Notification(n))),
                Err(e) => Some(Err(e)),
            })
            .collect();
        self.service.batch(Batch::from(entries))
    }

    fn notification<'a>(
        &self,
        n: Notification<'a>,
    ) -> impl Future<Output = MethodResponse> + Send + 'a {
        if self.limiter.allow(self.client) {
            Either::Left(self.service.notification(n))
        } else {
            Either::Right(ready(MethodResponse::notification()))
        }
    }
}
