//! Every screen drawn at fixed sizes, snapshotted, and checked for what must be on it.

use crossterm::event::KeyCode;

use super::*;

#[test]
fn snapshot_every_screen_at_both_sizes() {
    for (w, h) in [(80, 24), (160, 48)] {
        for (key, name) in [
            ('1', "targets"),
            ('2', "detail"),
            ('3', "pools"),
            ('4', "descriptors"),
            ('5', "events"),
            ('?', "help"),
        ] {
            let mut app = app_with(sample_model());
            ch(&mut app, key);
            insta::assert_snapshot!(format!("{name}_{w}x{h}"), screen(&mut app, w, h));
        }
    }
}

#[test]
fn snapshot_too_small() {
    let mut app = app_with(sample_model());
    insta::assert_snapshot!("too_small_79x24", screen(&mut app, 79, 24));
}

#[test]
fn snapshot_pending_row_shows_reconnecting_at_once() {
    let mut app = app_with(sample_model());
    // Sorted by job: api, blackbox, blackbox, node… select the first node target.
    for _ in 0..3 {
        ch(&mut app, 'j');
    }
    ch(&mut app, 'r');
    let out = screen(&mut app, 80, 24);
    assert!(out.contains("reconnecting…"), "{out}");
    insta::assert_snapshot!("pending_reconnect_80x24", out);
}

#[test]
fn snapshot_confirm_prompt_and_frozen_demo_header() {
    let mut app = app_with(sample_model());
    app.facts.demo = true;
    ch(&mut app, ' ');
    ch(&mut app, 'R');
    insta::assert_snapshot!("confirm_frozen_demo_80x24", screen(&mut app, 80, 24));
}

#[test]
fn snapshot_filtered_sorted_no_color() {
    let mut app = app_with(sample_model());
    app.theme = Theme { color: false };
    ch(&mut app, '/');
    for c in "node".chars() {
        ch(&mut app, c);
    }
    press(&mut app, KeyCode::Enter);
    ch(&mut app, 's'); // instance
    ch(&mut app, 'i'); // descending
    insta::assert_snapshot!("filtered_sorted_80x24", screen(&mut app, 80, 24));
}

/// Draw with colours off, so the text can be searched.
fn plain(app: &mut App, w: u16, h: u16) -> String {
    app.theme = Theme { color: false };
    screen(app, w, h)
}

/// The table's header line (the line after the tabs).
fn header_of(out: &str) -> &str {
    out.lines().nth(6).unwrap_or("")
}

/// The row of a target (first line that mentions it).
fn row_of<'a>(out: &'a str, what: &str) -> &'a str {
    out.lines()
        .find(|l| l.contains(what))
        .unwrap_or_else(|| panic!("no line with {what} in\n{out}"))
}

/// A timeline lane: the line that starts (inside any border) with the lane's name.
fn lane_of<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find(|l| l.trim_start_matches(['"', '│']).starts_with(name))
        .unwrap_or_else(|| panic!("no {name} lane in\n{out}"))
}

#[test]
fn targets_table_keeps_what_an_operator_came_for_at_every_size() {
    for (w, h) in [(80, 24), (120, 40), (200, 50)] {
        let mut app = app_with(sample_model());
        let out = plain(&mut app, w, h);
        let head = header_of(&out);
        for col in ["instance", "conn", "flags", "fd", "dns", "reconn"] {
            assert!(head.contains(col), "{w}x{h}: no {col} column in\n{out}");
        }
        // State, descriptor, DNS age and outcome, reconnects and flags of the flapping target.
        let web = row_of(&out, "web-1.example:8000");
        for cell in ["in flight", " 32 ", "4m59s", "10.0.4.5", "23/23", "·P"] {
            assert!(web.contains(cell), "{w}x{h}: {cell:?} missing in {web:?}");
        }
        // And of the one whose DNS fails.
        let db = row_of(&out, "db.example:9100");
        assert!(db.contains("FAIL timeout"), "{w}x{h}: {db:?}");
        assert!(db.contains("SD"), "{w}x{h}: {db:?}");
        if w >= 120 {
            assert!(head.contains("last 10 min"), "{w}x{h}: no strip\n{out}");
            assert!(head.contains("age") && head.contains("job"), "{out}");
            // The strip: open bars, the peer_closed, forced and reset ends, then the run of
            // timeouts (several ends in one cell: a count, "+" from ten).
            for part in ["━p━", "━f━", "━r"] {
                assert!(web.contains(part), "{w}x{h}: strip lacks {part:?}: {web:?}");
            }
            let after = web.split("━r").nth(1).unwrap_or("");
            assert!(
                after
                    .trim_start()
                    .starts_with(|c: char| c == '+' || c.is_ascii_digit()),
                "{w}x{h}: the run of timeouts: {web:?}"
            );
        }
        if w >= 200 {
            for col in ["peer", "lport", "reqs", "scrape", "error", "ttl"] {
                assert!(head.contains(col), "{w}x{h}: no {col} column in\n{out}");
            }
        }
        insta::assert_snapshot!(format!("targets_reasons_{w}x{h}"), out);
    }
}

