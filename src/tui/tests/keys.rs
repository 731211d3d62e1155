//! Keys turned into commands, prompts, navigation, export.

use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::*;

#[test]
fn per_target_keys_send_commands_and_mark_pending() {
    let mut app = app_with(sample_model());
    selected_is(&app, "api", "api.example:8080");
    // Exactly the selected target, by id: another target may share its job and instance.
    let sel = crate::event::Selector::target(&target(6, "api", "api.example:8080"));
    for (c, cmd, pending) in [
        ('r', Command::Reconnect(sel.clone()), Pending::Reconnecting),
        ('d', Command::ReResolve(sel.clone()), Pending::Resolving),
        ('p', Command::Probe(sel.clone()), Pending::Probing),
    ] {
        ch(&mut app, c);
        assert_eq!(app.outbox.drain(..).collect::<Vec<_>>(), vec![cmd]);
        let slot = app.targets.selected.expect("selected");
        assert_eq!(app.model.targets[slot].pending, Some(pending));
    }
}

#[test]
fn bulk_keys_ask_then_send_one_command_per_whole_job() {
    let mut app = app_with(sample_model());
    ch(&mut app, 'R');
    assert!(matches!(
        app.prompt,
        Some(Prompt::Confirm { targets: 7, .. })
    ));
    assert!(
        app.outbox.is_empty(),
        "nothing is sent before the confirmation"
    );
    ch(&mut app, 'y');
    let jobs = |j: &str| {
        Command::Reconnect(crate::event::Selector {
            job: Some(j.into()),
            ..crate::event::Selector::all()
        })
    };
    assert_eq!(
        app.outbox.drain(..).collect::<Vec<_>>(),
        vec![jobs("api"), jobs("blackbox"), jobs("node"), jobs("web")]
    );
    assert!(
        app.model
            .targets
            .iter()
            .filter(|t| !t.removed)
            .all(|t| t.pending == Some(Pending::Reconnecting))
    );

    // A filter that shows part of a job: one command per target.
    let mut app = app_with(sample_model());
    ch(&mut app, 'f');
    for c in "10.0.0".chars() {
        ch(&mut app, c);
    }
    press(&mut app, KeyCode::Enter);
    ch(&mut app, 'P');
    ch(&mut app, 'y');
    let probe =
        |id: u64, i: &str| Command::Probe(crate::event::Selector::target(&target(id, "node", i)));
    assert_eq!(
        app.outbox.drain(..).collect::<Vec<_>>(),
        vec![probe(1, "10.0.0.1:9100"), probe(2, "10.0.0.2:9100")]
    );

    // Declining sends nothing.
    let mut app = app_with(sample_model());
    ch(&mut app, 'D');
    ch(&mut app, 'n');
    assert!(app.outbox.is_empty() && app.prompt.is_none());
}

#[test]
fn quit_reload_and_load_keys() {
    let mut app = app_with(sample_model());
    app.on_key(KeyEvent::new(KeyCode::Char('l'), KeyModifiers::CONTROL));
    assert_eq!(
        app.outbox.drain(..).collect::<Vec<_>>(),
        vec![Command::Reload]
    );

    ch(&mut app, 'L');
    for c in "/etc/targets.yml".chars() {
        ch(&mut app, c);
    }
    press(&mut app, KeyCode::Enter);
    assert!(matches!(app.prompt, Some(Prompt::LoadMode { .. })));
    ch(&mut app, 'r');
    assert_eq!(
        app.outbox.drain(..).collect::<Vec<_>>(),
        vec![Command::Load {
            path: "/etc/targets.yml".into(),
            replace: true
        }]
    );

    ch(&mut app, 'L');
    for c in "t.txt".chars() {
        ch(&mut app, c);
    }
    press(&mut app, KeyCode::Enter);
    ch(&mut app, 'a');
    assert_eq!(
        app.outbox.drain(..).collect::<Vec<_>>(),
        vec![Command::Load {
            path: "t.txt".into(),
            replace: false
        }]
    );

    ch(&mut app, 'q');
    assert!(app.quit);
    assert_eq!(
        app.outbox.drain(..).collect::<Vec<_>>(),
        vec![Command::Quit]
    );

    let mut app = app_with(sample_model());
    app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert!(app.quit);
}

#[test]
fn releases_and_repeats_do_nothing() {
    let mut app = app_with(sample_model());
    for kind in [KeyEventKind::Release, KeyEventKind::Repeat] {
        let mut ev = KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE);
        ev.kind = kind;
        assert!(!app.on_key(ev));
        assert!(!app.quit && app.outbox.is_empty());
    }
}

