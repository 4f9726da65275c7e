//! Two real swarms on loopback: gossip with validation, direct requests, penalties.

use std::time::Duration;

use synod_p2p::scoring::BAN_POINTS;
use synod_p2p::{Event, Gossip, Multiaddr, NetworkConfig, Request, Response, Verdict};
use synod_types::wire::Limits;
use synod_types::{Batch, Hash, Tx};
use tokio::sync::mpsc;

fn config(port: u16, bootnodes: Vec<Multiaddr>) -> NetworkConfig {
    NetworkConfig {
        chain_id: 7,
        listen: vec![format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap()],
        bootnodes,
        max_peers: 16,
        limits: Limits::new(4),
        request_timeout: Duration::from_secs(5),
        event_queue: 1024,
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn next_matching<T>(
    events: &mut mpsc::Receiver<Event>,
    mut f: impl FnMut(Event) -> Option<T>,
) -> T {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Some(t) = f(events.recv().await.expect("network running")) {
                return t;
            }
        }
    })
    .await
    .expect("event within 20 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_requests_and_bans_between_two_nodes() {
    let (pa, pb) = (free_port(), free_port());
    let ka = libp2p_identity();
    let a_id = ka.public().to_peer_id();
    let (a, mut a_events) = synod_p2p::start(ka, config(pa, vec![])).unwrap();
    let boot: Multiaddr = format!("/ip4/127.0.0.1/tcp/{pa}/p2p/{a_id}")
        .parse()
        .unwrap();
    let (b, mut b_events) = synod_p2p::start(libp2p_identity(), config(pb, vec![boot])).unwrap();
    let b_id = b.local_peer_id();
    next_matching(&mut a_events, |e| {
        matches!(e, Event::Connected(p) if p == b_id).then_some(())
    })
    .await;

    // Gossip: published by B, decoded and delivered at A, with B as its origin. Retried
    // until the subscriptions have been exchanged.
    let batch = Batch {
        author: 1,
        epoch: 0,
        seq: 0,
        txs: vec![Tx {
            namespace: 3,
            payload: vec![1, 2, 3],
        }],
    };
    let mut got = None;
    for attempt in 0..40u64 {
        let mut batch = batch.clone();
        batch.seq = attempt;
        b.publish(Gossip::Batch(batch)).await;
        if let Ok(Some(event)) = tokio::time::timeout(Duration::from_millis(500), async {
            loop {
                match a_events.recv().await {
                    Some(Event::Gossip {
                        origin,
                        id,
                        source,
                        message: Gossip::Batch(t),
                    }) => return Some((origin, id, source, t)),
                    Some(_) => continue,
                    None => return None,
                }
            }
        })
        .await
        {
            got = Some(event);
            break;
        }
    }
    let (origin, id, source, received) = got.expect("gossip delivered");
    assert_eq!(origin, Some(b_id));
    assert_eq!(received.txs, batch.txs);
    a.report(id, source, Verdict::Accept).await;

    // Direct request, answered by A's "node".
    let responder = tokio::spawn(async move {
        let (peer, id, request) = next_matching(&mut a_events, |e| match e {
            Event::Request { peer, id, request } => Some((peer, id, request)),
            _ => None,
        })
        .await;
        assert_eq!(peer, b_id);
        assert_eq!(request, Request::Batches(vec![Hash::from_u64(5)]));
        a.respond(id, Response::Refused("no such batch".into()))
            .await;
        (a, a_events)
    });
    let answer = b
        .request(a_id, Request::Batches(vec![Hash::from_u64(5)]))
        .await
        .unwrap();
    assert_eq!(answer, Response::Refused("no such batch".into()));
    let (a, mut a_events) = responder.await.unwrap();

    // Enough penalties disconnect and ban the peer.
    a.penalize(b_id, BAN_POINTS).await;
    next_matching(&mut a_events, |e| {
        matches!(e, Event::Disconnected(p) if p == b_id).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(a.status().banned_peers, 1);
    drop(b_events.try_recv());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bootnode_that_starts_later_is_dialed_again() {
    let (pa, pb) = (free_port(), free_port());
    let ka = libp2p_identity();
    let a_id = ka.public().to_peer_id();
    let boot: Multiaddr = format!("/ip4/127.0.0.1/tcp/{pa}/p2p/{a_id}")
        .parse()
        .unwrap();
    // B starts first: its bootnode is not listening yet and the first dial fails.
    let (b, mut b_events) = synod_p2p::start(libp2p_identity(), config(pb, vec![boot])).unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(b.status().peers, 0);
    let (_a, _a_events) = synod_p2p::start(ka, config(pa, vec![])).unwrap();
    next_matching(&mut b_events, |e| {
        matches!(e, Event::Connected(p) if p == a_id).then_some(())
    })
    .await;
}

fn libp2p_identity() -> libp2p_identity_reexport::Keypair {
    libp2p_identity_reexport::Keypair::generate_ed25519()
}

mod libp2p_identity_reexport {
    pub use synod_p2p::Keypair;
}