#[test]
fn detail_shows_the_reconnect_history_and_why_each_ended_at_every_size() {
    for (w, h) in [(80, 24), (120, 40), (200, 50)] {
        let mut app = app_with(sample_model());
        ch(&mut app, 'G'); // web sorts last
        selected_is(&app, "web", "web-1.example:8000");
        press(&mut app, KeyCode::Enter);
        let out = plain(&mut app, w, h);
        // The pace, since when, and every reason in the window (the timeline's ends line is the
        // legend of its letters).
        assert!(out.contains("23 reconnects"), "{w}x{h}\n{out}");
        assert!(out.contains("every ~3s since 22:22:10"), "{w}x{h}\n{out}");
        for reason in ["t timeout 20", "r reset 1", "p peer_closed 1", "f forced 1"] {
            assert!(out.contains(reason), "{w}x{h}: {reason:?} missing\n{out}");
        }
        // The lanes, on one axis.
        let conns = lane_of(&out, "conns ");
        assert!(conns.contains('━'), "{conns}");
        for mark in ['p', 'f', 'r'] {
            assert!(conns.contains(mark), "{w}x{h}: lane lacks {mark}: {conns}");
        }
        let dns = lane_of(&out, "dns   ");
        assert!(dns.contains('◆'), "{w}x{h}: the moved answer: {dns}");
        let probe = lane_of(&out, "probe ");
        assert!(probe.contains('✓') && probe.contains('✗'), "{probe}");
        assert!(out.contains("now"), "{out}");
        // The history table: when, how long, why, never cut; newest first, several rows.
        let hist = lane_of(&out, "opened");
        for col in ["opened", "closed", "lived", "ended"] {
            assert!(hist.contains(col), "{w}x{h}: {hist}");
        }
        let timeouts = out
            .lines()
            .filter(|l| l.contains(" 2s ") && l.contains("timeout"))
            .count();
        assert!(timeouts >= 5, "{w}x{h}: {timeouts} timeout rows\n{out}");
        // Never cut: each row's reason is whole.
        assert!(!out.contains("timeo…") && !out.contains("fo…"), "{out}");
        assert!(row_of(&out, "22:23:10").contains("open"), "{out}");
        let rows = out
            .lines()
            .filter(|l| l.contains("timeout") || l.contains(" open "))
            .count();
        let want = if h >= 40 { 10 } else { 6 };
        assert!(rows >= want, "{w}x{h}: {rows} history rows\n{out}");
        insta::assert_snapshot!(format!("detail_reasons_{w}x{h}"), out);
    }
}

#[test]
fn limitations_stay_as_a_banner_on_every_screen() {
    let mut m = sample_model();
    let limited = [
        "cannot read /proc/4242/fd (Prometheus runs as uid 105, scrapetop as uid 1000): \
         connections are matched by owner uid and peer address only; run as root",
        "cannot read /proc/4242/ns/net: its namespace is assumed to be scrapetop's own",
        "cannot read Prometheus's --config.file: probes without the job's auth",
    ];
    for l in limited {
        m.apply(Event::now(None, EventKind::limitation(l)));
        // Said twice (a re-attach): kept once.
        m.apply(Event::now(None, EventKind::limitation(l)));
    }
    // A later plain notice replaces the status line, never the banner.
    m.apply(Event::now(None, EventKind::notice("Prometheus reloaded")));
    assert_eq!(m.limitations.len(), 3);
    for key in ['1', '2', '3', '4', '5', '?'] {
        let mut app = app_with(m.clone());
        ch(&mut app, key);
        let out = screen(&mut app, 80, 24);
        let lines: Vec<&str> = out.lines().collect();
        assert!(
            lines[5].contains("⚠ cannot read /proc/4242/fd (Prometheus runs as uid 105"),
            "screen {key}: {out}"
        );
        assert!(lines[5].contains('…'), "cut to the width: {out}");
        assert!(
            lines[6].contains("⚠ cannot read /proc/4242/ns/net")
                && lines[6].contains("(+1 more: events screen)"),
            "screen {key}: {out}"
        );
    }
    // Without limitations there is no banner: the tabs follow the header.
    let mut app = app_with(sample_model());
    let out = screen(&mut app, 80, 24);
    assert!(!out.contains('⚠'), "{out}");
    // The state answer (and export) lists them all.
    let v = serde_json::to_value(m.snapshot()).expect("serialize");
    assert_eq!(v["limitations"].as_array().map(Vec::len), Some(3));
    let v = serde_json::to_value(sample_model().snapshot()).expect("serialize");
    assert!(v.get("limitations").is_none(), "omitted when empty: {v}");
}