#[test]
fn navigation_and_screens() {
    let mut app = app_with(sample_model());
    ch(&mut app, 'G');
    selected_is(&app, "web", "web-1.example:8000");
    ch(&mut app, 'g');
    selected_is(&app, "api", "api.example:8080");
    press(&mut app, KeyCode::Down);
    selected_is(&app, "blackbox", "https://a.example");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.screen, Screen::Detail);
    ch(&mut app, 'j'); // next target, still in detail
    selected_is(&app, "blackbox", "https://b.example");
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.screen, Screen::Targets);
    let mut seen = vec![];
    for _ in 0..5 {
        press(&mut app, KeyCode::Tab);
        seen.push(app.screen);
    }
    assert_eq!(
        seen,
        vec![
            Screen::Detail,
            Screen::Pools,
            Screen::Descriptors,
            Screen::Log,
            Screen::Targets
        ]
    );
    press(&mut app, KeyCode::BackTab);
    assert_eq!(app.screen, Screen::Log);
    ch(&mut app, '?');
    assert_eq!(app.screen, Screen::Help);
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.screen, Screen::Log);
}

#[test]
fn sort_filter_and_state_filter() {
    let mut app = app_with(sample_model());
    assert_eq!(app.targets.rows.len(), 7, "the removed target is not shown");
    ch(&mut app, 't'); // down
    assert_eq!(app.targets.rows.len(), 2);
    selected_is(&app, "node", "10.0.0.2:9100");
    ch(&mut app, 't'); // failing
    ch(&mut app, 't'); // flagged
    assert_eq!(app.targets.rows.len(), 3, "stale+dns and two probe-failed");
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.targets.rows.len(), 7);

    ch(&mut app, '/');
    for c in "is:stale".chars() {
        ch(&mut app, c);
    }
    assert_eq!(app.targets.rows.len(), 1, "filters while typing");
    press(&mut app, KeyCode::Esc);
    assert_eq!(
        app.targets.rows.len(),
        7,
        "esc restores the previous filter"
    );

    // Sort by scrape duration, descending: the timed-out web scrape first.
    while app.targets.view.sort != crate::tui::index::Column::Scrape {
        ch(&mut app, 's');
    }
    ch(&mut app, 'i');
    let first = &app.model.targets[app.targets.rows[0]];
    assert_eq!(&*first.instance, "web-1.example:8000");
    // Backwards past the strip, which sorts as reconnects and is left out of the cycle.
    ch(&mut app, 'S');
    assert_eq!(app.targets.view.sort, crate::tui::index::Column::Reconnects);
}

#[test]
fn freeze_keeps_showing_the_frozen_copy() {
    let mut app = app_with(sample_model());
    ch(&mut app, ' ');
    let before = app.shown().version;
    let t = target(99, "late", "x:1");
    app.apply([Event {
        ts: now(),
        target: Some(t),
        source: None,
        kind: EventKind::TargetAdded {
            url: "http://x:1/metrics".into(),
            pool: "late/http://x:1".parse().expect("pool key"),
            interval_s: 15.0,
            timeout_s: 10.0,
            labels: Default::default(),
        },
    }]);
    app.invalidate();
    app.refresh(Instant::now(), now());
    assert_eq!(app.shown().version, before);
    assert_eq!(app.targets.rows.len(), 7);
    assert_eq!(
        app.model.totals.targets, 8,
        "the live model keeps applying events"
    );
    ch(&mut app, ' ');
    assert_eq!(app.targets.rows.len(), 8);
}

#[test]
fn export_writes_json_and_shows_the_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut app = app_with(sample_model());
    app.facts.export_dir = dir.path().join("exports");
    app.export(now());
    let status = app.status.clone().expect("status");
    let path = status.strip_prefix("exported to ").expect("path shown");
    let text = std::fs::read_to_string(path).expect("file written");
    // Readable by the user only: the export holds URLs, addresses and errors.
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "export mode {mode:o}");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["targets"].as_array().map(Vec::len), Some(8));
    assert_eq!(v["totals"]["targets"], 7);
    assert!(
        v["targets"][0]["scrapes"]
            .as_array()
            .is_some_and(|s| !s.is_empty())
    );
    assert!(v["events"].as_array().is_some_and(|e| !e.is_empty()));
    // A second export in the same second does not overwrite the first.
    app.export(now());
    assert_ne!(app.status.as_deref(), Some(status.as_str()));
}

