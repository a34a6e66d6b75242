//! Ansible's variable precedence, one test per documented level (each shows that level beating
//! the one below it for the same name), plus replacement of dicts, lazy rendering, cycle
//! detection and the magic variables. Built from the real pieces: `Inventory::load` on temp
//! files, `RunVars`, `PlayLayers`, `HostVarsState` and `TaskLayers`.

use super::scope::TaskLayers;
use super::{HostVarsState, PlayLayers, RunInfo, RunVars, Scope, OMIT};
use crate::inventory::Inventory;
use crate::playbook::RoleInstance;
use crate::template::Templar;
use crate::value::{Map, Value};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The default inventory: `w1` in `web`, a child of `prod`; `w2` in `db`.
const HOSTS: &str = "[web]\nw1\n[prod:children]\nweb\n[db]\nw2\n";

/// A run over a temp tree: the inventory is `inv/hosts`, the playbook directory `pb/`.
struct Fx {
    _dir: tempfile::TempDir,
    run: Arc<RunVars>,
}

fn write_tree(dir: &Path, files: &[(&str, &str)]) {
    for (rel, content) in files {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
}

fn map(v: Value) -> Map {
    match v {
        Value::Object(m) => m,
        other => panic!("test data must be a mapping, got {other}"),
    }
}

fn amap(v: Value) -> Arc<Map> {
    Arc::new(map(v))
}

fn fx_with(hosts: &str, files: &[(&str, &str)], extra: Value, info: RunInfo) -> Fx {
    let dir = tempfile::tempdir().unwrap();
    write_tree(dir.path(), &[("inv/hosts", hosts)]);
    write_tree(dir.path(), files);
    std::fs::create_dir_all(dir.path().join("pb")).unwrap();
    let inv = Inventory::load(&[dir.path().join("inv/hosts").display().to_string()]).unwrap();
    let run = RunVars::new(
        inv,
        map(extra),
        Arc::new(Templar::new()),
        dir.path().join("pb"),
        info,
    );
    Fx { _dir: dir, run }
}

fn fx(files: &[(&str, &str)]) -> Fx {
    fx_with(HOSTS, files, json!({}), RunInfo::default())
}

fn fx_extra(extra: Value) -> Fx {
    fx_with(HOSTS, &[], extra, RunInfo::default())
}

fn role(name: &str, defaults: Value, vars: Value, params: Value) -> Arc<RoleInstance> {
    Arc::new(RoleInstance {
        name: name.into(),
        path: PathBuf::from(format!("/roles/{name}")),
        defaults: amap(defaults),
        vars: amap(vars),
        params: amap(params),
    })
}

fn play(f: impl FnOnce(&mut PlayLayers)) -> PlayLayers {
    let mut p = PlayLayers {
        name: "p".into(),
        play_hosts: vec!["w1".into(), "w2".into()],
        batch_hosts: vec!["w1".into(), "w2".into()],
        ..Default::default()
    };
    f(&mut p);
    p
}

fn task_get(run: &Arc<RunVars>, host: &str, tl: &TaskLayers, name: &str) -> Option<Value> {
    Scope::for_task(run, host, tl).get_json(name)
}

fn x(run: &Arc<RunVars>, tl: &TaskLayers) -> Option<Value> {
    task_get(run, "w1", tl, "x")
}

fn render(run: &Arc<RunVars>, host: &str, tl: &TaskLayers, tpl: &str) -> Result<Value, String> {
    let scope = Scope::for_task(run, host, tl);
    run.templar.render_str(tpl, &scope.ctx()).map_err(|e| e.msg)
}

// ---- one test per precedence level (Ansible's list, lowest first) ---------------------------

#[test]
fn level_01_role_defaults_of_the_task_role_beat_other_roles_defaults() {
    let f = fx(&[]);
    f.run.set_play(play(|p| {
        p.role_defaults = vec![amap(json!({"x": "other role default", "y": "other"}))]
    }));
    let tl = TaskLayers {
        role: Some(role(
            "r",
            json!({"x": "own role default"}),
            json!({}),
            json!({}),
        )),
        ..Default::default()
    };
    assert_eq!(x(&f.run, &tl), Some(json!("own role default")));
    assert_eq!(
        task_get(&f.run, "w1", &tl, "y"),
        Some(json!("other")),
        "other roles' defaults stay visible"
    );
}

#[test]
fn level_02_inventory_file_all_group_vars_beat_role_defaults() {
    let f = fx_with(
        "[web]\nw1\n[all:vars]\nx=inventory_all\n",
        &[],
        json!({}),
        RunInfo::default(),
    );
    f.run.set_play(play(|p| {
        p.role_defaults = vec![amap(json!({"x": "role default"}))]
    }));
    assert_eq!(
        x(&f.run, &TaskLayers::default()),
        Some(json!("inventory_all"))
    );
}

#[test]
fn level_02_inventory_file_child_group_vars_beat_parent_and_all_group_vars() {
    let f = fx_with(
        &format!("{HOSTS}[all:vars]\nx=all\n[prod:vars]\nx=prod\n[web:vars]\nx=web\n"),
        &[],
        json!({}),
        RunInfo::default(),
    );
    assert_eq!(x(&f.run, &TaskLayers::default()), Some(json!("web")));
}

#[test]
fn level_03_inventory_group_vars_all_beats_inventory_file_group_vars() {
    let f = fx_with(
        &format!("{HOSTS}[web:vars]\nx=inventory_file_web\n"),
        &[("inv/group_vars/all.yml", "x: inv_group_vars_all\n")],
        json!({}),
        RunInfo::default(),
    );
    assert_eq!(
        x(&f.run, &TaskLayers::default()),
        Some(json!("inv_group_vars_all"))
    );
}

#[test]
fn level_04_playbook_group_vars_all_beats_inventory_group_vars_all() {
    let f = fx(&[
        ("inv/group_vars/all.yml", "x: inv\n"),
        ("pb/group_vars/all.yml", "x: playbook\n"),
    ]);
    assert_eq!(x(&f.run, &TaskLayers::default()), Some(json!("playbook")));
}

#[test]
fn level_05_inventory_group_vars_group_beats_playbook_group_vars_all() {
    let f = fx(&[
        ("pb/group_vars/all.yml", "x: pb_all\n"),
        ("inv/group_vars/web.yml", "x: inv_web\n"),
    ]);
    assert_eq!(x(&f.run, &TaskLayers::default()), Some(json!("inv_web")));
}

#[test]
fn level_05_child_group_vars_file_beats_parent_group_vars_file() {
    let f = fx(&[
        ("inv/group_vars/prod.yml", "x: parent\n"),
        ("inv/group_vars/web.yml", "x: child\n"),
    ]);
    assert_eq!(x(&f.run, &TaskLayers::default()), Some(json!("child")));
}

#[test]
fn level_06_playbook_group_vars_group_beats_inventory_group_vars_group() {
    let f = fx(&[
        ("inv/group_vars/web.yml", "x: inv_web\n"),
        ("pb/group_vars/web.yml", "x: pb_web\n"),
    ]);
    assert_eq!(x(&f.run, &TaskLayers::default()), Some(json!("pb_web")));
}

#[test]
fn level_07_inventory_file_host_vars_beat_playbook_group_vars_group() {
    let f = fx_with(
        "[web]\nw1 x=inline\n",
        &[("pb/group_vars/web.yml", "x: pb_web\n")],
        json!({}),
        RunInfo::default(),
    );
    assert_eq!(x(&f.run, &TaskLayers::default()), Some(json!("inline")));
}

#[test]
fn level_08_inventory_host_vars_dir_beats_inventory_file_host_vars() {
    let f = fx_with(
        "[web]\nw1 x=inline\n",
        &[("inv/host_vars/w1.yml", "x: inv_host_vars\n")],
        json!({}),
        RunInfo::default(),
    );
    assert_eq!(
        x(&f.run, &TaskLayers::default()),
        Some(json!("inv_host_vars"))
    );
}

#[test]
fn level_09_playbook_host_vars_dir_beats_inventory_host_vars_dir() {
    let f = fx(&[
        ("inv/host_vars/w1.yml", "x: inv\n"),
        ("pb/host_vars/w1.yml", "x: pb\n"),
    ]);
    assert_eq!(x(&f.run, &TaskLayers::default()), Some(json!("pb")));
}

#[test]
fn level_10_facts_beat_playbook_host_vars() {
    let f = fx(&[(
        "pb/host_vars/w1.yml",
        "ansible_distribution: FromHostVars\n",
    )]);
    f.run.update_host("w1", |s| {
        s.facts = amap(json!({"ansible_distribution": "Debian"}))
    });
    assert_eq!(
        task_get(&f.run, "w1", &TaskLayers::default(), "ansible_distribution"),
        Some(json!("Debian"))
    );
}

#[test]
fn level_11_play_vars_beat_facts() {
    let f = fx(&[]);
    f.run
        .update_host("w1", |s| s.facts = amap(json!({"x": "fact"})));
    f.run
        .set_play(play(|p| p.play_vars = amap(json!({"x": "play"}))));
    assert_eq!(x(&f.run, &TaskLayers::default()), Some(json!("play")));
}

#[test]
fn level_12_vars_files_beat_play_vars() {
    let f = fx(&[]);
    f.run
        .set_play(play(|p| p.play_vars = amap(json!({"x": "play"}))));
    f.run
        .update_host("w1", |s| s.vars_files = amap(json!({"x": "vars_files"})));
    assert_eq!(x(&f.run, &TaskLayers::default()), Some(json!("vars_files")));
}

#[test]
fn level_13_role_vars_beat_vars_files() {
    let f = fx(&[]);
    f.run.update_host("w1", |s| {
        s.vars_files = amap(json!({"x": "vars_files", "y": "vars_files"}))
    });
    f.run.set_play(play(|p| {
        p.role_vars = vec![amap(json!({"y": "play role vars"}))]
    }));
    let tl = TaskLayers {
        role: Some(role(
            "r",
            json!({}),
            json!({"x": "own role vars"}),
            json!({}),
        )),
        ..Default::default()
    };
    assert_eq!(x(&f.run, &tl), Some(json!("own role vars")));
    assert_eq!(
        task_get(&f.run, "w1", &tl, "y"),
        Some(json!("play role vars")),
        "every role's vars are play-wide"
    );
}

#[test]
fn level_14_block_vars_beat_role_vars() {
    let f = fx(&[]);
    let tl = TaskLayers {
        task_vars: vec![amap(json!({})), amap(json!({"x": "block"}))],
        role: Some(role("r", json!({}), json!({"x": "role vars"}), json!({}))),
        ..Default::default()
    };
    assert_eq!(x(&f.run, &tl), Some(json!("block")));
}

#[test]
fn level_14_inner_block_vars_beat_outer_block_vars() {
    let f = fx(&[]);
    let tl = TaskLayers {
        task_vars: vec![
            amap(json!({})),
            amap(json!({"x": "inner"})),
            amap(json!({"x": "outer"})),
        ],
        ..Default::default()
    };
    assert_eq!(x(&f.run, &tl), Some(json!("inner")));
}

#[test]
fn level_15_task_vars_beat_block_vars() {
    let f = fx(&[]);
    let tl = TaskLayers {
        task_vars: vec![amap(json!({"x": "task"})), amap(json!({"x": "block"}))],
        ..Default::default()
    };
    assert_eq!(x(&f.run, &tl), Some(json!("task")));
}

#[test]
fn level_16_include_vars_beat_task_vars() {
    let f = fx(&[]);
    f.run.update_host("w1", |s| {
        s.include_vars = amap(json!({"x": "include_vars"}))
    });
    let tl = TaskLayers {
        task_vars: vec![amap(json!({"x": "task"}))],
        ..Default::default()
    };
    assert_eq!(x(&f.run, &tl), Some(json!("include_vars")));
}

#[test]
fn level_17_set_fact_and_register_beat_include_vars() {
    let f = fx(&[]);
    f.run.update_host("w1", |s| {
        s.include_vars = amap(json!({"x": "include_vars"}));
        s.set_facts = amap(json!({"x": "set_fact"}));
    });
    assert_eq!(x(&f.run, &TaskLayers::default()), Some(json!("set_fact")));
}

#[test]
fn level_18_role_params_beat_set_fact() {
    let f = fx(&[]);
    f.run
        .update_host("w1", |s| s.set_facts = amap(json!({"x": "set_fact"})));
    let tl = TaskLayers {
        role: Some(role("r", json!({}), json!({}), json!({"x": "role param"}))),
        ..Default::default()
    };
    assert_eq!(x(&f.run, &tl), Some(json!("role param")));
}

#[test]
fn level_19_include_params_beat_role_params() {
    let f = fx(&[]);
    let tl = TaskLayers {
        role: Some(role("r", json!({}), json!({}), json!({"x": "role param"}))),
        include_params: vec![amap(json!({"x": "include param"}))],
        ..Default::default()
    };
    assert_eq!(x(&f.run, &tl), Some(json!("include param")));
}

#[test]
fn level_20_extra_vars_beat_include_params() {
    let f = fx_extra(json!({"x": "extra"}));
    let tl = TaskLayers {
        include_params: vec![amap(json!({"x": "include param"}))],
        ..Default::default()
    };
    assert_eq!(x(&f.run, &tl), Some(json!("extra")));
}

#[test]
fn extra_vars_beat_every_other_level_at_once() {
    let f = fx_with(
        "[web]\nw1 x=inline\n",
        &[("pb/host_vars/w1.yml", "x: hv\n")],
        json!({"x": "extra"}),
        RunInfo::default(),
    );
    f.run.update_host("w1", |s| {
        s.set_facts = amap(json!({"x": "sf"}));
        s.include_vars = amap(json!({"x": "iv"}));
        s.facts = amap(json!({"x": "fact"}));
    });
    f.run
        .set_play(play(|p| p.play_vars = amap(json!({"x": "play"}))));
    let tl = TaskLayers {
        task_vars: vec![amap(json!({"x": "task"}))],
        role: Some(role(
            "r",
            json!({"x": "d"}),
            json!({"x": "v"}),
            json!({"x": "p"}),
        )),
        include_params: vec![amap(json!({"x": "ip"}))],
        ..Default::default()
    };
    assert_eq!(x(&f.run, &tl), Some(json!("extra")));
}

// ---- merging and rendering ------------------------------------------------------------------

#[test]
fn dicts_from_a_higher_level_replace_rather_than_merge() {
    let f = fx(&[("inv/group_vars/all.yml", "x: {a: 1, b: 2}\n")]);
    f.run
        .set_play(play(|p| p.play_vars = amap(json!({"x": {"a": 3}}))));
    assert_eq!(x(&f.run, &TaskLayers::default()), Some(json!({"a": 3})));
}

#[test]
fn values_render_lazily_with_variables_from_higher_levels() {
    let f = fx(&[("inv/group_vars/all.yml", "a: \"{{ b }}\"\nb: low\n")]);
    let tl = TaskLayers {
        task_vars: vec![amap(json!({"b": 7}))],
        ..Default::default()
    };
    assert_eq!(
        task_get(&f.run, "w1", &tl, "a"),
        Some(json!(7)),
        "a single {{ b }} keeps b's native type"
    );
    assert_eq!(
        task_get(&f.run, "w1", &TaskLayers::default(), "a"),
        Some(json!("low"))
    );
}

#[test]
fn lower_level_reference_sees_the_winning_value_of_its_dependency() {
    let f = fx_extra(json!({"b": "extra"}));
    f.run.set_play(play(|p| {
        p.role_defaults = vec![amap(json!({"a": "prefix-{{ b }}", "b": "default"}))]
    }));
    assert_eq!(
        task_get(&f.run, "w1", &TaskLayers::default(), "a"),
        Some(json!("prefix-extra"))
    );
}

#[test]
fn self_referencing_variables_are_an_error_not_a_hang() {
    let f = fx(&[]);
    f.run.set_play(play(|p| {
        p.play_vars = amap(json!({"a": "{{ b }}", "b": "{{ a }}"}))
    }));
    let run = f.run.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let scope = Scope::for_host(&run, "w1");
        let v = scope.get_json("a");
        let _ = tx.send((v, scope.take_error()));
    });
    let (v, err) = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("rendering a cycle must terminate");
    assert_eq!(v, None);
    let err = err.expect("the cycle is reported");
    assert!(err.contains("recursive loop"), "{err}");
}

