//! Client-side request budget per Personio credential.
//!
//! Personio counts requests per credential in sliding windows and answers 429 beyond them. Every
//! client instance of one credential in this process draws from the same [`CredentialBudget`]
//! (see [`CredentialBudget::shared`]), so that two syncs of one integration, or a sync and a
//! certificate push, cannot together exceed what either alone keeps to.

use super::config::{RateLimits, RateWindow};
use crate::ports::HrError;
use crate::retry::Deadline;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::Duration;
use tokio::time::Instant;

/// Personio's endpoint groups with separate limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EndpointGroup {
    Employees,
    Documents,
    Auth,
    /// The v2 webhooks management API: Personio documents no rate limit for it.
    Webhooks,
}

impl EndpointGroup {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Employees => "employees",
            Self::Documents => "documents",
            Self::Auth => "auth",
            Self::Webhooks => "webhooks",
        }
    }
}

/// One request in a sliding-window log.
#[derive(Clone, Copy, Debug)]
struct Slot {
    id: u64,
    started: Instant,
    /// When its answer came back (`None` while in flight).
    finished: Option<Instant>,
}

impl Slot {
    /// The latest moment the server can have counted the request: it counts a request on
    /// arrival, which lies between the send and the answer. A request still in flight may
    /// arrive any moment now.
    fn latest_arrival(&self, now: Instant) -> Instant {
        self.finished.unwrap_or(now.max(self.started))
    }
}

/// A sliding-window log of the most recent requests (enough of them to judge the largest
/// window), each known by when the server can have counted it at the latest.
///
/// Judging by the latest possible arrival rather than by the send time makes the spacing hold
/// at the server whatever the network's latency and its jitter: a request sent one window after
/// the answer to an earlier one arrives more than one window after it. The cost is one request's
/// latency per window, instead of a fixed safety margin sized for the worst jitter.
#[derive(Debug)]
struct SlidingWindows {
    windows: Vec<RateWindow>,
    margin: Duration,
    /// In the order they were taken.
    slots: VecDeque<Slot>,
    next_id: u64,
    /// Set after a 429: the server knows better (another process may share the credential).
    paused_until: Option<Instant>,
}

impl SlidingWindows {
    fn new(windows: Vec<RateWindow>, margin: Duration) -> Self {
        Self {
            windows,
            margin,
            slots: VecDeque::new(),
            next_id: 0,
            paused_until: None,
        }
    }

    fn capacity(&self) -> usize {
        self.windows
            .iter()
            .map(|window| window.max_requests as usize)
            .max()
            .unwrap_or(0)
    }

    /// The earliest start at or after `now` that keeps every window within its limit.
    fn earliest_start(&self, now: Instant) -> Instant {
        let mut earliest = now;
        if let Some(paused_until) = self.paused_until {
            earliest = earliest.max(paused_until);
        }
        if let Some(last) = self.slots.back() {
            // Slots are taken in order, so no start comes before an earlier one.
            earliest = earliest.max(last.started);
        }
        let mut arrivals: Vec<Instant> = self
            .slots
            .iter()
            .map(|slot| slot.latest_arrival(now))
            .collect();
        // Latest first.
        arrivals.sort_unstable_by(|a, b| b.cmp(a));
        for window in &self.windows {
            let limit = window.max_requests as usize;
            if limit == 0 {
                continue;
            }
            // The next request may start once the `limit`-th latest one has left the window.
            if let Some(&limit_th) = arrivals.get(limit - 1) {
                earliest = earliest.max(limit_th + window.per + self.margin);
            }
        }
        earliest
    }

    /// Takes a slot starting at `start`; `finished` marks it answered at once (for planning).
    fn reserve(&mut self, start: Instant, finished: bool) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.slots.push_back(Slot {
            id,
            started: start,
            finished: finished.then_some(start),
        });
        let capacity = self.capacity();
        // Answered slots leave first: one still in flight is among the latest arrivals.
        while self.slots.len() > capacity {
            match self.slots.iter().position(|slot| slot.finished.is_some()) {
                Some(index) => {
                    self.slots.remove(index);
                }
                None => break,
            }
        }
        id
    }

    fn finish(&mut self, id: u64, at: Instant) {
        if let Some(slot) = self.slots.iter_mut().find(|slot| slot.id == id) {
            slot.finished = Some(at);
        }
    }
}

/// The least time `requests` back-to-back requests take under `windows` (from the first start to
/// the last start), margins excluded: the floor any client of these limits can reach.
pub fn minimum_duration(windows: &[RateWindow], requests: u64) -> Duration {
    let mut schedule = SlidingWindows::new(windows.to_vec(), Duration::ZERO);
    let origin = Instant::now();
    let mut last = origin;
    for _ in 0..requests {
        last = schedule.earliest_start(origin);
        schedule.reserve(last, true);
    }
    last - origin
}

/// The budget of one credential: one sliding-window log per endpoint group.
#[derive(Debug)]
pub struct CredentialBudget {
    groups: Mutex<HashMap<EndpointGroup, SlidingWindows>>,
}

