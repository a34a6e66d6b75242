//! The playbook loader against real files: load errors name file:line:col and the key, static
//! imports and roles expand as Ansible expands them, and task arguments take every form
//! Ansible accepts. The registry holds small stand-in modules (kplay-modules is another crate).

use super::{load_playbook, Block, LoadContext, Play, Playbook, Task, TaskItem};
use crate::error::LoadError;
use crate::module::{Module, ModuleContext, ModuleError, ModuleRegistry, ModuleResult};
use crate::template::Templar;
use crate::value::{Map, Value};
use async_trait::async_trait;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;

/// A stand-in module: answers to a name, says whether it takes free-form text, and echoes
/// its arguments back as its result.
struct Stand {
    name: &'static str,
    free: bool,
}

#[async_trait]
impl Module for Stand {
    fn name(&self) -> &'static str {
        self.name
    }
    fn free_form(&self) -> bool {
        self.free
    }
    async fn run(&self, _ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let mut r = ModuleResult::new(false);
        r.insert("args", Value::Object(args));
        Ok(r)
    }
}

/// debug, command (free-form), copy, set_fact, shell (free-form).
pub(crate) fn registry() -> ModuleRegistry {
    let mut r = ModuleRegistry::new();
    for (name, free) in [
        ("debug", false),
        ("command", true),
        ("copy", false),
        ("set_fact", false),
        ("shell", true),
    ] {
        r.register(Arc::new(Stand { name, free }));
    }
    r
}

