//! The load harness end to end, with windows short enough for a test: every group runs against
//! real servers (a real nats-server among them), and the JSON and the chart come out whole.
//! Its figures are not judged here: timing belongs to `scripts/bench`, not to tests.

use std::path::Path;
use std::process::Command;

const BENCH: &str = env!("CARGO_BIN_EXE_micro-bench");

/// The idle group runs the greeter and `micro` binaries built next to the harness.
fn build_idle_binaries() {
    let dir = Path::new(BENCH).parent().expect("binary dir");
    if dir.join("greeter").exists() && dir.join("micro").exists() {
        return;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "-p", "examples", "-p", "micro-tools", "--bins"])
        .current_dir(micro_tests::workspace_root())
        .status()
        .expect("running cargo");
    assert!(status.success(), "building greeter and micro");
}

#[test]
fn every_group_runs_and_reports_table_json_and_chart() {
    build_idle_binaries();
    let out = tempdir();
    let (json, svg) = (out.join("bench.json"), out.join("bench.svg"));
    let run = Command::new(BENCH)
        .args([
            "--warmup",
            "0.1",
            "--seconds",
            "0.3",
            "--rounds",
            "1",
            // scripts/test does not build the volo-grpc peer.
            "--no-peer",
            "--json",
        ])
        .arg(&json)
        .arg("--svg")
        .arg(&svg)
        .output()
        .expect("running micro-bench");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "micro-bench failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("ratio"), "no table:\n{stdout}");

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("json written")).expect("valid JSON");
    let rows = report["rows"].as_array().expect("rows");
    let row = |group: &str, case: &str, conc: u64| {
        rows.iter()
            .find(|r| r["group"] == group && r["case"] == case && r["concurrency"] == conc)
            .unwrap_or_else(|| panic!("no row {group}/{case}/{conc} in {report:#}"))
    };
    for (group, case, conc) in [
        ("unary", "micro proto", 1),
        ("unary", "micro proto", 16),
        ("unary", "micro JSON", 64),
        ("unary", "micro client, tonic server", 64),
        ("unary", "tonic client, micro server", 64),
        ("stream", "micro proto", 16),
        ("stream", "tonic client, micro server", 16),
        ("gateway", "micro api (rpc)", 64),
        ("broker", "micro nats, buffered", 1000),
        ("broker", "micro nats, each publish written", 1000),
    ] {
        let r = row(group, case, conc);
        let items = r["sample"]["items"].as_u64().unwrap_or(0);
        assert!(items > 0, "{group}/{case}/{conc} completed nothing: {r:#}");
        let ratio = r["ratio"].as_f64().unwrap_or(0.0);
        assert!(
            ratio > 0.0,
            "{group}/{case}/{conc} has no ratio to its baseline: {r:#}"
        );
        assert!(
            r["cpu_us_per_item"].as_f64().unwrap_or(0.0) > 0.0,
            "no server CPU: {r:#}"
        );
        assert!(
            r["rss_mib"].as_f64().unwrap_or(0.0) > 1.0,
            "no server RSS: {r:#}"
        );
    }
    assert!(
        !rows
            .iter()
            .any(|r| r["case"].as_str().is_some_and(|c| c.contains("volo"))),
        "--no-peer leaves the volo-grpc rows out: {report:#}"
    );
    let http = row("broker", "micro http broker", 1000);
    assert!(
        http["sample"]["items"].as_u64().unwrap_or(0) > 0,
        "{http:#}"
    );
    let idle: Vec<_> = rows.iter().filter(|r| r["group"] == "idle").collect();
    assert_eq!(idle.len(), 2, "idle greeter and micro api: {report:#}");
    for r in idle {
        assert!(r["rss_mib"].as_f64().unwrap_or(0.0) > 1.0, "{r:#}");
    }

    let chart = std::fs::read_to_string(&svg).expect("chart written");
    assert!(
        chart.starts_with("<svg"),
        "not an SVG: {}",
        &chart[..chart.len().min(80)]
    );
    for label in ["raw tonic (baseline)", "micro proto", "micro api (rpc)"] {
        assert!(chart.contains(label), "chart lacks {label:?}");
    }
}

#[test]
fn bad_arguments_are_refused_with_the_usage() {
    for (args, says) in [
        (&["--only", "nope"][..], "unknown group \"nope\""),
        (
            &["--seconds", "0"][..],
            "--seconds \"0\": seconds between 0 and 600",
        ),
        (&["--frobnicate"][..], "unknown argument \"--frobnicate\""),
    ] {
        let run = Command::new(BENCH)
            .args(args)
            .output()
            .expect("running micro-bench");
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(says),
            "{args:?} should say {says:?}: {stderr}"
        );
        assert!(stderr.contains("usage: micro-bench"), "{stderr}");
    }
}

/// The volo-grpc rows need `volo-greeter`, which only `scripts/bench` builds (in release): a
/// run that wants them without it stops and says how to build it.
#[test]
fn the_peer_missing_says_how_to_build_it() {
    let dir = Path::new(BENCH).parent().expect("binary dir");
    assert!(
        !dir.join("volo-greeter").exists(),
        "this test needs no volo-greeter next to {BENCH}"
    );
    let run = Command::new(BENCH)
        .args(["--only", "unary", "--case", "volo", "--seconds", "0.1"])
        .args(["--warmup", "0.1", "--rounds", "1"])
        .output()
        .expect("running micro-bench");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("volo-greeter is missing: scripts/bench builds it (cargo build --release --manifest-path benches/volo/Cargo.toml --target-dir target)"),
        "{stderr}"
    );
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("micro-bench-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
