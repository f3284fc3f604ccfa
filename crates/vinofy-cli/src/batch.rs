//! The one runner of the commands that walk many objects or records (backfill and reconcile today;
//! migrate and redrive next). It owns what they share: concurrency, the rate limit, the progress
//! bar, Ctrl-C (stop starting, let started work finish), and the exit status. A command supplies
//! the stream of work (which resumes where a re-run left off, since work already done is seen as
//! such) and what to do with each item and each finished line.

use std::future::Future;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures::{FutureExt, Stream, StreamExt, future};

use vinofy_core::error::IngestError;

use crate::error::CliError;
use crate::interrupt::Interrupt;
use crate::output::Output;
use crate::ratelimit::RateLimiter;

/// What a command's work stream yields.
pub enum Work<T> {
    Item(T),
    /// A failure that stops the run (listing the bucket, scanning the table): what is in flight
    /// finishes, nothing new starts.
    Fatal(String),
}

/// What one item ended with.
pub enum Finished<L> {
    Line(L),
    /// Ctrl-C came while it waited for its rate-limit slot: nothing was done.
    NotStarted,
}

pub struct Batch {
    interrupt: Interrupt,
    /// The run's own cap (`--rate`), on top of the shared call budget every call takes its slot from.
    limiter: Option<RateLimiter>,
    concurrency: usize,
    started: Instant,
}

/// How a run ended.
#[derive(Debug)]
pub struct Ended {
    pub fatal: Option<String>,
    pub interrupted: bool,
    pub elapsed: Duration,
}

impl Batch {
    /// `concurrency` items at once; at most `rate_per_minute` of them (if given) start their calls
    /// per minute.
    pub fn new(concurrency: u16, rate_per_minute: Option<u32>) -> Self {
        Self {
            interrupt: Interrupt::new(),
            limiter: rate_per_minute.map(RateLimiter::per_minute),
            concurrency: usize::from(concurrency).max(1),
            started: Instant::now(),
        }
    }

    /// Waits for the next rate-limit slot; `false` if Ctrl-C came first (then do not start).
    pub async fn slot(&self) -> bool {
        self.interrupt.slot(self.limiter.as_ref()).await
    }

    /// Runs `attempt` until it is not handed back ([`IngestError::Deferred`]: no provider call fitted
    /// its deadline, say during a lock-out), waiting the time it names in between. An operator's run
    /// has no Lambda deadline to fit, so it waits rather than report a failure; Ctrl-C stops the wait
    /// and the item is reported as it was.
    pub async fn patiently<T, Fut>(&self, mut attempt: impl FnMut() -> Fut) -> Result<T, IngestError>
    where
        Fut: Future<Output = Result<T, IngestError>>,
    {
        loop {
            match attempt().await {
                Err(IngestError::Deferred { retry_in, .. }) if self.interrupt.pause(retry_in).await => {}
                other => return other,
            }
        }
    }

    /// Runs `process` over the work, `concurrency` at a time, handing each finished line to `each`
    /// (which reports it) while the progress bar advances; stops starting work at Ctrl-C or at the
    /// first fatal failure.
    pub async fn run<T, L, Fut>(
        &self,
        work: impl Stream<Item = Work<T>>,
        out: &Output,
        process: impl Fn(T) -> Fut,
        mut each: impl FnMut(L) -> Result<(), CliError>,
    ) -> Result<Ended, CliError>
    where
        Fut: Future<Output = Finished<L>>,
    {
        let mut fatal = None;
        let done = work
            .take_until(self.interrupt.requested())
            .map(|work| match work {
                Work::Item(item) => process(item).map(Ok).left_future(),
                Work::Fatal(message) => future::ready(Err(message)).right_future(),
            })
            .buffer_unordered(self.concurrency);
        self.interrupt
            .drive(done, out, |finished| {
                match finished {
                    Ok(Finished::Line(line)) => each(line)?,
                    Ok(Finished::NotStarted) => {}
                    Err(message) => fatal = Some(message),
                }
                Ok::<_, CliError>(())
            })
            .await?;
        out.finish_progress();
        Ok(Ended { fatal, interrupted: self.interrupt.is_requested(), elapsed: self.started.elapsed() })
    }
}

impl Ended {
    /// The exit status: 1 if the run stopped on a fatal failure or any item failed, 130 if Ctrl-C
    /// stopped it, else 0. Says why the run stopped on stderr.
    pub fn exit_code(&self, command: &str, failed: u64) -> ExitCode {
        if let Some(message) = &self.fatal {
            eprintln!("vinofy: {command} stopped: {message}");
            return ExitCode::FAILURE;
        }
        if self.interrupted {
            return ExitCode::from(130);
        }
        if failed > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_every_item_and_stops_at_a_fatal_failure() {
        let batch = Batch::new(2, Some(240));
        let out = Output::new(true);
        let work = futures::stream::iter([Work::Item(1), Work::Item(2), Work::Fatal("listing failed".into())]);
        let mut lines = Vec::new();
        let ended = batch
            .run(
                work,
                &out,
                |n| async move { Finished::Line(n * 10) },
                |line| {
                    lines.push(line);
                    Ok(())
                },
            )
            .await
            .unwrap();
        lines.sort();
        assert_eq!(lines, [10, 20]);
        assert_eq!(ended.fatal.as_deref(), Some("listing failed"));
        assert!(!ended.interrupted);
        assert_eq!(ended.exit_code("test", 0), ExitCode::FAILURE);
        let clean = Ended { fatal: None, interrupted: false, elapsed: Duration::ZERO };
        assert_eq!(clean.exit_code("test", 0), ExitCode::SUCCESS);
        assert_eq!(clean.exit_code("test", 1), ExitCode::FAILURE);
        let stopped = Ended { fatal: None, interrupted: true, elapsed: Duration::ZERO };
        assert_eq!(stopped.exit_code("test", 0), ExitCode::from(130));
    }
}