pub(crate) fn write_tree(dir: &Path, files: &[(&str, &str)]) {
    for (rel, content) in files {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
}

/// Write `files` to a temp dir and load `site.yml` from it.
pub(crate) fn load_tree(
    files: &[(&str, &str)],
) -> (tempfile::TempDir, Result<Playbook, LoadError>) {
    load_tree_with(files, Map::new())
}

pub(crate) fn load_tree_with(
    files: &[(&str, &str)],
    extra: Map,
) -> (tempfile::TempDir, Result<Playbook, LoadError>) {
    let dir = tempfile::tempdir().unwrap();
    write_tree(dir.path(), files);
    let reg = registry();
    let templar = Templar::new();
    let lctx = LoadContext::new(&reg, &templar, vec![], extra);
    let pb = load_playbook(&dir.path().join("site.yml"), &lctx);
    (dir, pb)
}

fn load_ok(files: &[(&str, &str)]) -> (tempfile::TempDir, Playbook) {
    let (d, pb) = load_tree(files);
    match pb {
        Ok(pb) => (d, pb),
        Err(e) => panic!("load failed: {e}"),
    }
}

fn load_err(files: &[(&str, &str)]) -> String {
    match load_tree(files).1 {
        Ok(_) => panic!("expected a load error"),
        Err(e) => e.to_string(),
    }
}

/// Every task under these items, depth first, in order (blocks' block/rescue/always).
pub(crate) fn all_tasks(items: &[TaskItem]) -> Vec<Arc<Task>> {
    let mut out = Vec::new();
    for i in items {
        match i {
            TaskItem::Task(t) => out.push(t.clone()),
            TaskItem::Block(b) => {
                out.extend(all_tasks(&b.block));
                out.extend(all_tasks(&b.rescue));
                out.extend(all_tasks(&b.always));
            }
        }
    }
    out
}

fn names(items: &[TaskItem]) -> Vec<String> {
    all_tasks(items)
        .iter()
        .map(|t| t.name.clone().unwrap_or_else(|| t.action.clone()))
        .collect()
}

fn first_play(pb: &Playbook) -> &Play {
    &pb.plays[0]
}

fn only_task(items: &[TaskItem]) -> Arc<Task> {
    let all = all_tasks(items);
    assert_eq!(all.len(), 1, "expected one task");
    all[0].clone()
}

fn block(item: &TaskItem) -> &Arc<Block> {
    match item {
        TaskItem::Block(b) => b,
        TaskItem::Task(t) => panic!("expected a block, got task {:?}", t.name),
    }
}

fn assert_names_place(err: &str, place: &str, key: &str) {
    assert!(err.contains(place), "error should name {place}: {err}");
    assert!(err.contains(key), "error should name '{key}': {err}");
}

// ---- load errors ----------------------------------------------------------------------------

#[test]
fn unknown_play_keyword_names_file_line_col_and_key() {
    let e = load_err(&[("site.yml", "- hosts: all\n  bogus_key: 1\n  tasks: []\n")]);
    assert_names_place(&e, "site.yml:2:3", "bogus_key");
}

#[test]
fn unknown_block_keyword_names_file_line_col_and_key() {
    let e = load_err(&[(
        "site.yml",
        "- hosts: all\n  tasks:\n    - block:\n        - debug: msg=a\n      retries: 3\n",
    )]);
    assert_names_place(&e, "site.yml:5:7", "retries");
}

#[test]
fn unknown_module_names_file_line_col_and_module() {
    let e = load_err(&[(
        "site.yml",
        "- hosts: all\n  tasks:\n    - name: t\n      nosuch_module: {}\n",
    )]);
    assert_names_place(&e, "site.yml:4:7", "nosuch_module");
}

#[test]
fn two_actions_in_one_task_conflict() {
    let e = load_err(&[(
        "site.yml",
        "- hosts: all\n  tasks:\n    - debug: msg=a\n      command: ls\n",
    )]);
    assert_names_place(&e, "site.yml:4:7", "conflicting action");
    assert!(e.contains("debug") && e.contains("command"), "{e}");
}

#[test]
fn missing_import_tasks_file_names_the_file() {
    let e = load_err(&[(
        "site.yml",
        "- hosts: all\n  tasks:\n    - import_tasks: nope.yml\n",
    )]);
    assert_names_place(&e, "site.yml:3:7", "nope.yml");
}

#[test]
fn missing_role_names_the_role() {
    let e = load_err(&[("site.yml", "- hosts: all\n  roles:\n    - nosuchrole\n")]);
    assert_names_place(&e, "site.yml:3:7", "nosuchrole");
}

#[test]
fn loop_and_with_items_together_are_refused_naming_both() {
    let e = load_err(&[("site.yml", "- hosts: all\n  tasks:\n    - debug: msg={{ item }}\n      loop: [1]\n      with_items: [2]\n")]);
    assert!(e.contains("site.yml:5:7"), "{e}");
    assert!(
        e.contains("loop") && e.contains("with_items"),
        "the error should name both keys: {e}"
    );
}

#[test]
fn missing_static_vars_file_names_the_file() {
    let e = load_err(&[(
        "site.yml",
        "- hosts: all\n  vars_files:\n    - missing.yml\n  tasks: []\n",
    )]);
    assert_names_place(&e, "site.yml:3:7", "missing.yml");
}

#[test]
fn templated_vars_file_name_is_left_for_run_time() {
    let (_d, pb) = load_ok(&[(
        "site.yml",
        "- hosts: all\n  vars_files:\n    - \"{{ os }}.yml\"\n  tasks: []\n",
    )]);
    assert_eq!(first_play(&pb).vars_files.len(), 1);
}

#[test]
fn missing_tasks_from_file_is_an_error() {
    let e = load_err(&[
        ("site.yml", "- hosts: all\n  tasks:\n    - import_role:\n        name: web\n        tasks_from: nope\n"),
        ("roles/web/tasks/main.yml", "- debug: msg=main\n"),
    ]);
    assert!(e.contains("nope") && e.contains("web"), "{e}");
}

// ---- static imports -------------------------------------------------------------------------

#[test]
fn import_tasks_becomes_a_block_carrying_when_tags_and_vars() {
    let (_d, pb) = load_ok(&[
        ("site.yml", "- hosts: all\n  tasks:\n    - import_tasks: inc.yml\n      when: flag\n      tags: [t1]\n      vars: {v: 1}\n"),
        ("inc.yml", "- name: one\n  debug: msg=1\n- name: two\n  debug: msg=2\n"),
    ]);
    let b = block(&first_play(&pb).tasks[0]);
    assert_eq!(
        b.when.iter().map(|(w, _)| w.clone()).collect::<Vec<_>>(),
        vec![json!("flag")]
    );
    assert!(b.tags.contains("t1"));
    assert_eq!(b.vars.get("v"), Some(&json!(1)));
    assert_eq!(names(&b.block), ["one", "two"]);
}

#[test]
fn import_tasks_file_name_may_use_extra_vars() {
    let mut extra = Map::new();
    extra.insert("which".into(), json!("inc"));
    let (_d, pb) = load_tree_with(
        &[
            (
                "site.yml",
                "- hosts: all\n  tasks:\n    - import_tasks: \"{{ which }}.yml\"\n",
            ),
            ("inc.yml", "- name: one\n  debug: msg=1\n"),
        ],
        extra,
    );
    assert_eq!(names(&pb.unwrap().plays[0].tasks), ["one"]);
}

#[test]
fn import_playbook_vars_reach_the_imported_plays() {
    let (_d, pb) = load_ok(&[
        (
            "site.yml",
            "- import_playbook: other.yml\n  vars: {a: from_import}\n- hosts: all\n  tasks: []\n",
        ),
        ("other.yml", "- hosts: all\n  vars: {own: 1}\n  tasks: []\n"),
    ]);
    assert_eq!(pb.plays.len(), 2);
    assert_eq!(pb.plays[0].vars.get("a"), Some(&json!("from_import")));
    assert_eq!(pb.plays[0].vars.get("own"), Some(&json!(1)));
    assert_eq!(
        pb.plays[1].vars.get("a"),
        None,
        "plays after the import do not get its vars"
    );
}

#[test]
fn import_playbook_vars_override_the_imported_plays_own_vars() {
    // ansible-core's PlaybookInclude: `temp_vars = entry.vars.copy(); temp_vars.update(new_obj.vars)`.
    let (_d, pb) = load_ok(&[
        (
            "site.yml",
            "- import_playbook: other.yml\n  vars: {b: from_import}\n",
        ),
        ("other.yml", "- hosts: all\n  vars: {b: own}\n  tasks: []\n"),
    ]);
    assert_eq!(pb.plays[0].vars.get("b"), Some(&json!("from_import")));
}

#[test]
fn import_playbook_tags_reach_the_imported_plays() {
    let (_d, pb) = load_ok(&[
        (
            "site.yml",
            "- import_playbook: other.yml\n  tags: [imported]\n",
        ),
        ("other.yml", "- hosts: all\n  tasks: []\n"),
    ]);
    assert!(
        pb.plays[0].tags.contains("imported"),
        "tags: {:?}",
        pb.plays[0].tags
    );
}

// ---- roles ----------------------------------------------------------------------------------

const WEB_ROLE: [(&str, &str); 4] = [
    ("roles/web/defaults/main.yml", "port: 80\nd: default\n"),
    ("roles/web/vars/main.yml", "v: role_var\n"),
    (
        "roles/web/tasks/main.yml",
        "- name: web task\n  debug: msg={{ port }}\n",
    ),
    (
        "roles/web/handlers/main.yml",
        "- name: restart web\n  debug: msg=restart\n",
    ),
];

fn with_web(site: &'static str) -> Vec<(&'static str, &'static str)> {
    let mut v = vec![("site.yml", site)];
    v.extend(WEB_ROLE);
    v
}

#[test]
fn role_defaults_vars_and_params_are_loaded() {
    let (_d, pb) = load_ok(&with_web("- hosts: all\n  roles:\n    - role: web\n      http_port: 8080\n      vars: {extra_param: 1}\n"));
    let play = first_play(&pb);
    assert_eq!(play.role_instances.len(), 1);
    let r = &play.role_instances[0];
    assert_eq!(r.name, "web");
    assert_eq!(r.defaults.get("d"), Some(&json!("default")));
    assert_eq!(r.vars.get("v"), Some(&json!("role_var")));
    assert_eq!(r.params.get("http_port"), Some(&json!(8080)));
    assert_eq!(r.params.get("extra_param"), Some(&json!(1)));
}

#[test]
fn role_defaults_main_may_be_a_directory_of_files() {
    let (_d, pb) = load_ok(&[
        ("site.yml", "- hosts: all\n  roles: [k]\n"),
        ("roles/k/defaults/main/a.yml", "x: 1\ny: from_a\n"),
        ("roles/k/defaults/main/b.yml", "y: from_b\n"),
        ("roles/k/tasks/main.yml", "- debug: msg=hi\n"),
    ]);
    let r = &first_play(&pb).role_instances[0];
    assert_eq!(r.defaults.get("x"), Some(&json!(1)));
    assert_eq!(r.defaults.get("y"), Some(&json!("from_b")));
}

#[test]
fn role_tasks_know_their_role_and_handlers_join_the_play() {
    let (_d, pb) = load_ok(&with_web("- hosts: all\n  roles: [web]\n"));
    let play = first_play(&pb);
    let t = only_task(&play.roles);
    assert_eq!(t.ctx.role.as_ref().map(|r| r.name.as_str()), Some("web"));
    assert_eq!(names(&play.handlers), ["restart web"]);
}

#[test]
fn role_entry_when_and_tags_wrap_the_role_tasks() {
    let (_d, pb) = load_ok(&with_web(
        "- hosts: all\n  roles:\n    - role: web\n      when: enabled\n      tags: webtag\n",
    ));
    let b = block(&first_play(&pb).roles[0]);
    assert_eq!(b.when.len(), 1);
    assert!(b.tags.contains("webtag"));
    assert_eq!(names(&b.block), ["web task"]);
}

fn dep_roles(common_meta: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "roles/common/tasks/main.yml",
            "- name: common task\n  debug: msg=c\n",
        ),
        ("roles/common/meta/main.yml", common_meta),
        (
            "roles/app/tasks/main.yml",
            "- name: app task\n  debug: msg=a\n",
        ),
        ("roles/app/meta/main.yml", "dependencies:\n  - common\n"),
        (
            "roles/api/tasks/main.yml",
            "- name: api task\n  debug: msg=b\n",
        ),
        (
            "roles/api/meta/main.yml",
            "dependencies:\n  - role: common\n",
        ),
    ]
}

