//! The genesis file: what every node of a network must agree on before the first block.
//!
//! ```json
//! {
//!   "chain_id": 31337,
//!   "bridge": "0x0000000000000000000000000000000000000000",
//!   "timestamp_ms": 1700000000000,
//!   "validators": [ { "public_key": "0x…48 bytes…", "stake": 100 } ]
//! }
//! ```
//!
//! The genesis block is `Header::genesis(timestamp_ms)` with no payload; the leader
//! election seed is the keccak of the file's canonical fields, so two networks with
//! different validators or times never share leaders or block hashes.

use std::path::Path;

use serde::{Deserialize, Serialize};
use synod_types::{
    keccak256, Block, Committee, Domain, Hash, Header, Member, PublicKey, QuorumCert, Scheme,
};

/// Largest genesis file read, in bytes.
pub const MAX_GENESIS_BYTES: u64 = 4 << 20;

/// One validator of the genesis committee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisValidator {
    /// BLS public key, 48 bytes as 0x-hex.
    pub public_key: String,
    /// Stake, counted for quorums and leader election.
    pub stake: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The genesis file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// L1 chain id that signatures are bound to.
    pub chain_id: u64,
    /// Bridge contract address (20 bytes, 0x-hex) that signatures are bound to.
    pub bridge: String,
    /// Genesis time, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// The epoch of the genesis committee: the StakeTable epoch whose snapshot it is
    /// (0, and absent from the file, for a network without L1 stake).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub epoch: u64,
    /// The committee of epoch 0.
    pub validators: Vec<GenesisValidator>,
}

/// Why a genesis file is unusable.
#[derive(Debug, thiserror::Error)]
pub enum GenesisError {
    /// The file could not be read.
    #[error("cannot read genesis file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_GENESIS_BYTES`].
    #[error("genesis file {0} is larger than 4 MiB")]
    TooLarge(String),
    /// Not valid JSON for a genesis.
    #[error("invalid genesis file {path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What the parser said.
        message: String,
    },
    /// A field is out of range.
    #[error("invalid genesis: {0}")]
    Invalid(String),
}

fn parse_hex<const N: usize>(what: &str, s: &str) -> Result<[u8; N], GenesisError> {
    let bytes = hex::decode(s.strip_prefix("0x").unwrap_or(s))
        .map_err(|e| GenesisError::Invalid(format!("{what}: {e}")))?;
    bytes.try_into().map_err(|b: Vec<u8>| {
        GenesisError::Invalid(format!("{what}: {} bytes, expected {N}", b.len()))
    })
}

impl Genesis {
    /// Reads and validates a genesis file.
    pub fn load(path: &Path) -> Result<Genesis, GenesisError> {
        let shown = path.display().to_string();
        let read = |source| GenesisError::Read {
            path: shown.clone(),
            source,
        };
        if std::fs::metadata(path).map_err(read)?.len() > MAX_GENESIS_BYTES {
            return Err(GenesisError::TooLarge(shown));
        }
        let text = std::fs::read_to_string(path).map_err(read)?;
        let genesis: Genesis = serde_json::from_str(&text).map_err(|e| GenesisError::Parse {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        genesis.committee()?;
        genesis.domain()?;
        Ok(genesis)
    }

    /// The JSON text of the file.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a genesis always serializes")
    }

    /// The chain and bridge that every signature is bound to.
    pub fn domain(&self) -> Result<Domain, GenesisError> {
        Ok(Domain {
            chain_id: self.chain_id,
            bridge: parse_hex::<20>("bridge", &self.bridge)?,
        })
    }

    /// The seed of leader election: keccak of the canonical fields.
    pub fn seed(&self) -> Hash {
        let mut data = b"synod-genesis-v1".to_vec();
        data.extend_from_slice(&self.chain_id.to_be_bytes());
        data.extend_from_slice(self.bridge.to_lowercase().as_bytes());
        data.extend_from_slice(&self.timestamp_ms.to_be_bytes());
        for v in &self.validators {
            data.extend_from_slice(v.public_key.to_lowercase().as_bytes());
            data.extend_from_slice(&v.stake.to_be_bytes());
        }
        keccak256(&data)
    }

    /// The genesis committee (real BLS keys, checked to be valid points), of [`Genesis::epoch`].
    pub fn committee(&self) -> Result<Committee, GenesisError> {
        let members = self
            .validators
            .iter()
            .enumerate()
            .map(|(i, v)| {
                Ok(Member {
                    public_key: PublicKey(parse_hex::<48>(
                        &format!("validators[{i}].public_key"),
                        &v.public_key,
                    )?),
                    stake: v.stake,
                })
            })
            .collect::<Result<Vec<_>, GenesisError>>()?;
        Committee::new(self.epoch, Scheme::Bls, self.seed(), members)
            .map_err(|e| GenesisError::Invalid(e.to_string()))
    }

    /// The genesis block: height 0, view 0, no payload.
    pub fn block(&self) -> Block {
        Block::new(
            Header::genesis(self.timestamp_ms),
            QuorumCert::genesis(self.epoch, Hash::ZERO, self.validators.len()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use synod_types::SecretKey;

    fn genesis(n: u64) -> Genesis {
        Genesis {
            chain_id: 31337,
            bridge: format!("0x{}", "00".repeat(20)),
            timestamp_ms: 1,
            epoch: 0,
            validators: (0..n)
                .map(|i| GenesisValidator {
                    public_key: format!(
                        "0x{}",
                        hex::encode(
                            SecretKey::bls_from_ikm(&[i as u8 + 1; 32])
                                .unwrap()
                                .public_key()
                                .0
                        )
                    ),
                    stake: 10 + i,
                })
                .collect(),
        }
    }

    #[test]
    fn a_genesis_gives_the_same_committee_and_block_on_every_read() {
        let g = genesis(4);
        let back: Genesis = serde_json::from_str(&g.to_json()).unwrap();
        assert_eq!(back, g);
        let c = back.committee().unwrap();
        assert_eq!(c.size(), 4);
        assert_eq!(c.total_stake(), 10 + 11 + 12 + 13);
        assert_eq!(back.block().hash(), g.block().hash());
        assert_ne!(
            genesis(5).seed(),
            g.seed(),
            "the seed depends on the committee"
        );
    }

    #[test]
    fn bad_keys_and_fields_are_errors() {
        let mut g = genesis(2);
        g.validators[1].public_key = format!("0x{}", "11".repeat(48));
        assert!(g.committee().is_err(), "not a curve point");
        let mut g = genesis(2);
        g.bridge = "0x1234".into();
        assert!(g.domain().is_err());
        let mut g = genesis(2);
        g.validators[0].stake = 0;
        assert!(g.committee().is_err());
        assert!(serde_json::from_str::<Genesis>(r#"{"chain_id":1}"#).is_err());
    }
}
