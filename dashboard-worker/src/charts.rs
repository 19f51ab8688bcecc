//! Inline SVG charts rendered on the server: no script, no external file,
//! readable by screen readers (`role="img"` with a title and description)
//! and themed by the stylesheet through class names, so light and dark
//! themes need nothing here. Every piece of text is escaped here, since the
//! templates insert the SVG as is.

use std::fmt::Write as _;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 52.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// One line of a line chart.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Series<'a> {
    pub(crate) name: &'a str,
    /// CSS class giving its colour and dash (`series-a`, `series-b`, ...).
    pub(crate) class: &'a str,
    pub(crate) values: &'a [f64],
}

/// Text safe inside SVG/HTML elements and attributes.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The axis for values up to `max`: a round step (1, 2, 2.5 or 5 × 10^k)
/// giving about four gridlines, and the top, a multiple of it.
pub(crate) fn axis(max: f64) -> (f64, f64) {
    if !max.is_finite() || max <= 0.0 {
        return (1.0, 0.25);
    }
    let rough = max / 4.0;
    let magnitude = 10_f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|step| *step >= rough - 1e-12)
        .unwrap_or(10.0 * magnitude);
    let top = (max / step - 1e-9).ceil().max(1.0) * step;
    (top, step)
}

/// A number for an axis: thousands as k, whole where whole.
pub(crate) fn short_number(value: f64) -> String {
    let abs = value.abs();
    if abs >= 1_000_000.0 {
        format!("{:.1}M", value / 1_000_000.0).replace(".0M", "M")
    } else if abs >= 10_000.0 {
        format!("{:.0}k", value / 1000.0)
    } else if abs >= 1000.0 {
        format!("{:.1}k", value / 1000.0).replace(".0k", "k")
    } else if (value - value.round()).abs() < 1e-9 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

fn open(id: &str, class: &str, title: &str, description: &str) -> String {
    let (id, title, description) = (escape(id), escape(title), escape(description));
    format!(
        r#"<svg class="chart {class}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{id}-t {id}-d" focusable="false"><title id="{id}-t">{title}</title><desc id="{id}-d">{description}</desc>"#
    )
}

/// Horizontal grid lines with their values, and a few x labels.
fn frame(svg: &mut String, (top, step): (f64, f64), labels: &[String]) {
    let plot_h = HEIGHT - TOP - BOTTOM;
    svg.push_str(r#"<g class="grid">"#);
    let lines = (top / step).round() as u32;
    for i in 0..=lines {
        let value = step * f64::from(i);
        let y = TOP + plot_h - plot_h * value / top;
        let _ = write!(
            svg,
            r#"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            short_number(value)
        );
    }
    svg.push_str("</g>");
    let n = labels.len();
    if n == 0 {
        return;
    }
    svg.push_str(r#"<g class="axis">"#);
    let picks: Vec<usize> = if n <= 3 {
        (0..n).collect()
    } else {
        vec![0, n / 2, n - 1]
    };
    for i in picks {
        let x = x_at(i, n);
        let anchor = if i == 0 {
            "start"
        } else if i == n - 1 {
            "end"
        } else {
            "middle"
        };
        let _ = write!(
            svg,
            r#"<text x="{x:.1}" y="{}" text-anchor="{anchor}">{}</text>"#,
            HEIGHT - 8.0,
            escape(&labels[i])
        );
    }
    svg.push_str("</g>");
}

fn x_at(i: usize, n: usize) -> f64 {
    let plot_w = WIDTH - LEFT - RIGHT;
    if n <= 1 {
        return LEFT + plot_w / 2.0;
    }
    LEFT + plot_w * (i as f64) / ((n - 1) as f64)
}

fn y_at(value: f64, top: f64) -> f64 {
    let plot_h = HEIGHT - TOP - BOTTOM;
    TOP + plot_h - plot_h * (value.max(0.0) / top).min(1.0)
}

/// Lines over days: `labels[i]` names point `i` of every series.
pub(crate) fn line_chart(
    id: &str,
    title: &str,
    description: &str,
    labels: &[String],
    series: &[Series<'_>],
) -> String {
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .fold(0.0_f64, f64::max);
    let scale = axis(max);
    let top = scale.0;
    let mut svg = open(id, "line-chart", title, description);
    frame(&mut svg, scale, labels);
    for s in series {
        let n = s.values.len();
        let points: Vec<String> = s
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x_at(i, n), y_at(*v, top)))
            .collect();
        let _ = write!(
            svg,
            r#"<polyline class="series {}" points="{}"><title>{}</title></polyline>"#,
            escape(s.class),
            points.join(" "),
            escape(s.name)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// One bar per day.
pub(crate) fn bar_chart(
    id: &str,
    title: &str,
    description: &str,
    labels: &[String],
    values: &[f64],
    class: &str,
) -> String {
    let max = values.iter().copied().fold(0.0_f64, f64::max);
    let scale = axis(max);
    let top = scale.0;
    let mut svg = open(id, "bar-chart", title, description);
    frame(&mut svg, scale, &[]);
    let n = values.len().max(1);
    let plot_w = WIDTH - LEFT - RIGHT;
    let slot = plot_w / n as f64;
    let gap = (slot * 0.2).min(4.0);
    let _ = write!(svg, r#"<g class="bars {}">"#, escape(class));
    for (i, value) in values.iter().enumerate() {
        let y = y_at(*value, top);
        let x = LEFT + slot * i as f64 + gap / 2.0;
        let label = labels.get(i).map(String::as_str).unwrap_or_default();
        let _ = write!(
            svg,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{:.1}"><title>{}: {}</title></rect>"#,
            (slot - gap).max(0.5),
            (TOP + (HEIGHT - TOP - BOTTOM) - y).max(0.0),
            escape(label),
            short_number(*value)
        );
    }
    svg.push_str("</g>");
    // x labels: first, middle, last, under the bars
    if !labels.is_empty() {
        svg.push_str(r#"<g class="axis">"#);
        let last = labels.len() - 1;
        for (i, anchor) in [(0, "start"), (last / 2, "middle"), (last, "end")] {
            let x = match anchor {
                "start" => LEFT,
                "end" => WIDTH - RIGHT,
                _ => LEFT + slot * (i as f64 + 0.5),
            };
            let _ = write!(
                svg,
                r#"<text x="{x:.1}" y="{}" text-anchor="{anchor}">{}</text>"#,
                HEIGHT - 8.0,
                escape(&labels[i])
            );
            if last == 0 {
                break;
            }
        }
        svg.push_str("</g>");
    }
    svg.push_str("</svg>");
    svg
}

/// A small trend line for a table cell; its title reads the values.
pub(crate) fn sparkline(label: &str, values: &[f64]) -> String {
    const W: f64 = 112.0;
    const H: f64 = 28.0;
    let max = values.iter().copied().fold(0.0_f64, f64::max).max(1e-9);
    let n = values.len();
    let point = |i: usize, v: f64| {
        let x = if n <= 1 {
            W / 2.0
        } else {
            2.0 + (W - 4.0) * i as f64 / (n - 1) as f64
        };
        let y = 2.0 + (H - 4.0) * (1.0 - v.max(0.0) / max);
        (x, y)
    };
    let points: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let (x, y) = point(i, *v);
            format!("{x:.1},{y:.1}")
        })
        .collect();
    let readable: Vec<String> = values.iter().map(|v| short_number(*v)).collect();
    let mut svg = format!(
        r#"<svg class="sparkline" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" focusable="false"><title>{}: {}</title><polyline points="{}"/>"#,
        escape(label),
        readable.join(", "),
        points.join(" ")
    );
    if let Some(last) = values.last() {
        let (x, y) = point(n - 1, *last);
        let _ = write!(svg, r#"<circle cx="{x:.1}" cy="{y:.1}" r="2"/>"#);
    }
    svg.push_str("</svg>");
    svg
}

/// A horizontal meter (0..=1 of the width), e.g. spend against budget.
pub(crate) fn meter(label: &str, fraction: f64, class: &str) -> String {
    let width = (fraction.clamp(0.0, 1.0) * 100.0).max(0.5);
    format!(
        r#"<svg class="meter {}" viewBox="0 0 100 8" preserveAspectRatio="none" role="img" focusable="false"><title>{}</title><rect class="track" width="100" height="8"/><rect class="fill" width="{width:.1}" height="8"/></svg>"#,
        escape(class),
        escape(label)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_step_in_round_numbers() {
        for (max, top, step) in [
            (0.0, 1.0, 0.25),
            (2.0, 2.0, 0.5),
            (4.5, 6.0, 2.0),
            (10.0, 10.0, 2.5),
            (78.0, 80.0, 20.0),
            (120.0, 150.0, 50.0),
            (5000.0, 6000.0, 2000.0),
            (f64::NAN, 1.0, 0.25),
        ] {
            assert_eq!(axis(max), (top, step), "{max}");
        }
    }

    #[test]
    fn axis_numbers_are_short() {
        assert_eq!(short_number(12.0), "12");
        assert_eq!(short_number(2.5), "2.5");
        assert_eq!(short_number(1500.0), "1.5k");
        assert_eq!(short_number(2000.0), "2k");
        assert_eq!(short_number(45_000.0), "45k");
        assert_eq!(short_number(2_000_000.0), "2M");
    }

    #[test]
    fn text_in_charts_is_escaped() {
        let svg = line_chart(
            "c1",
            "Score of <script>",
            "a & b",
            &["<d1>".to_owned(), "d2".to_owned()],
            &[Series {
                name: "\"x\"",
                class: "series-a",
                values: &[1.0, 2.0],
            }],
        );
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("Score of &lt;script&gt;"));
        assert!(svg.contains("a &amp; b"));
        assert!(svg.contains("&lt;d1&gt;"));
        assert!(svg.contains("&quot;x&quot;"));
        let spark = sparkline("<img src=x>", &[1.0]);
        assert!(!spark.contains("<img"), "{spark}");
    }

    #[test]
    fn a_line_spans_the_plot_and_scales_to_its_maximum() {
        let svg = line_chart(
            "c",
            "t",
            "d",
            &["a".to_owned(), "b".to_owned(), "c".to_owned()],
            &[Series {
                name: "s",
                class: "series-a",
                values: &[0.0, 5.0, 10.0],
            }],
        );
        // x from LEFT to WIDTH-RIGHT; 10 is the top of the axis (y = TOP), 0 the bottom.
        assert!(
            svg.contains(r#"points="52.0,192.0 340.0,102.0 628.0,12.0""#),
            "{svg}"
        );
        assert!(svg.contains(r#"role="img""#));
    }

    #[test]
    fn bars_have_one_rect_per_value_with_a_readable_title() {
        let svg = bar_chart(
            "b",
            "Messages",
            "per day",
            &["11-01".to_owned(), "11-02".to_owned()],
            &[3.0, 0.0],
            "bars-a",
        );
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(svg.contains("<title>11-01: 3</title>"));
    }

    #[test]
    fn sparklines_and_meters_survive_empty_and_flat_data() {
        assert!(sparkline("x", &[]).ends_with("</svg>"));
        assert!(sparkline("x", &[0.0, 0.0]).contains("polyline"));
        assert!(meter("half", 0.5, "ok").contains(r#"width="50.0""#));
        assert!(meter("over", 3.0, "over").contains(r#"width="100.0""#));
    }
}
