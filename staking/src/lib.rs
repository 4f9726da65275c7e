//! Synod's staking model: where each epoch's committee comes from.
//!
//! - [`genesis::Genesis`], the genesis file: the chain id, the bridge address that
//!   signatures are bound to, the genesis time and the first committee with its stakes.
//! - [`reader::Reader`]: the L1 StakeTable's snapshot of each later epoch, read from its
//!   events with a confirmation depth, identical on every node. The consensus hand-over
//!   to it is `docs/protocol.md` §11.
//! - [`handover`]: the hand-over record a leader proposes, a voter's check of it against
//!   its own reading (H1), and the committee an epoch's last block hands over to.
//!
//! It does not talk to L1 itself ([`reader::StakeTableSource`] is implemented by the
//! bridge client) and does not decide when a committee takes over (consensus does).

pub mod genesis;
pub mod handover;
pub mod reader;

pub use genesis::{Genesis, GenesisError, GenesisValidator};
pub use handover::RecordCheck;
pub use reader::{Epochs, ReadError, Reader, ReaderConfig, StakeTableSource};
