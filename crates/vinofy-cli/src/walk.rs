//! A walk over the video table, page by page, through the store port.

use vinofy_core::domain::record::RecordFilter;
use vinofy_core::ports::{PageToken, ReadRecord, VideoRecords};

use crate::error::CliError;

pub struct Walk<'a, S> {
    store: &'a S,
    filter: RecordFilter,
    next: Option<PageToken>,
    done: bool,
}

impl<'a, S: VideoRecords> Walk<'a, S> {
    pub fn new(store: &'a S, filter: RecordFilter) -> Self {
        Self { store, filter, next: None, done: false }
    }

    /// The next page (possibly empty when a filter matched nothing in it); `None` at the end.
    pub async fn next_page(&mut self) -> Result<Option<Vec<ReadRecord>>, CliError> {
        if self.done {
            return Ok(None);
        }
        let page = self.store.scan(&self.filter, self.next.take()).await.map_err(|e| CliError::Fatal(e.to_string()))?;
        self.next = page.next;
        self.done = self.next.is_none();
        Ok(Some(page.records))
    }
}
