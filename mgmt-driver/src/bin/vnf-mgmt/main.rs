fn main() {
    eprintln!("vnf-mgmt: not implemented yet");
    std::process::exit(2);
}
