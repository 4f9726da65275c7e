//! A dependency-free SVG chart: throughput (top) and latency (bottom) over time.

use std::fmt::Write;

use crate::load::Second;

const W: f64 = 900.0;
const PANEL: f64 = 220.0;
const LEFT: f64 = 70.0;
const TOP: f64 = 30.0;

fn polyline(points: &[(f64, f64)], color: &str) -> String {
    let pts: Vec<String> = points
        .iter()
        .map(|(x, y)| format!("{x:.1},{y:.1}"))
        .collect();
    format!(
        r#"<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{}"/>"#,
        pts.join(" ")
    )
}

fn panel(
    out: &mut String,
    y0: f64,
    title: &str,
    max: f64,
    lines: &[(&str, &str, Vec<f64>)],
    n: usize,
) {
    let plot_w = W - LEFT - 20.0;
    let _ = write!(
        out,
        r##"<text x="{LEFT}" y="{:.0}" font-size="13">{title}</text><rect x="{LEFT}" y="{y0}" width="{plot_w}" height="{PANEL}" fill="none" stroke="#999"/>"##,
        y0 - 6.0
    );
    for i in 0..=4 {
        let v = max * f64::from(i) / 4.0;
        let y = y0 + PANEL - PANEL * f64::from(i) / 4.0;
        let _ = write!(
            out,
            r##"<text x="{:.0}" y="{y:.0}" font-size="10" text-anchor="end">{v:.0}</text><line x1="{LEFT}" x2="{:.0}" y1="{y:.0}" y2="{y:.0}" stroke="#eee"/>"##,
            LEFT - 4.0,
            W - 20.0
        );
    }
    for (k, (name, color, values)) in lines.iter().enumerate() {
        let points: Vec<(f64, f64)> = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let x = LEFT + plot_w * i as f64 / (n.max(2) - 1) as f64;
                (x, y0 + PANEL - PANEL * (v / max).min(1.0))
            })
            .collect();
        out.push_str(&polyline(&points, color));
        let _ = write!(
            out,
            r#"<text x="{:.0}" y="{:.0}" font-size="11" fill="{color}">{name}</text>"#,
            W - 220.0 + 100.0 * k as f64,
            y0 - 6.0
        );
    }
}

/// The chart of a run, one point per second.
pub fn svg(seconds: &[Second]) -> String {
    let n = seconds.len();
    let tps: Vec<f64> = seconds.iter().map(|s| s.finalized as f64).collect();
    let offered: Vec<f64> = seconds.iter().map(|s| s.offered_tps).collect();
    let p50: Vec<f64> = seconds.iter().map(|s| s.p50_ms).collect();
    let p99: Vec<f64> = seconds.iter().map(|s| s.p99_ms).collect();
    let max_tps = tps.iter().chain(&offered).copied().fold(1.0, f64::max) * 1.1;
    let max_ms = p99.iter().copied().fold(10.0, f64::max) * 1.1;
    let h = TOP + 2.0 * PANEL + 90.0;
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{h}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>"#
    );
    panel(
        &mut out,
        TOP,
        "throughput (tx/s)",
        max_tps,
        &[("finalized", "#1f77b4", tps), ("offered", "#aaa", offered)],
        n,
    );
    panel(
        &mut out,
        TOP + PANEL + 50.0,
        "latency submission→finality (ms)",
        max_ms,
        &[("p50", "#2ca02c", p50), ("p99", "#d62728", p99)],
        n,
    );
    let _ = write!(
        out,
        r#"<text x="{:.0}" y="{:.0}" font-size="11" text-anchor="middle">seconds ({n})</text></svg>"#,
        W / 2.0,
        h - 8.0
    );
    out
}
