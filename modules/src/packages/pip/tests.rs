use super::plan::{installed, normalize, satisfied, split_spec};
use super::*;
use crate::planned::Planned;
use crate::testutil::{args, ctx, TestEnv};
use kplay_engine::module::Module;
use serde_json::json;

#[test]
fn specs_names_and_versions_compare_like_pip() {
    assert_eq!(normalize("Foo_Bar.baz"), "foo-bar-baz");
    assert_eq!(
        split_spec("requests[socks]>=2.0"),
        ("requests".into(), Some((">=".into(), "2.0".into())))
    );
    assert!(satisfied("2.10.0", &Some((">=".into(), "2.9".into()))));
    assert!(!satisfied("2.10.0", &Some(("==".into(), "2.9".into()))));
    assert!(satisfied("1.4.2", &Some(("==".into(), "1.4.*".into()))));
    assert_eq!(
        installed("A_b==1.0\nc==2\n").get("a-b").map(String::as_str),
        Some("1.0")
    );
}

fn parse(v: serde_json::Value) -> Result<PipArgs, ModuleError> {
    PipArgs::parse(args(v))
}

fn seen(freeze: &str) -> Seen {
    Seen {
        venv_missing: false,
        installed: installed(freeze),
    }
}

#[test]
fn version_joins_the_one_name_and_is_refused_where_ansible_refuses_it() {
    let a = parse(json!({"name": "requests", "version": "2.31.0"})).expect("args");
    assert_eq!(a.names, vec!["requests==2.31.0".to_string()]);
    let a = parse(json!({"name": "requests", "version": ">=2.0"})).expect("args");
    assert_eq!(a.names, vec!["requests >=2.0".to_string()]);
    assert_eq!(
        split_spec(&a.names[0]),
        ("requests".into(), Some((">=".into(), "2.0".into())))
    );
    let e = parse(json!({"name": "a", "version": "1", "state": "latest"})).unwrap_err();
    assert_eq!(e.msg, "version is incompatible with state=latest");
    let e = parse(json!({"name": ["a", "b"], "version": "1"})).unwrap_err();
    assert!(
        e.msg.starts_with("'version' argument is ambiguous"),
        "{}",
        e.msg
    );
    let e = parse(json!({"name": "a>=1", "version": "1"})).unwrap_err();
    assert!(
        e.msg.starts_with("The 'version' argument conflicts"),
        "{}",
        e.msg
    );
    let e = parse(json!({"name": "a", "umask": "0x22"})).unwrap_err();
    assert_eq!(e.msg, "umask must be an octal integer");
    let e = parse(json!({"state": "present"})).unwrap_err();
    assert_eq!(
        e.msg,
        "one of the following is required: name, requirements"
    );
}

#[test]
fn present_runs_pip_only_for_a_missing_or_unsatisfied_package() {
    let a = parse(json!({"name": ["Requests>=2.0", "six"]})).expect("args");
    let p = plan::plan(&a, &seen("requests==2.31.0\nsix==1.16.0\n"));
    assert!(!p.result.changed && p.changes.is_none());
    assert_eq!(p.result.extra["state"], json!("present"));
    assert_eq!(p.result.extra["name"], json!(["Requests>=2.0", "six"]));
    let p = plan::plan(&a, &seen("requests==1.9\nsix==1.16.0\n"));
    let c = p.changes.expect("pip runs");
    assert!(p.result.changed && !c.make_venv);
    assert_eq!(
        c.cmd,
        "$PIP install --disable-pip-version-check 'Requests>=2.0' six"
    );
    assert_eq!(c.before.get("requests").map(String::as_str), Some("1.9"));
    assert!(plan::plan(&a, &seen("six==1.16.0\n")).changes.is_some());
}

#[test]
fn absent_runs_pip_only_when_a_named_package_is_there() {
    let a = parse(json!({"name": "six", "state": "absent"})).expect("args");
    assert!(plan::plan(&a, &seen("requests==2.31.0\n"))
        .changes
        .is_none());
    let c = plan::plan(&a, &seen("six==1.16.0\n"))
        .changes
        .expect("uninstall");
    assert_eq!(c.cmd, "$PIP uninstall -y --disable-pip-version-check six");
}

