"""Python baseline of the `ingest` function, for bench/ only (never deployed).

The same job as the Rust function, written the way a competent Python team would: S3
ObjectCreated -> presigned GET URL -> Cloudflare Stream `POST /stream/copy` -> DynamoDB record,
with the same claim -> copy -> complete protocol on the same table:

1. claim: one conditional UpdateItem keyed by the object version (duplicates stop here: one write,
   no Cloudflare call). `ReturnValuesOnConditionCheckFailure=ALL_OLD` explains a refusal without a
   second read (GetItem only if the peer does not return the item);
2. copy: presign locally, `POST /copy` with `creator` = sha256(`s3://bucket/key` "\n" version key);
   retry transient failures with full-jitter backoff, looking the video up by `creator` before any
   repeat (or when taking over an expired claim);
3. complete: an UpdateItem that only the claim holder can make (status=submitted, URLs).

Everything expensive is built once, at import (= Lambda init): the boto3 clients, the HTTP pool,
the expression strings. Only what ships in the Lambda Python runtime is imported (boto3/botocore,
and urllib3, which botocore depends on), so the deployment package is this one file.

Run under the Lambda runtime interface client:  python -m awslambdaric handler.handler
"""

import hashlib
import json
import logging
import os
import random
import time
from datetime import datetime, timezone
from urllib.parse import unquote_plus

import boto3
import urllib3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

logger = logging.getLogger()
logger.setLevel(logging.INFO)

# --- configuration (read once, at init) -----------------------------------------------------------

DEFAULT_VIDEO_EXTENSIONS = (
    "mp4,m4v,mov,qt,mkv,webm,avi,flv,mpg,mpeg,m2v,ts,m2ts,mts,mxf,lxf,gxf,3gp,3g2,wmv,ogv,vob"
)

TABLE = os.environ["VIDEOS_TABLE"]
ACCOUNT_ID = os.environ["CLOUDFLARE_ACCOUNT_ID"]
API_URL = os.environ.get("CLOUDFLARE_API_URL", "https://api.cloudflare.com/client/v4").rstrip("/")
API_TOKEN = os.environ["CLOUDFLARE_API_TOKEN"]
PRESIGN_TTL = int(os.environ.get("PRESIGN_TTL_SECONDS", "3600"))
REQUEST_TIMEOUT = float(os.environ.get("CLOUDFLARE_REQUEST_TIMEOUT_SECONDS", "10"))
SOURCE_PREFIX = os.environ.get("SOURCE_PREFIX", "")
VIDEO_EXTENSIONS = frozenset(
    e.strip().lstrip(".").lower()
    for e in os.environ.get("VIDEO_EXTENSIONS", DEFAULT_VIDEO_EXTENSIONS).split(",")
    if e.strip()
)
REQUIRE_SIGNED_URLS = os.environ.get("STREAM_REQUIRE_SIGNED_URLS", "false").lower() in ("1", "true", "yes")
ALLOWED_ORIGINS = [o.strip() for o in os.environ.get("STREAM_ALLOWED_ORIGINS", "").split(",") if o.strip()]
THUMBNAIL_PCT = float(os.environ.get("STREAM_THUMBNAIL_TIMESTAMP_PCT", "0"))
DELETE_REPLACED = os.environ.get("REPLACED_VIDEO_POLICY", "delete") == "delete"

MAX_ATTEMPTS = 5
BASE_DELAY = 0.2
MAX_DELAY = 10.0
SAFETY_MARGIN_MS = 3000

# --- clients (built once, at init) ------------------------------------------------------------------

