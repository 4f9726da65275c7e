//! `synod start`: the daemon.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use synod_p2p::{Multiaddr, NetworkConfig};
use synod_staking::Genesis;
use synod_types::wire::Limits;
use synod_types::SecretKey;

use crate::cli::{L1Args, StartArgs};
use crate::config::{Config, Role};
use crate::datadir;
use crate::keys as files;
use crate::rpc::{self, Listener};
use crate::service::{Node, Setup};
use synod_bridge::publisher::Publisher;
use synod_keys::protection::Protection;
use synod_store::{Retention, Store};

/// Resolves the configuration of `synod start` (file, flags, variables).
pub fn resolve(args: &StartArgs) -> Result<Config> {
    Ok(Config::resolve(
        args.config.as_deref(),
        args.options.clone(),
    )?)
}

/// Runs `synod start`.
pub fn run(args: &StartArgs) -> Result<bool> {
    let config = resolve(args)?;
    if args.dump_config {
        crate::cmd::print(&config.to_toml())?;
        return Ok(true);
    }
    crate::telemetry::init_logs(config.log.format, &config.log.level)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("synod")
        .build()
        .context("cannot start the async runtime")?;
    #[cfg(feature = "testing")]
    if args.equivocate {
        tracing::warn!(
            "--testing.equivocate: this validator signs conflicting proposals and will be slashed"
        );
        crate::service::testing::equivocate_as_leader();
    }
    runtime.block_on(daemon(config))?;
    // Background tasks (open connections, timers) are not waited for.
    runtime.shutdown_timeout(Duration::from_secs(2));
    Ok(true)
}

fn load_key(config: &Config) -> Result<Option<SecretKey>> {
    if config.node.role == Role::Full {
        return Ok(None);
    }
    let Some(password_file) = &config.node.password_file else {
        bail!(
            "a validator needs --node.password-file to open its keystore in {}",
            datadir::keys(&config.node.data_dir).display()
        );
    };
    files::open_validator_key(&config.node.data_dir, password_file).map(Some)
}

/// The L1 publisher, when `l1.rpc` is set: it follows the bridge, and posts when this
/// validator has an L1 account (`l1.key-file` or `SYNOD_L1_PRIVATE_KEY`).
async fn publisher(
    config: &Config,
    key: Option<&SecretKey>,
    attested: tokio::sync::watch::Sender<Option<u64>>,
) -> Result<Option<Publisher>> {
    let l1 = &config.l1;
    let args = L1Args::from(l1);
    let Some(rpc) = &args.rpc else {
        return Ok(None);
    };
    let client = args.open(args.signer()?).await?;
    tracing::info!(
        rpc = %rpc,
        bridge = %client.bridge_address(),
        account = ?client.account(),
        "L1 connected"
    );
    Ok(Some(Publisher {
        l1: client,
        key: key.map(SecretKey::public_key),
        attest_every: l1.attest_every,
        fallback: Duration::from_secs(l1.fallback_secs),
        advance_epochs: l1.advance_epochs,
        attested,
    }))
}

/// Starts the staking reader: the StakeTable's snapshots of the epochs after `epoch`,
/// scanned from that epoch's snapshot block.
async fn staking_reader(
    config: &Config,
    l1: &synod_bridge::L1,
    epoch: u64,
) -> tokio::sync::watch::Receiver<synod_staking::Epochs> {
    let from_block = match l1.committee(epoch).await {
        Ok(snapshot) => snapshot.l1_block,
        Err(e) => {
            tracing::warn!(error = %e, epoch, "reading the genesis epoch's snapshot block; scanning L1 from block 0");
            0
        }
    };
    let cfg = synod_staking::ReaderConfig {
        confirmations: config.l1.confirmations,
        ..synod_staking::ReaderConfig::default()
    };
    let reader = synod_staking::Reader::new(l1.clone(), cfg, from_block, epoch);
    let (tx, rx) = tokio::sync::watch::channel(reader.epochs());
    tokio::spawn(reader.run(tx));
    rx
}

fn listen_addrs(config: &Config) -> Result<Vec<Multiaddr>> {
    let tcp = config.network.listen.clone();
    let mut addrs = vec![tcp.clone()];
    if config.network.quic {
        // Same host and port, over UDP.
        let quic: String = tcp
            .to_string()
            .replace("/tcp/", "/udp/")
            .trim_end_matches('/')
            .to_string()
            + "/quic-v1";
        addrs.push(
            quic.parse()
                .context("network.listen cannot be mapped to QUIC")?,
        );
    }
    Ok(addrs)
}

