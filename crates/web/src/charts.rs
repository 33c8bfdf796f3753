//! Charts drawn on the server as SVG: bar, stacked bar, line, area, donut and funnel. No script
//! is sent; the colours are the design system's (`.chart .s0`… in `app.css`, so both themes
//! apply); every mark has its label and value as a tooltip and for screen readers, and the
//! figures are also a table beside the chart. Right to left, the categories run from the right
//! and the value axis stands on the right. Labels and values arrive formatted (Persian digits,
//! Jalali months); a category may link to the records it counts.

use crate::escape;
use std::fmt::Write;

/// The kinds of chart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Bar,
    StackedBar,
    Line,
    Area,
    Donut,
    Funnel,
}

impl Kind {
    pub fn parse(text: &str) -> Option<Kind> {
        Some(match text {
            "bar" => Kind::Bar,
            "stacked" => Kind::StackedBar,
            "line" => Kind::Line,
            "area" => Kind::Area,
            "donut" => Kind::Donut,
            "funnel" => Kind::Funnel,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Bar => "bar",
            Kind::StackedBar => "stacked",
            Kind::Line => "line",
            Kind::Area => "area",
            Kind::Donut => "donut",
            Kind::Funnel => "funnel",
        }
    }

    pub const ALL: [Kind; 6] = [Kind::Bar, Kind::StackedBar, Kind::Line, Kind::Area, Kind::Donut, Kind::Funnel];
}

/// One series: its name and a value per category (`None` where it has none).
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    pub values: Vec<Option<f64>>,
}

/// What to draw.
#[derive(Clone, Debug)]
pub struct Chart {
    pub kind: Kind,
    /// What the chart shows, its accessible name.
    pub title: String,
    /// The categories (x), formatted.
    pub labels: Vec<String>,
    pub series: Vec<Series>,
    /// Where each category leads (the list of records it counts), if anywhere.
    pub links: Vec<Option<String>>,
    pub rtl: bool,
}

/// Most series drawn (their colours); more are left out of the drawing, not of the table.
pub const MAX_SERIES: usize = 8;

const W: f64 = 640.0;
const H: f64 = 300.0;
const PAD_TOP: f64 = 16.0;
const PAD_BOTTOM: f64 = 40.0;
const AXIS: f64 = 64.0;
const PAD_END: f64 = 12.0;

/// The chart as an `<svg>` element. `format` writes a value as the page shows numbers, `axis`
/// a value axis's step (shorter: "40 M").
pub fn svg(chart: &Chart, format: &dyn Fn(f64) -> String, axis: &dyn Fn(f64) -> String) -> String {
    let mut out = String::with_capacity(4096);
    let _ = write!(
        out,
        r#"<svg class="chart chart-{kind}" viewBox="0 0 {W} {H}" role="{role}" aria-label="{title}" preserveAspectRatio="xMidYMid meet" direction="{dir}">"#,
        kind = chart.kind.name(),
        // A picture, unless its marks are links: then a group of them (an image has no
        // interactive parts).
        role = if chart.links.iter().any(Option::is_some) { "group" } else { "img" },
        title = escape(&chart.title),
        dir = if chart.rtl { "rtl" } else { "ltr" },
    );
    let _ = write!(out, "<title>{}</title>", escape(&chart.title));
    let has_data = chart.series.iter().any(|s| s.values.iter().any(|v| v.is_some_and(|v| v != 0.0)));
    if chart.labels.is_empty() || !has_data {
        out.push_str("</svg>");
        return out;
    }
    match chart.kind {
        Kind::Bar | Kind::StackedBar | Kind::Line | Kind::Area => axes_chart(&mut out, chart, format, axis),
        Kind::Donut => donut(&mut out, chart, format),
        Kind::Funnel => funnel(&mut out, chart, format),
    }
    out.push_str("</svg>");
    out
}

