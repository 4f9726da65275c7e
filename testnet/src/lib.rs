//! Local multi-node Synod networks of real `synod` processes, driven through their
//! CLI, config files and RPC exactly as an operator would: `synod testnet up|down|load|
//! bench`, load generation, benchmarks and chaos.
//!
//! Not built yet: the node milestone adds it. Until then `make testnet` runs the
//! consensus simulator (`synod sim`).
