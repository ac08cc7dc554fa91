fn main() -> std::process::ExitCode {
    beian::cli::main()
}
