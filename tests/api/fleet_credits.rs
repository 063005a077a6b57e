//! The credit guard counting fleet-wide through Redis (issue 14).

use crate::fleet_favorites::fleet;
use pixgate::fake_imgur::Endpoint;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credits_spent_through_one_replica_keep_another_out_of_the_reserve() {
    let mut fleet = fleet().await;
    let http = reqwest::Client::new();
    let image = fleet.fake.favorite_ids()[0].clone();
    let (a, b) = (
        fleet.replicas[0].address.clone(),
        fleet.replicas[1].address.clone(),
    );
    // 2000 an hour with the default 5% reserve: 100 credits kept back.
    let read = |address: &str| format!("{address}/v1/images/{image}");
    // Warm: both have seen a full budget (alone, B would still believe it).
    assert_eq!(http.get(read(&a)).send().await.expect("sent").status(), 200);
    assert_eq!(http.get(read(&b)).send().await.expect("sent").status(), 200);
    fleet.fake.set_rate_remaining(101, 12_000, 1_000);
    assert_eq!(
        http.get(read(&a)).send().await.expect("sent").status(),
        200,
        "101 - 1 leaves the 100"
    );
    // Imgur now says 100 remain; once A has settled that into Redis (in
    // the background, milliseconds), every replica keeps out of them.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let limits: Value = http
            .get(format!("{b}/v1/rate-limits"))
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("JSON");
        if limits["imgur"]["limits"]["user"]["remaining"] == 100 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "B never saw A's answer: {limits}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await; // polling the shared budget
    }
    let before = fleet.fake.calls(Endpoint::GetImage);
    let refused = http.get(read(&b)).send().await.expect("sent");
    assert_eq!(refused.status(), 429);
    let problem: Value = refused.json().await.expect("problem JSON");
    assert_eq!(problem["type"], "urn:pixgate:problem:credit-reserve");
    assert_eq!(
        fleet.fake.calls(Endpoint::GetImage),
        before,
        "B did not call Imgur"
    );

    // Redis down: the guard counts locally; calls are never refused for it.
    fleet.fake.set_rate_remaining(1_900, 12_000, 1_000);
    fleet.redis.kill();
    let c = &fleet.replicas[2].address;
    assert_eq!(http.get(read(c)).send().await.expect("sent").status(), 200);
}
