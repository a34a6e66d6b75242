//! Hosts advance independently between barriers, and never more than `--forks` hosts are busy at
//! once: proven with the JSON events' timestamps and with timestamps the tasks themselves write.

mod common;

use common::*;
use std::path::Path;

#[test]
fn fast_host_finishes_task_5_while_slow_host_is_still_in_task_1() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: task1
      command: "{{ 'sleep 2' if inventory_hostname == 'a' else 'true' }}"
    - name: task2
      debug: msg=two
    - name: task3
      command: "true"
    - name: task4
      set_fact: four=4
    - name: task5
      file: path="{{ dir }}/{{ inventory_hostname }}.task5" state=touch
"#;
    let r = run_hosts(
        t.path(),
        &["a", "b"],
        pb,
        &["--forks", "2", "--output", "json"],
    );
    r.assert_exit(0);
    let events = r.events();
    let result_time = |task: &str, host: &str| -> f64 {
        let ev = events
            .iter()
            .find(|e| e["event"] == "host_result" && e["task"] == task && e["host"] == host)
            .unwrap_or_else(|| panic!("no host_result for {task}/{host}\n{}", r.stdout));
        event_time(ev)
    };
    let a1 = result_time("task1", "a");
    let b5 = result_time("task5", "b");
    assert!(
        b5 < a1,
        "b finished task5 at {b5} but a finished task1 at {a1}: b waited for a\n{}",
        r.stdout
    );
    // And a really was slow: its task1 result comes at least ~2 s after b's task1 result.
    let b1 = result_time("task1", "b");
    assert!(a1 - b1 > 1.5, "a1={a1} b1={b1}");
    assert!(t.path().join("a.task5").exists() && t.path().join("b.task5").exists());
}

/// Reads `dir/<host>.start` and `.end` (one `date +%s.%N` per line) into (start, end) intervals.
fn intervals(dir: &Path, host: &str) -> Vec<(f64, f64)> {
    let parse = |name: String| -> Vec<f64> {
        read(&dir.join(name))
            .lines()
            .map(|l| {
                l.trim()
                    .parse::<f64>()
                    .unwrap_or_else(|e| panic!("bad timestamp {l}: {e}"))
            })
            .collect()
    };
    let starts = parse(format!("{host}.start"));
    let ends = parse(format!("{host}.end"));
    assert_eq!(
        starts.len(),
        ends.len(),
        "{host}: unmatched start/end lines"
    );
    starts.into_iter().zip(ends).collect()
}

/// The largest number of intervals open at the same instant.
fn max_overlap(all: &[(f64, f64)]) -> usize {
    let mut points: Vec<(f64, i32)> = Vec::new();
    for &(s, e) in all {
        points.push((s, 1));
        points.push((e, -1));
    }
    // Ends sort before starts at equal times: touching intervals do not overlap.
    points.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut cur, mut max) = (0i32, 0i32);
    for (_, d) in points {
        cur += d;
        max = max.max(cur);
    }
    max as usize
}

const BUSY_TASKS: &str = r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: busy1
      shell: "date +%s.%N >> {{ dir }}/{{ inventory_hostname }}.start; sleep 0.4; date +%s.%N >> {{ dir }}/{{ inventory_hostname }}.end"
    - name: busy2
      shell: "date +%s.%N >> {{ dir }}/{{ inventory_hostname }}.start; sleep 0.4; date +%s.%N >> {{ dir }}/{{ inventory_hostname }}.end"
    - name: busy3
      shell: "date +%s.%N >> {{ dir }}/{{ inventory_hostname }}.start; sleep 0.4; date +%s.%N >> {{ dir }}/{{ inventory_hostname }}.end"
"#;

#[test]
fn at_most_forks_hosts_are_busy_at_once() {
    let t = tempdir();
    let hosts = ["h1", "h2", "h3", "h4"];
    let r = run_hosts(t.path(), &hosts, BUSY_TASKS, &["--forks", "2"]);
    r.assert_exit(0);
    let mut all = Vec::new();
    for h in hosts {
        let iv = intervals(t.path(), h);
        assert_eq!(iv.len(), 3, "{h} ran {} busy tasks\n{}", iv.len(), r.dump());
        all.extend(iv);
    }
    let max = max_overlap(&all);
    assert!(max <= 2, "{max} hosts were busy at once with --forks 2");
    assert_eq!(max, 2, "with --forks 2 two hosts should work in parallel");
    for h in hosts {
        assert_eq!(r.host(h).changed, 3, "{}", r.dump());
    }
}

#[test]
fn forks_1_serialises_hosts() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - shell: "date +%s.%N >> {{ dir }}/{{ inventory_hostname }}.start; sleep 0.2; date +%s.%N >> {{ dir }}/{{ inventory_hostname }}.end"
"#;
    let hosts = ["x", "y", "z"];
    let r = run_hosts(t.path(), &hosts, pb, &["--forks", "1"]);
    r.assert_exit(0);
    let all: Vec<_> = hosts.iter().flat_map(|h| intervals(t.path(), h)).collect();
    assert_eq!(all.len(), 3);
    assert_eq!(max_overlap(&all), 1);
}

#[test]
fn json_events_bracket_each_host_result_within_forks() {
    // From the JSON events alone: with 4 hosts and --forks 2 every task still yields exactly one
    // host_result per host, stdout is pure JSON, and the recap event carries counts and exit code.
    let t = tempdir();
    let hosts = ["h1", "h2", "h3", "h4"];
    let r = run_hosts(
        t.path(),
        &hosts,
        BUSY_TASKS,
        &["--forks", "2", "--output", "json"],
    );
    r.assert_exit(0);
    let events = r.events();
    for task in ["busy1", "busy2", "busy3"] {
        let mut seen: Vec<&str> = events
            .iter()
            .filter(|e| e["event"] == "host_result" && e["task"] == task)
            .filter_map(|e| e["host"].as_str())
            .collect();
        seen.sort();
        assert_eq!(seen, hosts, "{task}");
    }
    let recap = events
        .iter()
        .find(|e| e["event"] == "recap")
        .expect("a recap event");
    assert_eq!(recap["exit_code"], 0);
    for h in hosts {
        assert_eq!(recap["stats"][h]["changed"], 3, "{recap}");
    }
    // Within one host, results come in task order and time never goes backwards.
    for h in hosts {
        let times: Vec<f64> = events
            .iter()
            .filter(|e| e["event"] == "host_result" && e["host"] == h)
            .map(event_time)
            .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{h}: {times:?}");
    }
}

#[test]
fn linear_strategy_keeps_hosts_in_lockstep() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  strategy: linear
  tasks:
    - name: task1
      command: "{{ 'sleep 1' if inventory_hostname == 'a' else 'true' }}"
    - name: task2
      command: "true"
"#;
    let r = run_hosts(
        t.path(),
        &["a", "b"],
        pb,
        &["--forks", "2", "--output", "json"],
    );
    r.assert_exit(0);
    let events = r.events();
    let time = |task: &str, host: &str| {
        event_time(
            events
                .iter()
                .find(|e| e["event"] == "host_result" && e["task"] == task && e["host"] == host)
                .unwrap_or_else(|| panic!("no result {task}/{host}\n{}", r.stdout)),
        )
    };
    assert!(
        time("task2", "b") >= time("task1", "a"),
        "linear let b run ahead\n{}",
        r.stdout
    );
}
