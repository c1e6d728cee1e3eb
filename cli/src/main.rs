//! `rebound`: the Rebound command-line tool.
//!
//! Subcommands: `gateway` runs the gateway, `storm` load-tests one with a
//! reconnect storm, `keys` generates, rotates and lists the ticket key file,
//! and `decode` dissects IKEv2 messages from hex or a pcap file with
//! Rebound's own codec.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rebound_dataplane::keys;

mod decode;
mod notify;
mod serve;

#[derive(Parser, Debug)]
#[command(name = "rebound", version, about = "IKEv2 session-resumption engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Dissect IKEv2 messages with Rebound's codec: from hex (an argument or
    /// stdin) or from a pcap file (UDP ports 500 and 4500).
    Decode {
        /// The message as hex (whitespace allowed). Reads stdin when neither
        /// this nor --pcap is given.
        hex: Option<String>,
        /// A pcap file (Ethernet, raw IP or Linux cooked captures).
        #[arg(long, conflicts_with = "hex")]
        pcap: Option<PathBuf>,
        /// The hex starts with the 4-byte non-ESP marker (UDP port 4500).
        #[arg(long)]
        marker: bool,
    },
    /// Run the gateway: pinned workers answering IKE_SESSION_RESUME and the
    /// resumed IKE_AUTH, the control plane handing SAs off. Reads
    /// `--config FILE` (see docs/OPERATIONS.md); flags override it.
    Gateway(Box<rebound_dataplane::config::GatewayArgs>),
    /// Load-test a gateway with a reconnect storm: N clients get tickets,
    /// drop their SAs and all resume at once. Without --target it starts an
    /// embedded gateway on loopback.
    Storm(Box<rebound_storm::cli::StormArgs>),
    /// Manage the ticket key file: generate, rotate, list.
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Decode { hex, pcap, marker } => decode::run(hex, pcap, marker),
        Command::Keys { command } => keys::run(command),
        Command::Gateway(args) => serve::run(&args),
        Command::Storm(args) => {
            serve::init_tracing("warn");
            rebound_storm::cli::run_cli(&args)
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("rebound: {e}");
            ExitCode::from(2)
        }
    }
}