#[test]
fn latest_forcereinstall_requirements_and_extra_args_always_run_pip() {
    let installed_six = seen("six==1.16.0\n");
    for (v, cmd) in [
        (
            json!({"name": "six", "state": "latest"}),
            "$PIP install -U --disable-pip-version-check six",
        ),
        (
            json!({"name": "six", "state": "forcereinstall"}),
            "$PIP install -U --force-reinstall --disable-pip-version-check six",
        ),
        (
            json!({"requirements": "/srv/req.txt"}),
            "$PIP install --disable-pip-version-check -r /srv/req.txt",
        ),
        (
            json!({"requirements": "/srv/req.txt", "state": "absent"}),
            "$PIP uninstall -y --disable-pip-version-check -r /srv/req.txt",
        ),
        (
            json!({"name": "six", "extra_args": "--no-index --find-links /w", "editable": true}),
            "$PIP install --disable-pip-version-check --no-index --find-links /w -e six",
        ),
        (
            json!({"name": "six", "state": "latest", "break_system_packages": true}),
            "PIP_BREAK_SYSTEM_PACKAGES=1 $PIP install -U --disable-pip-version-check six",
        ),
    ] {
        let a = parse(v.clone()).expect("args");
        let p = plan::plan(&a, &installed_six);
        assert!(p.result.changed, "{v}");
        assert_eq!(p.changes.expect("pip runs").cmd, cmd, "{v}");
    }
}

#[test]
fn a_missing_virtualenv_is_made_before_pip_runs() {
    let a = parse(json!({"name": "six", "virtualenv": "/opt/ve", "virtualenv_command": "python3 -m venv", "virtualenv_python": "python3.11"})).expect("args");
    let venv = a.venv.clone().expect("venv");
    assert_eq!(venv.make, "python3 -m venv");
    assert!(a.make_venv().starts_with("python3 -m venv /opt/ve >&2"));
    let missing = Seen {
        venv_missing: true,
        installed: Default::default(),
    };
    let p = plan::plan(&a, &missing);
    assert!(p.result.changed && p.changes.expect("made").make_venv);
    assert_eq!(p.result.extra["virtualenv"], json!("/opt/ve"));
    assert!(plan::plan(&a, &seen("six==1.0\n")).changes.is_none());
    let a = parse(json!({"name": "six", "virtualenv": "/opt/ve", "virtualenv_python": "python3.11", "virtualenv_site_packages": true})).expect("args");
    assert_eq!(
        a.venv.expect("venv").make,
        "virtualenv --system-site-packages -p python3.11"
    );
}

crate::testutil::both_paths! {
async fn no_pip_on_the_host_is_a_clear_refusal() {
    let env = TestEnv::new(std::path::Path::new("/"));
    let mut c = ctx(&env, false, false);
    c.environment = vec![("PATH".into(), "/nonexistent".into())];
    let e = Planned(PipModule).run(&c, args(json!({"name": "requests"}))).await.map(|r| r.into_map()).unwrap_err();
    assert_eq!(e.msg, "Unable to find any of pip3, pip to use.  pip needs to be installed.");
}

async fn present_and_absent_run_pip_only_when_needed() {
    let Some(pip) = ["/root/.pyenv/shims/pip3", "/usr/bin/pip3"].into_iter().find(|p| std::path::Path::new(p).exists()) else {
        eprintln!("SKIP: no pip3 here");
        return;
    };
    let env = TestEnv::new(std::path::Path::new("/"));
    let m = Planned(PipModule);
    let r = m.run(&ctx(&env, false, false), args(json!({"name": ["PIP"], "executable": pip}))).await.map(|r| r.into_map()).expect("pip");
    assert_eq!(r["changed"], json!(false), "{r:?}");
    assert!(r.get("cmd").is_none(), "pip must not have run: {r:?}");
    let r = m.run(&ctx(&env, false, false), args(json!({"name": "kplay-no-such-package", "state": "absent", "executable": pip}))).await.map(|r| r.into_map()).expect("pip");
    assert_eq!(r["changed"], json!(false));
    let r = m.run(&ctx(&env, true, false), args(json!({"name": "kplay-no-such-package", "executable": pip}))).await.map(|r| r.into_map()).expect("pip");
    assert_eq!(r["changed"], json!(true), "check mode predicts the install");
    let e = m.run(&ctx(&env, false, false), args(json!({"name": "kplay-no-such-package", "executable": pip, "extra_args": "--no-index"}))).await.map(|r| r.into_map()).unwrap_err();
    assert!(e.msg.starts_with("pip failed:"), "{}", e.msg);
}
}
