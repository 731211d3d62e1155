//! The timeline's lanes and the reconnect pace, from short event scripts.

use std::time::Duration;

use super::*;
use crate::model::{CONN_HISTORY, RECONNECT_HISTORY};
use crate::tui::timeline::{
    Axis, ConnCell, DnsCell, ProbeCell, ProbeMark, cadence, conn_lane, dns_lane, ends_by_reason,
    probe_lane, probes_of, window_for,
};

/// A model of one target from `build`, and that target.
fn one(build: impl FnOnce(&mut Script, &Arc<TargetRef>)) -> Model {
    let t = target(1, "job", "h:1");
    let mut s = Script { events: Vec::new() };
    s.add(0.0, &t, "http://h:1/metrics", "http://h:1");
    build(&mut s, &t);
    let mut m = Model::new();
    s.events.sort_by_key(|e| e.ts);
    for e in s.events {
        m.apply(e);
    }
    m
}

/// Ten cells of one minute each, ending at `now` (ten minutes after `base`).
fn axis() -> Axis {
    Axis {
        now: now(),
        cells: 10,
        window: Duration::from_secs(600),
    }
}

#[test]
fn windows_zoom_out_to_the_hour() {
    let min = |m: u64| Duration::from_secs(m * 60);
    assert_eq!(window_for(Duration::ZERO), min(5));
    assert_eq!(window_for(min(5)), min(5));
    assert_eq!(window_for(min(6)), min(10));
    assert_eq!(window_for(min(16)), min(30));
    assert_eq!(window_for(min(600)), min(60));
    let a = axis();
    assert_eq!(a.cell(base()), Some(0));
    assert_eq!(a.cell(base() + Duration::from_secs(59)), Some(0));
    assert_eq!(a.cell(base() + Duration::from_secs(60)), Some(1));
    assert_eq!(a.cell(now()), Some(9));
    assert_eq!(a.cell(now() + Duration::from_secs(1)), None, "the future");
    assert_eq!(
        a.cell(base() - Duration::from_secs(1)),
        None,
        "before the window"
    );
}

#[test]
fn each_connection_is_a_bar_ending_in_its_reason() {
    let m = one(|s, t| {
        s.open(
            30.0,
            t,
            1,
            "node/http://10.0.0.1:1",
            5,
            "127.0.0.1:1",
            "10.0.0.1:1",
        );
        s.close(150.0, t, 1, 5, CloseReason::PeerClosed, 120.0, 3);
        s.open(
            200.0,
            t,
            2,
            "node/http://10.0.0.1:1",
            5,
            "127.0.0.1:2",
            "10.0.0.1:1",
        );
        // Three ends in minute 7: a forced close and two timeouts; the timeout shows.
        s.close(420.0, t, 2, 5, CloseReason::Forced, 220.0, 3);
        s.open(
            421.0,
            t,
            3,
            "node/http://10.0.0.1:1",
            5,
            "127.0.0.1:3",
            "10.0.0.1:1",
        );
        s.close(430.0, t, 3, 5, CloseReason::Timeout, 9.0, 1);
        s.open(
            431.0,
            t,
            4,
            "node/http://10.0.0.1:1",
            5,
            "127.0.0.1:4",
            "10.0.0.1:1",
        );
        s.close(440.0, t, 4, 5, CloseReason::Timeout, 9.0, 1);
        s.open(
            500.0,
            t,
            5,
            "node/http://10.0.0.1:1",
            5,
            "127.0.0.1:5",
            "10.0.0.1:1",
        );
    });
    let lane = conn_lane(&m.targets[0], axis());
    use ConnCell::*;
    let ends = |count, reason| Ends { count, reason };
    assert_eq!(
        lane,
        vec![
            Open,
            Open,
            ends(1, CloseReason::PeerClosed),
            Open,
            Open,
            Open,
            Open,
            ends(3, CloseReason::Timeout),
            Open,
            Open,
        ]
    );
    let glyphs: String = lane
        .iter()
        .map(|c| crate::tui::timeline::conn_glyph(*c))
        .collect();
    assert_eq!(glyphs, "━━p━━━━3━━");
    assert_eq!(
        ends_by_reason(&m.targets[0], axis()),
        vec![
            (CloseReason::Timeout, 2),
            (CloseReason::PeerClosed, 1),
            (CloseReason::Forced, 1)
        ]
    );
}

#[test]
fn a_full_history_marks_the_time_before_it_unknown() {
    let n = CONN_HISTORY as u32 + 5;
    let m = one(|s, t| {
        for k in 0..n {
            // From 5 minutes on, one connection every 5 s, each closed by the peer.
            let at = 300.0 + 5.0 * f64::from(k);
            s.open(
                at,
                t,
                u64::from(k),
                "node/http://10.0.0.1:1",
                5,
                "127.0.0.1:1",
                "10.0.0.1:1",
            );
            s.close(
                at + 4.0,
                t,
                u64::from(k),
                5,
                CloseReason::PeerClosed,
                4.0,
                1,
            );
        }
    });
    let lane = conn_lane(&m.targets[0], axis());
    // The oldest kept connection opened at 300 + 5*5 = 325 s: minutes 0-4 are unknown.
    assert!(
        lane[..5].iter().all(|c| *c == ConnCell::Unknown),
        "{lane:?}"
    );
    assert!(matches!(lane[5], ConnCell::Ends { .. }), "{lane:?}");
    // Fewer than the bound: the past is just empty.
    let m = one(|s, t| {
        s.open(
            300.0,
            t,
            1,
            "node/http://10.0.0.1:1",
            5,
            "127.0.0.1:1",
            "10.0.0.1:1",
        )
    });
    let lane = conn_lane(&m.targets[0], axis());
    assert!(lane[..5].iter().all(|c| *c == ConnCell::Empty), "{lane:?}");
    assert!(lane[5..].iter().all(|c| *c == ConnCell::Open), "{lane:?}");
}

