//! The native client against a bare HTTP/1.1 server on loopback.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;

use community_fetch::{Client, Request};

/// Serves `answers` (status, body) in order, one connection each; the URL.
fn serve(answers: Vec<(u16, &'static str)>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("address"));
    std::thread::spawn(move || {
        for (status, body) in answers {
            let (stream, _) = listener.accept().expect("accept");
            let mut reader = BufReader::new(stream);
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).expect("request line");
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().expect("length");
                }
                if line == "\r\n" {
                    break;
                }
            }
            reader
                .by_ref()
                .take(length)
                .read_to_end(&mut Vec::new())
                .expect("body");
            write!(
                reader.get_mut(),
                "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .expect("answer");
        }
    });
    url
}

#[tokio::test]
async fn a_discarded_success_body_is_empty_and_an_error_body_is_whole() {
    let url = serve(vec![
        (200, r#"{"id":"1"}"#),
        (200, r#"{"id":"2"}"#),
        (404, r#"{"code":10003}"#),
    ]);
    let client = Client::new();
    let kept = Request::new("PATCH", &url).body(b"{}".to_vec());
    let discarded = kept.clone().discard_success_body();

    let answer = client.send(&kept).await.expect("first");
    assert_eq!(
        (answer.status, answer.body.as_slice()),
        (200, &br#"{"id":"1"}"#[..])
    );
    let answer = client.send(&discarded).await.expect("second");
    assert_eq!((answer.status, answer.body.len()), (200, 0));
    let answer = client.send(&discarded).await.expect("third");
    assert_eq!(
        (answer.status, answer.body.as_slice()),
        (404, &br#"{"code":10003}"#[..])
    );
}
