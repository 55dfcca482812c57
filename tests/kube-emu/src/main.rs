fn main() {
    eprintln!("kube-emu: not implemented yet");
    std::process::exit(2);
}
