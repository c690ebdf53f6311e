use super::*;
use crate::redis::command::split_args;
use crate::redis::spec::SPECS;

fn keys(line: &str) -> Result<Vec<String>, KeysError> {
    let words = split_args(line.as_bytes()).unwrap();
    let meta = resolve(&words).expect("a known command");
    meta.getkeys(&words).map(|keys| {
        keys.iter()
            .map(|k| {
                format!(
                    "{}:{}",
                    String::from_utf8_lossy(&words[k.index]),
                    k.flags.join(",")
                )
            })
            .collect()
    })
}

#[test]
fn table_is_sorted_and_covers_every_spec_with_its_arity_flags_and_range() {
    assert!(table::COMMANDS.windows(2).all(|w| w[0].name < w[1].name));
    for spec in SPECS {
        let meta = find(spec.name).unwrap_or_else(|| panic!("{} has no metadata", spec.name));
        assert_eq!(meta.arity, spec.arity, "{}", spec.name);
    }
    assert_eq!(find("CLIENT|List").map(|m| m.name), Some("client|list"));
    assert!(find("client|nosuch").is_none() && find("nosuch").is_none());
}

#[test]
fn keys_follow_index_keyword_and_keynum_specs() {
    assert_eq!(keys("get a"), Ok(vec!["a:RO,access".into()]));
    assert_eq!(keys("mset a 1 b 2").unwrap().len(), 2);
    assert_eq!(
        keys("zunionstore d 2 a b weights 1 2"),
        Ok(vec![
            "d:OW,update".into(),
            "a:RO,access".into(),
            "b:RO,access".into()
        ])
    );
    assert_eq!(
        keys("eval x 2 a b c"),
        Ok(vec![
            "a:RW,access,update".into(),
            "b:RW,access,update".into()
        ])
    );
    assert_eq!(keys("xread count 2 streams a b 0 0").unwrap().len(), 2);
    assert_eq!(keys("xread streams a b c"), Ok(vec!["a:RO,access".into()]));
    assert_eq!(keys("object encoding k"), Ok(vec!["k:RO".into()]));
}

#[test]
fn incomplete_or_variable_specs_fall_back_to_the_commands_parser() {
    assert_eq!(keys("set k v"), Ok(vec!["k:OW,update".into()]));
    assert_eq!(keys("set k v get"), Ok(vec!["k:RW,access,update".into()]));
    assert_eq!(keys("bitfield k get u8 0"), Ok(vec!["k:RO,access".into()]));
    assert_eq!(
        keys("bitfield k set u8 0 1"),
        Ok(vec!["k:RW,access,update".into()])
    );
    assert_eq!(
        keys("sort k store d get x"),
        Ok(vec!["k:RO,access".into(), "d:OW,update".into()])
    );
    assert_eq!(keys("sort_ro k"), Ok(vec!["k:RO,access".into()]));
    assert_eq!(
        keys("georadius k 1 2 3 m store"),
        Ok(vec!["k:RO,access".into()])
    );
}

#[test]
fn bad_key_counts_are_redis_errors_or_empty_for_scripts() {
    assert_eq!(keys("eval x 5 a"), Ok(vec![]));
    assert_eq!(keys("eval x -1"), Ok(vec![]));
    assert_eq!(keys("zunionstore d 0 a"), Err(KeysError::InvalidArguments));
    assert_eq!(keys("zunionstore d 2 a"), Err(KeysError::InvalidArguments));
    assert_eq!(keys("sintercard 3 a"), Err(KeysError::InvalidArguments));
    assert_eq!(
        keys("xread count 1 streams"),
        Err(KeysError::InvalidArguments)
    );
    assert_eq!(
        keys("zunionstore d 99999999999999999999 a"),
        Err(KeysError::InvalidArguments)
    );
    assert_eq!(keys("get a b"), Err(KeysError::WrongArity));
    assert_eq!(keys("ping a"), Err(KeysError::NoKeyArguments));
    assert_eq!(keys("spublish c m"), Err(KeysError::NoKeyArguments));
}

#[test]
fn list_filters_by_pattern_and_category_and_rejects_bad_filters() {
    let names = ["get", "xinfo", "eval"];
    let list = |filter: &[&str]| {
        let words: Vec<Vec<u8>> = filter.iter().map(|w| w.as_bytes().to_vec()).collect();
        list(&names, &words)
    };
    assert_eq!(
        list(&["filterby", "PATTERN", "X*|s*"]),
        Reply::bulks(["xinfo|stream"])
    );
    assert_eq!(
        list(&["FILTERBY", "aclcat", "Scripting"]),
        Reply::bulks(["eval"])
    );
    assert_eq!(
        list(&["filterby", "module", "m"]),
        Reply::bulks(Vec::<&str>::new())
    );
    assert_eq!(
        list(&["filterby", "aclcat", "nosuch"]),
        Reply::bulks(Vec::<&str>::new())
    );
    assert_eq!(
        list(&[]),
        Reply::bulks([
            "get",
            "xinfo",
            "xinfo|consumers",
            "xinfo|groups",
            "xinfo|help",
            "xinfo|stream",
            "eval"
        ])
    );
    for bad in [
        &["filterby"][..],
        &["foo"],
        &["filterby", "nosuch", "x"],
        &["filterby", "pattern", "a", "b"],
    ] {
        assert_eq!(list(bad), Reply::error("ERR syntax error"));
    }
}

#[test]
fn spec_flags_and_key_ranges_are_redis_s() {
    let mut wrong = Vec::new();
    // Containers whose subcommands all refuse to run in a script: the emulator checks the
    // container's flags.
    for spec in SPECS
        .iter()
        .filter(|s| !["script", "function"].contains(&s.name))
    {
        let meta = find(spec.name).unwrap();
        if meta.flags != spec.flags || meta.keys != spec.keys {
            wrong.push(format!(
                "{}: {:?} {:?} vs {:?} {:?}",
                spec.name, spec.flags, spec.keys, meta.flags, meta.keys
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
