//! The console's login rate limit, per client address: [`MAX_FAILURES`] wrong passwords per
//! [`FAILURE_WINDOW`] from one address, then that address waits. Keyed by address so that a
//! guest guessing passwords locks out only themselves, not the operator on another device.
//!
//! The key is the TCP peer address the daemon sees, never `X-Forwarded-For` or `Forwarded`:
//! any client can write those headers and would pick a fresh "address" for every guess. The
//! catch is a reverse proxy in front of the booth (nginx, Caddy, a tunnel): then every
//! request comes from the proxy's address, all clients share one window, and a guesser can
//! again lock the operator out for a minute. Behind a proxy, rate-limit logins in the proxy
//! (e.g. nginx `limit_req` on `/admin/login`) or reach the console directly on the booth's LAN.
//!
//! The map is bounded ([`MAX_CLIENTS`]): addresses whose failures have all left the window are
//! dropped, and when it is still full the address that failed longest ago makes room. So an
//! address that never failed (the operator's) is never refused because of others. A guesser
//! with more than [`MAX_CLIENTS`] addresses (possible with IPv6, not in a hotspot's /24) could
//! push their own entries out; against that, the long password and argon2 remain the defence.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Failed logins allowed per [`FAILURE_WINDOW`] from one address.
pub const MAX_FAILURES: usize = 5;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered at most (a few tens of kilobytes).
pub const MAX_CLIENTS: usize = 512;

/// Failed attempts in the window: may another attempt be made at `now`? Pure.
pub fn may_try(failures: &VecDeque<Instant>, now: Instant) -> bool {
    failures
        .iter()
        .filter(|t| now.duration_since(**t) < FAILURE_WINDOW)
        .count()
        < MAX_FAILURES
}

/// Recent failed logins by client address.
#[derive(Default)]
pub struct LoginFailures {
    by_client: HashMap<IpAddr, VecDeque<Instant>>,
}

/// One key per client: an IPv4 address seen through an IPv6 socket (`::ffff:a.b.c.d`) is the
/// same client as `a.b.c.d`.
fn key(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

impl LoginFailures {
    /// May `ip` try a password at `now`?
    pub fn may_try(&mut self, ip: IpAddr, now: Instant) -> bool {
        let Some(failures) = self.by_client.get_mut(&key(ip)) else {
            return true;
        };
        forget_old(failures, now);
        may_try(failures, now)
    }

    /// A wrong password from `ip` at `now`.
    pub fn record(&mut self, ip: IpAddr, now: Instant) {
        let ip = key(ip);
        if !self.by_client.contains_key(&ip) && self.by_client.len() >= MAX_CLIENTS {
            self.make_room(now);
        }
        let failures = self.by_client.entry(ip).or_default();
        forget_old(failures, now);
        failures.push_back(now);
        // Only the last MAX_FAILURES matter to `may_try`.
        while failures.len() > MAX_FAILURES {
            failures.pop_front();
        }
    }

    /// Addresses remembered now.
    pub fn clients(&self) -> usize {
        self.by_client.len()
    }

    /// Drops every address with no failure in the window; if none, the one that failed
    /// longest ago.
    fn make_room(&mut self, now: Instant) {
        self.by_client.retain(|_, f| {
            forget_old(f, now);
            !f.is_empty()
        });
        if self.by_client.len() < MAX_CLIENTS {
            return;
        }
        let oldest = self
            .by_client
            .iter()
            .min_by_key(|(_, f)| f.back().copied())
            .map(|(ip, _)| *ip);
        if let Some(ip) = oldest {
            self.by_client.remove(&ip);
        }
    }
}

/// Drops failures that have left the window (they are in time order).
fn forget_old(failures: &mut VecDeque<Instant>, now: Instant) {
    while failures
        .front()
        .is_some_and(|t| now.duration_since(*t) >= FAILURE_WINDOW)
    {
        failures.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn five_failures_a_minute_then_wait() {
        let t0 = Instant::now();
        let mut f = VecDeque::new();
        for i in 0..MAX_FAILURES {
            assert!(may_try(&f, t0), "attempt {i}");
            f.push_back(t0);
        }
        assert!(!may_try(&f, t0 + Duration::from_secs(59)));
        assert!(may_try(&f, t0 + FAILURE_WINDOW));
    }

    #[test]
    fn one_guesser_does_not_lock_out_another_address() {
        let t0 = Instant::now();
        let mut l = LoginFailures::default();
        for _ in 0..MAX_FAILURES {
            assert!(l.may_try(ip("192.168.4.20"), t0));
            l.record(ip("192.168.4.20"), t0);
        }
        assert!(!l.may_try(ip("192.168.4.20"), t0));
        assert!(
            !l.may_try(ip("::ffff:192.168.4.20"), t0),
            "the same client over IPv6"
        );
        assert!(l.may_try(ip("192.168.4.2"), t0), "the operator");
        assert!(l.may_try(ip("192.168.4.20"), t0 + FAILURE_WINDOW));
    }

    #[test]
    fn the_map_stays_bounded_and_keeps_the_recent_guessers() {
        let t0 = Instant::now();
        let mut l = LoginFailures::default();
        let addr = |n: usize| IpAddr::from([10, 0, (n / 256) as u8, (n % 256) as u8]);
        // The guesser fails at t0 and is locked out.
        for _ in 0..MAX_FAILURES {
            l.record(ip("192.168.4.20"), t0);
        }
        // Many other addresses fail once each, later.
        for n in 0..MAX_CLIENTS * 3 {
            l.record(addr(n), t0 + Duration::from_millis(1 + n as u64));
        }
        assert!(l.clients() <= MAX_CLIENTS, "{}", l.clients());
        // The one that failed longest ago went first; the latest are remembered.
        assert!(l.may_try(ip("192.168.4.20"), t0 + Duration::from_secs(1)));
        let last = addr(MAX_CLIENTS * 3 - 1);
        assert_eq!(l.by_client.get(&last).map(VecDeque::len), Some(1));
        // Once the window has passed, old addresses are dropped rather than evicted one by one.
        l.record(ip("192.168.4.21"), t0 + Duration::from_secs(120));
        assert_eq!(l.clients(), 1);
    }

    #[test]
    fn only_the_window_is_remembered_per_address() {
        let t0 = Instant::now();
        let mut l = LoginFailures::default();
        for s in 0..100 {
            l.record(ip("10.0.0.1"), t0 + Duration::from_secs(s));
        }
        assert!(l.by_client[&ip("10.0.0.1")].len() <= MAX_FAILURES);
        assert!(!l.may_try(ip("10.0.0.1"), t0 + Duration::from_secs(100)));
    }
}
