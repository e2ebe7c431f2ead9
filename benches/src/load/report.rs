//! The results: one table on stdout, the same figures as JSON, and an SVG chart of requests per
//! second by concurrency, framework next to baseline.

use super::cases::Row;
use plotters::prelude::*;
use serde::Serialize;
use std::fmt::Write as _;

/// Everything a run produced, as `--json` writes it.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Where it ran.
    pub machine: String,
    /// Rounds per case; each row is the median round.
    pub rounds: usize,
    /// Warm-up of each round, in seconds.
    pub warmup_seconds: f64,
    /// The measured window of each round, in seconds.
    pub run_seconds: f64,
    /// The rows, in the order they ran.
    pub rows: Vec<Row>,
}

/// CPU model, cores and kernel, from `/proc`.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let memory = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(String::new(), |kib| {
            format!(", {:.0} GiB", kib / 1024.0 / 1024.0)
        });
    format!("{model}, {cores} cores{memory}, Linux {}", kernel.trim())
}

/// One line of the table from its twelve cells, in the table's column widths.
fn cells(c: [&str; 12]) -> String {
    format!(
        "{:<8} {:<26} {:>5} {:>17} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>6} {:>6}",
        c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11]
    )
    .trim_end()
    .to_string()
}

/// The table's header line.
pub fn header() -> String {
    cells([
        "group", "case", "conc", "rate", "p50", "p99", "p99.9", "srv cpu", "cli cpu", "rss MiB",
        "ratio", "p99 x",
    ])
}

/// One row of the table.
pub fn line(row: &Row) -> String {
    let name = if row.baseline {
        format!("{} (base)", row.case)
    } else {
        row.case.clone()
    };
    let rss = format!("{:.1}", row.rss_mib);
    let Some(s) = &row.sample else {
        return cells([
            row.group, &name, "", "idle", "", "", "", "", "", &rss, "", "",
        ]);
    };
    let ratio = |r: Option<f64>| r.map_or("-".to_string(), |r| format!("{r:.2}"));
    let cpu = |us: Option<f64>| us.map_or("-".to_string(), micros);
    cells([
        row.group,
        &name,
        &row.concurrency.to_string(),
        &format!("{} {}", thousands(s.rate()), row.unit),
        &micros(s.p50_us),
        &micros(s.p99_us),
        &micros(s.p999_us),
        &cpu(row.cpu_us_per_item),
        &cpu(row.client_cpu_us_per_item),
        &rss,
        &ratio(row.ratio),
        &ratio(row.p99_ratio),
    ])
}

/// The whole table, header first.
pub fn table(rows: &[Row]) -> String {
    let mut out = header();
    for row in rows {
        let _ = write!(out, "\n{}", line(row));
    }
    out
}

/// `12345.6` as `12,346`.
fn thousands(x: f64) -> String {
    let digits = format!("{:.0}", x);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Microseconds, or milliseconds from 10 ms up.
fn micros(us: f64) -> String {
    if us >= 10_000.0 {
        format!("{:.1}ms", us / 1000.0)
    } else if us >= 100.0 {
        format!("{us:.0}us")
    } else if us >= 1.0 {
        format!("{us:.1}us")
    } else {
        format!("{:.0}ns", us * 1000.0)
    }
}

/// Writes the chart: requests per second by concurrency, one panel per group with series at
/// several concurrencies (unary calls, the HTTP gateway), framework next to baseline.
pub fn chart(rows: &[Row], path: &std::path::Path) -> Result<(), String> {
    let panels: Vec<(&str, &str)> = [("unary", "unary call (gRPC)"), ("gateway", "HTTP gateway")]
        .into_iter()
        .filter(|(g, _)| rows.iter().any(|r| r.group == *g && r.sample.is_some()))
        .collect();
    if panels.is_empty() {
        return Err("no unary or gateway rows to chart".into());
    }
    let root = SVGBackend::new(path, (480 * panels.len() as u32, 360)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let areas = root.split_evenly((1, panels.len()));
    for ((group, title), area) in panels.into_iter().zip(areas) {
        panel(rows, group, title, &area).map_err(|e| format!("drawing {group}: {e}"))?;
    }
    root.present().map_err(|e| e.to_string())
}

const COLOURS: [RGBColor; 6] = [
    RGBColor(120, 120, 120),
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(214, 39, 40),
];

fn panel(
    rows: &[Row],
    group: &str,
    title: &str,
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
) -> Result<(), Box<dyn std::error::Error>> {
    let rows: Vec<&Row> = rows
        .iter()
        .filter(|r| r.group == group && r.sample.is_some())
        .collect();
    let mut levels: Vec<usize> = rows.iter().map(|r| r.concurrency).collect();
    levels.sort_unstable();
    levels.dedup();
    let mut cases: Vec<(&str, bool)> = Vec::new();
    for r in &rows {
        if !cases.iter().any(|(c, _)| *c == r.case) {
            cases.push((&r.case, r.baseline));
        }
    }
    let top = rows
        .iter()
        .filter_map(|r| r.sample.as_ref())
        .map(|s| s.rate())
        .fold(0.0, f64::max)
        * 1.15;
    let x_max = levels.len().saturating_sub(1) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(-0.3..x_max + 0.3, 0.0..top.max(1.0))?;
    let label_levels = levels.clone();
    chart
        .configure_mesh()
        .x_desc("concurrent callers")
        .y_desc("requests / s")
        .x_labels(levels.len().max(2))
        .x_label_formatter(&move |x| {
            let i = x.round();
            if (x - i).abs() < 0.05 && i >= 0.0 {
                label_levels
                    .get(i as usize)
                    .map_or(String::new(), |l| l.to_string())
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|y| thousands(*y))
        .disable_x_mesh()
        .draw()?;
    for (i, (case, baseline)) in cases.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let points: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| r.case == *case)
            .filter_map(|r| {
                let x = levels.iter().position(|l| *l == r.concurrency)? as f64;
                Some((x, r.sample.as_ref()?.rate()))
            })
            .collect();
        let label = if *baseline {
            format!("{case} (baseline)")
        } else {
            case.to_string()
        };
        chart
            .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
            });
        chart.draw_series(
            points
                .into_iter()
                .map(|p| Circle::new(p, 3, colour.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK.mix(0.3))
        .draw()?;
    Ok(())
}
