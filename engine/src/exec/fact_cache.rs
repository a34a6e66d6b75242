//! ansible.cfg's `fact_caching = jsonfile`: each host's gathered facts kept as JSON in
//! `fact_caching_connection/<prefix><host>` between runs, so `gathering = smart` can skip
//! gathering a host whose facts are still fresh (younger than `fact_caching_timeout`, 0 = never
//! stale). Files are written owner-only, through a temporary file and a rename.

use crate::value::{Map, Value};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The key ansible-core marks a host's cached facts as gathered with.
pub const GATHERED: &str = "_ansible_facts_gathered";

#[derive(Clone, Debug)]
pub struct FactCache {
    pub dir: PathBuf,
    pub prefix: String,
    /// `None`: cached facts never expire.
    pub timeout: Option<Duration>,
}

impl FactCache {
    /// From ansible.cfg's settings: `None` for the in-memory cache (nothing kept between runs).
    pub fn from_config(cfg: &crate::config::Config) -> Result<Option<FactCache>, String> {
        match cfg.fact_caching.as_deref().map(str::trim) {
            None | Some("memory") | Some("ansible.builtin.memory") => Ok(None),
            Some("jsonfile") | Some("ansible.builtin.jsonfile") => {
                let Some(dir) = cfg.fact_caching_connection.as_deref() else {
                    return Err("the jsonfile fact cache needs fact_caching_connection (a directory) in ansible.cfg".into());
                };
                let secs = cfg.fact_caching_timeout.unwrap_or(86400);
                Ok(Some(FactCache {
                    dir: PathBuf::from(dir),
                    prefix: cfg.fact_caching_prefix.clone().unwrap_or_default(),
                    timeout: (secs > 0).then(|| Duration::from_secs(secs)),
                }))
            }
            Some(other) => Err(format!(
                "fact_caching = {other}: kplay keeps facts in memory or in a jsonfile cache only"
            )),
        }
    }

    fn path(&self, host: &str) -> Option<PathBuf> {
        // A host name is one path component; anything else could leave the cache directory.
        let name = format!("{}{host}", self.prefix);
        let ok = !name.is_empty() && !name.contains('/') && name != "." && name != "..";
        ok.then(|| self.dir.join(name))
    }

    /// The host's cached facts, unless missing, unreadable or older than the timeout.
    pub fn load(&self, host: &str) -> Option<Map> {
        let path = self.path(host)?;
        let meta = std::fs::metadata(&path).ok()?;
        if let Some(t) = self.timeout {
            let age = meta
                .modified()
                .ok()
                .and_then(|m| SystemTime::now().duration_since(m).ok())?;
            if age > t {
                return None;
            }
        }
        match serde_json::from_slice(&std::fs::read(&path).ok()?).ok()? {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    /// Keeps the host's facts (marked as gathered when setup produced them).
    pub fn store(&self, host: &str, facts: &Map) -> Result<(), String> {
        let path = self
            .path(host)
            .ok_or_else(|| format!("no fact cache file name for host '{host}'"))?;
        let mut facts = facts.clone();
        if facts.contains_key("module_setup") {
            facts.insert(GATHERED.into(), Value::Bool(true));
        }
        let text = serde_json::to_vec_pretty(&Value::Object(facts)).map_err(|e| e.to_string())?;
        write_private(&self.dir, &path, &text)
            .map_err(|e| format!("fact cache {}: {e}", path.display()))
    }
}

fn write_private(dir: &Path, path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let tmp = path.with_extension(format!("kplay-tmp-{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(dir: &Path, timeout: Option<u64>) -> FactCache {
        FactCache {
            dir: dir.to_path_buf(),
            prefix: "p_".into(),
            timeout: timeout.map(Duration::from_secs),
        }
    }

    #[test]
    fn stored_facts_come_back_marked_gathered_and_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().expect("tmp");
        let c = cache(&d.path().join("c"), Some(3600));
        let mut f = Map::new();
        f.insert("ansible_hostname".into(), Value::String("h1".into()));
        f.insert("module_setup".into(), Value::Bool(true));
        c.store("h1", &f).expect("store");
        let back = c.load("h1").expect("load");
        assert_eq!(back["ansible_hostname"], "h1");
        assert_eq!(back[GATHERED], true);
        let mode = std::fs::metadata(d.path().join("c/p_h1"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(c.load("h2").is_none());
    }

    #[test]
    fn stale_facts_and_odd_host_names_are_not_used() {
        let d = tempfile::tempdir().expect("tmp");
        let c = cache(d.path(), Some(0));
        c.store("h1", &Map::new()).expect("store");
        std::thread::sleep(Duration::from_millis(20));
        assert!(c.load("h1").is_none(), "older than a zero-second timeout");
        assert!(cache(d.path(), None).load("h1").is_some(), "no timeout");
        assert!(c.store("../x", &Map::new()).is_err());
    }
}
