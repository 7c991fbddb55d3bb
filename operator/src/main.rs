//! `ferroflink-operator`: `run` (the default) runs the controller; `crdgen` prints the FlinkJob
//! CRD; `render -f <file>` prints what a FlinkJob becomes, without a cluster (for review in GitOps
//! pull requests).

use anyhow::Context;
use clap::{Parser, Subcommand};
use ferroflink_operator::controller::{self, RunArgs};
use ferroflink_operator::crd::FlinkJob;
use ferroflink_operator::render::render;
use kube::CustomResourceExt;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "ferroflink-operator", version, about = "Kubernetes operator for ferroflink")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controller (the default): leader election, reconcile FlinkJobs, serve /metrics.
    Run(RunArgs),
    /// Print the FlinkJob CustomResourceDefinition as YAML.
    Crdgen,
    /// Print the objects a FlinkJob becomes, as multi-document YAML, without contacting a cluster.
    Render {
        /// A file holding one FlinkJob (YAML or JSON); `-` for standard input.
        #[arg(short = 'f', long = "filename")]
        file: PathBuf,
    },
}

fn main() {
    let telemetry = ferroflink_telemetry::init("ferroflink-operator", "info,kube=warn", "ferroflink_operator=info");
    let result = run(Cli::parse());
    drop(telemetry);
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    // No subcommand: `run` with its defaults.
    let command = match cli.command {
        Some(c) => c,
        None => Cli::parse_from(["ferroflink-operator", "run"]).command.expect("run parses"),
    };
    match command {
        Command::Run(args) => {
            tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(controller::run(args))?
        }
        Command::Crdgen => print!("{}", serde_saphyr::to_string(&FlinkJob::crd())?),
        Command::Render { file } => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?
            };
            let job: FlinkJob =
                serde_saphyr::from_str(&text).with_context(|| format!("{} is not a valid FlinkJob", file.display()))?;
            print!("{}", render(&job)?.to_yaml()?);
        }
    }
    Ok(())
}
