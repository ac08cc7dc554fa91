//! Throttling per account and per client address, in memory of this process: sign-in attempts, and the requests
//! that send an email to an address (sign-up, password reset), which would otherwise flood a victim's inbox.
//!
//! Each replica keeps its own counts, so N replicas allow at most N times the configured rate: still a hard bound
//! on guessing, without a shared store.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Allows a burst of attempts per key, refilled over a period.
pub struct LoginThrottle {
    per_account: DefaultKeyedRateLimiter<(String, String)>,
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

impl LoginThrottle {
    /// `per_account` attempts per account (tenant and email, existing or not) every 15 minutes, and `per_address`
    /// attempts per client address every minute.
    pub fn new(per_account: u32, per_address: u32) -> Self {
        Self::with_periods((per_account, Duration::from_secs(15 * 60)), (per_address, Duration::from_secs(60)))
    }

    /// `(n, period)`: n per account (tenant and email) and n per client address, each over its period.
    pub fn with_periods(per_account: (u32, Duration), per_address: (u32, Duration)) -> Self {
        let quota = |(n, period): (u32, Duration)| {
            let n = NonZeroU32::new(n.max(1)).expect("at least one");
            Quota::with_period(period / n.get()).expect("non-zero period").allow_burst(n)
        };
        Self {
            per_account: RateLimiter::keyed(quota(per_account)),
            per_address: RateLimiter::keyed(quota(per_address)),
            clock: DefaultClock::default(),
        }
    }

    /// Counts an attempt; refuses it with the time to wait when either limit is reached.
    pub fn check(&self, tenant: &str, email: &str, address: Option<IpAddr>) -> Result<(), Duration> {
        let now = self.clock.now();
        if let Some(address) = address {
            self.per_address.check_key(&address).map_err(|not_until| not_until.wait_time_from(now))?;
        }
        let key = (tenant.to_owned(), email.trim().to_lowercase());
        self.per_account.check_key(&key).map_err(|not_until| not_until.wait_time_from(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limits_apply_per_account_and_per_address() {
        let throttle = LoginThrottle::new(3, 5);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(throttle.check("t", "x@example.com", Some(a)).is_ok());
        }
        let wait = throttle.check("t", "X@Example.com ", Some(b)).unwrap_err();
        assert!(wait > Duration::from_secs(60), "about five minutes until the next attempt, got {wait:?}");
        assert!(throttle.check("other-tenant", "x@example.com", Some(b)).is_ok(), "accounts are per tenant");
        // Address a has used 3 of its 5; two more other accounts, then it is throttled too.
        assert!(throttle.check("t", "y@example.com", Some(a)).is_ok());
        assert!(throttle.check("t", "z@example.com", Some(a)).is_ok());
        assert!(throttle.check("t", "w@example.com", Some(a)).is_err());
    }
}