#[test]
fn meta_dependencies_run_first_and_only_once() {
    let mut files = vec![("site.yml", "- hosts: all\n  roles: [app, api]\n")];
    files.extend(dep_roles("{}\n"));
    let (_d, pb) = load_ok(&files);
    assert_eq!(
        names(&first_play(&pb).roles),
        ["common task", "app task", "api task"]
    );
}

/// kubespray: `kubernetes-apps/policy_controller` depends on `policy_controller/calico`, a role
/// found beside the role declaring it (Ansible's role_basedir), not under roles/.
#[test]
fn dependencies_resolve_beside_the_declaring_role() {
    let files = vec![
        ("site.yml", "- hosts: all\n  roles: [apps/ctl]\n"),
        (
            "roles/apps/ctl/tasks/main.yml",
            "- name: ctl task\n  debug: msg=c\n",
        ),
        (
            "roles/apps/ctl/meta/main.yml",
            "dependencies:\n  - role: ctl/calico\n",
        ),
        (
            "roles/apps/ctl/calico/tasks/main.yml",
            "- name: calico task\n  debug: msg=k\n",
        ),
    ];
    let (_d, pb) = load_ok(&files);
    assert_eq!(names(&first_play(&pb).roles), ["calico task", "ctl task"]);
}

#[test]
fn allow_duplicates_lets_a_dependency_run_again() {
    let mut files = vec![("site.yml", "- hosts: all\n  roles: [app, api]\n")];
    files.extend(dep_roles("allow_duplicates: true\n"));
    let (_d, pb) = load_ok(&files);
    assert_eq!(
        names(&first_play(&pb).roles),
        ["common task", "app task", "common task", "api task"]
    );
}

