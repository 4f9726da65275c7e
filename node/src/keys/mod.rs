pub mod keystore;