async fn daemon(config: Config) -> Result<()> {
    let genesis = Genesis::load(&config.node.genesis)?;
    let committee = Arc::new(genesis.committee()?);
    let domain = genesis.domain()?;
    let key = load_key(&config)?;
    if let Some(key) = &key {
        if committee.index_of(&key.public_key()).is_none() {
            tracing::warn!("this validator key is not in the genesis committee: it follows the chain, and votes once an epoch's committee includes it");
        }
    }
    // Later epochs may have larger committees than the genesis one; their blocks and
    // certificates must still decode (and stay readable from the store), on nodes
    // without L1 too. Signer sets are checked exactly against their committee.
    let mut limits = Limits::new(synod_types::committee::MAX_COMMITTEE_SIZE);
    limits.max_message_bytes = config.network.max_message_bytes;
    limits.max_tx_bytes = config.mempool.max_tx_bytes;
    let data_dir = &config.node.data_dir;
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let retention = Retention {
        batches: config.da.retention_blocks,
        shards: config.da.shard_retention_blocks,
    };
    let store = Arc::new(Store::open(&datadir::db(data_dir), limits)?.with_retention(retention));
    let protection = Arc::new(Protection::open(&datadir::protection(data_dir))?);
    let identity = synod_p2p::identity::load_or_create(&datadir::identity(data_dir))?;
    let (net, events) = synod_p2p::start(
        identity,
        NetworkConfig {
            chain_id: domain.chain_id,
            listen: listen_addrs(&config)?,
            bootnodes: config.network.bootnodes.clone(),
            max_peers: config.network.max_peers as u32,
            limits,
            request_timeout: Duration::from_secs(10),
            event_queue: 16_384,
        },
    )?;
    let metrics = crate::telemetry::metrics();
    let (attested_tx, attested) = tokio::sync::watch::channel(None);
    let publisher = publisher(&config, key.as_ref(), attested_tx).await?;
    let l1_epochs = match &publisher {
        Some(p) => Some(staking_reader(&config, &p.l1, committee.epoch()).await),
        None => None,
    };
    let (evidence_tx, evidence) = tokio::sync::mpsc::channel(64);
    let (node, shared, inputs) = Node::new(Setup {
        config: config.clone(),
        committee: committee.clone(),
        domain,
        genesis: genesis.block(),
        key,
        limits,
        store,
        protection,
        net: net.clone(),
        events,
        attested,
        evidence: publisher.is_some().then_some(evidence_tx),
        l1_epochs,
    })?;
    if let Some(publisher) = publisher {
        tokio::spawn(publisher.run(shared.committee.clone(), shared.certified.clone(), evidence));
    }
    let (stop, server) = jsonrpsee::server::stop_channel();
    let listener = Listener {
        addr: config.rpc.addr,
        max_request_bytes: config.rpc.max_request_bytes as u32,
        max_connections: config.rpc.max_connections,
        rate_limit: config.rpc.rate_limit,
        token: None,
    };
    let rpc_addr = rpc::start(
        listener.clone(),
        rpc::methods::module(shared.clone()),
        shared.clone(),
        metrics.clone(),
        stop.clone(),
    )
    .await?;
    if let Some(admin_addr) = config.rpc.admin_addr {
        let Some(token_file) = &config.rpc.admin_token_file else {
            bail!("rpc.admin-addr needs rpc.admin-token-file");
        };
        let token = files::read_password(token_file)?.trim().to_string();
        let admin = Listener {
            addr: admin_addr,
            token: Some(token),
            ..listener
        };
        let addr = rpc::start(
            admin,
            rpc::admin_module(shared.clone(), net.clone()),
            shared.clone(),
            metrics,
            stop,
        )
        .await?;
        tracing::info!(%addr, "admin RPC listening");
    }
    tracing::info!(
        role = ?config.node.role,
        peer = %net.local_peer_id(),
        rpc = %rpc_addr,
        validators = committee.size(),
        "synod started"
    );
    let result = node.run(inputs, shutdown_signal()).await;
    let _ = server.stop();
    result
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = interrupt => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
