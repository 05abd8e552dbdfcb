//! The `switchboard` binary for tests that run it as operators do. Apart
//! from `mod.rs` because the load tests (examples), which share `mod.rs`,
//! have no binary to point at.

/// The `switchboard` binary, with no logging or database settings
/// inherited from the developer's shell.
pub fn binary() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.env_remove("RUST_LOG").env_remove("DATABASE_URL").env_remove("REDIS_URL");
    cmd
}
