use super::*;
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicUsize, Ordering};

static LIBRARIES: Embedded = Embedded {
    hash: "0123456789abcdef",
    shim: b"\x7fELF pretend shim",
    rust_shim: b"\x7fELF pretend rust shim, a bit longer",
    engine: b"\x7fELF pretend engine, longer",
};

/// A fresh directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mocket-libraries-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn places(&self) -> Places {
        Places {
            cache: Some(self.0.join("cache")),
            fallback: self.0.join("tmp"),
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn inode(path: &Path) -> u64 {
    fs::metadata(path).unwrap().ino()
}

#[test]
fn the_first_use_writes_the_libraries_into_a_directory_named_by_their_hash() {
    let scratch = Scratch::new();
    let dir = write_embedded(&LIBRARIES, Check::Run, &scratch.places()).unwrap();
    assert_eq!(dir, scratch.0.join("cache/0123456789abcdef"));
    assert_eq!(names(&dir), [SHIM, ENGINE, RUST_SHIM]);
    assert_eq!(fs::read(dir.join(SHIM)).unwrap(), LIBRARIES.shim);
    assert_eq!(fs::read(dir.join(RUST_SHIM)).unwrap(), LIBRARIES.rust_shim);
    assert_eq!(fs::read(dir.join(ENGINE)).unwrap(), LIBRARIES.engine);
    let mode = fs::metadata(&dir).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "{mode:o}");
}

#[test]
fn a_later_start_keeps_copies_that_are_whole() {
    let scratch = Scratch::new();
    let dir = write_embedded(&LIBRARIES, Check::Both, &scratch.places()).unwrap();
    let before = (inode(&dir.join(SHIM)), inode(&dir.join(ENGINE)));
    write_embedded(&LIBRARIES, Check::Both, &scratch.places()).unwrap();
    assert_eq!(before, (inode(&dir.join(SHIM)), inode(&dir.join(ENGINE))));
}

#[test]
fn a_tampered_or_truncated_library_is_rewritten() {
    let scratch = Scratch::new();
    let dir = write_embedded(&LIBRARIES, Check::Run, &scratch.places()).unwrap();
    // Same size, other bytes: only a content check sees it.
    let mut tampered = LIBRARIES.shim.to_vec();
    tampered[5] ^= 0xff;
    fs::write(dir.join(SHIM), &tampered).unwrap();
    fs::write(dir.join(ENGINE), &LIBRARIES.engine[..4]).unwrap();
    write_embedded(&LIBRARIES, Check::Run, &scratch.places()).unwrap();
    assert_eq!(fs::read(dir.join(SHIM)).unwrap(), LIBRARIES.shim);
    assert_eq!(fs::read(dir.join(ENGINE)).unwrap(), LIBRARIES.engine);
    assert_eq!(
        names(&dir),
        [SHIM, ENGINE, RUST_SHIM],
        "no temporary file is left"
    );
}

#[test]
fn the_engine_library_content_is_checked_by_mocket_shim_not_on_every_run() {
    let scratch = Scratch::new();
    let dir = write_embedded(&LIBRARIES, Check::Run, &scratch.places()).unwrap();
    let mut tampered = LIBRARIES.engine.to_vec();
    tampered[7] ^= 0xff;
    fs::write(dir.join(ENGINE), &tampered).unwrap();
    write_embedded(&LIBRARIES, Check::Run, &scratch.places()).unwrap();
    assert_eq!(fs::read(dir.join(ENGINE)).unwrap(), tampered);
    write_embedded(&LIBRARIES, Check::Both, &scratch.places()).unwrap();
    assert_eq!(fs::read(dir.join(ENGINE)).unwrap(), LIBRARIES.engine);
}

