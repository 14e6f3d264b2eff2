use clap::{Parser, Subcommand};

/// Kubernetes operator for Alibaba Cloud cross-account access.
#[derive(Parser)]
#[command(name = "ram-operator", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the CustomResourceDefinitions as YAML.
    Crdgen,
    /// Serve the local RAM / IMS / STS emulator.
    Emulator(ram_operator::emulator::EmulatorArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Crdgen => Ok(()),
        Command::Emulator(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(ram_operator::emulator::run(args)),
    }
}
