//! Our conformance vectors (`spec/vectors/*.json`): they all pass the runner, and the generator
//! reproduces them byte for byte.

use std::collections::BTreeSet;
use std::path::PathBuf;

use ref_client::{conformance, gen};

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors")
}

/// The `.json` files in `spec/vectors`, sorted.
fn committed_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(vectors_dir())
        .expect("spec/vectors exists")
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

#[test]
fn committed_vectors_pass_the_runner() {
    let files = committed_files();
    assert!(!files.is_empty(), "no vector files in spec/vectors");
    let mut vectors = Vec::new();
    for f in &files {
        vectors.extend(conformance::load(f).expect("vector file loads"));
    }
    let report = conformance::run(&vectors);
    assert!(
        report.failures.is_empty(),
        "{}\n{}",
        report.summary(),
        report.failures.join("\n")
    );
    assert!(report.passed >= 500, "only {} vectors", report.passed);
    assert_eq!(report.passed, vectors.len());

    // names are unique across all files
    let names: BTreeSet<&str> = vectors.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names.len(), vectors.len(), "duplicate vector names");

    // every codec type has valid vectors, and every non-crypto type invalid ones too
    for codec in ref_client::codecs::all() {
        let of_type: Vec<_> = vectors.iter().filter(|v| v.ty == codec.name()).collect();
        assert!(
            of_type.iter().any(|v| v.valid),
            "no valid vector of {}",
            codec.name()
        );
        if codec.known_answer().is_none() {
            assert!(
                of_type.iter().any(|v| !v.valid),
                "no invalid vector of {}",
                codec.name()
            );
        }
    }
}

#[test]
fn generator_reproduces_committed_vectors() {
    let generated = gen::generate().expect("generation succeeds");
    let generated_names: BTreeSet<String> = generated.iter().map(|f| f.name.to_string()).collect();
    let committed_names: BTreeSet<String> = committed_files()
        .iter()
        .map(|p| {
            p.file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(
        generated_names, committed_names,
        "the set of vector files differs"
    );
    for f in &generated {
        let path = vectors_dir().join(f.name);
        let committed = std::fs::read_to_string(&path).expect("committed file reads");
        let text = f.render().expect("renders");
        assert!(
            text == committed,
            "{} differs from the generator's output; run `cargo run -q --release -p ref-client -- gen-vectors --out spec/vectors`",
            path.display()
        );
    }
}

#[test]
fn generation_is_deterministic() {
    let a = gen::generate().expect("generation succeeds");
    let b = gen::generate().expect("generation succeeds");
    assert_eq!(a, b);
}