# A local S3 peer (AWS_ENDPOINT_URL_S3) wants path-style URLs, as in the Rust function.
_custom_s3 = bool(os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"))
s3 = boto3.client(
    "s3",
    config=Config(signature_version="s3v4", s3={"addressing_style": "path" if _custom_s3 else "auto"}),
)
dynamodb = boto3.client("dynamodb", config=Config(retries={"mode": "standard"}))
# One keep-alive connection pool for Cloudflare (urllib3 ships in the runtime with botocore).
http = urllib3.PoolManager(
    num_pools=2,
    maxsize=2,
    retries=False,
    headers={
        "Authorization": f"Bearer {API_TOKEN}",
        "Content-Type": "application/json",
        "User-Agent": "vinofy-ingest-python/0.1.0",
    },
)
STREAM_URL = f"{API_URL}/accounts/{ACCOUNT_ID}/stream"

# --- DynamoDB expressions (built once) -------------------------------------------------------------

_CLAIM_ATTRS = (
    "status", "bucket", "key", "size", "etag", "version_id", "sequencer", "version_key",
    "creator", "claim_token", "claim_expires_at", "updated_at", "created_at", "error", "last_error",
    "source",
)
CLAIM_NAMES = {f"#{a}": a for a in _CLAIM_ATTRS}
_CLAIM_SET = (
    "#status = :status, #bucket = :bucket, #key = :key, #size = :size, #etag = :etag, "
    "#sequencer = :sequencer, #version_key = :version_key, #creator = :creator, "
    "#claim_token = :claim_token, #claim_expires_at = :claim_expires_at, #updated_at = :updated_at, "
    "#created_at = if_not_exists(#created_at, :updated_at)"
)
CLAIM_UPDATE_WITH_VERSION = f"SET {_CLAIM_SET}, #version_id = :version_id REMOVE #error, #last_error"
CLAIM_UPDATE_NO_VERSION = f"SET {_CLAIM_SET} REMOVE #version_id, #error, #last_error"
# No record; our version's claim expired; a newer version; a re-upload after a delete.
CLAIM_CONDITION = (
    "attribute_not_exists(#source)"
    " OR (#version_key = :version_key AND #status = :status AND #claim_expires_at < :now_ms)"
    " OR (#version_key <> :version_key AND #sequencer < :sequencer)"
    " OR (#status = :deleted AND #sequencer < :sequencer)"
)

_COMPLETE_ATTRS = (
    "status", "video_uid", "stream_state", "hls_url", "dash_url", "thumbnail_url", "preview_url",
    "updated_at", "submitted_at", "claim_token", "claim_expires_at", "error", "last_error",
    "version_key", "replaced_video_uid",
)
_URL_ATTRS = ("hls_url", "dash_url", "thumbnail_url", "preview_url")
COMPLETE_CONDITION = "#version_key = :expected_version_key AND #claim_token = :expected_token"


def now_ms():
    return int(time.time() * 1000)


def rfc3339(ms):
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )


def normalize_sequencer(raw):
    s = (raw or "").strip().upper()
    return s.ljust(64, "0") if s else s


class Retryable(Exception):
    """Fails the invocation so that Lambda retries it."""


class Rejected(Exception):
    """Cloudflare refused the copy for good."""


# --- the handler -----------------------------------------------------------------------------------


def handler(event, context):
    if event.get("Event") == "s3:TestEvent":
        logger.info("acknowledged s3:TestEvent")
        return {"records": []}
    records = event.get("Records")
    if not isinstance(records, list) or not records:
        raise ValueError("not an S3 notification: no Records")
    if records[0].get("eventSource") == "aws:sqs":
        return _handle_sqs(records, context)
    reports, error = _handle_records(records, context)
    if error is not None:
        raise error
    return {"records": reports}


def _handle_sqs(messages, context):
    failures, reports = [], []
    for message in messages:
        try:
            body = json.loads(message["body"])
        except (KeyError, ValueError):
            logger.error("rejected a malformed SQS message %s", message.get("messageId"))
            failures.append({"itemIdentifier": message.get("messageId")})
            continue
        if body.get("Event") == "s3:TestEvent":
            continue
        rs, error = _handle_records(body.get("Records") or [], context)
        reports.extend(rs)
        if error is not None:
            failures.append({"itemIdentifier": message.get("messageId")})
    return {"batchItemFailures": failures, "records": reports}


def _handle_records(records, context):
    reports, first_error = [], None
    for record in records:
        name = record.get("eventName") or ""
        s3rec = record.get("s3") or {}
        bucket = (s3rec.get("bucket") or {}).get("name")
        obj = s3rec.get("object") or {}
        if record.get("eventSource") != "aws:s3" or not bucket or "key" not in obj:
            raise ValueError("malformed S3 record: missing bucket or object")
        key = unquote_plus(obj["key"])
        source = f"s3://{bucket}/{key}"
        if not name.startswith("ObjectCreated:"):
            logger.info("ignoring %s for %s", name, source)
            reports.append({"source": source, "outcome": "ignored"})
            continue
        try:
            reports.append(
                ingest(
                    bucket=bucket,
                    key=key,
                    size=int(obj.get("size") or 0),
                    etag=obj.get("eTag") or "",
                    version_id=obj.get("versionId") or None,
                    sequencer=normalize_sequencer(obj.get("sequencer")),
                    deadline_ms=now_ms() + context.get_remaining_time_in_millis(),
                )
            )
        except Exception as e:  # report it, carry on with the other records, fail at the end
            logger.exception("failed to ingest %s", source)
            reports.append({"source": source, "outcome": "failed", "detail": str(e)})
            if first_error is None or (isinstance(e, Retryable) and not isinstance(first_error, Retryable)):
                first_error = e
    return reports, first_error


