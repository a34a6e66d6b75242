//! The packages `openapi-gen` reads, found as upstream's `Makefile.generated_files` finds them:
//! every directory of the tree (skipping top-level `_*`, `.*` and `vendor`, with `staging/src`
//! named as its `vendor/` twin) holding a Go file with a `// +k8s:` tag line and an
//! `+k8s:openapi-gen=` tag, minus the code generator's and the sample apiserver's. The source package
//! lacks `pkg/generated/openapi/zz_generated.openapi.go`, without which kube-apiserver does not link.

use std::collections::BTreeSet;
use std::path::Path;

use super::KubernetesError;

/// Go import paths (`k8s.io/kubernetes/…`) of the packages to generate OpenAPI definitions for.
pub fn input_packages(tree: &Path) -> Result<Vec<String>, KubernetesError> {
    let mut dirs = BTreeSet::new();
    let top = std::fs::read_dir(tree).map_err(|e| KubernetesError::io("reading", tree, e))?;
    for entry in top.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('_') || name.starts_with('.') || name == "vendor" {
            continue;
        }
        walk(&entry.path(), &name, &mut dirs)?;
    }
    Ok(dirs
        .into_iter()
        .map(|d| d.replacen("staging/src/", "vendor/", 1))
        .filter(|d| {
            !d.starts_with("vendor/k8s.io/code-generator/")
                && !d.starts_with("vendor/k8s.io/sample-apiserver/")
        })
        .map(|d| format!("{}/{d}", super::recipe::GO_PACKAGE))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect())
}

/// Adds `rel` (the path of `dir` relative to the tree) when one of its Go files asks for OpenAPI,
/// then descends (symbolic links are not followed, as `find` does not).
fn walk(dir: &Path, rel: &str, out: &mut BTreeSet<String>) -> Result<(), KubernetesError> {
    let Ok(meta) = std::fs::symlink_metadata(dir) else {
        return Ok(());
    };
    if !meta.is_dir() {
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).map_err(|e| KubernetesError::io("reading", dir, e))?;
    let mut subdirs = Vec::new();
    let mut wanted = false;
    for entry in entries.flatten() {
        let Ok(ft) = entry.file_type() else { continue };
        let name = entry.file_name().to_string_lossy().into_owned();
        if ft.is_dir() {
            subdirs.push(name);
        } else if ft.is_file() && name.ends_with(".go") && !wanted {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            wanted = asks_for_openapi(&text);
        }
    }
    if wanted {
        out.insert(rel.to_string());
    }
    for name in subdirs {
        walk(&dir.join(&name), &format!("{rel}/{name}"), out)?;
    }
    Ok(())
}

/// `grep -l '^// *+k8s:'` and then `grep -l '+k8s:openapi-gen='` on one file.
fn asks_for_openapi(text: &str) -> bool {
    text.contains("+k8s:openapi-gen=")
        && text.lines().any(|l| {
            l.strip_prefix("//")
                .is_some_and(|r| r.trim_start_matches(' ').starts_with("+k8s:"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_recognised_as_make_does() {
        assert!(asks_for_openapi("// +k8s:openapi-gen=true\npackage v1\n"));
        assert!(asks_for_openapi(
            "//+k8s:deepcopy-gen=package\n// x +k8s:openapi-gen=false\n"
        ));
        // A tag not at the start of a line does not count as a tag line.
        assert!(!asks_for_openapi("/* +k8s:openapi-gen=true */\n"));
        assert!(!asks_for_openapi("// +k8s:deepcopy-gen=package\n"));
    }

    #[test]
    fn staging_is_named_as_vendor_and_generators_are_left_out() {
        let t = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let root = t.path();
        let files = [
            ("pkg/apis/core/v1/doc.go", "// +k8s:openapi-gen=true\n"),
            ("pkg/util/x.go", "// +k8s:deepcopy-gen=package\n"),
            (
                "staging/src/k8s.io/api/apps/v1/doc.go",
                "// +k8s:openapi-gen=true\n",
            ),
            (
                "staging/src/k8s.io/code-generator/x/doc.go",
                "// +k8s:openapi-gen=true\n",
            ),
            ("vendor/github.com/x/doc.go", "// +k8s:openapi-gen=true\n"),
            ("_output/local/doc.go", "// +k8s:openapi-gen=true\n"),
        ];
        for (p, text) in files {
            let path = root.join(p);
            std::fs::create_dir_all(path.parent().unwrap_or(root))
                .unwrap_or_else(|e| panic!("mkdir: {e}"));
            std::fs::write(&path, text).unwrap_or_else(|e| panic!("write: {e}"));
        }
        let got = input_packages(root).unwrap_or_default();
        assert_eq!(
            got,
            [
                "k8s.io/kubernetes/pkg/apis/core/v1",
                "k8s.io/kubernetes/vendor/k8s.io/api/apps/v1"
            ]
        );
    }
}
