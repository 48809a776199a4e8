//! Embeds every `events/*.json` registry document into the crate, so the registry needs no
//! file I/O at run time (the crate stays pure) and a Lambda binary carries its schemas.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let dir = Path::new("events");
    println!("cargo:rerun-if-changed=events");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("schemas/events must exist")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    let mut code = String::from(
        "/// Registry documents shipped in `schemas/events/`: (file name, JSON text).\npub const EMBEDDED_DOCUMENTS: &[(&str, &str)] = &[\n",
    );
    // Each path goes through `env!("CARGO_MANIFEST_DIR")`, resolved when the crate compiles,
    // instead of being written out absolute: cargo gives a crate the same output directory in
    // every checkout that shares a target directory, so a path written here would point at
    // whichever checkout ran the build script last.
    for name in &names {
        writeln!(
            code,
            "    ({name:?}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), {:?}))),",
            format!("/events/{name}")
        )
        .expect("write to string");
        println!("cargo:rerun-if-changed=events/{name}");
    }
    code.push_str("];\n");
    let out =
        Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR set by cargo")).join("embedded_registry.rs");
    std::fs::write(out, code).expect("write generated registry list");
}
