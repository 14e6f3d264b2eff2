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
    /// Run the operator: reconcile CrossAccountRoles, RamUsers and StsGrants.
    Run(Box<ram_operator::controller::RunArgs>),
    /// Print the CustomResourceDefinitions as YAML (or write one file per kind).
    Crdgen {
        /// Write `crossaccountroles.yaml`, `ramusers.yaml` and `stsgrants.yaml` into this
        /// directory instead of printing one multi-document stream.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<std::path::PathBuf>,
    },
    /// Serve the local RAM / IMS / STS emulator.
    Emulator(ram_operator::emulator::EmulatorArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => runtime()?.block_on(ram_operator::controller::run(*args)),
        Command::Crdgen { out_dir } => crdgen(out_dir.as_deref()),
        Command::Emulator(args) => runtime()?.block_on(ram_operator::emulator::run(args)),
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

/// `ram-operator crdgen`: the CRDs generated from `src/crd/`, to stdout or into a directory.
fn crdgen(out_dir: Option<&std::path::Path>) -> anyhow::Result<()> {
    use ram_operator::crd::generate;
    match out_dir {
        Some(dir) => {
            for path in generate::write_crd_files(dir)? {
                eprintln!("wrote {}", path.display());
            }
        }
        None => print!("{}", generate::crds_yaml()?),
    }
    Ok(())
}
