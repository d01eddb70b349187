//! `postbooth sim`: the simulator on its own, so `postbooth run` can be tried end to end
//! without an Instagram account (point `instagram.graph_url` at the URL it prints).

use super::{FaultPlan, SimOptions};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(clap::Args, Debug, Clone)]
pub struct SimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8099")]
    pub listen: SocketAddr,
    /// Accept only the token in this file (default: the token "sim-token").
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// The account id to accept.
    #[arg(long, default_value = "17841400000000000")]
    pub user_id: String,
    /// Fault probability per request, 0 to 1.
    #[arg(long, default_value_t = 0.0)]
    pub faults: f64,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Posts allowed per rolling 24 hours.
    #[arg(long, default_value_t = 100)]
    pub quota: u32,
}

pub async fn run(args: SimArgs) -> anyhow::Result<()> {
    let mut opts = SimOptions {
        listen: args.listen,
        user_id: args.user_id.clone(),
        quota_total: args.quota,
        ..SimOptions::default()
    };
    if let Some(path) = &args.token_file {
        opts.token = std::fs::read_to_string(path)?.trim().to_string();
    }
    if args.faults > 0.0 {
        opts.faults = FaultPlan::all(args.faults, args.seed);
    }
    println!(
        "Graph API simulator at http://{}/v21.0 for user {} (Ctrl-C to stop)",
        args.listen, args.user_id
    );
    super::serve_forever(opts).await?;
    Ok(())
}
