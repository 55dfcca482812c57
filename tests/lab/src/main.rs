fn main() {
    eprintln!("vnf-lab: not implemented yet");
    std::process::exit(2);
}
