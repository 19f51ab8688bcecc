//! A minimal blocking HTTP/1.1 client over `std::net`, enough for readiness
//! probes and smoke checks against local servers. Tests of real behaviour
//! should use the same client the code under test uses.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use url::Url;

const TIMEOUT: Duration = Duration::from_secs(10);

/// A response read to the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Header names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `GET url` with extra headers.
pub fn get(url: &str, headers: &[(&str, &str)]) -> Result<Response> {
    request("GET", url, headers, None)
}

/// `POST url` with a JSON body.
pub fn post_json(url: &str, headers: &[(&str, &str)], body: &str) -> Result<Response> {
    let mut all = vec![("Content-Type", "application/json")];
    all.extend_from_slice(headers);
    request("POST", url, &all, Some(body.as_bytes()))
}

/// Sends one request on a fresh connection (`Connection: close`) to an
/// `http://` URL and reads the whole response.
pub fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<Response> {
    let parsed = Url::parse(url).with_context(|| format!("invalid URL {url}"))?;
    if parsed.scheme() != "http" {
        bail!("only http:// URLs are supported, got {url}");
    }
    let host = parsed.host_str().context("URL has no host")?;
    let port = parsed.port_or_known_default().unwrap_or(80);
    let target = match parsed.query() {
        Some(query) => format!("{}?{query}", parsed.path()),
        None => parsed.path().to_owned(),
    };

    let mut head =
        format!("{method} {target} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");

    let mut stream = TcpStream::connect((host, port))?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    stream.write_all(head.as_bytes())?;
    if let Some(body) = body {
        stream.write_all(body)?;
    }
    // Read until the response is complete, not until the server closes:
    // wrangler dev keeps the connection open for seconds despite
    // `Connection: close`.
    let mut raw = Vec::new();
    let mut chunk = [0_u8; 16 * 1024];
    loop {
        let read = stream
            .read(&mut chunk)
            .with_context(|| format!("reading the response to {method} {url}"))?;
        if read == 0 {
            break;
        }
        raw.extend_from_slice(&chunk[..read]);
        if is_complete(&raw, method) {
            break;
        }
    }
    parse_response(&raw).with_context(|| format!("bad response to {method} {url}"))
}

/// Whether `raw` holds a whole response: headers, then the body its
/// Content-Length or chunked encoding promises.
fn is_complete(raw: &[u8], method: &str) -> bool {
    let Some(split) = raw.windows(4).position(|window| window == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let body = &raw[split + 4..];
    let status_has_no_body = head
        .split_whitespace()
        .nth(1)
        .is_some_and(|code| code == "204" || code == "304" || code.starts_with('1'));
    if method == "HEAD" || status_has_no_body {
        return true;
    }
    let header = |name: &str| {
        head.lines()
            .filter_map(|line| line.split_once(':'))
            .find(|(key, _)| key.trim() == name)
            .map(|(_, value)| value.trim().to_owned())
    };
    if header("transfer-encoding").is_some_and(|e| e.contains("chunked")) {
        return body.ends_with(b"0\r\n\r\n");
    }
    match header("content-length").and_then(|len| len.parse::<usize>().ok()) {
        Some(length) => body.len() >= length,
        None => false,
    }
}

/// `last answer: 503 {"problems":[...]}` for readiness errors.
pub(crate) fn describe_last(response: Option<&Response>) -> String {
    match response {
        None => "no HTTP answer".to_owned(),
        Some(response) => {
            let body: String = response.text().chars().take(400).collect();
            format!("last answer: {} {body}", response.status)
        }
    }
}

fn parse_response(raw: &[u8]) -> Result<Response> {
    let split = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .context("no end of headers")?;
    let head = std::str::from_utf8(&raw[..split]).context("headers are not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| anyhow!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let mut response = Response {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    };
    if response
        .header("transfer-encoding")
        .is_some_and(|encoding| encoding.eq_ignore_ascii_case("chunked"))
    {
        response.body = decode_chunked(&response.body)?;
    } else if let Some(length) = response
        .header("content-length")
        .and_then(|len| len.parse().ok())
    {
        response.body.truncate(length);
    }
    Ok(response)
}

fn decode_chunked(mut raw: &[u8]) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = raw
            .windows(2)
            .position(|window| window == b"\r\n")
            .context("truncated chunk size")?;
        let size_line = std::str::from_utf8(&raw[..line_end])?;
        let size_hex = size_line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .with_context(|| format!("bad chunk size {size_hex:?}"))?;
        raw = &raw[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        let chunk = raw.get(..size).context("truncated chunk")?;
        body.extend_from_slice(chunk);
        raw = raw.get(size + 2..).context("truncated chunk end")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_content_length_response() {
        let raw =
            b"HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";
        let response = parse_response(raw).expect("parses");
        assert_eq!(response.status, 201);
        assert_eq!(response.header("Content-Type"), Some("text/plain"));
        assert_eq!(response.text(), "ok");
    }

    #[test]
    fn decodes_a_chunked_response() {
        let raw = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\n\r\n";
        let response = parse_response(raw).expect("parses");
        assert_eq!(response.text(), "Wikipedia");
    }

    #[test]
    fn rejects_a_truncated_chunk() {
        let raw = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n9\r\nWiki";
        assert!(parse_response(raw).is_err());
    }

    #[test]
    fn round_trips_against_a_local_server() {
        use std::io::{BufRead as _, Read as _, Write as _};
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accept");
            let mut reader = std::io::BufReader::new(stream);
            let mut request_line = String::new();
            reader.read_line(&mut request_line).expect("request line");
            let mut line = String::new();
            let mut length = 0;
            loop {
                line.clear();
                reader.read_line(&mut line).expect("header");
                if line == "\r\n" {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().expect("length");
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).expect("body");
            let reply = format!("{} {}", request_line.trim(), String::from_utf8_lossy(&body));
            let mut stream = reader.into_inner();
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{reply}",
                reply.len()
            )
            .expect("reply");
        });
        let response =
            post_json(&format!("http://127.0.0.1:{port}/rpc/x?a=1"), &[], "{}").expect("request");
        server.join().expect("server thread");
        assert_eq!(response.status, 200);
        assert_eq!(response.text(), "POST /rpc/x?a=1 HTTP/1.1 {}");
    }
}
