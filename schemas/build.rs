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
    for name in &names {
        let abs = std::fs::canonicalize(dir.join(name)).expect("readable schema file");
        writeln!(
            code,
            "    ({name:?}, include_str!({:?})),",
            abs.display().to_string()
        )
        .expect("write to string");
        println!("cargo:rerun-if-changed=events/{name}");
    }
    code.push_str("];\n");
    let out =
        Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR set by cargo")).join("embedded_registry.rs");
    std::fs::write(out, code).expect("write generated registry list");
}