type BudgetKey = (String, String);

static SHARED_BUDGETS: LazyLock<Mutex<HashMap<BudgetKey, Weak<CredentialBudget>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

impl CredentialBudget {
    pub fn new(limits: &RateLimits) -> Self {
        let groups = [
            (EndpointGroup::Employees, &limits.employees),
            (EndpointGroup::Documents, &limits.documents),
            (EndpointGroup::Auth, &limits.auth),
        ]
        .into_iter()
        .map(|(group, windows)| {
            (
                group,
                SlidingWindows::new(windows.clone(), limits.window_margin),
            )
        })
        .collect();
        Self {
            groups: Mutex::new(groups),
        }
    }

    /// The budget every client of `client_id` at `api` (the API's origin) shares in this
    /// process. The first client to ask sets the limits; later ones get the same budget as long
    /// as any client still holds it.
    pub fn shared(api: &str, client_id: &str, limits: &RateLimits) -> Arc<Self> {
        let key = (api.to_owned(), client_id.to_owned());
        let mut registry = SHARED_BUDGETS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(budget) = registry.get(&key).and_then(Weak::upgrade) {
            return budget;
        }
        registry.retain(|_, budget| budget.strong_count() > 0);
        let budget = Arc::new(Self::new(limits));
        registry.insert(key, Arc::downgrade(&budget));
        budget
    }

