//! Ctrl-C: the first one stops starting new work: work waiting for a rate-limit slot is dropped,
//! and what already talks to Cloudflare finishes (so nothing is left half-claimed) before the
//! summary is printed. A second Ctrl-C exits at once.

use futures::{FutureExt, Stream, StreamExt};
use tokio::sync::watch;

use crate::output::Output;
use crate::ratelimit::RateLimiter;

pub struct Interrupt {
    requested: watch::Sender<bool>,
}

impl Interrupt {
    pub fn new() -> Self {
        Self { requested: watch::channel(false).0 }
    }

    /// Waits for the first Ctrl-C and records it; never completes if signals are unavailable.
    /// Must be driven by the command's main loop (not by the work stream, which is not polled
    /// while all its slots are busy).
    pub async fn listen(&self, out: &Output) {
        if tokio::signal::ctrl_c().await.is_err() {
            return std::future::pending().await;
        }
        self.requested.send_replace(true);
        out.note("vinofy: interrupted: finishing what already started (Ctrl-C again to stop at once)");
        tokio::spawn(async {
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        });
    }

    /// Completes once Ctrl-C was pressed.
    pub async fn requested(&self) {
        let mut receiver = self.requested.subscribe();
        // The sender lives as long as `self`, so this only returns once the flag is set.
        let _ = receiver.wait_for(|requested| *requested).await;
    }

    /// Drains the finished work, advancing the progress bar and handing each result to `each`,
    /// while listening for Ctrl-C (the work stream cannot listen itself: it is not polled while
    /// all its slots are busy).
    pub async fn drive<T, E>(
        &self,
        done: impl Stream<Item = T>,
        out: &Output,
        mut each: impl FnMut(T) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut done = std::pin::pin!(done);
        let mut listen = std::pin::pin!(self.listen(out).fuse());
        loop {
            let result = tokio::select! {
                next = done.next() => match next {
                    Some(result) => result,
                    None => return Ok(()),
                },
                () = &mut listen => continue,
            };
            out.advance();
            each(result)?;
        }
    }

    pub fn is_requested(&self) -> bool {
        *self.requested.borrow()
    }

    /// Waits for the next rate-limit slot (if there is a limit); `false` if Ctrl-C came first (then
    /// do not start).
    pub async fn slot(&self, limiter: Option<&RateLimiter>) -> bool {
        if self.is_requested() {
            return false;
        }
        let Some(limiter) = limiter else { return true };
        tokio::select! {
            biased;
            () = self.requested() => false,
            () = limiter.acquire() => true,
        }
    }

    /// Waits `wait`; `false` if Ctrl-C came first.
    pub async fn pause(&self, wait: std::time::Duration) -> bool {
        if self.is_requested() {
            return false;
        }
        tokio::select! {
            biased;
            () = self.requested() => false,
            () = tokio::time::sleep(wait) => true,
        }
    }
}