#[test]
fn same_role_twice_runs_once_but_with_other_params_runs_again() {
    let (_d, pb) = load_ok(&with_web("- hosts: all\n  roles: [web, web]\n"));
    assert_eq!(names(&first_play(&pb).roles), ["web task"]);
    let (_d, pb) = load_ok(&with_web("- hosts: all\n  roles:\n    - {role: web, http_port: 1}\n    - {role: web, http_port: 2}\n"));
    assert_eq!(names(&first_play(&pb).roles), ["web task", "web task"]);
}

#[test]
fn import_role_tasks_from_loads_that_file() {
    let mut files = with_web("- hosts: all\n  tasks:\n    - import_role:\n        name: web\n        tasks_from: extra\n");
    files.push((
        "roles/web/tasks/extra.yml",
        "- name: extra task\n  debug: msg=x\n",
    ));
    let (_d, pb) = load_ok(&files);
    let play = first_play(&pb);
    assert_eq!(names(&play.tasks), ["extra task"]);
    assert_eq!(
        names(&play.handlers),
        ["restart web"],
        "import_role brings the role's handlers"
    );
}

// ---- task argument forms --------------------------------------------------------------------

#[test]
fn key_value_string_args_become_a_map() {
    let (_d, pb) = load_ok(&[(
        "site.yml",
        "- hosts: all\n  tasks:\n    - copy: src=a.txt dest=\"/tmp/b c\"\n",
    )]);
    let t = only_task(&first_play(&pb).tasks);
    assert_eq!(t.action, "copy");
    assert_eq!(t.args.get("src"), Some(&json!("a.txt")));
    assert_eq!(t.args.get("dest"), Some(&json!("/tmp/b c")));
}

#[test]
fn free_form_command_keeps_text_in_raw_params_and_takes_known_keys() {
    let (_d, pb) = load_ok(&[(
        "site.yml",
        "- hosts: all\n  tasks:\n    - command: ls -l a=b chdir=/tmp\n",
    )]);
    let t = only_task(&first_play(&pb).tasks);
    assert_eq!(t.args.get("_raw_params"), Some(&json!("ls -l a=b")));
    assert_eq!(t.args.get("chdir"), Some(&json!("/tmp")));
}

