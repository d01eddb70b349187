//! The systemd unit and the binary agree: the ExecStart command line parses, the directories
//! systemd creates are the ones the default config uses, and the token the unit waits for is
//! the one the config reads. (scripts/check-systemd.sh checks the unit with systemd itself.)

use crate::helper::{postbooth_command, run_to_end};
use postbooth::config::Config;
use std::path::Path;

fn unit() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/postbooth.service");
    std::fs::read_to_string(path).unwrap()
}

/// Every value of `key=` in the unit, in order.
fn values(unit: &str, key: &str) -> Vec<String> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(|v| v.trim().to_string())
        .collect()
}

fn one(unit: &str, key: &str) -> String {
    let v = values(unit, key);
    assert_eq!(v.len(), 1, "{key}= appears {} times in the unit", v.len());
    v[0].clone()
}

#[test]
fn exec_start_is_a_command_line_the_binary_accepts() {
    let unit = unit();
    let exec = one(&unit, "ExecStart");
    let mut words = exec.split_whitespace();
    assert_eq!(words.next(), Some("/usr/bin/postbooth"), "{exec}");
    let args: Vec<&str> = words.collect();
    let config = args
        .iter()
        .position(|a| *a == "--config")
        .map(|i| args[i + 1])
        .expect("ExecStart names the config");
    assert_eq!(config, "/etc/postbooth/config.toml");
    assert_eq!(args.last(), Some(&"run"), "{exec}");
    // The same words, with `--help` so nothing starts: clap rejects an unknown option or
    // subcommand before it looks at --help.
    let mut cmd = postbooth_command();
    cmd.args(&args).arg("--help");
    let out = run_to_end(cmd);
    assert!(out.status.success(), "{}", out.both());
    assert!(
        out.stdout.contains("Usage: postbooth run"),
        "{}",
        out.both()
    );
}

#[test]
fn systemd_directories_and_token_match_the_default_config() {
    let unit = unit();
    let defaults = Config::default();
    let state = one(&unit, "StateDirectory");
    assert_eq!(defaults.store.dir, Path::new("/var/lib").join(&state));
    assert!(
        defaults
            .camera
            .dir
            .starts_with(Path::new("/var/lib").join(&state)),
        "the folder camera's default dir must be writable under ProtectSystem=strict"
    );
    let conf = one(&unit, "ConfigurationDirectory");
    let token = &defaults.instagram.access_token_file;
    assert!(
        token.starts_with(Path::new("/etc").join(&conf)),
        "{token:?}"
    );
    assert_eq!(
        one(&unit, "ConditionPathExists"),
        token.display().to_string(),
        "the unit waits for the token file the config reads"
    );
    assert_eq!(one(&unit, "Type"), "notify");
    assert!(one(&unit, "WatchdogSec").parse::<u32>().unwrap() > 0);
}
