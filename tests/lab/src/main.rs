//! `vnf-lab`: command-line front end of the test lab.
fn main() {
    eprintln!("vnf-lab: not implemented yet");
    std::process::exit(2);
}