#[test]
fn dns_changes_failures_and_probes_share_the_axis() {
    let m = one(|s, t| {
        s.resolved(10.0, t, "h", &["10.0.0.1", "10.0.0.2"], DnsCause::Dial);
        // The same set in another order is no change.
        s.resolved(70.0, t, "h", &["10.0.0.2", "10.0.0.1"], DnsCause::Recheck);
        s.resolved(130.0, t, "h", &["10.0.0.3"], DnsCause::Recheck);
        s.resolved(190.0, t, "h", &["10.0.0.3"], DnsCause::Recheck);
        s.at(
            200.0,
            Some(t),
            EventKind::DnsFailed {
                host: "h".into(),
                kind: DnsFailKind::Nxdomain,
                error: "no such name".into(),
                duration_ms: 1.0,
                cause: DnsCause::Recheck,
            },
        );
    });
    use DnsCell::*;
    let lane = dns_lane(&m.targets[0], axis());
    assert_eq!(
        lane,
        vec![
            Same, Same, Changed, Failed, Empty, Empty, Empty, Empty, Empty, Empty
        ]
    );
    let at = |s: u64| base() + Duration::from_secs(s);
    let probes = [
        ProbeMark {
            at: at(30),
            ok: true,
        },
        ProbeMark {
            at: at(400),
            ok: true,
        },
        ProbeMark {
            at: at(410),
            ok: false,
        },
    ];
    let lane = probe_lane(&probes, axis());
    assert_eq!(lane[0], ProbeCell::Ok);
    assert_eq!(lane[6], ProbeCell::Failed, "a failure outweighs a success");
    assert_eq!(lane[3], ProbeCell::Empty);
}

#[test]
fn past_probes_come_from_the_event_log() {
    let ok = |ok: bool| {
        EventKind::Probe(crate::event::ProbeResult {
            ok,
            kind: None,
            error: None,
            resolve_ms: None,
            connect_ms: None,
            first_byte_ms: None,
            total_ms: 1.0,
            peer: None,
            status: None,
            hidden_failure: false,
        })
    };
    let m = one(|s, t| {
        s.at(100.0, Some(t), ok(true));
        s.at(200.0, Some(t), ok(false));
        // Another target's probe is not ours.
        s.at(300.0, Some(&target(2, "job", "other:1")), ok(false));
    });
    let p = probes_of(&m.targets[0], &m.log);
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(p.iter().any(|p| p.ok) && p.iter().any(|p| !p.ok));
}

#[test]
fn the_pace_of_reconnects_and_since_when() {
    let times = |secs: &[u64]| -> VecDeque<SystemTime> {
        secs.iter()
            .map(|s| base() + Duration::from_secs(*s))
            .collect()
    };
    // Two early reconnects, then every 3 s from 100 s.
    let c = cadence(
        &times(&[10, 50, 100, 103, 106, 109, 112]),
        base() + Duration::from_secs(113),
    )
    .expect("a run");
    assert_eq!(c.every, Duration::from_secs(3));
    assert_eq!(c.since, base() + Duration::from_secs(100));
    assert_eq!((c.count, c.at_least, c.until), (5, false, None));
    // The run stopped: it has an end.
    let c = cadence(
        &times(&[100, 103, 106, 109]),
        base() + Duration::from_secs(200),
    )
    .expect("a run");
    assert_eq!(c.until, Some(base() + Duration::from_secs(109)));
    // A run that ended with a slower reconnect (the connection that stayed): still found.
    let c = cadence(
        &times(&[100, 102, 104, 106, 108, 135]),
        base() + Duration::from_secs(140),
    )
    .expect("a run");
    assert_eq!(c.every, Duration::from_secs(2));
    assert_eq!(c.since, base() + Duration::from_secs(100));
    assert_eq!(c.until, Some(base() + Duration::from_secs(108)));
    // No steady pace.
    assert_eq!(
        cadence(&times(&[10, 200, 205]), base() + Duration::from_secs(206)),
        None
    );
    assert_eq!(
        cadence(&times(&[10, 20]), base() + Duration::from_secs(21)),
        None
    );
    // A run as old as the kept history may have started before it.
    let all: Vec<u64> = (0..RECONNECT_HISTORY as u64).map(|k| 100 + 2 * k).collect();
    let c = cadence(&times(&all), base() + Duration::from_secs(300)).expect("a run");
    assert!(c.at_least);
}
