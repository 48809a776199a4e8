//! A counting, fault-injecting object store wrapper, for tests and request-cost figures.
//! It counts requests by kind, and can fail the k-th request (a transient error), "crash"
//! at it (that request and every later one fail, as if the process died; the k-th request
//! either never reaches the store or is applied and its answer lost), yield to other tasks
//! before requests so concurrent writers interleave (deterministic for a seed), and wait a
//! fixed latency before each request, as a remote store would.

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

/// The kind of a request, as S3 bills them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RequestKind {
    Put,
    Get,
    Head,
    List,
    Delete,
    Copy,
    Multipart,
}

/// What to do at request number `k` (1-based, counted since the plan was set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FaultPlan {
    #[default]
    None,
    /// Request k fails with a transient error; later ones succeed.
    FailAt(u64),
    /// Request k never reaches the store; it and every later request fail.
    CrashBefore(u64),
    /// Request k is applied but its answer is lost; every later request fails.
    CrashAfter(u64),
}

#[derive(Debug, Default)]
struct State {
    counts: BTreeMap<RequestKind, u64>,
    since_plan: u64,
    plan: FaultPlan,
    crashed: bool,
    interleave: Option<(ChaCha8Rng, f64)>,
    latency: std::time::Duration,
}

enum Verdict {
    Proceed,
    FailBefore,
    FailAfter,
}

/// Wraps any store; clones share counters and plan.
#[derive(Debug, Clone)]
pub struct FaultStore {
    inner: Arc<dyn ObjectStore>,
    state: Arc<Mutex<State>>,
}

impl fmt::Display for FaultStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultStore({})", self.inner)
    }
}

impl FaultStore {
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        FaultStore {
            inner,
            state: Arc::default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock only happens in a failing test; keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets a fault plan; request numbering restarts and a crash is cleared.
    pub fn set_plan(&self, plan: FaultPlan) {
        let mut s = self.state();
        s.plan = plan;
        s.since_plan = 0;
        s.crashed = false;
    }

    /// Before each request, yield to other tasks with probability `p` (seeded).
    pub fn interleave(&self, seed: u64, p: f64) {
        self.state().interleave = Some((ChaCha8Rng::seed_from_u64(seed), p));
    }

    /// Waits `latency` before every request (a round trip to a remote store).
    pub fn with_latency(self, latency: std::time::Duration) -> Self {
        self.state().latency = latency;
        self
    }

    pub fn counts(&self) -> BTreeMap<RequestKind, u64> {
        self.state().counts.clone()
    }

    pub fn total(&self) -> u64 {
        self.state().counts.values().sum()
    }

    pub fn reset_counts(&self) {
        self.state().counts.clear();
    }

    pub fn crashed(&self) -> bool {
        self.state().crashed
    }

    /// The wrapped store, without faults or counting.
    pub fn inner(&self) -> Arc<dyn ObjectStore> {
        self.inner.clone()
    }

    async fn admit(&self, kind: RequestKind) -> Verdict {
        let (should_yield, latency) = {
            let mut s = self.state();
            let should_yield = s.interleave.as_mut().is_some_and(|(rng, p)| rng.random_bool(*p));
            (should_yield, s.latency)
        };
        if should_yield {
            tokio::task::yield_now().await;
        }
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let mut s = self.state();
        *s.counts.entry(kind).or_default() += 1;
        s.since_plan += 1;
        if s.crashed {
            return Verdict::FailBefore;
        }
        let k = s.since_plan;
        match s.plan {
            FaultPlan::FailAt(at) if at == k => Verdict::FailBefore,
            FaultPlan::CrashBefore(at) if at == k => {
                s.crashed = true;
                Verdict::FailBefore
            }
            FaultPlan::CrashAfter(at) if at == k => {
                s.crashed = true;
                Verdict::FailAfter
            }
            _ => Verdict::Proceed,
        }
    }
}

fn injected(what: &str) -> object_store::Error {
    object_store::Error::Generic {
        store: "FaultStore",
        source: format!("injected fault on {what}").into(),
    }
}

impl FaultStore {
    async fn guarded<T>(
        &self,
        kind: RequestKind,
        what: &str,
        op: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        match self.admit(kind).await {
            Verdict::Proceed => op.await,
            Verdict::FailBefore => Err(injected(what)),
            Verdict::FailAfter => {
                let _ = op.await;
                Err(injected(what))
            }
        }
    }
}

#[async_trait]
impl ObjectStore for FaultStore {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        self.guarded(
            RequestKind::Put,
            "put",
            self.inner.put_opts(location, payload, opts),
        )
        .await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.guarded(
            RequestKind::Multipart,
            "multipart",
            self.inner.put_multipart_opts(location, opts),
        )
        .await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let kind = if options.head {
            RequestKind::Head
        } else {
            RequestKind::Get
        };
        self.guarded(kind, "get", self.inner.get_opts(location, options))
            .await
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        let this = self.clone();
        let inner = self.inner.clone();
        locations
            .then(move |location| {
                let this = this.clone();
                let inner = inner.clone();
                async move {
                    let location = location?;
                    let deleted = inner.delete_stream(stream::iter([Ok(location)]).boxed());
                    let first = async move {
                        deleted
                            .into_future()
                            .await
                            .0
                            .unwrap_or_else(|| Err(injected("delete")))
                    };
                    this.guarded(RequestKind::Delete, "delete", first).await
                }
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let this = self.clone();
        let prefix = prefix.cloned();
        stream::once(async move {
            match this.admit(RequestKind::List).await {
                Verdict::Proceed => this.inner.list(prefix.as_ref()),
                _ => stream::iter([Err(injected("list"))]).boxed(),
            }
        })
        .flatten()
        .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.guarded(RequestKind::List, "list", self.inner.list_with_delimiter(prefix))
            .await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.guarded(RequestKind::Copy, "copy", self.inner.copy_opts(from, to, options))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::ObjectStoreExt;
    use object_store::memory::InMemory;

    #[tokio::test]
    async fn counts_and_crashes() {
        let store = FaultStore::new(Arc::new(InMemory::new()));
        let p = Path::from("a");
        store.put(&p, PutPayload::from_static(b"x")).await.expect("put");
        store.get(&p).await.expect("get");
        store.head(&p).await.expect("head");
        assert_eq!(store.total(), 3);
        assert_eq!(store.counts()[&RequestKind::Head], 1);

        store.set_plan(FaultPlan::CrashAfter(1));
        assert!(
            store
                .put(&Path::from("b"), PutPayload::from_static(b"y"))
                .await
                .is_err()
        );
        assert!(store.get(&p).await.is_err(), "everything fails after a crash");
        assert!(store.crashed());
        store.set_plan(FaultPlan::None);
        store
            .get(&Path::from("b"))
            .await
            .expect("the crashed put was applied");

        store.set_plan(FaultPlan::CrashBefore(1));
        assert!(
            store
                .put(&Path::from("c"), PutPayload::from_static(b"z"))
                .await
                .is_err()
        );
        store.set_plan(FaultPlan::None);
        assert!(
            store.get(&Path::from("c")).await.is_err(),
            "the put never happened"
        );

        store.set_plan(FaultPlan::FailAt(2));
        store.get(&p).await.expect("first ok");
        assert!(store.get(&p).await.is_err());
        store.get(&p).await.expect("transient");
    }
}
