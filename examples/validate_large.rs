//! Profiling aid: parse and validate a generated 5,000-state definition in a loop.
fn main() {
    let text = stepwise::asl::generate::large_definition(5_000);
    let (doc, _) = stepwise::asl::parse(&text, stepwise::asl::Format::Json);
    let n: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(20);
    let mut total = 0;
    for _ in 0..n {
        total += stepwise::validate::validate(&doc, &Default::default()).len();
    }
    println!("{total}");
}