#[test]
fn cycle_makes_the_template_using_it_fail() {
    let f = fx(&[]);
    f.run.set_play(play(|p| {
        p.play_vars = amap(json!({"a": "{{ b }}", "b": "{{ a }}"}))
    }));
    assert!(render(&f.run, "w1", &TaskLayers::default(), "{{ a }}").is_err());
}

// ---- magic variables ------------------------------------------------------------------------

#[test]
fn inventory_hostname_and_short_name() {
    let f = fx_with(
        "[web]\nw1.example.com\n",
        &[],
        json!({}),
        RunInfo::default(),
    );
    let tl = TaskLayers::default();
    assert_eq!(
        task_get(&f.run, "w1.example.com", &tl, "inventory_hostname"),
        Some(json!("w1.example.com"))
    );
    assert_eq!(
        task_get(&f.run, "w1.example.com", &tl, "inventory_hostname_short"),
        Some(json!("w1"))
    );
}

#[test]
fn group_names_lists_groups_and_ancestors_sorted_without_all() {
    let f = fx(&[]);
    assert_eq!(
        task_get(&f.run, "w1", &TaskLayers::default(), "group_names"),
        Some(json!(["prod", "web"]))
    );
}

#[test]
fn group_names_of_an_ungrouped_host_is_ungrouped() {
    let f = fx_with("u1\n[web]\nw1\n", &[], json!({}), RunInfo::default());
    assert_eq!(
        task_get(&f.run, "u1", &TaskLayers::default(), "group_names"),
        Some(json!(["ungrouped"]))
    );
}