/// Round steps for a value axis from `low` to `high`: 1, 2 or 5 times a power of ten, about
/// five of them, always including zero.
pub fn ticks(low: f64, high: f64) -> Vec<f64> {
    let (low, high) = (low.min(0.0), high.max(0.0));
    let span = high - low;
    if span <= 0.0 || !span.is_finite() {
        return vec![0.0, 1.0];
    }
    let rough = span / 5.0;
    let power = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * power).find(|s| *s >= rough).unwrap_or(10.0 * power);
    let first = (low / step).floor() * step;
    let mut out = Vec::new();
    let mut t = first;
    while t < high + step * 0.999 {
        out.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
        t += step;
    }
    out
}

/// The x of a category's band start, its width, counted from the start side (right in RTL).
fn band(chart: &Chart, i: usize) -> (f64, f64) {
    let plot = W - AXIS - PAD_END;
    let width = plot / chart.labels.len() as f64;
    let from_start = width * i as f64;
    let x = if chart.rtl { PAD_END + plot - from_start - width } else { AXIS + from_start };
    (x, width)
}

fn axes_chart(out: &mut String, chart: &Chart, format: &dyn Fn(f64) -> String, axis: &dyn Fn(f64) -> String) {
    let series: Vec<&Series> = chart.series.iter().take(MAX_SERIES).collect();
    let n = chart.labels.len();
    let value = |s: &Series, i: usize| s.values.get(i).copied().flatten();
    let (mut low, mut high) = (0f64, 0f64);
    for i in 0..n {
        if chart.kind == Kind::StackedBar {
            let (pos, neg): (f64, f64) = series
                .iter()
                .filter_map(|s| value(s, i))
                .fold((0.0, 0.0), |(p, q), v| if v >= 0.0 { (p + v, q) } else { (p, q + v) });
            high = high.max(pos);
            low = low.min(neg);
        } else {
            for v in series.iter().filter_map(|s| value(s, i)) {
                high = high.max(v);
                low = low.min(v);
            }
        }
    }
    let ticks = ticks(low, high);
    let (bottom, top) = (ticks.first().copied().unwrap_or(0.0), ticks.last().copied().unwrap_or(1.0));
    let plot_h = H - PAD_TOP - PAD_BOTTOM;
    let y = |v: f64| PAD_TOP + plot_h * (top - v) / (top - bottom);
    // Grid and the value axis (on the right side right to left).
    let (grid_from, grid_to) = if chart.rtl { (PAD_END, W - AXIS) } else { (AXIS, W - PAD_END) };
    let tick_x = if chart.rtl { W - AXIS + 6.0 } else { AXIS - 6.0 };
    out.push_str(r#"<g class="grid" aria-hidden="true">"#);
    for t in &ticks {
        let _ = write!(
            out,
            r#"<line x1="{grid_from:.1}" x2="{grid_to:.1}" y1="{yy:.1}" y2="{yy:.1}"/><text x="{tick_x:.1}" y="{yy:.1}" text-anchor="end" dominant-baseline="middle">{label}</text>"#,
            yy = y(*t),
            label = escape(&axis(*t)),
        );
    }
    out.push_str("</g>");
    // Category labels: each cut to its band (the whole one is in the mark's title and the
    // table), thinned only when bands are too narrow for a few letters.
    let (_, band_w) = band(chart, 0);
    let fits = ((band_w - 6.0) / 6.5).floor().max(0.0) as usize;
    let every = if fits >= 4 { 1 } else { (26.0 / band_w).ceil().max(1.0) as usize };
    let room = fits.max(4);
    out.push_str(r#"<g class="labels" aria-hidden="true">"#);
    for (i, label) in chart.labels.iter().enumerate() {
        if i % every != 0 {
            continue;
        }
        let (x, w) = band(chart, i);
        let shown: String = if label.chars().count() > room {
            label.chars().take(room - 1).collect::<String>() + "…"
        } else {
            label.clone()
        };
        let _ = write!(
            out,
            r#"<text x="{cx:.1}" y="{ly:.1}" text-anchor="middle">{label}</text>"#,
            cx = x + w / 2.0,
            ly = H - PAD_BOTTOM + 18.0,
            label = escape(&shown),
        );
    }
    out.push_str("</g>");
    let zero = y(0.0_f64.clamp(bottom, top));
    match chart.kind {
        Kind::Bar | Kind::StackedBar => {
            for i in 0..n {
                let (x, w) = band(chart, i);
                let inner = w * 0.72;
                let name = series
                    .iter()
                    .filter_map(|s| value(s, i).map(|v| tip(chart, s, i, v, format)))
                    .collect::<Vec<_>>()
                    .join("; ");
                link_open(out, chart, i, &name);
                let (mut up, mut down) = (0.0, 0.0);
                for (k, s) in series.iter().enumerate() {
                    let Some(v) = value(s, i) else { continue };
                    let (bx, bw, from, to) = if chart.kind == Kind::StackedBar {
                        let (from, to) = if v >= 0.0 {
                            up += v;
                            (up - v, up)
                        } else {
                            down += v;
                            (down - v, down)
                        };
                        (x + (w - inner) / 2.0, inner, from, to)
                    } else {
                        let each = inner / series.len() as f64;
                        let k = if chart.rtl { series.len() - 1 - k } else { k };
                        (x + (w - inner) / 2.0 + each * k as f64, each, 0.0, v)
                    };
                    let (y1, y2) = (y(from.max(to)), y(from.min(to)));
                    let _ = write!(
                        out,
                        r#"<rect class="s{k}" x="{bx:.1}" y="{y1:.1}" width="{bw:.1}" height="{h:.1}"><title>{tip}</title></rect>"#,
                        h = (y2 - y1).max(0.5),
                        tip = escape(&tip(chart, s, i, v, format)),
                    );
                }
                link_close(out, chart, i);
            }
        }
        Kind::Line | Kind::Area => {
            for (k, s) in series.iter().enumerate() {
                let points: Vec<(f64, f64, usize)> = (0..n)
                    .filter_map(|i| {
                        let (x, w) = band(chart, i);
                        value(s, i).map(|v| (x + w / 2.0, y(v), i))
                    })
                    .collect();
                if points.is_empty() {
                    continue;
                }
                let path: String = points
                    .iter()
                    .enumerate()
                    .map(|(j, (px, py, _))| format!("{}{px:.1},{py:.1}", if j == 0 { "M" } else { " L" }))
                    .collect();
                if chart.kind == Kind::Area {
                    let (first, last) = (points[0].0, points[points.len() - 1].0);
                    let _ = write!(
                        out,
                        r#"<path class="area s{k}" d="{path} L{last:.1},{zero:.1} L{first:.1},{zero:.1} Z" aria-hidden="true"/>"#
                    );
                }
                let _ = write!(out, r#"<path class="line s{k}" d="{path}" aria-hidden="true"/>"#);
                for (px, py, i) in points {
                    let v = value(s, i).unwrap_or_default();
                    link_open(out, chart, i, &tip(chart, s, i, v, format));
                    let _ = write!(
                        out,
                        r#"<circle class="s{k}" cx="{px:.1}" cy="{py:.1}" r="3.5"><title>{tip}</title></circle>"#,
                        tip = escape(&tip(chart, s, i, v, format)),
                    );
                    link_close(out, chart, i);
                }
            }
        }
        Kind::Donut | Kind::Funnel => {}
    }
    if series.len() > 1 {
        legend(out, chart, &series);
    }
}

/// A category's link (the records it counts), opened around its marks.
/// Named for what it counts: a link in a chart is read out as its label and value.
fn link_open(out: &mut String, chart: &Chart, i: usize, name: &str) {
    if let Some(Some(href)) = chart.links.get(i) {
        let _ = write!(out, r#"<a href="{}" aria-label="{}">"#, escape(href), escape(name));
    }
}

fn link_close(out: &mut String, chart: &Chart, i: usize) {
    if let Some(Some(_)) = chart.links.get(i) {
        out.push_str("</a>");
    }
}

/// "Category · series: value" (the series named only when there are several).
fn tip(chart: &Chart, s: &Series, i: usize, v: f64, format: &dyn Fn(f64) -> String) -> String {
    let label = chart.labels.get(i).map(String::as_str).unwrap_or("");
    if chart.series.len() > 1 {
        format!("{label} · {}: {}", s.name, format(v))
    } else {
        format!("{label}: {}", format(v))
    }
}

fn legend(out: &mut String, chart: &Chart, series: &[&Series]) {
    out.push_str(r#"<g class="legend" aria-hidden="true">"#);
    let mut offset = 0.0;
    for (k, s) in series.iter().enumerate() {
        let x = if chart.rtl { W - PAD_END - offset - 10.0 } else { AXIS + offset };
        let tx = if chart.rtl { x - 4.0 } else { x + 14.0 };
        let _ = write!(
            out,
            r#"<rect class="s{k}" x="{x:.1}" y="{ly:.1}" width="10" height="10"/><text x="{tx:.1}" y="{ty:.1}" text-anchor="start">{name}</text>"#,
            ly = H - 14.0,
            ty = H - 5.0,
            name = escape(&s.name),
        );
        offset += 24.0 + s.name.chars().count() as f64 * 7.0;
    }
    out.push_str("</g>");
}

fn donut(out: &mut String, chart: &Chart, format: &dyn Fn(f64) -> String) {
    let Some(s) = chart.series.first() else { return };
    let values: Vec<f64> =
        (0..chart.labels.len()).map(|i| s.values.get(i).copied().flatten().unwrap_or(0.0).max(0.0)).collect();
    let total: f64 = values.iter().sum();
    if total <= 0.0 {
        return;
    }
    let (cx, cy, r, inner) = (H / 2.0, H / 2.0, H / 2.0 - 12.0, H / 4.0);
    let cx = if chart.rtl { W - cx } else { cx };
    let mut angle = -std::f64::consts::FRAC_PI_2;
    for (i, v) in values.iter().enumerate() {
        if *v <= 0.0 {
            continue;
        }
        let sweep = v / total * std::f64::consts::TAU;
        // Clockwise left to right, counter-clockwise right to left: the first slice starts at
        // the top and runs the way the page reads.
        let turn = if chart.rtl { -sweep } else { sweep };
        let end = angle + turn;
        let at = |a: f64, radius: f64| (cx + radius * a.cos(), cy + radius * a.sin());
        let ((x1, y1), (x2, y2), (x3, y3), (x4, y4)) = (at(angle, r), at(end, r), at(end, inner), at(angle, inner));
        let large = u8::from(sweep > std::f64::consts::PI);
        let (outer_dir, inner_dir) = if chart.rtl { (0, 1) } else { (1, 0) };
        let said = format!("{}: {} ({}%)", chart.labels[i], format(*v), format((v / total * 1000.0).round() / 10.0));
        link_open(out, chart, i, &said);
        let slice = if sweep >= std::f64::consts::TAU - 1e-9 {
            // One slice is the whole ring.
            format!(
                "M{:.1},{:.1} A{r:.1},{r:.1} 0 1 1 {:.1},{:.1} A{r:.1},{r:.1} 0 1 1 {:.1},{:.1} Z M{:.1},{:.1} A{inner:.1},{inner:.1} 0 1 0 {:.1},{:.1} A{inner:.1},{inner:.1} 0 1 0 {:.1},{:.1} Z",
                cx,
                cy - r,
                cx,
                cy + r,
                cx,
                cy - r,
                cx,
                cy - inner,
                cx,
                cy + inner,
                cx,
                cy - inner
            )
        } else {
            format!(
                "M{x1:.1},{y1:.1} A{r:.1},{r:.1} 0 {large} {outer_dir} {x2:.1},{y2:.1} L{x3:.1},{y3:.1} A{inner:.1},{inner:.1} 0 {large} {inner_dir} {x4:.1},{y4:.1} Z"
            )
        };
        let _ = write!(
            out,
            r#"<path class="s{k}" d="{slice}" fill-rule="evenodd"><title>{tip}</title></path>"#,
            k = i % MAX_SERIES,
            tip = escape(&said),
        );
        link_close(out, chart, i);
        angle = end;
    }
    // The legend beside the ring, one line per slice.
    out.push_str(r#"<g class="legend" aria-hidden="true">"#);
    let shown = chart.labels.len().min(12);
    for (i, label) in chart.labels.iter().take(shown).enumerate() {
        let ly = 24.0 + i as f64 * 22.0;
        let (bx, tx, anchor) =
            if chart.rtl { (W - H - 10.0, W - H - 16.0, "start") } else { (H + 10.0, H + 26.0, "start") };
        let _ = write!(
            out,
            r#"<rect class="s{k}" x="{bx:.1}" y="{ry:.1}" width="10" height="10"/><text x="{tx:.1}" y="{ty:.1}" text-anchor="{anchor}">{text}</text>"#,
            k = i % MAX_SERIES,
            ry = ly - 9.0,
            ty = ly,
            text = escape(&format!("{label} · {}", format(values[i]))),
        );
    }
    out.push_str("</g>");
}

fn funnel(out: &mut String, chart: &Chart, format: &dyn Fn(f64) -> String) {
    let Some(s) = chart.series.first() else { return };
    let n = chart.labels.len();
    let values: Vec<f64> = (0..n).map(|i| s.values.get(i).copied().flatten().unwrap_or(0.0).max(0.0)).collect();
    let most = values.iter().copied().fold(0.0, f64::max);
    if most <= 0.0 {
        return;
    }
    let row = (H - 8.0) / n as f64;
    let (label_w, centre_w) = (180.0, W - 180.0 - PAD_END);
    for (i, v) in values.iter().enumerate() {
        let w = (centre_w * v / most).max(2.0);
        let centre = if chart.rtl { PAD_END + centre_w / 2.0 } else { label_w + centre_w / 2.0 };
        let y = 4.0 + row * i as f64;
        let (lx, anchor) = if chart.rtl { (W - 8.0, "start") } else { (8.0, "start") };
        // Each stage's share of the one before it.
        let share = if i > 0 && values[i - 1] > 0.0 {
            format!(" ({}%)", format((v / values[i - 1] * 1000.0).round() / 10.0))
        } else {
            String::new()
        };
        let said = format!("{}: {}{share}", chart.labels[i], format(*v));
        link_open(out, chart, i, &said);
        let _ = write!(
            out,
            r#"<rect class="s0" x="{x:.1}" y="{ry:.1}" width="{w:.1}" height="{h:.1}" rx="3"><title>{tip}</title></rect>"#,
            x = centre - w / 2.0,
            ry = y + 2.0,
            h = (row - 6.0).max(2.0),
            tip = escape(&said),
        );
        link_close(out, chart, i);
        let _ = write!(
            out,
            r#"<text x="{lx:.1}" y="{ty:.1}" text-anchor="{anchor}" dominant-baseline="middle" aria-hidden="true">{text}</text>"#,
            ty = y + row / 2.0,
            text = escape(&format!("{} · {}{share}", chart.labels[i], format(*v))),
        );
    }
}

/// A trend line without axes (a KPI's last periods, oldest first), `label` its accessible
/// name; time runs right to left on a right-to-left page.
pub fn sparkline(values: &[f64], label: &str, rtl: bool) -> String {
    const SW: f64 = 120.0;
    const SH: f64 = 32.0;
    const PAD: f64 = 2.0;
    let mut out = format!(
        r#"<svg class="sparkline" viewBox="0 0 {SW} {SH}" role="img" aria-label="{l}"><title>{l}</title>"#,
        l = escape(label)
    );
    let high = values.iter().copied().fold(0.0_f64, f64::max);
    let low = values.iter().copied().fold(0.0_f64, f64::min);
    if values.len() >= 2 && high > low {
        let step = (SW - 2.0 * PAD) / (values.len() - 1) as f64;
        let points: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let x = PAD + step * i as f64;
                let x = if rtl { SW - x } else { x };
                let y = SH - PAD - (v - low) / (high - low) * (SH - 2.0 * PAD);
                format!("{x:.1},{y:.1}")
            })
            .collect();
        let _ = write!(out, r#"<polyline points="{}" fill="none"/>"#, points.join(" "));
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(kind: Kind, rtl: bool) -> Chart {
        Chart {
            kind,
            title: "Revenue <by> month".into(),
            labels: vec!["Farvardin".into(), "Ordibehesht".into(), "Khordad".into()],
            series: vec![Series { name: "Won".into(), values: vec![Some(10.0), Some(30.0), None] }],
            links: vec![Some("/records/deal?a=1&b=2".into()), None, None],
            rtl,
        }
    }

    fn plain(v: f64) -> String {
        format!("{v}")
    }

    /// The numbers in `attr="…"` of every element named `tag`.
    fn attrs(svg: &str, tag: &str, attr: &str) -> Vec<f64> {
        svg.split(&format!("<{tag} "))
            .skip(1)
            .filter_map(|e| {
                let e = &e[..e.find('>').unwrap_or(e.len())];
                let start = e
                    .find(&format!(" {attr}=\""))
                    .map(|p| p + attr.len() + 3)
                    .or_else(|| e.strip_prefix(&format!("{attr}=\"")).map(|_| attr.len() + 2))?;
                e[start..].split('"').next()?.parse().ok()
            })
            .collect()
    }

    #[test]
    fn ticks_are_round_and_include_zero() {
        assert_eq!(ticks(0.0, 30.0), [0.0, 10.0, 20.0, 30.0]);
        assert_eq!(ticks(0.0, 870.0), [0.0, 200.0, 400.0, 600.0, 800.0, 1000.0]);
        assert_eq!(ticks(-5.0, 12.0), [-5.0, 0.0, 5.0, 10.0, 15.0]);
        assert_eq!(ticks(3.0, 4.0).first(), Some(&0.0), "a value axis starts at zero");
        assert_eq!(ticks(0.0, 0.0), [0.0, 1.0]);
    }

    #[test]
    fn bars_are_as_tall_as_their_values_and_escape_text() {
        let svg = svg(&chart(Kind::Bar, false), &plain, &plain);
        let heights = attrs(&svg, "rect", "height");
        assert_eq!(heights.len(), 2, "two values, two bars: {svg}");
        assert!((heights[1] / heights[0] - 3.0).abs() < 0.01, "30 is three times 10: {heights:?}");
        assert!(svg.contains(r#"aria-label="Revenue &lt;by&gt; month""#));
        assert!(svg.contains("<title>Farvardin: 10</title>"));
        assert!(
            svg.contains(r#"<a href="/records/deal?a=1&amp;b=2" aria-label="Farvardin: 10">"#),
            "the first bar opens its records, named for them"
        );
        assert!(svg.contains(r#"role="group""#), "a chart of links is a group of them");
        let mut still = chart(Kind::Bar, false);
        still.links = vec![None, None, None];
        assert!(super::svg(&still, &plain, &plain).contains(r#"role="img""#), "without links, a picture");
        assert_eq!(svg.matches("<a ").count(), 1);
    }

    #[test]
    fn right_to_left_runs_from_the_right() {
        let ltr = attrs(&svg(&chart(Kind::Bar, false), &plain, &plain), "rect", "x");
        let rtl = attrs(&svg(&chart(Kind::Bar, true), &plain, &plain), "rect", "x");
        assert!(ltr[0] < ltr[1], "left to right, the first category is on the left");
        assert!(rtl[0] > rtl[1], "right to left, the first category is on the right");
        let axis = svg(&chart(Kind::Bar, true), &plain, &plain);
        let tick_x = attrs(&axis, "text", "x");
        assert!(tick_x[0] > W / 2.0, "the value axis is on the right: {tick_x:?}");
    }

    #[test]
    fn stacked_bars_add_up_and_lines_pass_through_values() {
        let mut c = chart(Kind::StackedBar, false);
        c.series.push(Series { name: "Lost".into(), values: vec![Some(20.0), Some(0.0), Some(5.0)] });
        let svg = svg(&c, &plain, &plain);
        let heights = attrs(&svg, "rect", "height");
        // Farvardin: 10 + 20 stacked; Ordibehesht 30 (and a zero); Khordad 5; and two legend keys.
        assert!((heights[0] + heights[1] - heights[2]).abs() < 0.2, "10 + 20 as tall as 30: {heights:?}");
        assert!(svg.contains("Farvardin · Lost: 20"));
        let line = super::svg(&chart(Kind::Line, false), &plain, &plain);
        assert_eq!(attrs(&line, "circle", "r").len(), 2, "a point per value, none where there is none");
        let area = super::svg(&chart(Kind::Area, false), &plain, &plain);
        assert!(area.contains(r#"class="area s0""#));
    }

    #[test]
    fn a_donut_shares_the_circle_and_a_funnel_narrows() {
        let mut c = chart(Kind::Donut, false);
        c.series[0].values = vec![Some(1.0), Some(3.0), None];
        let svg = svg(&c, &plain, &plain);
        assert!(svg.contains("<title>Farvardin: 1 (25%)</title>"));
        assert!(svg.contains("<title>Ordibehesht: 3 (75%)</title>"));
        c.series[0].values = vec![Some(5.0), None, None];
        assert!(super::svg(&c, &plain, &plain).contains("A138.0,138.0 0 1 1"), "a single slice is a whole ring");
        let mut f = chart(Kind::Funnel, true);
        f.series[0].values = vec![Some(100.0), Some(40.0), Some(10.0)];
        let svg = super::svg(&f, &plain, &plain);
        let widths = attrs(&svg, "rect", "width");
        assert!(widths[0] > widths[1] && widths[1] > widths[2], "{widths:?}");
        assert!(svg.contains("Ordibehesht: 40 (40%)"), "each stage's share of the one before");
    }

    #[test]
    fn long_labels_are_cut_to_their_band_and_axes_use_their_own_format() {
        let mut c = chart(Kind::Bar, false);
        c.labels = (0..12).map(|i| format!("A category with a long name {i}")).collect();
        c.series[0].values = vec![Some(2_500_000.0); 12];
        c.links = vec![None; 12];
        let svg = svg(&c, &plain, &|v| format!("{} M", v / 1e6));
        assert_eq!(svg.matches('…').count(), 12, "every label shown, each cut");
        assert!(svg.contains(">2.5 M</text>"), "the axis in millions");
        assert!(svg.contains("<title>A category with a long name 0: 2500000</title>"), "the whole label in the title");
    }

    #[test]
    fn nothing_to_draw_is_an_empty_chart() {
        let mut c = chart(Kind::Bar, false);
        c.series[0].values = vec![None, Some(0.0), None];
        let svg = svg(&c, &plain, &plain);
        assert!(!svg.contains("<rect"));
        assert!(svg.ends_with("</svg>"));
    }

    #[test]
    fn a_sparkline_runs_with_the_text() {
        // Heights from zero: 1 of 3 is a third of the way up.
        let ltr = super::sparkline(&[1.0, 3.0, 2.0], "Revenue", false);
        let rtl = super::sparkline(&[1.0, 3.0, 2.0], "Revenue", true);
        assert!(ltr.contains(r#"points="2.0,20.7 60.0,2.0 118.0,11.3""#), "{ltr}");
        assert!(rtl.contains(r#"points="118.0,20.7 60.0,2.0 2.0,11.3""#), "the oldest on the right: {rtl}");
        assert!(!super::sparkline(&[5.0], "One", false).contains("polyline"), "one period is no line");
    }
}
