//! mocket cassettes (DESIGN.md section 6). Recording and replay land with issue 6; what is here
//! is where a cassette lives, which both the engine and the CLI need to agree on.

use std::path::{Path, PathBuf};

/// The namespace used when none is given: stable across runs, so replay finds what was recorded.
pub const DEFAULT_NAMESPACE: &str = "default";

/// The cassette file of `namespace` under `dir`: `<dir>/<namespace>.json`.
///
/// Namespaces are file names, so anything that could escape `dir` is refused.
pub fn cassette_path(dir: &Path, namespace: &str) -> Result<PathBuf, String> {
    let ok = !namespace.is_empty()
        && namespace != "."
        && namespace != ".."
        && namespace
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@+".contains(c));
    if !ok {
        return Err(format!(
            "namespace {namespace:?} is not a valid cassette name: use letters, digits and - _ . @ +"
        ));
    }
    Ok(dir.join(format!("{namespace}.json")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cassette_names() {
        let p = cassette_path(Path::new("/f"), DEFAULT_NAMESPACE).unwrap();
        assert_eq!(p, PathBuf::from("/f/default.json"));
        assert!(cassette_path(Path::new("/f"), "../x").is_err());
        assert!(cassette_path(Path::new("/f"), "").is_err());
        assert!(cassette_path(Path::new("/f"), "a/b").is_err());
    }
}
