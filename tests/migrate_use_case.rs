//! Every branch of the migrate use case (`vinofy_core::migrate`) against the in-memory ports: two
//! providers, the record's marker and its conditional switch; no peer, no wall clock (tokio's
//! paused time drives the readiness polls and the injected clock together).

use std::sync::Arc;
use std::time::Duration;

use vinofy_core::domain::object::{ObjectVersion, normalize_sequencer};
use vinofy_core::domain::provider::Provider;
use vinofy_core::domain::record::{Status, VideoState};
use vinofy_core::error::ProviderError;
use vinofy_core::ingest::Ingestor;
use vinofy_core::migrate::{MigrationOutcome, MigrationSettings, Need, migration_need};
use vinofy_core::ports::ProviderVideo;
use vinofy_test_support::{MemoryPresigner, MemoryProviders, MemoryRecord, MemoryStore, Scripted, TokioClock};

/// 2025-12-01T12:00:00Z.
const T0: i64 = 1_764_590_400_000;
const BUCKET: &str = "uploads";
const KEY: &str = "videos/a.mp4";

type Migrating = Ingestor<MemoryPresigner, MemoryProviders, MemoryStore>;

/// Both providers and the table; `ingestor` creates on whichever provider a migration targets.
struct World {
    providers: MemoryProviders,
    ingestor: Migrating,
}

fn settings(delete_old: bool) -> MigrationSettings {
    MigrationSettings { delete_old, ready_timeout: Duration::from_secs(600), poll_every: Duration::from_secs(10) }
}

fn object(etag: &str, sequencer: &str) -> ObjectVersion {
    ObjectVersion {
        bucket: BUCKET.into(),
        key: KEY.into(),
        size: 1024,
        etag: etag.into(),
        version_id: None,
        sequencer: normalize_sequencer(sequencer),
    }
}

fn source() -> String {
    format!("s3://{BUCKET}/{KEY}")
}

impl World {
    /// A ready record of `KEY` on `provider`.
    fn with_record_on(provider: Provider) -> (Self, ProviderVideo) {
        let providers = MemoryProviders::default();
        let world = World { ingestor: ingestor(providers.creating_on(provider)), providers };
        let o = object("e1", "0055");
        let old = world.providers.of(provider).new_video(Some(&o.version_tag()), Some(&o.source()));
        world.providers.of(provider).insert(old.clone());
        let mut record = MemoryRecord::of(&o, Status::Ready);
        record.provider = provider;
        record.video_uid = Some(old.uid.clone());
        world.ingestor.store.put(&source(), record);
        (world, old)
    }

    fn store(&self) -> &MemoryStore {
        &self.ingestor.store
    }

    fn to(&mut self, target: Provider) -> &Migrating {
        self.ingestor.provider = self.providers.creating_on(target);
        &self.ingestor
    }

    fn record(&self) -> MemoryRecord {
        self.store().record(&source()).unwrap()
    }

    async fn migrate(&mut self, target: Provider, delete_old: bool) -> MigrationOutcome {
        let record = self.record().video_record(&source());
        self.to(target).migrate(&record, &settings(delete_old)).await.unwrap()
    }

    fn live(&self, provider: Provider) -> Vec<ProviderVideo> {
        self.providers.of(provider).videos()
    }
}

fn ingestor(providers: MemoryProviders) -> Migrating {
    let settings = vinofy_test_support::ingest_settings(BUCKET, &[]);
    Ingestor::new(MemoryPresigner::default(), providers, MemoryStore::default(), settings)
        .with_clock(Arc::new(TokioClock::starting_at(T0)))
}

fn arc(world: &World, provider: Provider) -> Arc<vinofy_test_support::MemoryProvider> {
    match provider {
        Provider::Cloudflare => world.providers.cloudflare.clone(),
        Provider::Mux => world.providers.mux.clone(),
    }
}

