//! Deterministic simulation of the session engine: the proof that a session is never lost by
//! mistake, by exploring interleavings rather than hand-picked scenarios.
//!
//! One to five tabs each run the real [`Driver`] and [`Engine`] over a simulated [`Io`]. They
//! share one storage (change events reach the other tabs late, in any order; with
//! `SIM_READ_LAG_MS`, reads too lag behind other tabs' writes, as Chromium hands them between
//! processes) and one cross-tab lock. A model token server speaks SimpleJWT: access and refresh
//! lifetimes, rotation with blacklist after rotation (or no rotation), revocation and
//! sign-out, and, in most
//! histories, periods of 5xx, slow answers (past the timeout) and answers whose access token is
//! unusable. Clocks are off the server's by up to half an access-token lifetime and jump (see
//! below); tabs sleep (and hear `Resumed` on waking), close, open, and remount their provider
//! mid-refresh; the browser goes offline for up to a minute (calls fail without reaching the
//! server; a quarter of the tabs miss the `online` event and learn of the network from their
//! offline probe); users sign in, sign out, update the user and make API calls that get 401s.
//! The tokens carry `iat`, so tabs judge the clock offset at every answer, and a clock that
//! jumps afterwards errs by the jump. After every step:
//!
//! - P1 no tab and no storage goes from signed in to signed out unless the server really
//!   refused the chain (revoked, signed out, expired: within the clock skew, or within twice
//!   the largest skew while the server cannot be reached, when a tab's clock decides on an
//!   offset judged before a jump) or a tab closed
//!   while the server's answer with the rotated token was on its way (no client can keep
//!   what it never received; counted as "orphaned");
//! - P2 at quiescence (no call out, no flight, lock free) storage holds the newest refresh
//!   token the server issued for a live chain;
//! - P3 nothing signed out comes back: a tab or the storage never returns to a chain it left;
//! - P4 once storage holds a replacement for an access token, no tab refreshes that token
//!   again (one call per access-token lifetime per chain, across all tabs);
//! - P5 calls of one provider are at least 100 ms apart on its clock, which bounds the calls
//!   per hour for any lifetime (the 1 s floor after successes is in the engine tests);
//! - P6 nothing panics;
//! - P7 every caller waiting for a refresh is answered (checked after the quiet tail);
//! - P8 nothing stalls: after the quiet tail every mounted tab that heard `online` knows the
//!   network is back, one that missed it and has a refresh due has its probe set within a
//!   minute, and each signed-in one has its timer set or a refresh under way.
//!
//! With lagging reads (`SIM_READ_LAG_MS`) a tab may write from a view that misses another
//! tab's write of a moment ago; the tab whose write was lost repairs it when it hears of the
//! stale one (sessions carry their line, generation and epoch; a sign-out leaves a marker
//! naming the line it ended). So then P1 for storage and P2 and P3 are judged at rest (no
//! storage event on its way either): P1 as "storage holds the last sign-in while the server
//! accepts it", P3 as "storage and every tab hold no chain but that of the last sign-in" (a
//! sign-out from a view that had not seen a sign-in is not a sign-out of it), and P4 counts
//! replacements within a chain only (a tab may refresh a chain a sign-in replaced a moment
//! ago: that is no second refresh of it). P1 for tabs stays checked at every step.
//!
//! With consistent reads each tab has a clock of its own (off the server's and jumping),
//! which is harder on expiry judged under the lock than one clock. With lagging reads the tabs
//! read one browser clock, as they do in a browser: two tabs that sign in within the lag of
//! each other, neither having seen the other's sign-in, are ordered by that clock (the later
//! sign-in wins), which clocks of their own would invert.
//!
//! `cargo test --lib simulation -- --nocapture` prints the figures. `SIM_HISTORIES=N` runs N
//! histories (default 10,000); `SIM_SEED=S` replays history S with its log; `SIM_LIST=N`
//! lists the first N violations; `SIM_READ_LAG_MS=100` lets reads lag (`cargo xtask test`
//! runs both).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::{Rc, Weak};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::refresh::schedule::{Backoff, MIN_BACKOFF};
use crate::token::tests::jwt;

type User = u32;
type Tab = Driver<User, SimIo>;

/// The lock's settle time, which the simulated browser waits after granting the lock.
const LOCK_SETTLE_MS: u64 = LOCK_SETTLE.as_millis() as u64;
/// Server time at the start of every history.
const START: u64 = 1_700_000_000_000;
/// The most a tab's view of storage lags behind other tabs' writes (`SIM_READ_LAG_MS`,
/// default 0: reads are consistent). Kept under [`LOCK_SETTLE`], which is what keeps the
/// next lock holder from reading old tokens.
fn max_read_lag() -> u64 {
    env_number("SIM_READ_LAG_MS")
        .unwrap_or(0)
        .min(LOCK_SETTLE_MS - 10)
}

/// Histories per run: `cargo xtask test` runs the optimised build (seconds); an unoptimised
/// `cargo test` runs fewer so that it stays quick.
const DEFAULT_HISTORIES: u64 = if cfg!(debug_assertions) { 300 } else { 10_000 };

/// The shape of one history.
#[derive(Debug, Clone)]
struct Knobs {
    tabs: usize,
    access_ms: u64,
    refresh_ms: u64,
    settings: Settings,
    failures: bool,
    /// SimpleJWT's `ROTATE_REFRESH_TOKENS`: off, the refresh token stays the same.
    rotate: bool,
    /// The tokens carry `iat` (most do; without it the clock offset is never judged).
    iat: bool,
    actions: u32,
}

impl Knobs {
    fn draw(rng: &mut StdRng) -> Self {
        let access_ms =
            [1_000, 2_000, 3_000, 5_000, 10_000, 30_000, 60_000, 300_000][rng.gen_range(0..8)];
        let refresh_ms = match rng.gen_range(0..4) {
            0 => access_ms * 3,
            1 => access_ms * 10,
            2 => access_ms * 100,
            _ => 86_400_000,
        };
        let leeway = Duration::from_secs([0, 1, 5, 30][rng.gen_range(0..4)]);
        let interval = if rng.gen_bool(0.2) {
            Duration::from_millis(access_ms / 2)
        } else {
            Duration::from_secs(86_400)
        };
        let backoff = if rng.gen_bool(0.3) {
            Backoff {
                initial: Duration::ZERO,
                max: Duration::ZERO,
            }
        } else {
            Backoff::default()
        };
        Self {
            tabs: rng.gen_range(1..=5),
            access_ms,
            refresh_ms,
            settings: Settings {
                leeway,
                timing: Some(Timing {
                    interval,
                    leeway,
                    backoff,
                }),
                timeout: Duration::from_secs([2, 30][rng.gen_range(0..2)]),
                shared: true,
                warn_before: None,
                log: None,
                revoke: false,
            },
            failures: rng.gen_bool(0.7),
            rotate: rng.gen_bool(0.75),
            actions: rng.gen_range(10..40),
            iat: rng.gen_ratio(3, 4),
        }
    }

