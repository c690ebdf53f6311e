//! Names both the shim's constructor and the engine use for HTTPS trust: which variables name a
//! CA bundle, and the file name of the bundle a bare `LD_PRELOAD` points them at.

/// Variables naming a CA bundle file: OpenSSL, Python requests, curl, AWS SDKs, git, pip.
pub const BUNDLE_VARS: &[&str] = &[
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "AWS_CA_BUNDLE",
    "GIT_SSL_CAINFO",
    "PIP_CERT",
];

/// The file name of the bundle for a given set of values of [`BUNDLE_VARS`] (in that order,
/// empty for unset): the bundle includes the files they name, so each set gets its own.
pub fn bundle_file_name<S: AsRef<str>>(values: &[S]) -> String {
    let joined: Vec<&str> = values.iter().map(AsRef::as_ref).collect();
    let hash = crate::fnv::fnv1a_64(joined.join("\n").as_bytes());
    format!("bundle-{hash:016x}.pem")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_depend_on_every_value() {
        let a = bundle_file_name(&["", "", "", "", "", ""]);
        let b = bundle_file_name(&["/x", "", "", "", "", ""]);
        assert_ne!(a, b);
        assert_eq!(a, bundle_file_name(&[""; 6]));
        assert!(a.starts_with("bundle-") && a.ends_with(".pem") && a.len() == 27);
    }
}
