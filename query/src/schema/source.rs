//! Where `lakeq schema check` reads a registry version: a directory of `*.json` documents, or
//! the same directory at a git revision (`git ls-tree` and `git show`, run in that
//! directory). Invariant: documents come back as `(name, JSON text)` pairs sorted by file
//! name, each name saying where the text came from, so load errors point at the file.

use crate::error::QueryError;
use schemas::Registry;
use std::path::Path;
use std::process::Command;

/// The registry in `version`: an existing directory, else a git revision of `dir`.
pub fn registry_at(version: &str, dir: &Path) -> Result<Registry, QueryError> {
    let documents = if Path::new(version).is_dir() {
        ingest::registry_dir::read_documents(Path::new(version))?
    } else {
        git_documents(version, dir)?
    };
    Ok(ingest::registry_dir::registry_of(&documents)?)
}

/// The `*.json` documents of `dir` as of git revision `rev`.
pub fn git_documents(rev: &str, dir: &Path) -> Result<Vec<(String, String)>, QueryError> {
    let failed = |message: String| QueryError::Git {
        rev: rev.to_owned(),
        dir: dir.display().to_string(),
        message,
    };
    if rev.starts_with('-') {
        return Err(failed("a revision cannot start with '-'".to_owned()));
    }
    let listing = git(dir, &["ls-tree", "--name-only", rev, "--", "."]).map_err(&failed)?;
    let mut names: Vec<&str> = listing.lines().filter(|n| n.ends_with(".json")).collect();
    names.sort_unstable();
    if names.is_empty() {
        return Err(failed("it has no *.json documents there".to_owned()));
    }
    names
        .into_iter()
        .map(|name| {
            let text = git(dir, &["show", &format!("{rev}:./{name}")]).map_err(&failed)?;
            Ok((format!("{rev}:{}", dir.join(name).display()), text))
        })
        .collect()
}

/// Runs git in `dir`; its standard output, or its first error line.
fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(stderr.lines().next().unwrap_or("git failed").to_owned());
    }
    String::from_utf8(output.stdout).map_err(|e| format!("git printed non-UTF-8 text: {e}"))
}