    fn skew(&self, rng: &mut StdRng) -> i64 {
        let half = i64::try_from(self.access_ms / 2).unwrap_or(0);
        rng.gen_range(-half..=half)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Normal,
    Down,
    Slow,
    Unusable,
}

#[derive(Debug)]
struct Chain {
    latest: String,
    latest_exp: u64,
    ended: Option<&'static str>,
    orphaned: bool,
    /// A tab or storage left it when that was allowed (expired within the tolerance then):
    /// with lagging reads storage is judged at rest, maybe after the server is back.
    excused: bool,
}

/// SimpleJWT with `ROTATE_REFRESH_TOKENS` and `BLACKLIST_AFTER_ROTATION`.
#[derive(Debug, Default)]
struct Server {
    minted: u64,
    chains: Vec<Chain>,
    refresh: HashMap<String, (usize, u64)>,
    access: HashMap<String, (usize, u64)>,
    calls: u64,
}

impl Server {
    /// A JWT issued at `iat_ms` on the server's clock, with `iat` when `iat` is set (as
    /// SimpleJWT's tokens).
    fn mint(&mut self, kind: &str, iat_ms: Option<u64>, exp_ms: u64) -> String {
        self.minted += 1;
        let iat = iat_ms.map_or(String::new(), |at| format!(r#""iat":{},"#, at / 1000));
        jwt(&format!(
            r#"{{{iat}"exp":{},"jti":"{kind}{}"}}"#,
            exp_ms / 1000,
            self.minted
        ))
    }

    fn issue(&mut self, chain: usize, t: u64, knobs: &Knobs) -> (String, String) {
        let access_exp = t + knobs.access_ms;
        let access = self.mint("a", knobs.iat.then_some(t), access_exp);
        self.access.insert(access.clone(), (chain, access_exp));
        let current = &self.chains[chain];
        if !knobs.rotate && !current.latest.is_empty() {
            return (access, current.latest.clone());
        }
        let refresh_exp = t + knobs.refresh_ms;
        let refresh = self.mint("r", knobs.iat.then_some(t), refresh_exp);
        self.refresh.insert(refresh.clone(), (chain, refresh_exp));
        let chain = &mut self.chains[chain];
        chain.latest = refresh.clone();
        chain.latest_exp = refresh_exp / 1000 * 1000;
        (access, refresh)
    }

    fn login(&mut self, t: u64, knobs: &Knobs) -> (String, String) {
        self.chains.push(Chain {
            latest: String::new(),
            latest_exp: 0,
            ended: None,
            orphaned: false,
            excused: false,
        });
        self.issue(self.chains.len() - 1, t, knobs)
    }

    fn chain_of(&self, refresh: &str) -> Option<usize> {
        self.refresh.get(refresh).map(|(chain, _)| *chain)
    }

    /// POST /api/token/refresh/. Returns the answer and the chain it rotated, if any.
    fn refresh(
        &mut self,
        t: u64,
        params: &RefreshParams<User>,
        mode: Mode,
        knobs: &Knobs,
        rng: &mut StdRng,
    ) -> (Result<Refreshed<User>, RefreshError>, Option<usize>) {
        if mode == Mode::Down {
            return (Err(RefreshError::Transient("HTTP 503".into())), None);
        }
        let sent = params
            .refresh_token
            .as_ref()
            .map(|t| t.expose().to_owned())
            .unwrap_or_default();
        let Some(&(chain, exp)) = self.refresh.get(&sent) else {
            return (Err(RefreshError::Rejected("Token is invalid".into())), None);
        };
        if let Some(why) = self.chains[chain].ended {
            return (Err(RefreshError::Rejected(why.into())), None);
        }
        if self.chains[chain].latest != sent {
            return (
                Err(RefreshError::Rejected("Token is blacklisted".into())),
                None,
            );
        }
        if exp / 1000 * 1000 <= t {
            self.chains[chain].ended = Some("Token is expired");
            return (Err(RefreshError::Rejected("Token is expired".into())), None);
        }
        let (access, refresh) = self.issue(chain, t, knobs);
        let access = if mode == Mode::Unusable {
            match rng.gen_range(0..3) {
                0 => "opaque-without-expiry".to_owned(),
                1 => self.mint("a", Some(t.saturating_sub(65_000)), t.saturating_sub(5_000)),
                _ => params.auth_token.expose().to_owned(),
            }
        } else {
            access
        };
        if !knobs.rotate {
            return (Ok(Refreshed::new(access)), None);
        }
        (
            Ok(Refreshed::new(access).refresh_token(refresh)),
            Some(chain),
        )
    }

    /// GET /api/me with this access token.
    fn accepts(&self, access: &str, t: u64) -> bool {
        self.access.get(access).is_some_and(|&(chain, exp)| {
            self.chains[chain].ended.is_none() && exp / 1000 * 1000 > t
        })
    }
}

#[derive(Debug)]
enum Delivery {
    Action,
    Timer {
        instance: u64,
        generation: u64,
    },
    Process {
        instance: u64,
        call: Id,
        params: RefreshParams<User>,
    },
    Answer {
        instance: u64,
        call: Id,
        result: Result<Refreshed<User>, RefreshError>,
        rotated: Option<usize>,
    },
    Grant {
        instance: u64,
        flight: Id,
    },
    Release {
        instance: u64,
        flight: Id,
    },
    Storage {
        instance: u64,
    },
    /// The page is back (the tab woke from a sleep): `Resumed`.
    Resume {
        instance: u64,
    },
    /// The browser's network came back: `Online(true)`.
    Online {
        instance: u64,
    },
}

impl Delivery {
    /// The tab this is delivered to (`None`: the server or the user).
    fn instance(&self) -> Option<u64> {
        match self {
            Delivery::Action | Delivery::Process { .. } => None,
            Delivery::Timer { instance, .. }
            | Delivery::Answer { instance, .. }
            | Delivery::Grant { instance, .. }
            | Delivery::Release { instance, .. }
            | Delivery::Storage { instance }
            | Delivery::Resume { instance }
            | Delivery::Online { instance } => Some(*instance),
        }
    }
}

/// One provider: the current one of its tab, or an unmounted one whose call is still out.
struct Instance {
    tab: usize,
    driver: Rc<Tab>,
    mounted: bool,
    timer_generation: u64,
    chain: Option<usize>,
    left: HashSet<usize>,
    /// Browser time of the last call, and how often the clock had jumped then.
    last_call: Option<(u64, u32)>,
    /// The tab missed the last `online` event: it may believe it is offline until its
    /// offline probe gets an answer or it resumes.
    missed_online: bool,
}

struct TabState {
    /// How far this tab's clock is off the server's, in ms.
    skew: i64,
    /// How often this tab's clock has jumped.
    jumps: u32,
    /// How late other tabs' storage writes become visible here (Chromium hands them to other
    /// processes a little late); its own writes it sees at once.
    lag: u64,
    asleep_until: u64,
    open: bool,
    instance: u64,
}

struct World {
    t: u64,
    seq: u64,
    end: u64,
    queue: BTreeMap<(u64, u64), Delivery>,
    rng: StdRng,
    knobs: Knobs,
    mode: Mode,
    storage: Option<String>,
    /// What storage held before the oldest logged write.
    before_log: Option<String>,
    /// The largest read lag drawn for a tab.
    max_lag: u64,
    /// Recent writes (time, writing tab, value), for reads that lag behind.
    writes: Vec<(u64, usize, Option<String>)>,
    /// The last stored value decoded, and its refresh token.
    decoded: (Option<String>, Option<String>),
    storage_chain: Option<usize>,
    storage_left: HashSet<usize>,
    /// The chain of the last sign-in, `None` after a sign-out, and its order (epoch, line):
    /// two sign-ins that did not see each other (within the read lag, on the one clock) are
    /// ordered as the engine orders them, the greater winning.
    chosen: Option<usize>,
    chosen_order: (u64, u64),
    server: Server,
    tabs: Vec<TabState>,
    instances: BTreeMap<u64, Instance>,
    next_instance: u64,
    lock_holder: Option<(u64, Id)>,
    lock_waiting: VecDeque<(u64, Id)>,
    calls_out: u32,
    actions_left: u32,
    max_skew: u64,
    log: Option<Vec<String>>,
    orphaned: u32,
    legit_sign_outs: u32,
    /// Waiters asked for by the simulated app and not answered yet.
    waiting: HashSet<(u64, Id)>,
    /// Access tokens storage has replaced, and the first P4 violation.
    replaced_access: HashSet<String>,
    p4: Option<String>,
    /// The browser is offline until then: refresh calls fail without reaching the server.
    offline_until: u64,
}

impl World {
    fn at(&mut self, delay: u64, delivery: Delivery) {
        self.seq += 1;
        self.queue.insert((self.t + delay, self.seq), delivery);
    }

    fn note(&mut self, text: impl FnOnce() -> String) {
        if let Some(log) = &mut self.log {
            log.push(format!("{:>9} ms  {}", self.t - START, text()));
        }
    }

    fn tab_now(&self, tab: usize) -> Timestamp {
        Timestamp::from_unix_millis(self.t.saturating_add_signed(self.tabs[tab].skew))
    }

    fn pump_lock(&mut self) {
        if self.lock_holder.is_none() {
            if let Some((instance, flight)) = self.lock_waiting.pop_front() {
                self.lock_holder = Some((instance, flight));
                self.at(1 + LOCK_SETTLE_MS, Delivery::Grant { instance, flight });
            }
        }
    }
}

struct SimIo {
    world: Weak<RefCell<World>>,
    instance: u64,
    tab: usize,
}

impl SimIo {
    fn with<R>(&self, act: impl FnOnce(&mut World) -> R) -> R {
        let world = self.world.upgrade().expect("the world outlives its tabs");
        let mut world = world.borrow_mut();
        act(&mut world)
    }
}

impl Io<User> for SimIo {
    fn now(&self) -> Timestamp {
        self.with(|w| w.tab_now(self.tab))
    }

    fn load(&self) -> Option<String> {
        self.with(|w| {
            let lag = w.tabs[self.tab].lag;
            let visible = w
                .writes
                .iter()
                .rev()
                .find(|(at, tab, _)| *tab == self.tab || at + lag <= w.t);
            match visible {
                Some((_, _, value)) => value.clone(),
                // Older than the log: the value before the first logged write.
                None => w.before_log.clone(),
            }
        })
    }

    fn save(
        &self,
        text: Option<&str>,
        _: Option<Timestamp>,
        _: Timestamp,
    ) -> Result<(), AuthError> {
        self.with(|w| {
            w.note(|| format!("#{} stores {}", self.instance, describe(text)));
            let tokens = |text: Option<&str>| {
                let session =
                    record::decode::<User>(text?, Timestamp::from_unix_millis(w.t)).ok()?;
                let refresh = session.refresh_token().map(|r| r.expose().to_owned());
                Some((session.auth_token().expose().to_owned(), refresh))
            };
            // Replaced by a newer token (a sign-out ends the chain: P1/P3 cover that). With
            // lagging reads, a tab may refresh a chain a sign-in replaced a moment ago (it
            // cannot see it yet): that is no second refresh of the chain, so only a
            // replacement within the chain counts then.
            if let (Some((old, old_refresh)), Some((new, new_refresh))) =
                (tokens(w.storage.as_deref()), tokens(text))
            {
                let chain = |refresh: Option<String>| refresh.and_then(|r| w.server.chain_of(&r));
                let same_chain = w.max_lag == 0 || chain(old_refresh) == chain(new_refresh);
                if new != old && same_chain {
                    w.replaced_access.insert(old);
                }
            }
            w.storage = text.map(str::to_owned);
            let (t, tab) = (w.t, self.tab);
            w.writes.push((t, tab, w.storage.clone()));
            // Keep only what a lagging read can still see.
            while w.writes.len() > 1 && w.writes[0].0 + w.max_lag < t {
                let (_, _, value) = w.writes.remove(0);
                w.before_log = value;
            }
            let others: Vec<u64> = w
                .instances
                .iter()
                .filter(|(id, i)| **id != self.instance && i.mounted)
                .map(|(id, _)| *id)
                .collect();
            for instance in others {
                // The event fires once the write is visible to that tab, or later.
                let lag = w.instances.get(&instance).map_or(0, |i| w.tabs[i.tab].lag);
                let delay = lag + w.rng.gen_range(0..=1_500);
                w.at(delay, Delivery::Storage { instance });
            }
        });
        Ok(())
    }

    fn call_refresh(&self, call: Id, params: RefreshParams<User>) {
        // The engine is not borrowed while its commands run: read whether it is failing.
        self.with(|w| {
            w.calls_out += 1;
            w.server.calls += 1;
            let now = w.tab_now(self.tab).unix_millis();
            let jumps = w.tabs[self.tab].jumps;
            let instance = w
                .instances
                .get_mut(&self.instance)
                .expect("calling instance");
            // P5: spacing between calls of one provider on its own clock (unless the clock
            // jumped in between). The 1 s floor after successes is checked by the engine tests.
            if let Some((last, _)) = instance.last_call.filter(|(_, j)| *j == jumps) {
                let gap = now.saturating_sub(last);
                let floor = MIN_BACKOFF;
                assert!(
                    u128::from(gap) >= floor.as_millis(),
                    "P5: #{} calls {gap} ms apart (tab time {last} then {now})",
                    self.instance
                );
            }
            instance.last_call = Some((now, jumps));
            // P4: once storage holds a replacement for an access token, no tab refreshes it
            // again (one call per access-token lifetime, across all tabs).
            let access = params.auth_token.expose();
            if w.replaced_access.contains(access) && w.p4.is_none() {
                let chain = w.server.access.get(access).map(|(chain, _)| *chain);
                w.p4 = Some(format!(
                    "P4: #{} refreshed an access token of chain {chain:?} already replaced",
                    self.instance
                ));
            }
            w.note(|| {
                let sent = params
                    .refresh_token
                    .as_ref()
                    .map_or("-".into(), |t| name(t.expose()));
                format!("#{} call {call} sends {sent}", self.instance)
            });
            let up = w.rng.gen_range(1..=150);
            w.at(
                up,
                Delivery::Process {
                    instance: self.instance,
                    call,
                    params,
                },
            );
        });
    }

    fn acquire_lock(&self, flight: Id) {
        self.with(|w| {
            w.note(|| format!("#{} wants the lock ({flight})", self.instance));
            w.lock_waiting.push_back((self.instance, flight));
            w.pump_lock();
        });
    }

    fn release_lock(&self, flight: Id) {
        self.with(|w| {
            w.at(
                0,
                Delivery::Release {
                    instance: self.instance,
                    flight,
                },
            );
        });
    }

    fn set_timer(&self, at: Option<Timestamp>, now: Timestamp) {
        self.with(|w| {
            let Some(instance) = w.instances.get_mut(&self.instance) else {
                return;
            };
            instance.timer_generation += 1;
            let generation = instance.timer_generation;
            if let Some(at) = at {
                let delay = u64::try_from(at.saturating_duration_since(now).as_millis())
                    .unwrap_or(u64::MAX / 4)
                    .min(u64::MAX / 4);
                let late = w.rng.gen_range(0..=20);
                w.at(
                    delay + late,
                    Delivery::Timer {
                        instance: self.instance,
                        generation,
                    },
                );
            }
        });
    }

    fn publish(&self, _: &AuthState<User>, _: AuthStatus, _: &RefreshInfo) {}

    fn hook(&self, hook: Hook) {
        self.with(|w| w.note(|| format!("#{} hook {hook:?}", self.instance)));
    }

    fn resolve(&self, waiter: Id, outcome: RefreshOutcome) {
        self.with(|w| {
            w.waiting.remove(&(self.instance, waiter));
            w.note(|| format!("#{} waiter {waiter}: {outcome:?}", self.instance));
        });
    }
}

/// What one history came to.
#[derive(Debug, Default)]
struct Report {
    steps: u64,
    calls: u64,
    violation: Option<String>,
    log: Vec<String>,
    orphaned: u32,
    legit_sign_outs: u32,
    hours: f64,
}

fn open_tab(world: &Rc<RefCell<World>>, tab: Option<usize>) -> u64 {
    let (instance, tab, settings) = {
        let mut w = world.borrow_mut();
        w.next_instance += 1;
        let instance = w.next_instance;
        let tab = match tab {
            Some(tab) => {
                w.tabs[tab].instance = instance;
                tab
            }
            None => {
                let w = &mut *w;
                // With lagging reads, one browser clock: a new tab reads the others' clock.
                let (skew, jumps) = match w.tabs.first().filter(|_| w.max_lag > 0) {
                    Some(first) => (first.skew, first.jumps),
                    None => (w.knobs.skew(&mut w.rng), 0),
                };
                w.max_skew = w.max_skew.max(skew.unsigned_abs());
                let index = w.tabs.len();
                w.note(|| format!("tab {index}'s clock at skew {skew} ms"));
                let lag = w.rng.gen_range(0..=w.max_lag);
                w.tabs.push(TabState {
                    skew,
                    jumps,
                    lag,
                    asleep_until: 0,
                    open: true,
                    instance,
                });
                w.tabs.len() - 1
            }
        };
        (instance, tab, w.knobs.settings)
    };
    let driver = Rc::new(Driver::new(
        settings,
        SimIo {
            world: Rc::downgrade(world),
            instance,
            tab,
        },
    ));
    world.borrow_mut().instances.insert(
        instance,
        Instance {
            tab,
            driver: driver.clone(),
            mounted: true,
            timer_generation: 0,
            chain: None,
            left: HashSet::new(),
            last_call: None,
            missed_online: false,
        },
    );
    let offline_for = {
        let w = world.borrow();
        w.offline_until.saturating_sub(w.t)
    };
    if offline_for > 0 {
        // A page opened during an outage starts offline and hears `online` with the others.
        driver.feed(Event::Online(false));
        world
            .borrow_mut()
            .at(offline_for, Delivery::Online { instance });
    }
    driver.feed(Event::Wake);
    let mut w = world.borrow_mut();
    let lag = w.tabs[tab].lag;
    if lag > 0 {
        // The page may have read storage before a recent write of another tab reached it:
        // it hears of that write when it does.
        w.at(lag, Delivery::Storage { instance });
    }
    instance
}

/// Feeds `event` to `instance` if it is still mounted.
fn feed_mounted(world: &Rc<RefCell<World>>, instance: u64, event: Event<User>) {
    let mounted = world
        .borrow()
        .instances
        .get(&instance)
        .is_some_and(|i| i.mounted);
    if mounted {
        if let Some(driver) = driver_of(world, instance) {
            driver.feed(event);
        }
    }
}

fn driver_of(world: &Rc<RefCell<World>>, instance: u64) -> Option<Rc<Tab>> {
    world
        .borrow()
        .instances
        .get(&instance)
        .map(|i| i.driver.clone())
}

/// A random mounted, open instance.
fn some_tab(world: &Rc<RefCell<World>>) -> Option<(usize, u64)> {
    let mut w = world.borrow_mut();
    let open: Vec<(usize, u64)> = w
        .tabs
        .iter()
        .enumerate()
        .filter(|(_, tab)| tab.open)
        .map(|(index, tab)| (index, tab.instance))
        .collect();
    if open.is_empty() {
        return None;
    }
    let pick = w.rng.gen_range(0..open.len());
    Some(open[pick])
}

fn act(world: &Rc<RefCell<World>>) {
    let (kind, failures) = {
        let mut w = world.borrow_mut();
        (w.rng.gen_range(0..100u32), w.knobs.failures)
    };
    let Some((tab, instance)) = some_tab(world) else {
        open_tab(world, None);
        return;
    };
    if world.borrow().tabs[tab].asleep_until > world.borrow().t {
        return; // nobody clicks in a frozen tab
    }
    let Some(driver) = driver_of(world, instance) else {
        return;
    };
    match kind {
        0..=9 => {
            let (access, refresh) = {
                let mut w = world.borrow_mut();
                let t = w.t;
                let knobs = w.knobs.clone();
                w.note(|| format!("#{instance} signs in"));
                w.server.login(t, &knobs)
            };
            signed_in(world, &driver, access, refresh);
        }
        10..=14 => {
            let held = driver
                .engine()
                .state()
                .session()
                .and_then(|s| s.refresh_token().map(|t| t.expose().to_owned()));
            // The engine reads storage first (its view of it, which may lag): the chain it
            // sees there is signed out too.
            let view = driver.io().load();
            let mut w = world.borrow_mut();
            w.note(|| format!("#{instance} signs out"));
            let now = Timestamp::from_unix_millis(w.t);
            let seen = view
                .as_deref()
                .and_then(|text| record::decode::<User>(text, now).ok())
                .and_then(|session| w.server.chain_of(session.refresh_token()?.expose()));
            let held = held.and_then(|r| w.server.chain_of(&r));
            for chain in [held, seen].into_iter().flatten() {
                w.server.chains[chain].ended.get_or_insert("signed out");
            }
            // A sign-in this tab had not seen yet is not what its user signed out of.
            if w.chosen
                .is_some_and(|chosen| [held, seen].contains(&Some(chosen)))
            {
                w.chosen = None;
            }
            drop(w);
            driver.feed(Event::SignOut);
        }
        15..=29 => {
            let user = world.borrow_mut().rng.gen();
            world
                .borrow_mut()
                .note(|| format!("#{instance} updates the user"));
            let _ = driver.update_user(user);
        }
        30..=49 => {
            let access = driver
                .engine()
                .state()
                .session()
                .map(|s| s.auth_token().expose().to_owned());
            let Some(access) = access else { return };
            let accepted = {
                let w = world.borrow();
                w.server.accepts(&access, w.t)
            };
            if !accepted {
                let waiter = driver.new_waiter();
                let mut w = world.borrow_mut();
                w.note(|| format!("#{instance} API call: 401, refresh"));
                w.waiting.insert((instance, waiter));
                drop(w);
                driver.feed(Event::RefreshRequested(waiter));
            }
        }
        50..=52 => {
            let mut w = world.borrow_mut();
            let stored = stored_refresh(&mut w).and_then(|r| w.server.chain_of(&r));
            if let Some(chain) = stored {
                w.note(|| format!("server revokes chain {chain}"));
                w.server.chains[chain].ended.get_or_insert("revoked");
            }
        }
        53..=62 if failures => {
            let mut w = world.borrow_mut();
            let mode =
                [Mode::Normal, Mode::Down, Mode::Slow, Mode::Unusable][w.rng.gen_range(0..4)];
            w.note(|| format!("server mode {mode:?}"));
            w.mode = mode;
        }
        63..=66 if failures => {
            let open = world.borrow().tabs.iter().filter(|t| t.open).count();
            if open > 1 {
                close_tab(world, tab);
            }
        }
        67..=71 => {
            let open = world.borrow().tabs.iter().filter(|t| t.open).count();
            if open < 5 && world.borrow().tabs.len() < 8 {
                let opened = open_tab(world, None);
                world.borrow_mut().note(|| format!("tab opens: #{opened}"));
            }
        }
        72..=79 => {
            world.borrow_mut().note(|| format!("#{instance} remounts"));
            if let Some(old) = world.borrow_mut().instances.get_mut(&instance) {
                old.mounted = false;
            }
            driver.feed(Event::Unmounted);
            let new = open_tab(world, Some(tab));
            world.borrow_mut().note(|| format!("  as #{new}"));
        }
        80..=87 => {
            let mut w = world.borrow_mut();
            let w = &mut *w;
            let skew = w.knobs.skew(&mut w.rng);
            w.max_skew = w.max_skew.max(skew.unsigned_abs());
            let one_clock = w.max_lag > 0;
            w.note(|| match one_clock {
                true => format!("the browser's clock jumps to skew {skew} ms"),
                false => format!("tab {tab}'s clock jumps to skew {skew} ms"),
            });
            for (index, state) in w.tabs.iter_mut().enumerate() {
                if one_clock || index == tab {
                    state.skew = skew;
                    state.jumps += 1;
                }
            }
        }
        88..=92 => {
            // The whole browser loses the network: every tab hears `offline` now and `online`
            // when it is back.
            let mut w = world.borrow_mut();
            // At most 60 s, so that the network is back before the quiet tail ends.
            let offline = w.rng.gen_range(1_000..=60_000);
            w.note(|| format!("offline for {offline} ms"));
            w.offline_until = w.offline_until.max(w.t + offline);
            let back = w.offline_until - w.t;
            let mounted: Vec<u64> = w
                .instances
                .iter()
                .filter(|(_, i)| i.mounted)
                .map(|(id, _)| *id)
                .collect();
            drop(w);
            for instance in mounted {
                feed_mounted(world, instance, Event::Online(false));
                world.borrow_mut().at(back, Delivery::Online { instance });
            }
        }
        _ => {
            let mut w = world.borrow_mut();
            let sleep = w.rng.gen_range(1_000..=60_000);
            w.note(|| format!("tab {tab} sleeps {sleep} ms"));
            // A second sleep extends the first, never shortens it.
            w.tabs[tab].asleep_until = w.tabs[tab].asleep_until.max(w.t + sleep);
            // Waking, the page hears `visibilitychange` / `focus` (delivered once it is awake).
            w.at(sleep, Delivery::Resume { instance });
        }
    }
}

fn close_tab(world: &Rc<RefCell<World>>, tab: usize) {
    let mut w = world.borrow_mut();
    w.note(|| format!("tab {tab} closes"));
    w.tabs[tab].open = false;
    let gone: Vec<u64> = w
        .instances
        .iter()
        .filter(|(_, i)| i.tab == tab)
        .map(|(id, _)| *id)
        .collect();
    for id in &gone {
        w.instances.remove(id);
    }
    w.waiting.retain(|(id, _)| !gone.contains(id));
    // Answers on their way to the closed tab are lost with it, and with them any rotation.
    let lost: Vec<usize> = w
        .queue
        .values()
        .filter_map(|delivery| match delivery {
            Delivery::Answer {
                instance,
                rotated: Some(chain),
                ..
            } if gone.contains(instance) => Some(*chain),
            _ => None,
        })
        .collect();
    for chain in lost {
        if !w.server.chains[chain].orphaned {
            w.note(|| format!("chain {chain} orphaned: its tab closed"));
            w.server.chains[chain].orphaned = true;
            w.orphaned += 1;
        }
    }
    if w.lock_holder
        .is_some_and(|(holder, _)| gone.contains(&holder))
    {
        w.lock_holder = None;
    }
    w.lock_waiting.retain(|(id, _)| !gone.contains(id));
    w.pump_lock();
}

fn deliver(world: &Rc<RefCell<World>>, delivery: Delivery) {
    // A sleeping tab handles nothing until it wakes.
    if let Some(instance) = delivery.instance() {
        let mut w = world.borrow_mut();
        let asleep_until = w
            .instances
            .get(&instance)
            .map_or(0, |i| w.tabs[i.tab].asleep_until);
        if asleep_until > w.t {
            let delay = asleep_until - w.t;
            w.at(delay, delivery);
            return;
        }
    }
    match delivery {
        Delivery::Action => {
            act(world);
            let mut w = world.borrow_mut();
            if w.actions_left > 0 {
                w.actions_left -= 1;
                let most = 2 * w.knobs.access_ms.min(60_000);
                let gap = w.rng.gen_range(0..=most);
                w.at(gap, Delivery::Action);
            } else {
                // A quiet tail: the server recovers, and the tabs settle.
                w.mode = Mode::Normal;
                w.end = w.t + 3 * w.knobs.access_ms.min(60_000) + 70_000;
            }
        }
        Delivery::Timer {
            instance,
            generation,
        } => {
            let current = world
                .borrow()
                .instances
                .get(&instance)
                .is_some_and(|i| i.timer_generation == generation);
            if current {
                if let Some(driver) = driver_of(world, instance) {
                    driver.feed(Event::Wake);
                }
            }
        }
        Delivery::Process {
            instance,
            call,
            params,
        } => {
            let mut w = world.borrow_mut();
            if !w.instances.contains_key(&instance) {
                w.calls_out -= 1; // the tab closed before the request left
                return;
            }
            let (t, mode, knobs) = (w.t, w.mode, w.knobs.clone());
            let (result, rotated) = if w.offline_until > t {
                // The request never leaves the browser.
                (Err(RefreshError::Transient("network error".into())), None)
            } else {
                let World { server, rng, .. } = &mut *w;
                server.refresh(t, &params, mode, &knobs, rng)
            };
            w.note(|| format!("#{instance} call {call}: server answers {}", brief(&result)));
            let down = if mode == Mode::Slow {
                w.rng.gen_range(500..=45_000)
            } else {
                w.rng.gen_range(1..=300)
            };
            w.at(
                down,
                Delivery::Answer {
                    instance,
                    call,
                    result,
                    rotated,
                },
            );
        }
        Delivery::Answer {
            instance,
            call,
            result,
            rotated,
        } => {
            world.borrow_mut().calls_out -= 1;
            match driver_of(world, instance) {
                Some(driver) => driver.feed(Event::Answered { call, result }),
                None => {
                    let mut w = world.borrow_mut();
                    if let Some(chain) = rotated.filter(|c| !w.server.chains[*c].orphaned) {
                        w.note(|| format!("chain {chain} orphaned: its tab closed"));
                        w.server.chains[chain].orphaned = true;
                        w.orphaned += 1;
                    }
                }
            }
        }
        Delivery::Grant { instance, flight } => match driver_of(world, instance) {
            Some(driver) => {
                world
                    .borrow_mut()
                    .note(|| format!("#{instance} holds the lock ({flight})"));
                driver.feed(Event::LockGranted(flight));
            }
            None => {
                let mut w = world.borrow_mut();
                if w.lock_holder == Some((instance, flight)) {
                    w.lock_holder = None;
                }
                w.pump_lock();
            }
        },
        Delivery::Release { instance, flight } => {
            let mut w = world.borrow_mut();
            if w.lock_holder == Some((instance, flight)) {
                w.note(|| format!("#{instance} releases the lock ({flight})"));
                w.lock_holder = None;
                w.pump_lock();
            }
        }
        Delivery::Storage { instance } => feed_mounted(world, instance, Event::StorageChanged),
        Delivery::Resume { instance } => {
            // As the shell does: `navigator.onLine` first, then re-decide.
            let online = world.borrow().offline_until <= world.borrow().t;
            if let Some(i) = world.borrow_mut().instances.get_mut(&instance) {
                i.missed_online &= !online;
            }
            feed_mounted(world, instance, Event::Online(online));
            feed_mounted(world, instance, Event::Resumed);
        }
        Delivery::Online { instance } => {
            // Only when no later outage began meanwhile. A quarter of the tabs miss it (a
            // browser whose `navigator.onLine` is wrong): their offline probe finds out.
            let mut w = world.borrow_mut();
            if w.offline_until <= w.t {
                if w.rng.gen_ratio(1, 4) {
                    w.note(|| format!("#{instance} misses `online`"));
                    if let Some(i) = w.instances.get_mut(&instance) {
                        i.missed_online = true;
                    }
                } else {
                    drop(w);
                    feed_mounted(world, instance, Event::Online(true));
                }
            }
        }
    }
}

fn brief(result: &Result<Refreshed<User>, RefreshError>) -> String {
    match result {
        Ok(refreshed) => format!(
            "access {} refresh {}",
            name(refreshed.auth_token.expose()),
            refreshed
                .refresh_token
                .as_ref()
                .map_or("-".into(), |t| name(t.expose()))
        ),
        Err(err) => err.to_string(),
    }
}

/// A token's `jti`, to name it in the log.
fn name(token: &str) -> String {
    crate::token::Claims::decode(token)
        .ok()
        .and_then(|claims| claims.get::<String>("jti"))
        .unwrap_or_else(|| "(opaque)".into())
}

/// What a stored record holds, for the log.
fn describe(text: Option<&str>) -> String {
    let session = text
        .and_then(|text| record::decode::<User>(text, Timestamp::from_unix_millis(START * 2)).ok());
    match session {
        None => "nothing".into(),
        Some(session) => format!(
            "access {} refresh {}",
            name(session.auth_token().expose()),
            session
                .refresh_token()
                .map_or("-".into(), |t| name(t.expose()))
        ),
    }
}

/// The refresh token storage holds (decoded once per stored value).
fn stored_refresh(w: &mut World) -> Option<String> {
    if w.decoded.0 != w.storage {
        let refresh = w.storage.as_deref().and_then(|text| {
            let session = record::decode::<User>(text, Timestamp::from_unix_millis(w.t)).ok()?;
            session.refresh_token().map(|t| t.expose().to_owned())
        });
        w.decoded = (w.storage.clone(), refresh);
    }
    w.decoded.1.clone()
}

/// Signs in with tokens the server just issued; the chain is the last sign-in once stored.
fn signed_in(world: &Rc<RefCell<World>>, driver: &Tab, access: String, refresh: String) {
    if driver
        .sign_in(SignIn::new(access).refresh_token(refresh.clone()).user(0))
        .is_ok()
    {
        let order = driver
            .engine()
            .state()
            .session()
            .map_or((0, 0), |session| (session.epoch, session.line));
        let mut w = world.borrow_mut();
        if w.chosen.is_none() || order > w.chosen_order {
            w.chosen = w.server.chain_of(&refresh);
            w.chosen_order = order;
        }
    }
}

/// Checks P1-P4 after a step; returns the first violation.
fn check(world: &Rc<RefCell<World>>) -> Result<(), String> {
    let mut w = world.borrow_mut();
    let t = w.t;
    // A refresh token that looks expired by a tab's clock is sent to the server once; when
    // the server cannot be reached then, the tab's clock decides, on the offset judged at the
    // last answer: a clock that jumped since errs by the jump, up to twice the largest skew.
    let unreachable = matches!(w.mode, Mode::Down | Mode::Slow) || w.offline_until > t;
    let tolerance = w.max_skew * if unreachable { 2 } else { 1 } + 1_000;
    let legit = |server: &Server, chain: usize| {
        let chain = &server.chains[chain];
        chain.ended.is_some()
            || chain.orphaned
            || chain.excused
            || chain.latest_exp <= t + tolerance
    };
    let stored_chain = stored_refresh(&mut w).map(|r| (w.server.chain_of(&r), r));
    // Quiescence: no call out, no lock held or wanted, no flight. With lagging reads a tab
    // may write over newer tokens (or over a sign-in or sign-out) that it could not see yet;
    // the tab that wrote them repairs that when it hears of the write, so storage events
    // still on their way count as activity then.
    let hearing = w.max_lag > 0
        && w.queue
            .values()
            .any(|delivery| matches!(delivery, Delivery::Storage { .. }));
    let quiet = w.calls_out == 0
        && !hearing
        && w.lock_holder.is_none()
        && w.lock_waiting.is_empty()
        && w.instances
            .values()
            .all(|instance| !instance.driver.engine().in_flight());
    // P3 holds at every step with consistent reads. With lagging reads a chain may come back
    // for a moment (a write from a view that lagged, repaired by the tab that wrote what it
    // replaced); at rest storage and every tab hold no chain but that of the last sign-in.
    let lagging = w.max_lag > 0;
    let p3_at_rest = |w: &World, chain: usize| {
        if lagging && quiet && w.chosen != Some(chain) {
            return Err(format!(
                "P3: chain {chain} is back at rest (the last sign-in is {:?})",
                w.chosen
            ));
        }
        Ok(())
    };
    // Storage: P1, P3. With lagging reads a sign-out from a view that had not seen a sign-in
    // of a moment ago may write over it until the tab that signed in writes it back: storage
    // is judged at rest then, where it must hold the last sign-in while that is live.
    let now_chain = stored_chain.as_ref().and_then(|(chain, _)| *chain);
    if let Some(chosen) = w.chosen.filter(|_| lagging && quiet) {
        if now_chain != Some(chosen) && !legit(&w.server, chosen) {
            return Err(format!(
                "P1: at rest storage does not hold live chain {chosen}, the last sign-in"
            ));
        }
    }
    if let Some(before) = w.storage_chain {
        if !lagging && now_chain.is_none() && !legit(&w.server, before) {
            return Err(format!(
                "P1: storage lost live chain {before} without a refusal"
            ));
        }
        if now_chain != Some(before) {
            w.storage_left.insert(before);
            if legit(&w.server, before) {
                w.server.chains[before].excused = true;
            }
        }
    }
    if let Some(chain) = now_chain {
        p3_at_rest(&w, chain)?;
        if !lagging && w.storage_chain != Some(chain) && w.storage_left.contains(&chain) {
            return Err(format!("P3: chain {chain} came back into storage"));
        }
        if lagging {
            // Written back after a stale write: a tab that leaves it now is not excused.
            w.storage_left.remove(&chain);
        }
    }
    w.storage_chain = now_chain;
    // Tabs: P1, P3.
    let ids: Vec<u64> = w.instances.keys().copied().collect();
    for id in ids {
        let (mounted, held) = {
            let instance = &w.instances[&id];
            let engine = instance.driver.engine();
            let held = engine
                .state()
                .session()
                .and_then(|s| s.refresh_token().map(|r| r.expose().to_owned()));
            (instance.mounted, held)
        };
        if !mounted {
            continue;
        }
        let now = held.and_then(|r| w.server.chain_of(&r));
        if let Some(chain) = now {
            p3_at_rest(&w, chain).map_err(|err| format!("{err} in tab #{id}"))?;
        }
        let before = w.instances[&id].chain;
        if let Some(before) = before {
            // A chain storage already left was ended (checked then) or replaced by a new
            // sign-in: a tab that follows storage out of it lost nothing.
            let superseded = w.storage_left.contains(&before);
            if now.is_none() && !superseded && !legit(&w.server, before) {
                return Err(format!(
                    "P1: tab #{id} signed out of live chain {before} without a refusal"
                ));
            }
            if now.is_none() && legit(&w.server, before) {
                w.server.chains[before].excused = true;
            }
        }
        let instance = w.instances.get_mut(&id).expect("listed");
        if let Some(before) = before.filter(|b| now != Some(*b)) {
            instance.left.insert(before);
        }
        if let Some(chain) = now.filter(|c| before != Some(*c)) {
            if !lagging && instance.left.contains(&chain) {
                return Err(format!("P3: chain {chain} came back in tab #{id}"));
            }
        }
        instance.chain = now;
    }
    // P2 at quiescence.
    if let (true, Some((Some(chain), refresh))) = (quiet, &stored_chain) {
        let chain_state = &w.server.chains[*chain];
        if chain_state.ended.is_none()
            && !chain_state.orphaned
            && chain_state.latest_exp > t
            && *refresh != chain_state.latest
        {
            return Err(format!(
                "P2: at quiescence storage holds an old refresh token of live chain {chain}"
            ));
        }
    }
    // P4 (recorded when the call is made).
    if let Some(violation) = w.p4.take() {
        return Err(violation);
    }
    Ok(())
}

fn run(seed: u64, keep_log: bool) -> Report {
    let mut rng = StdRng::seed_from_u64(seed);
    let knobs = Knobs::draw(&mut rng);
    let world = Rc::new(RefCell::new(World {
        t: START,
        seq: 0,
        end: u64::MAX,
        queue: BTreeMap::new(),
        actions_left: knobs.actions,
        rng,
        knobs: knobs.clone(),
        mode: Mode::Normal,
        storage: None,
        before_log: None,
        max_lag: max_read_lag(),
        writes: Vec::new(),
        decoded: (None, None),
        storage_chain: None,
        storage_left: HashSet::new(),
        chosen: None,
        chosen_order: (0, 0),
        server: Server::default(),
        tabs: Vec::new(),
        instances: BTreeMap::new(),
        next_instance: 0,
        lock_holder: None,
        lock_waiting: VecDeque::new(),
        calls_out: 0,
        max_skew: 0,
        log: keep_log.then(Vec::new),
        orphaned: 0,
        legit_sign_outs: 0,
        waiting: HashSet::new(),
        replaced_access: HashSet::new(),
        p4: None,
        offline_until: 0,
    }));
    world.borrow_mut().note(|| format!("{knobs:?}"));
    let mut report = Report::default();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        for _ in 0..knobs.tabs {
            open_tab(&world, None);
        }
        // The first tab signs in at once; then the actions begin.
        world.borrow_mut().actions_left += 1;
        let first = world.borrow().tabs[0].instance;
        {
            let mut w = world.borrow_mut();
            let t = w.t;
            let (access, refresh) = w.server.login(t, &knobs);
            drop(w);
            let driver = driver_of(&world, first).expect("first tab");
            signed_in(&world, &driver, access, refresh);
        }
        if let Err(violation) = check(&world) {
            return Some(violation);
        }
        world.borrow_mut().at(1, Delivery::Action);
        loop {
            let next = world.borrow_mut().queue.pop_first();
            let Some(((at, _), delivery)) = next else {
                break;
            };
            if at > world.borrow().end {
                break;
            }
            world.borrow_mut().t = at;
            report.steps += 1;
            deliver(&world, delivery);
            if let Err(violation) = check(&world) {
                return Some(violation);
            }
        }
        // P7: after the quiet tail every caller waiting for a refresh has its answer.
        let w = world.borrow();
        let unanswered =
            w.waiting.iter().next().map(|(instance, waiter)| {
                format!("P7: waiter {waiter} of #{instance} never answered")
            });
        // P8: and nothing stalled after a sleep or an outage: every mounted tab that heard
        // `online` knows it is online, one that missed it and has a refresh due has its
        // offline probe set within a minute, and each signed-in one has its timer set or a
        // refresh under way.
        let stalled = w.instances.iter().find_map(|(id, instance)| {
            let engine = instance.driver.engine();
            let now = w.tab_now(instance.tab);
            let due = decide(
                engine.state.session(),
                engine.settings.timing.as_ref(),
                &engine.failures,
                now,
            ) == Decision::RefreshNow;
            let probing =
                engine.timer.is_some_and(|at| at <= now + OFFLINE_PROBE) || engine.flight.is_some();
            let stalled = (engine.offline && (!instance.missed_online || (due && !probing)))
                || (engine.state.is_signed_in()
                    && engine.timer.is_none()
                    && engine.flight.is_none());
            (instance.mounted && stalled).then(|| {
                format!(
                    "P8: #{id} stalled (offline: {}, missed `online`: {}, refresh due: {due}, \
                     timer: {:?})",
                    engine.offline, instance.missed_online, engine.timer
                )
            })
        });
        unanswered.or(stalled)
    }));
    let mut w = world.borrow_mut();
    report.violation = match outcome {
        Ok(violation) => violation,
        Err(panic) => Some(format!(
            "P6/P5: panicked: {}",
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default()
        )),
    };
    report.calls = w.server.calls;
    report.orphaned = w.orphaned;
    report.legit_sign_outs = w.legit_sign_outs;
    report.hours = (w.t - START) as f64 / 3_600_000.0;
    report.log = w.log.take().unwrap_or_default();
    // Break the world <-> tab links so that everything is dropped.
    w.instances.clear();
    report
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.trim().parse().ok()
}