    /// Waits for a slot in `group`'s windows and takes it. Fails without taking a slot when the
    /// slot would come after the deadline. The request's answer is noted when the returned
    /// [`BudgetSlot`] drops: hold it until the answer is in.
    ///
    /// The slot is recorded at the moment it is taken, not planned ahead: a task that wakes up
    /// late (a busy runtime) then cannot squeeze the next requests closer together than the
    /// windows allow.
    pub async fn acquire(
        &self,
        group: EndpointGroup,
        deadline: Deadline,
    ) -> Result<BudgetSlot<'_>, HrError> {
        loop {
            let earliest = {
                let mut groups = self.lock();
                let Some(log) = groups.get_mut(&group) else {
                    return Ok(BudgetSlot {
                        budget: self,
                        group,
                        id: None,
                    });
                };
                let now = Instant::now();
                let earliest = log.earliest_start(now);
                if earliest >= deadline.instant() {
                    return Err(HrError::DeadlineExceeded);
                }
                if earliest <= now {
                    let id = log.reserve(now, false);
                    return Ok(BudgetSlot {
                        budget: self,
                        group,
                        id: Some(id),
                    });
                }
                earliest
            };
            tracing::trace!(
                group = group.as_str(),
                wait_ms = (earliest - Instant::now()).as_millis() as u64,
                "waiting for the rate budget"
            );
            tokio::time::sleep_until(earliest).await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<EndpointGroup, SlidingWindows>> {
        self.groups
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Holds back every request of `group` until `until` (after a 429: whatever the reason,
    /// more requests now would only earn more 429s).
    pub fn pause(&self, group: EndpointGroup, until: Instant) {
        let mut groups = self.lock();
        if let Some(log) = groups.get_mut(&group) {
            log.paused_until = Some(log.paused_until.map_or(until, |paused| paused.max(until)));
        }
    }
}

/// A request's place in its credential's budget, taken by [`CredentialBudget::acquire`]. Dropping
/// it notes the answer's arrival, from which the next requests are spaced.
#[must_use = "hold the slot until the answer is in"]
#[derive(Debug)]
pub struct BudgetSlot<'a> {
    budget: &'a CredentialBudget,
    group: EndpointGroup,
    /// `None` when the group has no limits.
    id: Option<u64>,
}

impl Drop for BudgetSlot<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id
            && let Some(log) = self.budget.lock().get_mut(&self.group)
        {
            log.finish(id, Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn employees_only(windows: Vec<RateWindow>, margin: Duration) -> CredentialBudget {
        CredentialBudget::new(&RateLimits {
            employees: windows,
            window_margin: margin,
            ..RateLimits::unlimited()
        })
    }

    /// Start times (relative to the test's start) of `count` acquisitions in a row.
    async fn start_times(budget: &CredentialBudget, count: usize) -> Vec<Duration> {
        let origin = Instant::now();
        let mut starts = Vec::new();
        for _ in 0..count {
            drop(
                budget
                    .acquire(EndpointGroup::Employees, Deadline::none())
                    .await
                    .expect("no deadline"),
            );
            starts.push(Instant::now() - origin);
        }
        starts
    }

    #[tokio::test(start_paused = true)]
    async fn bursts_then_spreads_over_every_window() {
        let budget = employees_only(
            vec![
                RateWindow::new(6, Duration::from_secs(60)),
                RateWindow::new(2, Duration::from_secs(1)),
            ],
            Duration::from_millis(10),
        );
        let starts = start_times(&budget, 7).await;
        let millis: Vec<u128> = starts.iter().map(Duration::as_millis).collect();
        // Two per second (plus margin), and the seventh waits for the first to leave the minute.
        assert_eq!(millis, vec![0, 0, 1010, 1010, 2020, 2020, 60010]);
    }

    #[tokio::test(start_paused = true)]
    async fn no_sliding_window_ever_holds_more_than_its_limit() {
        let windows = RateLimits::personio_documented().employees;
        let budget = employees_only(windows.clone(), Duration::ZERO);
        let starts = start_times(&budget, 400).await;
        for window in &windows {
            for (index, start) in starts.iter().enumerate() {
                let in_window = starts[index..]
                    .iter()
                    .take_while(|later| **later < *start + window.per)
                    .count();
                assert!(
                    in_window <= window.max_requests as usize,
                    "{window:?} at {start:?}"
                );
            }
        }
        // …and the budget is not slower than the limits require: the 301st request waits for
        // the 1st (at 0 s) to leave the minute, the 400th for the 100th (at 6 s).
        assert_eq!(*starts.last().expect("400 starts"), Duration::from_secs(66));
    }

    #[test]
    fn minimum_duration_follows_every_window() {
        let windows = RateLimits::personio_documented().employees;
        // 15 per second: requests 1-15 at 0 s, 16-30 at 1 s, …, 91-100 at 6 s.
        assert_eq!(minimum_duration(&windows, 100), Duration::from_secs(6));
        assert_eq!(minimum_duration(&windows, 15), Duration::ZERO);
        assert_eq!(minimum_duration(&windows, 301), Duration::from_secs(60));
        assert_eq!(minimum_duration(&windows, 400), Duration::from_secs(66));
        assert_eq!(minimum_duration(&[], 1000), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn later_requests_are_spaced_from_the_answer_and_wait_for_one_in_flight() {
        let budget = employees_only(
            vec![RateWindow::new(1, Duration::from_secs(1))],
            Duration::from_millis(10),
        );
        let origin = Instant::now();
        let slot = budget
            .acquire(EndpointGroup::Employees, Deadline::none())
            .await
            .expect("first slot is free");
        // The answer takes 300 ms: the server counted the request at some point in between.
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(slot);
        let second = budget
            .acquire(EndpointGroup::Employees, Deadline::none())
            .await
            .expect("no deadline");
        assert_eq!(Instant::now() - origin, Duration::from_millis(1310));

        // While the second is in flight (2 s, say), the third cannot start: the second may
        // still arrive. It starts a window after the answer.
        let in_flight = async {
            tokio::time::sleep(Duration::from_secs(2)).await;
            drop(second);
        };
        let third = async {
            drop(
                budget
                    .acquire(EndpointGroup::Employees, Deadline::none())
                    .await
                    .expect("no deadline"),
            );
            Instant::now() - origin
        };
        let ((), third_started) = tokio::join!(in_flight, third);
        assert_eq!(third_started, Duration::from_millis(1310 + 2000 + 1010));
    }

    #[tokio::test(start_paused = true)]
    async fn a_slot_after_the_deadline_is_refused_and_not_taken() {
        let budget = employees_only(
            vec![RateWindow::new(1, Duration::from_secs(10))],
            Duration::ZERO,
        );
        let deadline = Deadline::after(Duration::from_secs(5));
        drop(
            budget
                .acquire(EndpointGroup::Employees, deadline)
                .await
                .expect("first slot is free"),
        );
        let refused = budget.acquire(EndpointGroup::Employees, deadline).await;
        assert!(matches!(refused, Err(HrError::DeadlineExceeded)));
        // The refused attempt did not push the next slot further out.
        let origin = Instant::now();
        drop(
            budget
                .acquire(EndpointGroup::Employees, Deadline::none())
                .await
                .expect("no deadline"),
        );
        assert_eq!(Instant::now() - origin, Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_back_the_group() {
        let budget = employees_only(Vec::new(), Duration::ZERO);
        let origin = Instant::now();
        budget.pause(EndpointGroup::Employees, origin + Duration::from_secs(3));
        drop(
            budget
                .acquire(EndpointGroup::Employees, Deadline::none())
                .await
                .expect("no deadline"),
        );
        assert_eq!(Instant::now() - origin, Duration::from_secs(3));
        // Other groups are not affected.
        drop(
            budget
                .acquire(EndpointGroup::Auth, Deadline::none())
                .await
                .expect("no deadline"),
        );
        assert_eq!(Instant::now() - origin, Duration::from_secs(3));
    }

    #[test]
    fn clients_of_one_credential_share_one_budget() {
        let limits = RateLimits::personio_documented();
        let first = CredentialBudget::shared("http://127.0.0.1:1", "client-a", &limits);
        let second = CredentialBudget::shared("http://127.0.0.1:1", "client-a", &limits);
        let other = CredentialBudget::shared("http://127.0.0.1:1", "client-b", &limits);
        assert!(Arc::ptr_eq(&first, &second));
        assert!(!Arc::ptr_eq(&first, &other));
    }
}
