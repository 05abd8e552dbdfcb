//! `switchboard replay`: recorded days through the dispatcher under the
//! given configuration and staffing, beside the days as recorded.
//!
//! Reads each day's task events, status log and agents from the store
//! (`store/floor.rs`), turns them into a replay's input
//! (`replay::recorded`), runs it `--runs` times with seeds from `--seed`
//! and prints, per day and for the period, the recorded figures and the
//! mean of the simulated ones, as JSON or CSV.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use figment::Figment;
use figment::providers::{Format as _, Toml};
use jiff::civil::Date;

use super::cli::{StoreArgs, load, open_store};
use crate::api::simulations::replay_config;
use crate::runtime::what_if::{Staffing, WhatIf, compare, csv};

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// The first day to replay (YYYY-MM-DD, in the centre's time zone).
    #[arg(long, value_name = "DATE")]
    pub from: Date,
    /// The last day to replay, included.
    #[arg(long, value_name = "DATE")]
    pub to: Date,
    /// Agents and shifts to replay with instead of those recorded (TOML:
    /// `[[agents]]` with `name`, `skills`, `shift` as `HH:MM-HH:MM` or a
    /// name from `[shifts.named]`, and `count`).
    #[arg(long, value_name = "FILE")]
    pub staffing: Option<PathBuf>,
    /// The first seed; run `n` of a day uses seed + n.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Runs per day, averaged: what the record does not say (how long an
    /// answered caller would have waited, how agents answer each offer) is
    /// drawn, so one run moves the abandon rate by a few points.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub runs: u32,
    #[arg(long, value_enum, default_value_t = Output::Json)]
    pub format: Output,
    /// `--config FILE` is the configuration replayed under (and, unless
    /// `--database-url` is given, the one whose database is read).
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Output {
    Json,
    Csv,
}

pub async fn replay(args: ReplayArgs) -> Result<(), String> {
    if args.to < args.from {
        return Err("--to: must be on or after --from".into());
    }
    WhatIf::check_period(args.from, args.to).map_err(|e| format!("--{e}"))?;
    let config = load(&args.store)?;
    let staffing = args.staffing.as_deref().map(read_staffing).transpose()?;
    let replaying = replay_config(&config)?;
    let store = open_store(&config).await?;
    let what = WhatIf { from: args.from, to: args.to, seed: args.seed, runs: args.runs, staffing };
    let result = compare(&replaying, &store, &what).await;
    store.close().await;
    let comparison = result?;
    match args.format {
        Output::Json => {
            println!("{}", serde_json::to_string_pretty(&comparison).expect("a comparison serialises"));
        }
        Output::Csv => print!("{}", csv(&comparison)?),
    }
    Ok(())
}

fn read_staffing(path: &Path) -> Result<Staffing, String> {
    if !path.exists() {
        return Err(format!("--staffing: no such file {}", path.display()));
    }
    Figment::from(Toml::file(path)).extract().map_err(|e| format!("--staffing {}: {e}", path.display()))
}
