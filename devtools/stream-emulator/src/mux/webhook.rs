//! Signed webhook events to `--webhook-url` (doc §9.5, MUX-webhooks): `video.asset.created`,
//! `.ready`, `.errored` and `.deleted`, in Mux's envelope, with
//! `mux-signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "{t}.{raw body}")>`.
//!
//! Each asset's events go out in order from their own queue (a "lane"): `created` before
//! `ready`, even when the receiver is slow or fails and a retry is pending; different assets do
//! not wait for each other. Retries follow the Cloudflare emulator's loop
//! ([`crate::webhook::deliver`]); each retry is re-signed and lists the failed attempts so far
//! in `attempts`.

use chrono::Utc;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::mux::app::SharedMux;
use crate::mux::model::{Asset, rfc3339, uuid};
use crate::webhook::{Attempt, DELIVERY_ATTEMPTS, deliver, signature};

/// The `mux-signature` header value: `t=<unix seconds>,v1=<hex>`.
pub fn signature_header(secret: &str, time: i64, body: &[u8]) -> String {
    format!("t={time},v1={}", signature(secret, time, body))
}

/// One event waiting for delivery.
#[derive(Debug)]
pub struct Event {
    pub kind: &'static str,
    pub id: String,
    pub created_at: String,
    pub asset: Asset,
}

/// Queues `video.asset.{kind}` for `asset` (a snapshot, taken now), if a webhook is configured.
pub fn announce(app: &SharedMux, kind: &'static str, asset: &Asset) {
    if app.webhook.is_none() {
        return;
    }
    let event = Event { kind, id: uuid(), created_at: rfc3339(Utc::now()), asset: asset.clone() };
    let mut lanes = app.lanes();
    let lane = lanes.entry(asset.id.clone()).or_insert_with(|| open_lane(app.clone()));
    if let Err(mpsc::error::SendError(event)) = lane.send(event) {
        // The worker is gone (cannot happen while the sender is in the map); start afresh.
        let lane = open_lane(app.clone());
        let _ = lane.send(event);
        lanes.insert(asset.id.clone(), lane);
    }
}

/// After the asset's last event (`deleted`): the lane's worker ends once it has delivered it.
pub fn close_lane(app: &SharedMux, asset_id: &str) {
    app.lanes().remove(asset_id);
}

fn open_lane(app: SharedMux) -> mpsc::UnboundedSender<Event> {
    let (sender, mut receiver) = mpsc::unbounded_channel::<Event>();
    tokio::spawn(async move {
        while let Some(event) = receiver.recv().await {
            send(&app, &event).await;
        }
    });
    sender
}

async fn send(app: &SharedMux, event: &Event) {
    let Some(hook) = &app.webhook else {
        return;
    };
    let attempt_ids: Vec<String> = (0..DELIVERY_ATTEMPTS).map(|_| uuid()).collect();
    let what = format!("asset {} ({})", event.asset.id, event.kind);
    deliver(&app.http, &hook.url, &what, DELIVERY_ATTEMPTS, |time, attempts| {
        let body = serde_json::to_vec(&envelope(app, event, attempts, &attempt_ids, &hook.url))
            .expect("an event always serializes");
        let header = signature_header(&hook.secret, time, &body);
        (body, vec![("mux-signature", header)])
    })
    .await;
}

/// The event as Mux sends it (MUX-webhooks `BaseWebhookEvent`). `attempts` lists the failed
/// attempts before this one (empty on the first).
pub fn envelope(app: &SharedMux, event: &Event, attempts: &[Attempt], ids: &[String], address: &str) -> Value {
    let attempts: Vec<Value> = attempts
        .iter()
        .zip(ids)
        .map(|(attempt, id)| {
            json!({
                "id": id,
                "address": address,
                "created_at": rfc3339(attempt.at),
                "max_attempts": DELIVERY_ATTEMPTS,
                "response_status_code": attempt.status,
                "response_body": attempt.response_body,
                "response_headers": {},
                "webhook_id": 1,
            })
        })
        .collect();
    json!({
        "type": format!("video.asset.{}", event.kind),
        "id": event.id,
        "created_at": event.created_at,
        "object": { "type": "asset", "id": event.asset.id },
        "environment": app.environment,
        "data": event.asset.to_json(),
        "attempts": attempts,
        "accessor_source": null,
        "accessor": null,
        "request_id": null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The verified vector of doc §9.5 (HEX-mux-testutils).
    #[test]
    fn signature_matches_doc_test_vector() {
        assert_eq!(
            signature_header("SuperSecret123", 1591664030, b"payload"),
            "t=1591664030,v1=e43496b6aae982c4c2fd6f8e92935f1d90216f1f64d56024e72390acfb988272"
        );
    }
}
