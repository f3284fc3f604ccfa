//! URL signing keys (`/system/v1/signing-keys`): create (the private key is returned once, as
//! base64 PEM), list and get (without it), delete. The keys verify the `?token=` of signed
//! playback ids in [`crate::mux::delivery`].

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::envelope::{Body, Reply};
use crate::mux::api::MuxError;
use crate::mux::app::SharedMux;
use crate::mux::model::mux_id;
use crate::signing::{StoredKey, generate_key_async};

fn key_json(key: &StoredKey) -> Value {
    json!({ "id": key.id, "created_at": key.created.timestamp().to_string() })
}

/// `POST /system/v1/signing-keys` -> 201 `{"data": {id, private_key, created_at}}`.
pub async fn create(app: &SharedMux) -> Result<Reply, MuxError> {
    let id = mux_id();
    let key = generate_key_async(id.clone()).await.map_err(|error| {
        crate::elog!("cannot generate a signing key: {error}");
        MuxError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_server_error", vec!["Key generation failed".into()])
    })?;
    let stored = StoredKey { id: id.clone(), created: chrono::Utc::now(), public: key.public.clone() };
    let mut data = key_json(&stored);
    data["private_key"] = json!(key.pem_base64());
    app.signing_keys().insert(stored).map_err(|_| MuxError::invalid(vec!["Too many signing keys".to_owned()]))?;
    Ok(Reply::json(StatusCode::CREATED, json!({ "data": data })))
}

/// `GET /system/v1/signing-keys` -> `{"data": [{id, created_at}]}`, newest first.
pub fn list(app: &SharedMux) -> Result<Reply, MuxError> {
    let data: Vec<Value> = app.signing_keys().list().iter().rev().map(key_json).collect();
    Ok(Reply::json(StatusCode::OK, json!({ "data": data })))
}

/// `GET /system/v1/signing-keys/{id}` -> `{"data": {id, created_at}}`.
pub fn get(app: &SharedMux, id: &str) -> Result<Reply, MuxError> {
    let data = app.signing_keys().get(id).map(key_json).ok_or_else(MuxError::not_found)?;
    Ok(Reply::json(StatusCode::OK, json!({ "data": data })))
}

/// `DELETE /system/v1/signing-keys/{id}` -> 204; tokens signed with the key stop working.
pub fn delete(app: &SharedMux, id: &str) -> Result<Reply, MuxError> {
    if !app.signing_keys().revoke(id) {
        return Err(MuxError::not_found());
    }
    Ok(Reply { status: StatusCode::NO_CONTENT, body: Body::Empty, retry_after: None })
}
