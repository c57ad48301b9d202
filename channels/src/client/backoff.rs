//! Back-off schedules: how long to wait before the n-th retry.
//!
//! phoenix.js drives its reconnect and rejoin timers with a function of the try
//! number (`reconnectAfterMs(tries)`, `rejoinAfterMs(tries)`) whose defaults are
//! stepped tables whose last value repeats for ever. [`Backoff`] is that table:
//! the connection task counts tries and asks for the delay, and resets the count
//! when the connection opens (reconnect) or the channel joins (rejoin).

use std::sync::Arc;
use std::time::Duration;

/// phoenix.js's default reconnect steps, in milliseconds: the last repeats.
pub const RECONNECT_AFTER_MS: [u64; 10] = [10, 50, 100, 150, 200, 250, 500, 1000, 2000, 5000];

/// phoenix.js's default rejoin steps, in milliseconds: the last repeats.
pub const REJOIN_AFTER_MS: [u64; 4] = [1000, 2000, 5000, 10000];

const fn millis<const N: usize>(steps: [u64; N]) -> [Duration; N] {
    let mut out = [Duration::ZERO; N];
    let mut i = 0;
    while i < N {
        out[i] = Duration::from_millis(steps[i]);
        i += 1;
    }
    out
}

static RECONNECT_STEPS: [Duration; 10] = millis(RECONNECT_AFTER_MS);
static REJOIN_STEPS: [Duration; 4] = millis(REJOIN_AFTER_MS);

/// A stepped back-off: try `n` (counting from 1) waits the `n`-th step, and
/// every try past the table waits its last step. Cheap to clone (the default
/// schedules are static, others shared), so every connection of a load
/// generator can hold one.
#[derive(Debug, Clone)]
pub struct Backoff {
    steps: Steps,
}

#[derive(Debug, Clone)]
enum Steps {
    Static(&'static [Duration]),
    Shared(Arc<[Duration]>),
}

impl PartialEq for Backoff {
    fn eq(&self, other: &Backoff) -> bool {
        self.steps() == other.steps()
    }
}

impl Eq for Backoff {}

impl Backoff {
    /// A schedule of `steps`; an empty list means "retry at once".
    pub fn new(steps: impl IntoIterator<Item = Duration>) -> Backoff {
        let steps: Vec<Duration> = steps.into_iter().collect();
        if steps.is_empty() {
            return Backoff::fixed(Duration::ZERO);
        }
        Backoff {
            steps: Steps::Shared(steps.into()),
        }
    }

    /// A schedule from milliseconds.
    pub fn from_millis(steps: &[u64]) -> Backoff {
        Backoff::new(steps.iter().copied().map(Duration::from_millis))
    }

    /// The same delay before every try.
    pub fn fixed(delay: Duration) -> Backoff {
        Backoff {
            steps: Steps::Shared(Arc::from([delay])),
        }
    }

    /// phoenix.js's reconnect schedule: 10, 50, 100, 150, 200, 250, 500, 1000,
    /// 2000, then 5000 ms.
    pub fn reconnect() -> Backoff {
        Backoff {
            steps: Steps::Static(&RECONNECT_STEPS),
        }
    }

    /// phoenix.js's rejoin schedule: 1, 2, 5, then 10 s.
    pub fn rejoin() -> Backoff {
        Backoff {
            steps: Steps::Static(&REJOIN_STEPS),
        }
    }

    /// The wait before try number `tries` (1 is the first retry; 0 is read as 1).
    pub fn delay(&self, tries: u32) -> Duration {
        let steps = self.steps();
        let index = (tries.max(1) - 1) as usize;
        steps
            .get(index)
            .or_else(|| steps.last())
            .copied()
            .unwrap_or_default()
    }

    /// The steps; the last one repeats.
    pub fn steps(&self) -> &[Duration] {
        match &self.steps {
            Steps::Static(steps) => steps,
            Steps::Shared(steps) => steps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn reconnect_follows_phoenix_js() {
        let backoff = Backoff::reconnect();
        let delays: Vec<Duration> = (1..=12).map(|try_no| backoff.delay(try_no)).collect();
        let expected: Vec<Duration> = [
            10, 50, 100, 150, 200, 250, 500, 1000, 2000, 5000, 5000, 5000,
        ]
        .into_iter()
        .map(ms)
        .collect();
        assert_eq!(delays, expected);
        assert_eq!(backoff.delay(u32::MAX), ms(5000));
    }

    #[test]
    fn rejoin_follows_phoenix_js() {
        let backoff = Backoff::rejoin();
        let delays: Vec<Duration> = (1..=6).map(|try_no| backoff.delay(try_no)).collect();
        let expected: Vec<Duration> = [1000, 2000, 5000, 10000, 10000, 10000]
            .into_iter()
            .map(ms)
            .collect();
        assert_eq!(delays, expected);
    }

    #[test]
    fn static_defaults_equal_their_tables() {
        assert_eq!(
            Backoff::reconnect(),
            Backoff::from_millis(&RECONNECT_AFTER_MS)
        );
        assert_eq!(Backoff::rejoin(), Backoff::from_millis(&REJOIN_AFTER_MS));
        assert_ne!(Backoff::reconnect(), Backoff::rejoin());
    }

    #[test]
    fn try_zero_is_the_first_try() {
        assert_eq!(Backoff::reconnect().delay(0), ms(10));
    }

    #[test]
    fn empty_and_fixed_schedules() {
        assert_eq!(Backoff::new([]).delay(3), Duration::ZERO);
        let fixed = Backoff::fixed(ms(7));
        assert_eq!(fixed.delay(1), ms(7));
        assert_eq!(fixed.delay(100), ms(7));
        assert_eq!(fixed.steps(), &[ms(7)]);
    }

    #[test]
    fn custom_steps_repeat_the_last() {
        let backoff = Backoff::from_millis(&[1, 2]);
        assert_eq!(
            [1, 2, 3, 4].map(|try_no| backoff.delay(try_no)),
            [ms(1), ms(2), ms(2), ms(2)]
        );
    }
}
