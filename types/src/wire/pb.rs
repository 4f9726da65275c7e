//! The protobuf schema of `docs/wire.md`, as Rust types.
#![allow(missing_docs)]

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Header {
    #[prost(bytes = "vec", tag = "1")]
    pub parent: Vec<u8>,
    #[prost(uint64, tag = "2")]
    pub height: u64,
    #[prost(uint64, tag = "3")]
    pub view: u64,
    #[prost(uint64, tag = "4")]
    pub epoch: u64,
    #[prost(bytes = "vec", tag = "5")]
    pub payload_digest: Vec<u8>,
    #[prost(bytes = "vec", tag = "6")]
    pub da_commitment: Vec<u8>,
    #[prost(uint64, tag = "7")]
    pub timestamp_ms: u64,
    #[prost(uint32, tag = "8")]
    pub proposer: u32,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Certificate {
    #[prost(uint64, tag = "1")]
    pub epoch: u64,
    #[prost(uint64, tag = "2")]
    pub view: u64,
    #[prost(bytes = "vec", tag = "3")]
    pub block_hash: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    pub signers: Vec<u8>,
    #[prost(bytes = "vec", tag = "5")]
    pub signature: Vec<u8>,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Block {
    #[prost(message, optional, tag = "1")]
    pub header: Option<Header>,
    #[prost(message, optional, tag = "2")]
    pub justify: Option<Certificate>,
    #[prost(bytes = "vec", repeated, tag = "3")]
    pub payload: Vec<Vec<u8>>,
    #[prost(message, optional, tag = "4")]
    pub next_epoch: Option<NextEpoch>,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct NextEpoch {
    #[prost(uint64, tag = "1")]
    pub epoch: u64,
    #[prost(uint64, tag = "2")]
    pub l1_block: u64,
    #[prost(bytes = "vec", repeated, tag = "3")]
    pub keys: Vec<Vec<u8>>,
    #[prost(uint64, repeated, tag = "4")]
    pub stakes: Vec<u64>,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct TimeoutCert {
    #[prost(uint64, tag = "1")]
    pub epoch: u64,
    #[prost(uint64, tag = "2")]
    pub view: u64,
    #[prost(bytes = "vec", tag = "3")]
    pub signers: Vec<u8>,
    #[prost(uint64, repeated, tag = "4")]
    pub high_qc_views: Vec<u64>,
    #[prost(bytes = "vec", tag = "5")]
    pub signature: Vec<u8>,
    #[prost(message, optional, tag = "6")]
    pub high_qc: Option<Certificate>,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Proposal {
    #[prost(message, optional, tag = "1")]
    pub block: Option<Block>,
    #[prost(message, optional, tag = "2")]
    pub timeout_cert: Option<TimeoutCert>,
    #[prost(message, optional, tag = "3")]
    pub commit: Option<Certificate>,
    #[prost(bytes = "vec", tag = "4")]
    pub signature: Vec<u8>,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct CommitVote {
    #[prost(uint64, tag = "1")]
    pub view: u64,
    #[prost(bytes = "vec", tag = "2")]
    pub block_hash: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub signature: Vec<u8>,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Vote {
    #[prost(uint64, tag = "1")]
    pub epoch: u64,
    #[prost(uint64, tag = "2")]
    pub view: u64,
    #[prost(bytes = "vec", tag = "3")]
    pub block_hash: Vec<u8>,
    #[prost(uint32, tag = "4")]
    pub voter: u32,
    #[prost(bytes = "vec", tag = "5")]
    pub signature: Vec<u8>,
    #[prost(message, optional, tag = "6")]
    pub commit: Option<CommitVote>,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Timeout {
    #[prost(uint64, tag = "1")]
    pub epoch: u64,
    #[prost(uint64, tag = "2")]
    pub view: u64,
    #[prost(message, optional, tag = "3")]
    pub high_qc: Option<Certificate>,
    #[prost(message, optional, tag = "4")]
    pub last_tc: Option<TimeoutCert>,
    #[prost(uint32, tag = "5")]
    pub sender: u32,
    #[prost(bytes = "vec", tag = "6")]
    pub signature: Vec<u8>,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct SyncRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub block_hash: Vec<u8>,
    #[prost(uint32, tag = "2")]
    pub max_blocks: u32,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct SyncResponse {
    #[prost(message, repeated, tag = "1")]
    pub blocks: Vec<Block>,
}

#[derive(Clone, PartialEq, ::prost::Oneof)]
pub enum Kind {
    #[prost(message, tag = "1")]
    Proposal(Proposal),
    #[prost(message, tag = "2")]
    Vote(Vote),
    #[prost(message, tag = "3")]
    Timeout(Timeout),
    #[prost(message, tag = "4")]
    SyncRequest(SyncRequest),
    #[prost(message, tag = "5")]
    SyncResponse(SyncResponse),
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Envelope {
    #[prost(oneof = "Kind", tags = "1, 2, 3, 4, 5")]
    pub kind: Option<Kind>,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Tx {
    #[prost(uint64, tag = "1")]
    pub namespace: u64,
    #[prost(bytes = "vec", tag = "2")]
    pub payload: Vec<u8>,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Batch {
    #[prost(uint32, tag = "1")]
    pub author: u32,
    #[prost(uint64, tag = "2")]
    pub epoch: u64,
    #[prost(uint64, tag = "3")]
    pub seq: u64,
    #[prost(message, repeated, tag = "4")]
    pub txs: Vec<Tx>,
}
