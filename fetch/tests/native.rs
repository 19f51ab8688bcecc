//! The native client against a stand-in's scripted answers.

use community_fetch::{Client, Request};
use serde_json::json;
use stand_ins::{Fault, StandIns};

#[tokio::test]
async fn a_discarded_success_body_is_empty_and_an_error_body_is_whole() {
    let api = StandIns::start().expect("stand-ins");
    api.fail_gemini(Fault::respond(200, json!({ "id": "1" })).times(2));
    api.fail_gemini(Fault::respond(404, json!({ "code": 10003 })));
    let client = Client::new();
    let kept = Request::new("PATCH", api.gemini_url()).body(b"{}".to_vec());
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
    assert_eq!(api.gemini_requests().len(), 3);
}