#[test]
fn groups_maps_every_group_to_its_hosts_including_children() {
    let f = fx_with(&format!("u1\n{HOSTS}"), &[], json!({}), RunInfo::default());
    let tl = TaskLayers::default();
    assert_eq!(
        render(&f.run, "w1", &tl, "{{ groups['prod'] }}"),
        Ok(json!(["w1"]))
    );
    assert_eq!(
        render(&f.run, "w1", &tl, "{{ groups['ungrouped'] }}"),
        Ok(json!(["u1"]))
    );
    assert_eq!(
        render(&f.run, "w1", &tl, "{{ groups['all'] | sort }}"),
        Ok(json!(["u1", "w1", "w2"]))
    );
}

#[test]
fn hostvars_reads_another_hosts_inventory_vars_and_facts() {
    let f = fx_with(
        "[web]\nw1\nw2 ip=10.0.0.2\n",
        &[],
        json!({}),
        RunInfo::default(),
    );
    f.run
        .update_host("w2", |s| s.set_facts = amap(json!({"role": "replica"})));
    let tl = TaskLayers::default();
    assert_eq!(
        render(&f.run, "w1", &tl, "{{ hostvars['w2'].ip }}"),
        Ok(json!("10.0.0.2"))
    );
    assert_eq!(
        render(&f.run, "w1", &tl, "{{ hostvars['w2']['role'] }}"),
        Ok(json!("replica"))
    );
    assert_eq!(
        render(&f.run, "w1", &tl, "{{ hostvars['w2'].inventory_hostname }}"),
        Ok(json!("w2"))
    );
}