/// Runs one history and fails with its log if it breaks a property: paste a failing seed here
/// as a regression test.
fn assert_history_holds(seed: u64) {
    let report = run(seed, true);
    if let Some(violation) = report.violation {
        panic!(
            "history {seed} broke {violation}\n{}",
            report.log.join("\n")
        );
    }
}

#[test]
fn simulation() {
    if let Some(seed) = env_number("SIM_SEED") {
        let report = run(seed, true);
        println!("{}", report.log.join("\n"));
        println!("history {seed}: {:?}", report.violation);
        assert_history_holds(seed);
        return;
    }
    let histories = env_number("SIM_HISTORIES").unwrap_or(DEFAULT_HISTORIES);
    // Each history is independent and seeded: spread them over the cores.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let totals: Vec<(u64, u64, u32, f64, Vec<(u64, String)>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|worker| {
                scope.spawn(move || {
                    let (mut steps, mut calls, mut orphaned, mut hours) = (0, 0, 0, 0.0);
                    let mut violations = Vec::new();
                    for seed in (worker..histories).step_by(threads as usize) {
                        let report = run(seed, false);
                        steps += report.steps;
                        calls += report.calls;
                        orphaned += report.orphaned;
                        hours += report.hours;
                        if let Some(violation) = report.violation {
                            violations.push((seed, violation));
                        }
                    }
                    (steps, calls, orphaned, hours, violations)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("a simulation worker panicked"))
            .collect()
    });
    let steps: u64 = totals.iter().map(|t| t.0).sum();
    let calls: u64 = totals.iter().map(|t| t.1).sum();
    let orphaned: u32 = totals.iter().map(|t| t.2).sum();
    let hours: f64 = totals.iter().map(|t| t.3).sum();
    let mut violations: Vec<(u64, String)> = totals.into_iter().flat_map(|t| t.4).collect();
    violations.sort();
    println!(
        "simulation: {histories} histories, {steps} steps, {} violations \
         ({calls} refresh calls over {hours:.1} simulated hours; {orphaned} chains orphaned \
         by a tab closed while the rotated token was on its way)",
        violations.len()
    );
    let mut by_property: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, violation) in &violations {
        let property = violation.split(':').next().unwrap_or_default();
        *by_property.entry(property).or_default() += 1;
    }
    if !by_property.is_empty() {
        println!("  by property: {by_property:?}");
    }
    for (seed, violation) in violations
        .iter()
        .take(env_number("SIM_LIST").unwrap_or(10) as usize)
    {
        println!("  history {seed}: {violation}");
    }
    if let Some((seed, violation)) = violations.first() {
        let replay = run(*seed, true);
        panic!(
            "history {seed} broke {violation}\n{}\n\nreplay: SIM_SEED={seed} cargo test --lib \
             engine::simulation -- --nocapture\nas a test: #[test] fn history_{seed}() \
             {{ assert_history_holds({seed}); }}",
            replay.log.join("\n")
        );
    }
}
