//! CSV exports (RFC 4180), safe to open in a spreadsheet: a cell that a
//! spreadsheet would read as a formula (a display name like `=HYPERLINK(..)`)
//! is prefixed with a quote.

/// Builds a CSV document row by row.
#[derive(Debug, Default)]
pub(crate) struct Csv {
    out: String,
}

impl Csv {
    pub(crate) fn new(header: &[&str]) -> Self {
        let mut csv = Self::default();
        csv.row(header.iter().copied());
        csv
    }

    pub(crate) fn row<'a>(&mut self, cells: impl IntoIterator<Item = &'a str>) {
        for (i, cell) in cells.into_iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.out.push_str(&cell_text(cell));
        }
        self.out.push_str("\r\n");
    }

    pub(crate) fn finish(self) -> String {
        self.out
    }
}

fn cell_text(cell: &str) -> String {
    let guarded;
    let cell = if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) && cell.parse::<f64>().is_err()
    {
        guarded = format!("'{cell}");
        guarded.as_str()
    } else {
        cell
    };
    if cell.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_what_needs_quoting() {
        let mut csv = Csv::new(&["name", "score"]);
        csv.row(["Ann, the \"first\"", "21.5"]);
        csv.row(["line\nbreak", "-3"]);
        assert_eq!(
            csv.finish(),
            "name,score\r\n\"Ann, the \"\"first\"\"\",21.5\r\n\"line\nbreak\",-3\r\n"
        );
    }

    #[test]
    fn formulas_are_defused_but_negative_numbers_are_not() {
        assert_eq!(cell_text("=1+1"), "'=1+1");
        assert_eq!(cell_text("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell_text("-12.5"), "-12.5");
        assert_eq!(
            cell_text("<script>alert(1)</script>"),
            "<script>alert(1)</script>"
        );
    }
}