#[test]
fn path_completion() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("targets-a.yml"), "").expect("write");
    std::fs::write(dir.path().join("targets-b.yml"), "").expect("write");
    std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
    let d = dir.path().display().to_string();
    let (c, cands) = crate::tui::prompt::complete_path(&format!("{d}/ta"));
    assert_eq!(c, format!("{d}/targets-"));
    assert_eq!(cands, vec!["targets-a.yml", "targets-b.yml"]);
    let (c, cands) = crate::tui::prompt::complete_path(&format!("{d}/s"));
    assert_eq!(c, format!("{d}/sub/"));
    assert!(cands.is_empty());
    let (c, _) = crate::tui::prompt::complete_path(&format!("{d}/nothing"));
    assert_eq!(c, format!("{d}/nothing"));

    // Tab in the load prompt uses it.
    let mut app = app_with(sample_model());
    ch(&mut app, 'L');
    for c in format!("{d}/targets-a").chars() {
        ch(&mut app, c);
    }
    press(&mut app, KeyCode::Tab);
    assert_eq!(
        app.prompt,
        Some(Prompt::LoadPath {
            input: format!("{d}/targets-a.yml"),
            candidates: vec![]
        })
    );
}

#[test]
fn engine_answer_clears_pending() {
    let mut app = app_with(sample_model());
    ch(&mut app, 'r');
    let slot = app.targets.selected.expect("selected");
    let t = app.model.targets[slot].target.clone();
    app.apply([Event {
        ts: now(),
        target: Some(t),
        source: None,
        kind: EventKind::ConnClosed {
            conn_id: 5,
            fd: 16,
            reason: CloseReason::Forced,
            lifetime_s: 596.0,
            requests: 40,
        },
    }]);
    assert_eq!(app.model.targets[slot].pending, None);
}

#[test]
fn mouse_scroll_and_click() {
    use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
    let mut app = app_with(sample_model());
    let _ = screen(&mut app, 80, 24);
    let top = render::table_top(ratatui::layout::Rect::new(0, 0, 80, 24), 0);
    let click = MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: 5,
        row: top + 2,
        modifiers: KeyModifiers::NONE,
    };
    assert!(app.on_mouse(click, top));
    selected_is(&app, "blackbox", "https://b.example");
    let scroll = MouseEvent {
        kind: MouseEventKind::ScrollDown,
        ..click
    };
    assert!(app.on_mouse(scroll, top));
    selected_is(&app, "node", "db.example:9100");
}

#[test]
fn detail_keeps_its_target_while_the_table_refilters() {
    let mut app = app_with(sample_model());
    // node/10.0.0.2:9100 is the only target down.
    ch(&mut app, 't');
    selected_is(&app, "node", "10.0.0.2:9100");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.screen, Screen::Detail);
    // The table's filter changes under the detail screen (here: back to every target, then a
    // text filter that excludes the target being read).
    app.targets.clear_filters();
    app.targets.set_filter("api".into());
    app.refresh(Instant::now(), now());
    assert_ne!(
        app.targets.selected, app.detail.target,
        "the table's selection moved"
    );
    let out = screen(&mut app, 120, 40);
    assert!(out.contains("node / 10.0.0.2:9100"), "{out}");
    // An operation in detail acts on the target shown.
    ch(&mut app, 'p');
    assert_eq!(
        app.outbox.drain(..).collect::<Vec<_>>(),
        vec![Command::Probe(crate::event::Selector::target(&target(
            2,
            "node",
            "10.0.0.2:9100"
        )))]
    );
}

#[test]
fn a_key_the_source_cannot_honour_says_so_and_is_not_left_pending() {
    let mut app = app_with(sample_model());
    ch(&mut app, 'p');
    let cmd = app.outbox.pop().expect("a probe command");
    let slot = app.targets.selected.expect("selected");
    assert_eq!(app.model.targets[slot].pending, Some(Pending::Probing));
    let caps = crate::source::Capabilities::all().without(crate::source::Capability::Probe);
    let why = caps.check(&cmd).expect_err("refused");
    app.refuse(&cmd, &why);
    assert_eq!(app.model.targets[slot].pending, None);
    assert!(
        app.status
            .as_deref()
            .is_some_and(|s| s.contains("probe capability")),
        "{:?}",
        app.status
    );
}
