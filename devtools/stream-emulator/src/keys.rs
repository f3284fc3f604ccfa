//! Signing keys (`/stream/keys`, doc §6.2): create (the private key is returned once, base64 PEM
//! and JWK), list, revoke. The keys verify the signed playback tokens of [`crate::delivery`].

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::app::{MAX_SIGNING_KEYS, SharedApp};
use crate::envelope::{ApiError, Reply, codes};
use crate::model::{Timestamp, random_hex32};
use crate::signing::{StoredKey, generate_key_async};

fn too_many_keys() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        codes::TOO_MANY_KEYS,
        format!("You can have at most {MAX_SIGNING_KEYS} signing keys; revoke one first"),
    )
}

/// `POST /stream/keys` -> `{id, pem, jwk, created}`; `pem` and `jwk` are base64.
pub async fn create(app: &SharedApp) -> Result<Reply, ApiError> {
    // Checked before spending the CPU on a key, and again when storing it.
    if app.signing_keys().is_full() {
        return Err(too_many_keys());
    }
    let id = random_hex32();
    let key = generate_key_async(id.clone()).await.map_err(|error| {
        crate::elog!("cannot generate a signing key: {error}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, codes::INJECTED, "Could not generate a signing key")
    })?;
    let created = Timestamp::now();
    let stored = StoredKey { id: id.clone(), created: created.0, public: key.public.clone() };
    app.signing_keys().insert(stored).map_err(|_| too_many_keys())?;
    Ok(Reply::success(json!({
        "id": id,
        "pem": key.pem_base64(),
        "jwk": key.jwk_base64(),
        "created": created.to_string(),
    })))
}

/// `GET /stream/keys` -> `[{id, created}]`, oldest first, without the private keys.
pub fn list(app: &SharedApp) -> Result<Reply, ApiError> {
    let keys: Vec<Value> = app
        .signing_keys()
        .list()
        .iter()
        .map(|key| json!({ "id": key.id, "created": Timestamp(key.created).to_string() }))
        .collect();
    Ok(Reply::success(Value::Array(keys)))
}

/// `DELETE /stream/keys/{id}` -> `"Revoked"`; every token signed with the key stops working.
pub fn revoke(app: &SharedApp, id: &str) -> Result<Reply, ApiError> {
    if app.signing_keys().revoke(id) { Ok(Reply::success(json!("Revoked"))) } else { Err(ApiError::not_found()) }
}
