/// mimalloc instead of the system allocator: a GraphQL response is hundreds of small strings and maps, and glibc
/// malloc spent about a third of a page request's CPU on them (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    beian::cli::main()
}
