//! `kplay bundle …` and `kplay serve`: thin wiring to the kplay-bundle crate.

use crate::cli::{BundleArgs, BundleCommand, ServeArgs};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The playbook directory whose group_vars the bundle reads: `--content DIR` (its `playbooks/`
/// when it has one), else `./playbooks` when it has group_vars (files on disk win), else the
/// embedded content.
pub(crate) fn playbook_dir(content: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(dir) = content {
        let pb = dir.join("playbooks");
        return Ok(if pb.join("group_vars").is_dir() {
            pb
        } else {
            dir.to_path_buf()
        });
    }
    let local = Path::new("playbooks");
    if local.join("group_vars").is_dir() {
        return Ok(local.to_path_buf());
    }
    let root = crate::embedded::default_cache_root()
        .and_then(|r| crate::embedded::ensure_extracted(&r))
        .map_err(|e| e.to_string())?;
    Ok(root.join("playbooks"))
}

pub fn run(args: BundleArgs) -> u8 {
    let result = match args.command {
        BundleCommand::Build {
            output,
            inventory,
            extra_vars,
            content,
            cache,
            signing_key,
            refresh,
            kubernetes_from,
        } => playbook_dir(content.as_deref()).and_then(|playbook_dir| {
            let opts = kplay_bundle::build::BuildOptions {
                output,
                vars: kplay_bundle::vars::VarsSource {
                    playbook_dir,
                    inventory,
                    extra_vars,
                },
                cache,
                signing_key,
                refresh,
                kubernetes_from,
            };
            let start = Instant::now();
            let progress = |line: &str| eprintln!("{line}");
            kplay_bundle::build::build(&opts, &progress)
                .map(|(m, phases)| {
                    println!("bundle written to {}", opts.output.display());
                    for p in &phases {
                        println!(
                            "  {:<14} {:>7.1} s  {}",
                            p.name,
                            p.elapsed.as_secs_f64(),
                            p.summary
                        );
                    }
                    println!(
                        "  {:<14} {:>7.1} s  {} packages, {} files, {} images, {}",
                        "total",
                        start.elapsed().as_secs_f64(),
                        m.debian.packages.len(),
                        m.files.len(),
                        m.images.len(),
                        kplay_bundle::manifest::human(m.total_size())
                    );
                })
                .map_err(|e| e.to_string())
        }),
        BundleCommand::List { dir, all, json } => kplay_bundle::manifest::Manifest::read(&dir)
            .map(|m| {
                if json {
                    print!("{}", m.to_json());
                } else {
                    print!("{}", m.render(all));
                }
            })
            .map_err(|e| e.to_string()),
        BundleCommand::Push {
            dir,
            registry,
            ca_cert,
            images,
            plain_http,
        } => push(&dir, &registry, ca_cert.as_deref(), &images, plain_http),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("ERROR! {e}");
            1
        }
    }
}

fn push(
    dir: &Path,
    registry: &str,
    ca: Option<&Path>,
    images: &[String],
    plain_http: bool,
) -> Result<(), String> {
    let layout = kplay_bundle::module::layout_of(dir)?;
    let client = kplay_bundle::registry::Registry::new(registry, ca, plain_http)
        .map_err(|e| e.to_string())?;
    client.ping().map_err(|e| e.to_string())?;
    let refs: Vec<String> = if images.is_empty() {
        layout
            .images()
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|(r, _)| r)
            .collect()
    } else {
        images.to_vec()
    };
    for r in &refs {
        let start = Instant::now();
        let p = client.push_image(&layout, r).map_err(|e| e.to_string())?;
        println!(
            "{} {registry}/{}:{} {} (blobs: {} uploaded, {} mounted, {} present; {:.1} s)",
            if p.changed { "pushed" } else { "unchanged" },
            p.repository,
            p.tag,
            p.digest,
            p.uploaded,
            p.mounted,
            p.existing,
            start.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

pub fn serve(args: ServeArgs) -> u8 {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ERROR! starting the runtime: {e}");
            return 1;
        }
    };
    let dir = args.dir.clone();
    let result = rt.block_on(kplay_bundle::serve::serve(&args.dir, args.listen, |addr| {
        // Printed on stdout (and flushed) so scripts and tests can wait for it.
        println!("serving {} on http://{addr}", dir.display());
        use std::io::Write;
        let _ = std::io::stdout().flush();
    }));
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("ERROR! {e}");
            1
        }
    }
}
