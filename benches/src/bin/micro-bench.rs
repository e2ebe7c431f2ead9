//! `micro-bench`: the load harness `scripts/bench` runs. See `BENCHMARKS.md`.

use micro_benches::load::{cases, external, report, servers, Timing};
use std::time::Duration;

const USAGE: &str = "\
micro-bench: micro next to its floor (raw tonic, axum, async-nats), in one run

usage: micro-bench [--quick] [--seconds S] [--warmup S] [--rounds N] [--only GROUP[,GROUP]]
                   [--case TEXT] [--json FILE] [--svg FILE] [--external] [--no-peer]

  --quick        3 rounds of 0.4 s after 0.15 s of warm-up per case
                 (default: 3 rounds of 5 s after 1 s)
  --seconds S    measured seconds per round
  --warmup S     warm-up seconds per round
  --rounds N     rounds per case, alternating with the other cases of its group;
                 each row shows its median round
  --only G,..    groups to run: unary, stream, gateway, proxy, tls, broker, idle (default: all)
  --case TEXT    only cases whose name holds TEXT (e.g. micro, tonic, nats); ratios need
                 the baseline in the same run
  --json FILE    write the figures as JSON
  --svg FILE     write the chart of req/s by concurrency (unary and gateway groups)
  --external     instead: the raw tonic, the micro and the volo-grpc greeter under h2load
                 (nghttp2's load generator), one connection, 16 and 64 streams in flight
  --no-peer      leave out the volo-grpc peer, whose volo-greeter binary scripts/bench builds
                 next to this one (scripts/test does not)

Internal: `micro-bench serve KIND [ARG]` and `micro-bench broker KIND NATS WARMUP RUN` are the
server processes the harness starts.";

#[derive(Debug)]
struct Args {
    timing: Timing,
    rounds: usize,
    groups: Vec<String>,
    case: Option<String>,
    json: Option<std::path::PathBuf>,
    svg: Option<std::path::PathBuf>,
    /// The servers under an outside load generator instead of the cases.
    external: bool,
    /// Whether the volo-grpc peer runs.
    peer: bool,
}

fn seconds(value: Option<String>, flag: &str) -> Result<Duration, String> {
    let v = value.ok_or(format!("{flag} needs a value"))?;
    v.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0 && *s <= 600.0)
        .map(Duration::from_secs_f64)
        .ok_or(format!("{flag} {v:?}: seconds between 0 and 600"))
}

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut args = Args {
        timing: Timing {
            warmup: Duration::from_secs(1),
            run: Duration::from_secs(5),
        },
        rounds: 3,
        groups: cases::GROUPS.iter().map(|g| g.to_string()).collect(),
        case: None,
        json: None,
        svg: None,
        external: false,
        peer: true,
    };
    while let Some(flag) = argv.next() {
        match flag.as_str() {
            "--quick" => {
                args.timing = Timing {
                    warmup: Duration::from_millis(150),
                    run: Duration::from_millis(400),
                }
            }
            "--seconds" => args.timing.run = seconds(argv.next(), "--seconds")?,
            "--warmup" => args.timing.warmup = seconds(argv.next(), "--warmup")?,
            "--only" => {
                let list = argv.next().ok_or("--only needs groups")?;
                args.groups = list.split(',').map(|g| g.trim().to_string()).collect();
                if let Some(bad) = args
                    .groups
                    .iter()
                    .find(|g| !cases::GROUPS.contains(&g.as_str()))
                {
                    return Err(format!(
                        "unknown group {bad:?} (known: {})",
                        cases::GROUPS.join(", ")
                    ));
                }
            }
            "--rounds" => {
                let n = argv.next().ok_or("--rounds needs a count")?;
                args.rounds = n
                    .parse()
                    .ok()
                    .filter(|n| (1..=100).contains(n))
                    .ok_or(format!("--rounds {n:?}: a count from 1 to 100"))?;
            }
            "--case" => args.case = Some(argv.next().ok_or("--case needs a name")?),
            "--json" => args.json = Some(argv.next().ok_or("--json needs a file")?.into()),
            "--svg" => args.svg = Some(argv.next().ok_or("--svg needs a file")?.into()),
            "--external" => args.external = true,
            "--no-peer" => args.peer = false,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() {
    let mut argv = std::env::args().skip(1).peekable();
    let outcome = match argv.peek().map(String::as_str) {
        Some("serve") => {
            argv.next();
            let kind = argv.next().unwrap_or_default();
            let rest: Vec<String> = argv.collect();
            servers::serve(&kind, &rest).await
        }
        Some("broker") => {
            argv.next();
            let a: Vec<String> = argv.collect();
            broker(&a).await
        }
        _ => match parse(argv) {
            Ok(args) => bench(args).await,
            Err(e) if e.is_empty() => {
                println!("{USAGE}");
                return;
            }
            Err(e) => {
                eprintln!("micro-bench: {e}\n\n{USAGE}");
                std::process::exit(2);
            }
        },
    };
    if let Err(e) = outcome {
        eprintln!("micro-bench: {e}");
        std::process::exit(1);
    }
}

async fn broker(a: &[String]) -> Result<(), String> {
    let [kind, nats, warmup, run] = a else {
        return Err("usage: micro-bench broker KIND NATS WARMUP RUN".into());
    };
    let timing = Timing {
        warmup: seconds(Some(warmup.clone()), "warmup")?,
        run: seconds(Some(run.clone()), "run")?,
    };
    let result = servers::broker(kind, nats, timing).await?;
    println!("RESULT {}", serde_json::to_string(&result).expect("json"));
    Ok(())
}

async fn bench(args: Args) -> Result<(), String> {
    let machine = report::machine();
    println!("{machine}");
    if args.external {
        return external::run(args.timing, args.rounds, args.peer).await;
    }
    println!(
        "each case: {} rounds of {:.2} s warm-up, then {:.2} s measured; rows show the median round\n",
        args.rounds,
        args.timing.warmup.as_secs_f64(),
        args.timing.run.as_secs_f64()
    );
    println!("{}", report::header());
    let plan = cases::Plan {
        timing: args.timing,
        rounds: args.rounds,
        groups: args.groups,
        case: args.case,
        peer: args.peer,
    };
    let rows = cases::run(&plan, |row| println!("{}", report::line(row))).await?;
    println!("\nwith ratios to each group's baseline (same concurrency):\n");
    println!("{}", report::table(&rows));
    if let Some(path) = &args.svg {
        report::chart(&rows, path)?;
        println!("\nchart: {}", path.display());
    }
    if let Some(path) = &args.json {
        let report = report::Report {
            machine,
            rounds: args.rounds,
            warmup_seconds: args.timing.warmup.as_secs_f64(),
            run_seconds: args.timing.run.as_secs_f64(),
            rows,
        };
        let json = serde_json::to_string_pretty(&report).expect("json");
        std::fs::write(path, json).map_err(|e| format!("writing {}: {e}", path.display()))?;
        println!("json: {}", path.display());
    }
    Ok(())
}
