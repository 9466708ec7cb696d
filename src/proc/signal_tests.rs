//! The tests of `signal.rs`, in a file of their own: they spawn through
//! `testutil`, whose `Spawned` cleans up through `signal`, so inside
//! `signal.rs` they would close an import circle.

use super::error::SignalError;
use super::ident::ProcId;
use super::signal::{
    Group, GroupSignal, Sig, group_alive, group_members, signal, signal_group,
    signal_unreaped_group,
};
use super::testutil::{Spawned, wait_until};

#[test]
fn signal_refuses_reused_pid() {
    let mut s = Spawned::group(&["sleep", "30"]);
    let real = s.id();
    let forged = ProcId {
        start_time: real.start_time.wrapping_sub(1),
        ..real
    };
    match signal(&forged, Sig::Kill) {
        Err(SignalError::NotSameProcess {
            pid,
            expected,
            found,
        }) => {
            assert_eq!(pid, real.pid);
            assert_eq!(expected, forged.start_time);
            assert_eq!(found, real.start_time);
        }
        other => panic!("expected NotSameProcess, got {other:?}"),
    }
    let forged_group = Group {
        pgid: real.pid,
        leader: forged,
    };
    assert!(matches!(
        signal_group(&forged_group, Sig::Kill),
        Err(SignalError::NotSameProcess { .. })
    ));
    assert!(real.is_alive(), "the sleep must survive forged signals");
    assert!(s.child.try_wait().unwrap().is_none());

    // The real identity works, and afterwards the process is Gone.
    signal(&real, Sig::Kill).unwrap();
    s.child.wait().unwrap();
    assert!(matches!(signal(&real, Sig::Kill), Err(SignalError::Gone)));
}

#[test]
fn an_unreaped_leaders_group_is_signalled_whole_even_as_a_zombie() {
    let mut s = Spawned::group(&["sh", "-c", "sleep 30 & sleep 30 & wait"]);
    let group = Group::of_leader(s.id());
    wait_until("two sleeps in the group", || {
        group_members(group.pgid).len() >= 3
    });
    assert_eq!(
        signal_unreaped_group(&group, Sig::Term).unwrap(),
        GroupSignal::Leader
    );
    wait_until("only the unreaped leader left", || {
        group_members(group.pgid).is_empty()
    });
    // A zombie leader still holds the number: signalling it is harmless.
    assert!(group_alive(group.pgid));
    assert_eq!(
        signal_unreaped_group(&group, Sig::Term).unwrap(),
        GroupSignal::Leader
    );
    s.child.wait().unwrap();
}

#[test]
fn signal_group_stops_whole_group() {
    let mut s = Spawned::group(&["sh", "-c", "sleep 30 & sleep 30 & wait"]);
    let group = Group::of_leader(s.id());
    // Wait until both sleeps have been forked into the group.
    wait_until("two sleeps in the group", || {
        group_members(group.pgid).len() >= 3
    });
    assert!(group_alive(group.pgid));
    assert_eq!(
        signal_group(&group, Sig::Term).unwrap(),
        GroupSignal::Leader
    );
    wait_until("group gone", || {
        let _ = s.child.try_wait();
        !group_alive(group.pgid)
    });
    assert!(group_members(group.pgid).is_empty());
    assert!(matches!(
        signal_group(&group, Sig::Term),
        Err(SignalError::Gone)
    ));
}

#[test]
fn signal_group_reaches_leftovers_after_leader_exit() {
    let mut s = Spawned::group(&["sh", "-c", "sleep 30 & exit 0"]);
    let group = Group::of_leader(s.id());
    s.child.wait().unwrap();
    // The leader is reaped; its grandchild still carries the group id.
    let members = group_members(group.pgid);
    assert_eq!(members.len(), 1, "{members:?}");
    assert!(members[0].is_alive());
    assert_eq!(
        signal_group(&group, Sig::Term).unwrap(),
        GroupSignal::Leftovers(1)
    );
    wait_until("leftover gone", || group_members(group.pgid).is_empty());
    // Orphans are reaped by init (slowly in some sandboxes); once they are, -pgid is free.
    wait_until("group reaped", || !group_alive(group.pgid));
}
