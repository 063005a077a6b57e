//! The upload ledger in Redis, shared by replicas (issue 14).

use crate::fleet_favorites::fleet;
use crate::helpers::png;
use crate::redis_server::RedisServer;
use pixgate::fleet::{Fleet, RedisLedger};
use pixgate::metrics::Metrics;
use pixgate::secret::Secret;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[test]
fn the_redis_ledger_keeps_the_ledger_store_contract() {
    let redis = RedisServer::start();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let fleet = {
        let _entered = runtime.enter();
        Fleet::connect(&Secret::new(redis.url()), Arc::new(Metrics::new())).expect("a URL")
    };
    pixgate::ledger::check_store_contract(&mut RedisLedger::new(fleet));
}

async fn upload(http: &reqwest::Client, address: &str, title: &str) -> reqwest::Response {
    let form = reqwest::multipart::Form::new()
        .part(
            "image",
            reqwest::multipart::Part::bytes(png(2048)).file_name("a.png"),
        )
        .text("title", title.to_owned());
    http.post(format!("{address}/v1/images"))
        .multipart(form)
        .send()
        .await
        .expect("answered")
}

async fn listed(http: &reqwest::Client, address: &str) -> Vec<String> {
    let entries: Vec<Value> = http
        .get(format!("{address}/v1/uploads"))
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("JSON");
    entries
        .iter()
        .filter_map(|e| e["id"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_through_one_replica_is_in_every_replicas_ledger() {
    let fleet = fleet().await;
    let http = reqwest::Client::new();
    let (a, b) = (&fleet.replicas[0].address, &fleet.replicas[1].address);
    let response = upload(&http, a, "through A").await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["x-pixgate-ledger"], "recorded");
    let image: Value = response.json().await.expect("JSON");
    let id = image["id"].as_str().expect("id").to_owned();
    assert_eq!(listed(&http, b).await, vec![id.clone()]);
    // B deletes it by its deletehash, which only the shared ledger knows.
    let deletehash = fleet.fake.image(&id).expect("upstream").deletehash;
    let deleted = http
        .delete(format!("{b}/v1/images/{deletehash}"))
        .send()
        .await
        .expect("answered");
    assert_eq!(deleted.status(), 204);
    assert!(fleet.fake.image(&id).is_none(), "gone upstream");
    let stored: String = fleet
        .redis
        .query(redis::cmd("GET").arg(format!("{{pixgate}}:ledger:entry:imgur:image:{id}")));
    let stored: Value = serde_json::from_str(&stored).expect("JSON");
    assert!(
        stored["deleted_at"].is_i64(),
        "the deletion is recorded: {stored}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_while_redis_is_down_is_answered_and_recorded_once_it_is_back() {
    let mut fleet = fleet().await;
    let http = reqwest::Client::new();
    let a = fleet.replicas[0].address.clone();
    // Warm: the replica holds an access token.
    assert_eq!(upload(&http, &a, "before").await.status(), 201);
    fleet.redis.kill();
    let response = upload(&http, &a, "while down").await;
    assert_eq!(response.status(), 201, "Imgur accepted it");
    assert_eq!(response.headers()["x-pixgate-ledger"], "unrecorded");
    let image: Value = response.json().await.expect("JSON");
    let id = image["id"].as_str().expect("id").to_owned();
    assert!(fleet.fake.image(&id).is_some());

    fleet.redis.restart();
    let key = format!("{{pixgate}}:ledger:entry:imgur:image:{id}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stored: Option<String> = fleet.redis.query(redis::cmd("GET").arg(&key));
        if let Some(stored) = stored {
            let stored: Value = serde_json::from_str(&stored).expect("whole JSON");
            assert_eq!(stored["id"], id.as_str());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the queued record never reached Redis"
        );
        tokio::time::sleep(Duration::from_millis(200)).await; // polling the ledger's retry
    }
    let b = &fleet.replicas[1].address;
    assert!(
        listed(&http, b).await.contains(&id),
        "and every replica lists it"
    );
}