#[test]
fn hostvars_of_another_host_do_not_include_this_tasks_vars() {
    let f = fx(&[]);
    let tl = TaskLayers {
        task_vars: vec![amap(json!({"t": 1}))],
        ..Default::default()
    };
    assert!(render(&f.run, "w1", &tl, "{{ hostvars['w2'].t }}").is_err());
    assert_eq!(
        render(&f.run, "w1", &tl, "{{ hostvars['w2'].t is defined }}"),
        Ok(json!(false))
    );
}

#[test]
fn ansible_play_hosts_leaves_out_failed_hosts() {
    let f = fx(&[]);
    f.run.set_play(play(|_| {}));
    f.run.failed_in_play.write().unwrap().insert("w2".into());
    let tl = TaskLayers::default();
    assert_eq!(
        task_get(&f.run, "w1", &tl, "ansible_play_hosts"),
        Some(json!(["w1"]))
    );
    assert_eq!(
        task_get(&f.run, "w1", &tl, "ansible_play_hosts_all"),
        Some(json!(["w1", "w2"]))
    );
    assert_eq!(
        task_get(&f.run, "w1", &tl, "ansible_play_batch"),
        Some(json!(["w1"]))
    );
}

#[test]
fn omit_is_the_placeholder_the_executor_drops() {
    let f = fx(&[]);
    assert_eq!(
        task_get(&f.run, "w1", &TaskLayers::default(), "omit"),
        Some(json!(OMIT))
    );
}

