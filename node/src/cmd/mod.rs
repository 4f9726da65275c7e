pub mod keys;
pub mod sim;
