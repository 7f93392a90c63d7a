//! Profiling aid: parse a generated 5,000-state definition in a loop.
fn main() {
    let text = stepwise::asl::generate::large_definition(5_000);
    let n: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(20);
    let mut total = 0;
    for _ in 0..n {
        total += stepwise::asl::parse(&text, stepwise::asl::Format::Json).0.source.len();
    }
    println!("{total}");
}