#[test]
fn ansible_check_mode_follows_the_play() {
    let f = fx(&[]);
    assert_eq!(
        task_get(&f.run, "w1", &TaskLayers::default(), "ansible_check_mode"),
        Some(json!(false))
    );
    f.run.set_play(play(|p| p.check_mode = true));
    assert_eq!(
        task_get(&f.run, "w1", &TaskLayers::default(), "ansible_check_mode"),
        Some(json!(true))
    );
}

#[test]
fn playbook_dir_is_the_directory_of_the_playbook() {
    let f = fx(&[]);
    let want = f.run.playbook_dir.display().to_string();
    assert_eq!(
        task_get(&f.run, "w1", &TaskLayers::default(), "playbook_dir"),
        Some(json!(want))
    );
}

#[test]
fn role_path_and_role_name_exist_only_inside_a_role() {
    let f = fx(&[]);
    let tl = TaskLayers {
        role: Some(role("web", json!({}), json!({}), json!({}))),
        ..Default::default()
    };
    assert_eq!(task_get(&f.run, "w1", &tl, "role_name"), Some(json!("web")));
    assert_eq!(
        task_get(&f.run, "w1", &tl, "role_path"),
        Some(json!("/roles/web"))
    );
    assert_eq!(
        task_get(&f.run, "w1", &TaskLayers::default(), "role_path"),
        None
    );
}

