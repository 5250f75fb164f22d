//! `confidant-loadgen`: see the library documentation (`cargo doc -p confidant-loadgen`).
//!
//! Exit status: 0 when the run was OK (no failed participant, no loss, clean shutdown), 1
//! when it ran but was not OK (the report is still printed), 2 when it could not run.
//! `confidant-loadgen relay` (the baseline relay) exits 0 after `--max-seconds`.

use clap::Parser;
use confidant_loadgen::{relay, run, Args, Command, Plan};

fn main() {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Some(Command::Relay(relay_args)) = &args.command {
        match relay::serve(relay_args) {
            Ok(_) => std::process::exit(0),
            Err(e) => {
                eprintln!("confidant-loadgen relay: {e}");
                std::process::exit(2);
            }
        }
    }
    let plan = match Plan::from_args(&args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("confidant-loadgen: {e}");
            std::process::exit(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("confidant-loadgen: cannot start the runtime: {e}");
            std::process::exit(2);
        }
    };
    let result = runtime.block_on(run(&plan, &args));
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("confidant-loadgen: {e}");
            std::process::exit(2);
        }
    };
    if args.json {
        // The report holds only numbers, strings, maps and vectors: always serialisable.
        println!(
            "{}",
            serde_json::to_string(&report).expect("report serialises")
        );
    } else {
        print!("{}", report.text());
    }
    std::process::exit(if report.ok { 0 } else { 1 });
}
