//! `confidant-loadgen`: placeholder until the load generator lands.
fn main() {
    eprintln!("confidant-loadgen: not built yet");
    std::process::exit(2);
}
