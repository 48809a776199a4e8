//! A registry read from a directory at run time (`--registry DIR`) instead of the one compiled
//! into the binaries. Invariants: every `*.json` file directly in the directory is one
//! registry document, read in file-name order; an unreadable or invalid file fails the whole
//! load with an error naming that file; a directory without documents is an error.

use crate::error::IngestError;
use schemas::Registry;
use std::path::Path;

/// The `(file path, JSON text)` of every `*.json` file in `dir`, sorted by file name.
pub fn read_documents(dir: &Path) -> Result<Vec<(String, String)>, IngestError> {
    let dir_unreadable = |e: std::io::Error| unreadable(dir, dir, &e);
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(dir_unreadable)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(dir_unreadable)?;
    paths.retain(|p| p.extension().is_some_and(|e| e == "json") && p.is_file());
    paths.sort();
    if paths.is_empty() {
        return Err(IngestError::RegistryDir {
            dir: dir.display().to_string(),
            message: "it has no *.json documents; pass the directory of the event documents \
                      (schemas/events)"
                .into(),
        });
    }
    paths
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).map_err(|e| unreadable(dir, path, &e))?;
            Ok((path.display().to_string(), text))
        })
        .collect()
}

/// A registry file or directory that cannot be read (one line: the I/O error is not a source).
fn unreadable(dir: &Path, path: &Path, error: &std::io::Error) -> IngestError {
    let message = if path == dir && error.kind() == std::io::ErrorKind::NotFound {
        "it does not exist; pass the directory of the event documents (schemas/events)".into()
    } else if path == dir {
        error.to_string()
    } else {
        format!("cannot read {}: {error}", path.display())
    };
    IngestError::RegistryDir {
        dir: dir.display().to_string(),
        message,
    }
}

/// The registry of `(document name, JSON text)` pairs, e.g. from [`read_documents`].
pub fn registry_of(documents: &[(String, String)]) -> Result<Registry, IngestError> {
    let pairs = documents
        .iter()
        .map(|(name, text)| (name.as_str(), text.as_str()));
    Ok(Registry::from_documents(pairs)?)
}

/// Loads and checks the registry in `dir`; an invalid document fails the load with an error
/// that names the directory, the file and the problem.
pub fn load(dir: &Path) -> Result<Registry, IngestError> {
    let documents = read_documents(dir)?;
    let pairs = documents
        .iter()
        .map(|(name, text)| (name.as_str(), text.as_str()));
    Registry::from_documents(pairs).map_err(|source| IngestError::Registry {
        dir: dir.display().to_string(),
        source: Box::new(source),
    })
}

/// The registry in `dir` when one is given (`--registry DIR`), else the compiled-in one.
pub fn load_or_embedded(dir: Option<&Path>) -> Result<Registry, IngestError> {
    match dir {
        Some(dir) => load(dir),
        None => Ok(Registry::embedded()?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).expect("write document");
        }
        dir
    }

    #[test]
    fn loads_every_json_document_and_ignores_other_files() {
        let dir = dir_with(&[
            ("a.x.json", r#"{"event_name":"a:x","fields":{"n":"integer"}}"#),
            ("b.y.json", r#"{"event_name":"b:y","fields":{}}"#),
            ("README.md", "not a document"),
        ]);
        let registry = load(dir.path()).expect("valid directory");
        assert_eq!(registry.events().count(), 2);
        assert_eq!(registry.field_type("n"), Some(schemas::FieldType::Integer));
    }

    #[test]
    fn a_bad_document_is_named_in_one_line() {
        let dir = dir_with(&[
            ("a.x.json", r#"{"event_name":"a:x","fields":{}}"#),
            ("bad.json", r#"{"event_name":"b:y","fields":{"n":"decimal"}}"#),
        ]);
        let message = load(dir.path()).expect_err("bad type name").to_string();
        assert!(
            message.contains("bad.json") && message.contains("decimal"),
            "{message}"
        );
        assert_eq!(message.lines().count(), 1, "{message}");
    }

    #[test]
    fn empty_and_missing_directories_are_errors() {
        let empty = dir_with(&[]);
        assert!(
            load(empty.path())
                .expect_err("empty")
                .to_string()
                .contains("no *.json")
        );
        let missing = empty.path().join("missing");
        assert!(
            load(&missing)
                .expect_err("missing")
                .to_string()
                .contains("missing")
        );
    }
}