def skip_reason(key, size):
    if key.endswith("/"):
        return "folder marker"
    if not key.startswith(SOURCE_PREFIX):
        return "outside the configured SOURCE_PREFIX"
    if size == 0:
        return "zero-byte object"
    name = key.rsplit("/", 1)[-1]
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or not ext:
        return "no file extension"
    if ext.lower() not in VIDEO_EXTENSIONS:
        return f"extension {ext.lower()!r} is not in VIDEO_EXTENSIONS"
    return None


def ingest(bucket, key, size, etag, version_id, sequencer, deadline_ms):
    source = f"s3://{bucket}/{key}"
    reason = skip_reason(key, size)
    if reason:
        logger.info("skipped %s: %s", source, reason)
        return {"source": source, "outcome": "skipped", "detail": reason}

    version_key = f"version:{version_id}" if version_id else f"etag:{etag}"
    creator = hashlib.sha256(f"{source}\n{version_key}".encode()).hexdigest()
    token = os.urandom(16).hex()
    now = now_ms()

    verdict, previous = claim(bucket, key, size, etag, version_id, sequencer, source, version_key, creator,
                              token, deadline_ms, now)
    if verdict not in ("claim", "takeover"):
        if verdict == "failed":
            raise RuntimeError(f"{source} failed earlier: {previous.get('error', {}).get('S', 'no reason')}")
        logger.info("%s: %s, nothing to do", source, verdict)
        status = previous.get("status", {}).get("S") if previous else None
        return {"source": source, "outcome": verdict,
                **({"detail": f"already {status}"} if verdict == "duplicate" else {})}
    logger.info("claimed %s (takeover=%s)", source, verdict == "takeover")

    try:
        url = s3.generate_presigned_url(
            "get_object",
            Params={"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {})},
            ExpiresIn=PRESIGN_TTL,
        )
    except (BotoCoreError, ClientError) as e:
        release(source, version_key, token, f"presign failed: {e}")
        raise Retryable(f"presign failed: {e}") from e
    try:
        video, adopted = submit(url, bucket, key, source, version_key, creator, deadline_ms,
                                look_up_first=verdict == "takeover")
    except Rejected as e:
        record_failure(source, version_key, token, str(e))
        raise
    except Retryable as e:
        release(source, version_key, token, str(e))
        raise

    current_uid = (previous or {}).get("video_uid", {}).get("S")
    replaced = current_uid if current_uid and current_uid != video["uid"] else None
    if not complete(source, version_key, token, video, replaced):
        logger.warning("a newer version took %s while copying; deleting video %s", source, video["uid"])
        delete_video(video["uid"])
        return {"source": source, "outcome": "superseded", "video_uid": video["uid"]}
    logger.info("recorded %s as Stream video %s (%s)", source, video["uid"], video.get("status", {}).get("state"))
    if replaced and DELETE_REPLACED and delete_video(replaced):
        try:
            dynamodb.update_item(
                TableName=TABLE, Key={"source": {"S": source}},
                UpdateExpression="REMOVE #r", ConditionExpression="#r = :old",
                ExpressionAttributeNames={"#r": "replaced_video_uid"},
                ExpressionAttributeValues={":old": {"S": replaced}},
            )
        except ClientError as e:
            logger.warning("could not clear replaced_video_uid: %s", e)
    return {"source": source, "outcome": "adopted" if adopted else "submitted", "video_uid": video["uid"]}


# --- DynamoDB --------------------------------------------------------------------------------------


def claim(bucket, key, size, etag, version_id, sequencer, source, version_key, creator, token, deadline_ms, now):
    stamp = rfc3339(now)
    values = {
        ":status": {"S": "pending"},
        ":bucket": {"S": bucket},
        ":key": {"S": key},
        ":size": {"N": str(size)},
        ":etag": {"S": etag},
        ":sequencer": {"S": sequencer},
        ":version_key": {"S": version_key},
        ":creator": {"S": creator},
        ":claim_token": {"S": token},
        ":claim_expires_at": {"N": str(deadline_ms)},
        ":updated_at": {"S": stamp},
        ":now_ms": {"N": str(now)},
        ":deleted": {"S": "deleted"},
    }
    if version_id:
        values[":version_id"] = {"S": version_id}
    try:
        out = dynamodb.update_item(
            TableName=TABLE,
            Key={"source": {"S": source}},
            UpdateExpression=CLAIM_UPDATE_WITH_VERSION if version_id else CLAIM_UPDATE_NO_VERSION,
            ConditionExpression=CLAIM_CONDITION,
            ExpressionAttributeNames=CLAIM_NAMES,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_OLD",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as e:
        if e.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise Retryable(f"UpdateItem (claim) failed: {e}") from e
        item = e.response.get("Item")
        if item is None:  # a peer that does not return the item with a failed condition
            item = dynamodb.get_item(TableName=TABLE, Key={"source": {"S": source}}, ConsistentRead=True).get("Item")
        verdict = judge_claim(item, version_key, sequencer, now)
        if verdict in ("claim", "takeover"):
            raise Retryable("the claim was refused but the record now allows it (concurrent change)")
        return verdict, item
    previous = out.get("Attributes") or None
    return ("claim" if previous is None else judge_claim(previous, version_key, sequencer, now)), previous


def judge_claim(item, version_key, sequencer, now):
    if not item:
        return "claim"
    status = item.get("status", {}).get("S")
    stored_seq = item.get("sequencer", {}).get("S", "")
    if status == "deleted" and sequencer > stored_seq:
        return "claim"
    if item.get("version_key", {}).get("S") == version_key:
        if status == "pending":
            expires = int(item.get("claim_expires_at", {}).get("N", "0"))
            return "takeover" if expires < now else "in_progress"
        return "failed" if status == "failed" else "duplicate"
    return "claim" if sequencer > stored_seq else "outdated"


def complete(source, version_key, token, video, replaced):
    stamp = rfc3339(now_ms())
    playback = video.get("playback") or {}
    urls = {
        "hls_url": playback.get("hls"),
        "dash_url": playback.get("dash"),
        "thumbnail_url": video.get("thumbnail"),
        "preview_url": video.get("preview"),
    }
    values = {
        ":status": {"S": "submitted"},
        ":video_uid": {"S": video["uid"]},
        ":stream_state": {"S": (video.get("status") or {}).get("state") or "unknown"},
        ":updated_at": {"S": stamp},
        ":submitted_at": {"S": stamp},
        ":expected_version_key": {"S": version_key},
        ":expected_token": {"S": token},
    }
    sets = ["#status = :status", "#video_uid = :video_uid", "#stream_state = :stream_state",
            "#updated_at = :updated_at", "#submitted_at = :submitted_at"]
    removes = ["#claim_token", "#claim_expires_at", "#error", "#last_error"]
    for attr in _URL_ATTRS:
        if urls[attr]:
            sets.append(f"#{attr} = :{attr}")
            values[f":{attr}"] = {"S": urls[attr]}
        else:
            removes.append(f"#{attr}")
    if replaced:
        sets.append("#replaced_video_uid = :replaced_video_uid")
        values[":replaced_video_uid"] = {"S": replaced}
    names = {f"#{a}": a for a in _COMPLETE_ATTRS if a != "replaced_video_uid" or replaced}
    try:
        dynamodb.update_item(
            TableName=TABLE,
            Key={"source": {"S": source}},
            UpdateExpression=f"SET {', '.join(sets)} REMOVE {', '.join(removes)}",
            ConditionExpression=COMPLETE_CONDITION,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
    except ClientError as e:
        if e.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise Retryable(f"UpdateItem (complete) failed: {e}") from e
    return True


def _update_if_claim_holder(source, version_key, token, update, values, names):
    try:
        dynamodb.update_item(
            TableName=TABLE,
            Key={"source": {"S": source}},
            UpdateExpression=update,
            ConditionExpression="#version_key = :vk AND #claim_token = :token",
            ExpressionAttributeNames={"#version_key": "version_key", "#claim_token": "claim_token", **names},
            ExpressionAttributeValues={":vk": {"S": version_key}, ":token": {"S": token}, **values},
        )
    except ClientError as e:
        logger.warning("could not update the claim on %s: %s", source, e)


def release(source, version_key, token, reason):
    """Gives the claim up so that Lambda's retry can take it at once."""
    _update_if_claim_holder(
        source, version_key, token,
        "SET #claim_expires_at = :zero, #last_error = :reason, #updated_at = :now",
        {":zero": {"N": "0"}, ":reason": {"S": reason[:1000]}, ":now": {"S": rfc3339(now_ms())}},
        {"#claim_expires_at": "claim_expires_at", "#last_error": "last_error", "#updated_at": "updated_at"},
    )


def record_failure(source, version_key, token, reason):
    _update_if_claim_holder(
        source, version_key, token,
        "SET #status = :failed, #error = :reason, #updated_at = :now REMOVE #claim_expires_at",
        {":failed": {"S": "failed"}, ":reason": {"S": reason[:1000]}, ":now": {"S": rfc3339(now_ms())}},
        {"#status": "status", "#error": "error", "#updated_at": "updated_at", "#claim_expires_at": "claim_expires_at"},
    )


# --- Cloudflare Stream -----------------------------------------------------------------------------


class _Transient(Exception):
    def __init__(self, message, retry_after=None):
        super().__init__(message)
        self.retry_after = retry_after


def _call(method, url, body, deadline_ms):
    remaining = (deadline_ms - now_ms() - SAFETY_MARGIN_MS) / 1000
    if remaining < 0.1:
        raise _Transient("no time left before the invocation deadline")
    timeout = min(REQUEST_TIMEOUT, remaining)
    try:
        resp = http.request(
            method, url,
            body=json.dumps(body).encode() if body is not None else None,
            timeout=urllib3.Timeout(connect=min(5.0, timeout), read=timeout),
        )
    except urllib3.exceptions.HTTPError as e:
        raise _Transient(f"transport error: {e}") from e
    try:
        envelope = json.loads(resp.data) if resp.data.strip() else None
    except ValueError:
        if 200 <= resp.status < 300:
            raise Rejected(f"HTTP {resp.status} with a body that is not the API envelope")
        envelope = None
    if resp.status == 429 or resp.status >= 500:
        ra = resp.headers.get("retry-after")
        raise _Transient(f"HTTP {resp.status}", float(ra) if ra and ra.isdigit() else None)
    if resp.status >= 300:
        errors = (envelope or {}).get("errors") or []
        raise Rejected(f"HTTP {resp.status}: " + "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors))
    if envelope is None:
        return None
    if envelope.get("success") is not True:
        raise Rejected(f"HTTP {resp.status} but success is not true: {envelope.get('errors')}")
    return envelope.get("result")


def _valid_video(result):
    uid = (result or {}).get("uid") if isinstance(result, dict) else None
    if not (isinstance(uid, str) and uid.isalnum() and len(uid) <= 64):
        raise Rejected("the video object has no valid uid")
    return result


def submit(url, bucket, key, source, version_key, creator, deadline_ms, look_up_first):
    body = {
        "url": url,
        "meta": {"name": key, "source": source, "s3_bucket": bucket, "s3_key": key, "s3_version": version_key},
        "creator": creator,
        "requireSignedURLs": REQUIRE_SIGNED_URLS,
        "allowedOrigins": ALLOWED_ORIGINS,
        "thumbnailTimestampPct": THUMBNAIL_PCT,
    }
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            if look_up_first:
                found = _call("GET", f"{STREAM_URL}?creator={creator}&asc=true", None, deadline_ms) or []
                if found:
                    logger.info("found the video an earlier attempt created; adopting %s", found[0].get("uid"))
                    return _valid_video(sorted(found, key=lambda v: v.get("created") or "")[0]), True
            return _valid_video(_call("POST", f"{STREAM_URL}/copy", body, deadline_ms)), False
        except _Transient as e:
            look_up_first = True  # the failed call may still have created the video
            wait = random.uniform(0, min(MAX_DELAY, BASE_DELAY * 2 ** (attempt - 1)))
            if e.retry_after:
                wait = max(wait, e.retry_after)
            budget_ms = (wait + 2 * REQUEST_TIMEOUT) * 1000 + SAFETY_MARGIN_MS
            if attempt == MAX_ATTEMPTS or now_ms() + budget_ms > deadline_ms:
                raise Retryable(f"Cloudflare Stream unavailable: {e} (after {attempt} attempts)") from e
            logger.warning("Cloudflare call failed (%s); retrying in %.2fs", e, wait)
            time.sleep(wait)
    raise AssertionError("unreachable")


def delete_video(uid):
    try:
        resp = http.request("DELETE", f"{STREAM_URL}/{uid}", timeout=urllib3.Timeout(total=REQUEST_TIMEOUT))
    except urllib3.exceptions.HTTPError as e:
        logger.warning("could not delete Stream video %s: %s", uid, e)
        return False
    if resp.status in (200, 204, 404):
        return True
    logger.warning("could not delete Stream video %s: HTTP %s", uid, resp.status)
    return False
