//! Validation speed on a definition close to AWS's 1 MiB limit (about 5,000 states).
//!
//! `cargo bench --bench validate`; the bar is well under 20 ms for `validate`.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use stepwise::asl::{self, Format};
use stepwise::validate::{Options, validate};

fn bench(c: &mut Criterion) {
    let text = stepwise::asl::generate::large_definition(5_000);
    eprintln!("definition: {} states, {} characters", 5_000, text.chars().count());
    let (doc, diags) = asl::parse(&text, Format::Json);
    assert!(diags.is_empty());
    assert!(validate(&doc, &Options::default()).iter().all(|d| !d.is_error()), "the generated machine is valid");
    let mut g = c.benchmark_group("5000_states");
    g.sample_size(30);
    g.bench_function("validate", |b| b.iter(|| validate(black_box(&doc), &Options::default())));
    g.bench_function("parse", |b| b.iter(|| asl::parse(black_box(&text), Format::Json)));
    g.bench_function("parse_and_validate", |b| {
        b.iter(|| {
            let (d, _) = asl::parse(black_box(&text), Format::Json);
            validate(&d, &Options::default())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
