//! `kubectl bloodraven`: see [`bloodraven::plugin`].

use clap::Parser;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cli = bloodraven::plugin::Cli::parse();
    let code = bloodraven::plugin::run(cli, &mut std::io::stdout()).await;
    std::process::exit(code);
}
