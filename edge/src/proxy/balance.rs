//! Choosing a pool member: requests in flight per member, for least-connections balancing.

use super::{Ctx, Shared};

impl Shared {
    /// Moves this request's in-flight count to `to` (or nowhere).
    pub(super) fn count(&self, ctx: &mut Ctx, to: Option<String>) {
        let mut in_flight = self.in_flight.lock().expect("unpoisoned");
        if let Some(from) = ctx.counted.take()
            && let Some(n) = in_flight.get_mut(&from)
        {
            *n = n.saturating_sub(1);
        }
        if let Some(to) = &to {
            *in_flight.entry(to.clone()).or_default() += 1;
        }
        ctx.counted = to;
    }

    /// The healthy untried member with the fewest requests in flight.
    pub(super) fn least_loaded(&self, balancer: &crate::pools::Balancer, tried: &[String]) -> Option<pingora::lb::Backend> {
        let in_flight = self.in_flight.lock().expect("unpoisoned");
        crate::pools::members(balancer)
            .into_iter()
            .filter(|(b, healthy)| *healthy && !tried.contains(&b.addr.to_string()))
            .min_by_key(|(b, _)| in_flight.get(&b.addr.to_string()).copied().unwrap_or(0))
            .map(|(b, _)| b)
    }
}