#[test]
fn ansible_facts_holds_facts_without_the_prefix() {
    let f = fx(&[]);
    f.run.update_host("w1", |s| {
        s.facts = amap(json!({"ansible_distribution": "Debian", "ansible_os_family": "Debian"}))
    });
    let tl = TaskLayers::default();
    assert_eq!(
        render(&f.run, "w1", &tl, "{{ ansible_facts.distribution }}"),
        Ok(json!("Debian"))
    );
    assert_eq!(
        render(&f.run, "w1", &tl, "{{ ansible_facts['os_family'] }}"),
        Ok(json!("Debian"))
    );
    assert_eq!(
        task_get(&f.run, "w1", &tl, "ansible_distribution"),
        Some(json!("Debian")),
        "facts stay top-level too"
    );
}

#[test]
fn ansible_connection_defaults_to_ssh_and_local_for_localhost() {
    let f = fx(&[]);
    let tl = TaskLayers::default();
    assert_eq!(
        task_get(&f.run, "w1", &tl, "ansible_connection"),
        Some(json!("ssh"))
    );
    assert_eq!(
        task_get(&f.run, "localhost", &tl, "ansible_connection"),
        Some(json!("local"))
    );
}

#[test]
fn ansible_connection_falls_back_to_the_cli_connection() {
    let info = RunInfo {
        default_connection: Some("local".into()),
        ..Default::default()
    };
    let f = fx_with(HOSTS, &[], json!({}), info);
    assert_eq!(
        task_get(&f.run, "w1", &TaskLayers::default(), "ansible_connection"),
        Some(json!("local"))
    );
}

#[test]
fn any_ansible_connection_variable_beats_the_fallback() {
    let info = RunInfo {
        default_connection: Some("local".into()),
        ..Default::default()
    };
    let f = fx_with(
        "[web]\nw1 ansible_connection=docker\n",
        &[],
        json!({}),
        info,
    );
    assert_eq!(
        task_get(&f.run, "w1", &TaskLayers::default(), "ansible_connection"),
        Some(json!("docker"))
    );
}

#[test]
fn host_state_defaults_to_empty_for_a_host_without_state() {
    let f = fx(&[]);
    let st: HostVarsState = f.run.host_state("w2");
    assert!(
        st.facts.is_empty()
            && st.set_facts.is_empty()
            && st.include_vars.is_empty()
            && st.vars_files.is_empty()
    );
}
