//! The tests of `list.rs` that spawn processes, in a file of their own: they
//! spawn through `testutil`, whose `Spawned` cleans up through `signal`, which
//! lists through `list`, so inside `list.rs` they would close an import circle.

use super::list::{CommWatch, find_by_comm, list_processes};
use super::testutil::Spawned;

#[test]
fn lists_self_and_finds_child_by_comm() {
    let me = std::process::id() as i32;
    let all = list_processes();
    assert!(all.iter().any(|st| st.pid == me));
    assert!(all.iter().any(|st| st.pid == 1));

    let s = Spawned::group(&["sleep", "30"]);
    let found = find_by_comm("sleep");
    let st = found.iter().find(|st| st.pid == s.pid()).unwrap();
    assert_eq!(st.pgrp, s.pid());
    assert_eq!(st.start_time, s.id().start_time);
}

#[test]
fn a_comm_watch_finds_new_matches_and_forgets_none() {
    let mut watch = CommWatch::default();
    let first = Spawned::group(&["sleep", "30"]);
    assert!(
        watch
            .find(&["sleep"])
            .iter()
            .any(|st| st.pid == first.pid())
    );
    // Looks between full passes: the match is read again, a new one found.
    let second = Spawned::group(&["sleep", "31"]);
    let found = watch.find(&["sleep"]);
    assert!(found.iter().any(|st| st.pid == first.pid()));
    assert!(found.iter().any(|st| st.pid == second.pid()));
    assert!(
        watch.others.contains(&1),
        "pid 1 is not sleep and is remembered"
    );
}