#[test]
fn free_form_text_plus_args_mapping_merge() {
    let (_d, pb) = load_ok(&[(
        "site.yml",
        "- hosts: all\n  tasks:\n    - shell: echo hi\n      args:\n        chdir: /srv\n",
    )]);
    let t = only_task(&first_play(&pb).tasks);
    assert_eq!(t.args.get("_raw_params"), Some(&json!("echo hi")));
    assert_eq!(t.args.get("chdir"), Some(&json!("/srv")));
}

#[test]
fn bare_words_for_a_module_without_free_form_are_an_error() {
    let e = load_err(&[("site.yml", "- hosts: all\n  tasks:\n    - copy: hello\n")]);
    assert!(e.contains("site.yml:3") && e.contains("hello"), "{e}");
}

#[test]
fn fully_qualified_module_names_resolve() {
    let (_d, pb) = load_ok(&[(
        "site.yml",
        "- hosts: all\n  tasks:\n    - ansible.builtin.command: uptime\n",
    )]);
    let t = only_task(&first_play(&pb).tasks);
    assert_eq!(t.action, "ansible.builtin.command");
    assert_eq!(t.args.get("_raw_params"), Some(&json!("uptime")));
}

#[test]
fn action_string_form_names_module_and_args() {
    let (_d, pb) = load_ok(&[(
        "site.yml",
        "- hosts: all\n  tasks:\n    - action: copy src=a dest=b\n",
    )]);
    let t = only_task(&first_play(&pb).tasks);
    assert_eq!(t.action, "copy");
    assert_eq!(t.args.get("dest"), Some(&json!("b")));
    assert!(t.keywords.delegate_to.is_none());
}

#[test]
fn action_mapping_form_drops_the_module_key() {
    let (_d, pb) = load_ok(&[("site.yml", "- hosts: all\n  tasks:\n    - action:\n        module: copy\n        src: a\n        dest: b\n")]);
    let t = only_task(&first_play(&pb).tasks);
    assert_eq!(t.action, "copy");
    assert_eq!(t.args.get("module"), None);
    assert_eq!(t.args.get("src"), Some(&json!("a")));
}

#[test]
fn local_action_delegates_to_localhost_with_free_form() {
    let (_d, pb) = load_ok(&[(
        "site.yml",
        "- hosts: all\n  tasks:\n    - local_action: command echo hi\n",
    )]);
    let t = only_task(&first_play(&pb).tasks);
    assert_eq!(t.action, "command");
    assert_eq!(t.args.get("_raw_params"), Some(&json!("echo hi")));
    assert_eq!(t.keywords.delegate_to, Some(json!("localhost")));
}

#[test]
fn action_with_unknown_module_is_an_error() {
    let e = load_err(&[(
        "site.yml",
        "- hosts: all\n  tasks:\n    - action: nosuch a=b\n",
    )]);
    assert!(e.contains("site.yml:3") && e.contains("nosuch"), "{e}");
}

#[test]
fn with_items_is_a_loop_of_kind_items() {
    let (_d, pb) = load_ok(&[(
        "site.yml",
        "- hosts: all\n  tasks:\n    - debug: msg={{ item }}\n      with_items: [1, 2]\n",
    )]);
    let t = only_task(&first_play(&pb).tasks);
    let l = t.loop_.as_ref().expect("a loop");
    assert_eq!(l.kind, "items");
    assert_eq!(l.value, json!([1, 2]));
}

/// kubespray's `kubernetes.core.helm_repository: "{{ defaults | combine(item) }}"`: arguments as
/// one expression load as such (rendered when the task runs); mixed text stays an error.
#[test]
fn arguments_given_as_one_expression_load() {
    let (_d, pb) = load_ok(&[(
        "site.yml",
        "- hosts: all\n  tasks:\n    - name: t\n      copy: \"{{ d | combine(item) }}\"\n",
    )]);
    let TaskItem::Task(t) = &first_play(&pb).tasks[0] else {
        panic!("not a task")
    };
    assert_eq!(t.args[super::load::ARGS_EXPR], "{{ d | combine(item) }}");
    let (_d, bad) = load_tree(&[(
        "site.yml",
        "- hosts: all\n  tasks:\n    - copy: \"x {{ d }}\"\n",
    )]);
    assert!(bad.is_err());
}