/// The provider's processing: every video on `provider` is ready `after` it is created (checked
/// each second of paused time).
fn make_ready_after(world: &World, provider: Provider, after: Duration) {
    let target = arc(world, provider);
    tokio::spawn(async move {
        let mut seen: std::collections::HashMap<String, tokio::time::Instant> = Default::default();
        loop {
            for v in target.videos() {
                let born = *seen.entry(v.uid.to_string()).or_insert_with(tokio::time::Instant::now);
                if born.elapsed() >= after {
                    target.update(&v.uid, |v| v.state = VideoState::Ready);
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

#[tokio::test(start_paused = true)]
async fn a_cloudflare_record_moves_to_mux_once_its_new_video_is_ready() {
    let (mut w, old) = World::with_record_on(Provider::Cloudflare);
    make_ready_after(&w, Provider::Mux, Duration::from_secs(25));
    let outcome = w.migrate(Provider::Mux, false).await;

    let MigrationOutcome::Migrated { new, adopted: false, old_deleted: None } = outcome else { panic!("{outcome:?}") };
    assert_eq!(new.provider, Provider::Mux);
    let r = w.record();
    assert_eq!((r.provider, r.video_uid.as_ref(), r.status), (Provider::Mux, Some(&new.uid), Status::Ready));
    assert_eq!(r.previous_video, Some(old.video_ref()), "kept for rollback");
    assert_eq!(r.encoding.as_deref(), Some("memory-default"));
    assert_eq!((&r.migration_tag, &r.migration_token), (&None, &None), "the marker is gone");
    assert_eq!(w.live(Provider::Cloudflare).len(), 1, "the old video stays without --delete-old");
    // Polled every 10 s until ready at 25 s: three gets, one create, no look-up.
    assert_eq!(w.providers.mux.count("get"), 3);
    assert_eq!((w.providers.mux.count("copy"), w.providers.mux.count("find")), (1, 0));
    assert_eq!(migration_need(&r.video_record(&source()), Provider::Mux, "memory-default"), None, "done");
}

#[tokio::test(start_paused = true)]
async fn with_delete_old_the_old_video_goes_only_after_the_switch() {
    let (mut w, _) = World::with_record_on(Provider::Mux);
    make_ready_after(&w, Provider::Cloudflare, Duration::ZERO);
    let outcome = w.migrate(Provider::Cloudflare, true).await;
    assert!(matches!(outcome, MigrationOutcome::Migrated { old_deleted: Some(true), .. }), "{outcome:?}");
    assert!(w.live(Provider::Mux).is_empty(), "no orphan left on Mux");
    assert_eq!(w.record().provider, Provider::Cloudflare);
}

#[tokio::test(start_paused = true)]
async fn an_upload_during_the_migration_wins_and_the_new_video_is_deleted_again() {
    let (mut w, old) = World::with_record_on(Provider::Cloudflare);
    make_ready_after(&w, Provider::Mux, Duration::ZERO);
    w.store().upload_before_next_switch(object("e2", "0066"));
    let outcome = w.migrate(Provider::Mux, true).await;

    assert_eq!(outcome, MigrationOutcome::Superseded);
    assert!(w.live(Provider::Mux).is_empty(), "the new video was deleted again");
    assert_eq!(w.live(Provider::Cloudflare), [old], "the old one is the upload's to replace, not ours");
    let r = w.record();
    assert_eq!((r.status, r.version_key.as_str()), (Status::Pending, "etag:e2"), "the upload's claim stands");
    assert_eq!(r.provider, Provider::Cloudflare);
}

#[tokio::test(start_paused = true)]
async fn a_video_another_run_switched_to_is_never_deleted() {
    // Our marker lapsed during a long wait; another run took the record over, found our video by
    // its tag and switched to it first. Our refused switch must not delete what the record holds.
    let (mut w, _) = World::with_record_on(Provider::Cloudflare);
    make_ready_after(&w, Provider::Mux, Duration::ZERO);
    w.store().another_run_switches_first();
    let outcome = w.migrate(Provider::Mux, true).await;
    assert!(matches!(outcome, MigrationOutcome::Busy { .. }), "{outcome:?}");
    let live = w.live(Provider::Mux);
    assert_eq!(live.len(), 1);
    assert_eq!(w.record().video_uid, Some(live[0].uid.clone()), "the record's video is alive");
}

#[tokio::test(start_paused = true)]
async fn a_record_changed_before_the_start_is_not_touched() {
    let (mut w, _) = World::with_record_on(Provider::Cloudflare);
    let stale = w.record().video_record(&source());
    let mut deleted = w.record();
    deleted.status = Status::Deleted;
    w.store().put(&source(), deleted);
    let outcome = w.to(Provider::Mux).migrate(&stale, &settings(true)).await.unwrap();
    assert_eq!(outcome, MigrationOutcome::Superseded);
    assert_eq!(w.providers.mux.count("copy"), 0, "nothing created");
}

#[tokio::test(start_paused = true)]
async fn a_refused_create_leaves_the_record_on_its_provider_with_the_reason() {
    let (mut w, old) = World::with_record_on(Provider::Cloudflare);
    let refused = ProviderError::Http { status: 400, message: "invalid input url".into(), retry_after: None };
    w.providers.mux.script("copy", [Scripted::Fail(refused)]);
    let outcome = w.migrate(Provider::Mux, true).await;

    let MigrationOutcome::Failed { reason } = outcome else { panic!("{outcome:?}") };
    assert!(reason.contains("invalid input url"), "{reason}");
    let r = w.record();
    assert_eq!((r.provider, r.video_uid.as_ref()), (Provider::Cloudflare, Some(&old.uid)), "stays");
    assert_eq!(r.migration_error.as_deref(), Some(reason.as_str()), "a readable reason on the record");
    assert_eq!((&r.migration_tag, &r.migration_token), (&None, &None), "nothing to resume: no video was made");
    assert_eq!(w.live(Provider::Cloudflare), [old], "the old video is never deleted on failure");
}

#[tokio::test(start_paused = true)]
async fn a_new_video_that_fails_to_process_is_deleted_and_the_record_stays() {
    let (mut w, _) = World::with_record_on(Provider::Cloudflare);
    let mux = arc(&w, Provider::Mux);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(15)).await;
        for v in mux.videos() {
            mux.update(&v.uid, |v| {
                v.state = VideoState::Error;
                v.details.error_text = Some("input file has no video track".into());
            });
        }
    });
    let outcome = w.migrate(Provider::Mux, false).await;
    let MigrationOutcome::Failed { reason } = outcome else { panic!("{outcome:?}") };
    assert!(reason.contains("no video track"), "{reason}");
    assert!(w.live(Provider::Mux).is_empty(), "deleted again");
    assert_eq!(w.record().provider, Provider::Cloudflare);
}

#[tokio::test(start_paused = true)]
async fn a_video_not_ready_in_time_is_adopted_by_the_next_run() {
    let (mut w, _) = World::with_record_on(Provider::Cloudflare);
    let outcome = w.migrate(Provider::Mux, false).await;
    let MigrationOutcome::NotReadyYet { new } = outcome else { panic!("{outcome:?}") };
    let r = w.record();
    assert_eq!(r.provider, Provider::Cloudflare, "not switched");
    assert!(r.migration_tag.is_some() && r.migration_token.is_none(), "let go, the tag kept for the next run");

    make_ready_after(&w, Provider::Mux, Duration::ZERO);
    let again = w.migrate(Provider::Mux, false).await;
    assert_eq!(again, MigrationOutcome::Migrated { new: new.clone(), adopted: true, old_deleted: None });
    assert_eq!(w.providers.mux.count("copy"), 1, "found by its tag, not created twice");
    assert_eq!(w.live(Provider::Mux).len(), 1);
    assert_eq!(w.record().video_uid, Some(new.uid));
}

#[tokio::test(start_paused = true)]
async fn a_failure_after_a_resume_keeps_the_tag_so_no_second_video_is_made() {
    let (mut w, _) = World::with_record_on(Provider::Cloudflare);
    assert!(matches!(w.migrate(Provider::Mux, false).await, MigrationOutcome::NotReadyYet { .. }));
    // The resumed run's look-up is refused for good: it fails, but the video it was about to
    // adopt exists, so the record keeps the tag for the next run.
    let refused = ProviderError::Http { status: 403, message: "forbidden".into(), retry_after: None };
    w.providers.mux.script("find", [Scripted::Fail(refused)]);
    assert!(matches!(w.migrate(Provider::Mux, false).await, MigrationOutcome::Failed { .. }));
    assert!(w.record().migration_tag.is_some(), "the tag stays: a video of this migration exists");
    make_ready_after(&w, Provider::Mux, Duration::ZERO);
    assert!(matches!(w.migrate(Provider::Mux, false).await, MigrationOutcome::Migrated { adopted: true, .. }));
    assert_eq!(w.providers.mux.count("copy"), 1, "one video over three runs");
}

#[tokio::test(start_paused = true)]
async fn a_record_another_run_is_migrating_is_left_to_it() {
    let (mut w, _) = World::with_record_on(Provider::Cloudflare);
    let mut busy = w.record();
    busy.migration_tag = Some("theirs".into());
    busy.migration_token = Some(vinofy_core::domain::ids::ClaimToken::from_stored("their-token"));
    busy.migration_expires_at_ms = T0 + 60_000;
    w.store().put(&source(), busy);
    let outcome = w.migrate(Provider::Mux, false).await;
    assert_eq!(outcome, MigrationOutcome::Busy { until_ms: T0 + 60_000 });
    assert_eq!(w.providers.mux.count("copy"), 0);
}

#[tokio::test(start_paused = true)]
async fn refusals_and_a_lost_reply_are_waited_out_and_looked_up_never_duplicated() {
    let (mut w, _) = World::with_record_on(Provider::Cloudflare);
    let limited = ProviderError::Http { status: 429, message: "rate limited".into(), retry_after: None };
    w.providers.mux.script(
        "copy",
        [Scripted::Fail(limited.clone()), Scripted::DoThenFail(ProviderError::Transport("connection reset".into()))],
    );
    make_ready_after(&w, Provider::Mux, Duration::ZERO);
    let outcome = w.migrate(Provider::Mux, false).await;
    assert!(matches!(outcome, MigrationOutcome::Migrated { adopted: true, .. }), "{outcome:?}");
    assert_eq!(w.live(Provider::Mux).len(), 1, "the video the lost reply made, adopted");
}

#[tokio::test(start_paused = true)]
async fn to_its_own_provider_a_record_is_re_encoded_once_with_the_current_options() {
    let (mut w, old) = World::with_record_on(Provider::Mux);
    let before = w.record().video_record(&source());
    assert_eq!(migration_need(&before, Provider::Mux, "memory-default"), Some(Need::Reencode), "options not known");
    w.providers.mux.set_encoding("playback_policy=signed;video_quality=plus");
    make_ready_after(&w, Provider::Mux, Duration::ZERO);
    let outcome = w.migrate(Provider::Mux, true).await;
    assert!(matches!(outcome, MigrationOutcome::Migrated { old_deleted: Some(true), .. }), "{outcome:?}");
    let r = w.record();
    assert_eq!(r.encoding.as_deref(), Some("playback_policy=signed;video_quality=plus"));
    assert_eq!(r.previous_video, Some(old.video_ref()));
    assert!(!w.live(Provider::Mux).iter().any(|v| v.uid == old.uid), "the old encoding is gone");
    let after = r.video_record(&source());
    assert_eq!(migration_need(&after, Provider::Mux, "playback_policy=signed;video_quality=plus"), None);
}

#[test]
fn only_records_with_a_video_of_a_complete_version_need_migrating() {
    let o = object("e1", "0055");
    let with = |status, provider: Provider, encoding: Option<&str>| {
        let mut r = MemoryRecord::of(&o, status);
        r.provider = provider;
        r.video_uid = Some(vinofy_core::domain::ids::VideoUid::parse("abc").unwrap());
        r.encoding = encoding.map(str::to_owned);
        r.video_record(&source())
    };
    for status in [Status::Ready, Status::Submitted, Status::Error] {
        assert_eq!(migration_need(&with(status, Provider::Cloudflare, None), Provider::Mux, "x"), Some(Need::Move));
    }
    for status in [Status::Pending, Status::Failed, Status::Deleted] {
        assert_eq!(migration_need(&with(status, Provider::Cloudflare, None), Provider::Mux, "x"), None, "{status}");
    }
    assert_eq!(migration_need(&with(Status::Ready, Provider::Mux, Some("x")), Provider::Mux, "x"), None);
    assert_eq!(
        migration_need(&with(Status::Ready, Provider::Mux, Some("y")), Provider::Mux, "x"),
        Some(Need::Reencode)
    );
    let mut no_video = with(Status::Ready, Provider::Cloudflare, None);
    no_video.video_uid = None;
    assert_eq!(migration_need(&no_video, Provider::Mux, "x"), None);
}
