//! Which fault, if any, a request gets. Pure: a seeded RNG plus a scripted queue, so a test run
//! with the same seed and the same request order sees the same faults.

use std::collections::VecDeque;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A network or server misbehaviour the simulator can inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The TCP connection is closed on accept, before the request is read.
    RefuseConnection,
    /// The request is handled (side effects happen), then the response is cut off.
    ResetMidResponse,
    /// HTTP 500 with a transient Graph error; nothing happens.
    ServerError,
    /// HTTP 503 with a transient Graph error; nothing happens.
    Unavailable,
    /// The answer is correct but arrives after `FaultPlan::slow_delay`.
    SlowResponse,
    /// HTTP 200 with an HTML login page, like a hotel or venue Wi-Fi.
    CaptivePortal,
    /// `media_publish` only: the publish is committed, then the connection is dropped.
    PublishResponseLost,
}

impl Fault {
    pub const ALL: [Fault; 7] = [
        Fault::RefuseConnection,
        Fault::ResetMidResponse,
        Fault::ServerError,
        Fault::Unavailable,
        Fault::SlowResponse,
        Fault::CaptivePortal,
        Fault::PublishResponseLost,
    ];

    /// The key used in `Simulator::faults_injected`.
    pub fn name(self) -> &'static str {
        match self {
            Fault::RefuseConnection => "refuse_connection",
            Fault::ResetMidResponse => "reset_mid_response",
            Fault::ServerError => "server_error",
            Fault::Unavailable => "unavailable",
            Fault::SlowResponse => "slow_response",
            Fault::CaptivePortal => "captive_portal",
            Fault::PublishResponseLost => "publish_response_lost",
        }
    }

    fn publish_only(self) -> bool {
        self == Fault::PublishResponseLost
    }
}

/// Random faults: each request draws one of `kinds` with `probability`.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultPlan {
    /// Per request, 0..=1.
    pub probability: f64,
    pub kinds: Vec<Fault>,
    pub seed: u64,
    pub slow_delay: Duration,
}

impl FaultPlan {
    pub fn none() -> Self {
        FaultPlan {
            probability: 0.0,
            kinds: Vec::new(),
            seed: 0,
            slow_delay: Duration::from_secs(3),
        }
    }

    pub fn all(probability: f64, seed: u64) -> Self {
        FaultPlan {
            probability,
            kinds: Fault::ALL.to_vec(),
            seed,
            ..FaultPlan::none()
        }
    }
}

impl Default for FaultPlan {
    fn default() -> Self {
        FaultPlan::none()
    }
}

/// Decides faults in two steps because the simulator serves one request per connection:
/// `on_accept` may refuse the connection outright, `on_request` decides the rest once the
/// request (and so whether it is a publish) is known.
pub(crate) struct FaultPicker {
    plan: FaultPlan,
    rng: StdRng,
    scripted: VecDeque<Fault>,
    scripted_publish: VecDeque<Fault>,
}

impl FaultPicker {
    pub fn new(plan: FaultPlan) -> Self {
        FaultPicker {
            rng: StdRng::seed_from_u64(plan.seed),
            plan,
            scripted: VecDeque::new(),
            scripted_publish: VecDeque::new(),
        }
    }

    pub fn set_plan(&mut self, plan: FaultPlan) {
        self.rng = StdRng::seed_from_u64(plan.seed);
        self.plan = plan;
    }

    pub fn slow_delay(&self) -> Duration {
        self.plan.slow_delay
    }

    pub fn inject(&mut self, fault: Fault, times: u32) {
        let queue = if fault.publish_only() {
            &mut self.scripted_publish
        } else {
            &mut self.scripted
        };
        queue.extend(std::iter::repeat_n(fault, times as usize));
    }

    /// The connection's drawn fault. `Some(RefuseConnection)` means close it now; any other
    /// value is carried to `on_request`.
    pub fn on_accept(&mut self) -> Option<Fault> {
        if let Some(&fault) = self.scripted.front() {
            // Other scripted faults are taken by `on_request`, which knows the endpoint.
            if fault == Fault::RefuseConnection {
                return self.scripted.pop_front();
            }
            return None;
        }
        self.draw()
    }

    /// The fault this request gets, given what `on_accept` drew for its connection.
    pub fn on_request(&mut self, drawn: Option<Fault>, is_publish: bool) -> Option<Fault> {
        if let Some(fault) = drawn {
            return (is_publish || !fault.publish_only()).then_some(fault);
        }
        if let Some(fault) = self.scripted.pop_front() {
            return Some(fault);
        }
        if is_publish {
            return self.scripted_publish.pop_front();
        }
        None
    }

    fn draw(&mut self) -> Option<Fault> {
        if self.plan.kinds.is_empty() || self.plan.probability <= 0.0 {
            return None;
        }
        if !self.rng.gen_bool(self.plan.probability.min(1.0)) {
            return None;
        }
        let i = self.rng.gen_range(0..self.plan.kinds.len());
        Some(self.plan.kinds[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sequence(picker: &mut FaultPicker, n: usize) -> Vec<Option<Fault>> {
        (0..n)
            .map(|_| {
                let drawn = picker.on_accept();
                if drawn == Some(Fault::RefuseConnection) {
                    drawn
                } else {
                    picker.on_request(drawn, true)
                }
            })
            .collect()
    }

    #[test]
    fn no_plan_no_faults() {
        let mut p = FaultPicker::new(FaultPlan::none());
        assert!(sequence(&mut p, 100).iter().all(Option::is_none));
    }

    #[test]
    fn same_seed_same_faults() {
        let a = sequence(&mut FaultPicker::new(FaultPlan::all(0.5, 7)), 200);
        let b = sequence(&mut FaultPicker::new(FaultPlan::all(0.5, 7)), 200);
        assert_eq!(a, b);
        let hits = a.iter().filter(|f| f.is_some()).count();
        assert!((50..150).contains(&hits), "{hits} faults of 200 at p=0.5");
    }

    #[test]
    fn probability_one_always_faults() {
        let mut p = FaultPicker::new(FaultPlan::all(1.0, 1));
        assert!(sequence(&mut p, 50).iter().all(Option::is_some));
    }

    #[test]
    fn scripted_faults_come_in_order_then_stop() {
        let mut p = FaultPicker::new(FaultPlan::none());
        p.inject(Fault::ServerError, 2);
        p.inject(Fault::RefuseConnection, 1);
        assert_eq!(
            sequence(&mut p, 4),
            vec![
                Some(Fault::ServerError),
                Some(Fault::ServerError),
                Some(Fault::RefuseConnection),
                None
            ]
        );
    }

    #[test]
    fn publish_only_faults_wait_for_a_publish() {
        let mut p = FaultPicker::new(FaultPlan::none());
        p.inject(Fault::PublishResponseLost, 1);
        assert_eq!(p.on_accept(), None);
        assert_eq!(p.on_request(None, false), None);
        assert_eq!(p.on_accept(), None);
        assert_eq!(p.on_request(None, true), Some(Fault::PublishResponseLost));
        assert_eq!(p.on_request(None, true), None);
    }

    #[test]
    fn a_drawn_publish_fault_is_dropped_on_other_requests() {
        let mut p = FaultPicker::new(FaultPlan::none());
        assert_eq!(p.on_request(Some(Fault::PublishResponseLost), false), None);
        assert_eq!(
            p.on_request(Some(Fault::PublishResponseLost), true),
            Some(Fault::PublishResponseLost)
        );
    }
}