#[test]
fn an_unwritable_cache_falls_back_to_the_private_temporary_directory() {
    let scratch = Scratch::new();
    // A file where the cache directory should be: no user, root included, can write in it.
    fs::write(scratch.0.join("cache"), b"").unwrap();
    let dir = write_embedded(&LIBRARIES, Check::Both, &scratch.places()).unwrap();
    assert_eq!(dir, scratch.0.join("tmp/0123456789abcdef"));
    assert_eq!(fs::read(dir.join(SHIM)).unwrap(), LIBRARIES.shim);
    let mode = fs::metadata(scratch.0.join("tmp"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "{mode:o}");
}

#[test]
fn a_temporary_directory_others_can_write_is_refused_with_both_reasons() {
    let scratch = Scratch::new();
    fs::write(scratch.0.join("cache"), b"").unwrap();
    fs::create_dir(scratch.0.join("tmp")).unwrap();
    fs::set_permissions(scratch.0.join("tmp"), fs::Permissions::from_mode(0o777)).unwrap();
    let error = write_embedded(&LIBRARIES, Check::Run, &scratch.places()).unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, LibraryError::Unwritable { .. }),
        "{message}"
    );
    assert!(message.contains("cache/0123456789abcdef"), "{message}");
    assert!(message.contains("only user"), "{message}");
    assert!(!scratch.0.join("tmp/0123456789abcdef").exists());
}

#[test]
fn starts_racing_on_an_empty_cache_all_get_whole_libraries_and_leave_one_copy() {
    let scratch = Scratch::new();
    let places = scratch.places();
    let dirs: Vec<PathBuf> = std::thread::scope(|s| {
        let starts: Vec<_> = (0..8)
            .map(|_| s.spawn(|| write_embedded(&LIBRARIES, Check::Both, &places).unwrap()))
            .collect();
        starts.into_iter().map(|t| t.join().unwrap()).collect()
    });
    assert!(dirs.iter().all(|d| *d == dirs[0]));
    assert_eq!(names(&dirs[0]), [SHIM, ENGINE, RUST_SHIM]);
    assert_eq!(fs::read(dirs[0].join(SHIM)).unwrap(), LIBRARIES.shim);
}

#[test]
fn the_cache_follows_xdg_then_home_and_the_fallback_tmpdir() {
    let vars = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| PathBuf::from(v))
        }
    };
    let uid = rustix::process::geteuid().as_raw();
    let xdg = Places::from_env(vars(&[
        ("XDG_CACHE_HOME", "/c"),
        ("HOME", "/h"),
        ("TMPDIR", "/t"),
    ]));
    assert_eq!(xdg.cache, Some(PathBuf::from("/c/mocket")));
    assert_eq!(xdg.fallback, PathBuf::from(format!("/t/mocket-{uid}")));
    // A relative XDG_CACHE_HOME is ignored, as the XDG rules say.
    let home = Places::from_env(vars(&[("XDG_CACHE_HOME", "rel"), ("HOME", "/h")]));
    assert_eq!(home.cache, Some(PathBuf::from("/h/.cache/mocket")));
    assert_eq!(home.fallback, PathBuf::from(format!("/tmp/mocket-{uid}")));
    assert_eq!(Places::from_env(vars(&[])).cache, None);
}

#[test]
fn a_rewrite_removes_temporaries_of_killed_writers_but_not_fresh_ones() {
    let scratch = Scratch::new();
    let dir = write_embedded(&LIBRARIES, Check::Run, &scratch.places()).unwrap();
    let old = dir.join(".libmocket.so.1.2.tmp");
    let fresh = dir.join(".libmocket.so.3.4.tmp");
    fs::write(&old, b"half").unwrap();
    fs::write(&fresh, b"half").unwrap();
    let long_ago = std::time::SystemTime::now() - ABANDONED_AFTER * 2;
    File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(long_ago)
        .unwrap();
    fs::remove_file(dir.join(SHIM)).unwrap();
    write_embedded(&LIBRARIES, Check::Run, &scratch.places()).unwrap();
    assert!(!old.exists());
    assert!(fresh.exists(), "a writer may still be renaming it");
}
