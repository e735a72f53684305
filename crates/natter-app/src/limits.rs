//! Rate limits: one token bucket per (user, action), refilled continuously.
//!
//! Deliberately in memory and per node: a limit is a guard against floods, not a quota,
//! so a user spread over N nodes may get up to N times the rate. Server-key requests are
//! exempt. The map is pruned of full (idle) buckets when it grows large.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use natter_proto::UserId;

use crate::{Actor, AppError};

/// A limited action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Sending a message.
    SendMessage,
    /// Adding a reaction.
    React,
    /// Announcing typing over REST.
    Typing,
    /// Creating a conversation.
    CreateConversation,
    /// Searching.
    Search,
    /// Uploading a file.
    Upload,
    /// Creating an invitation.
    Invite,
}

/// `count` actions per `per`, with bursts of up to `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Actions allowed per period (and the burst size).
    pub count: u32,
    /// The period.
    pub per: Duration,
}

impl Rate {
    /// `count` per `seconds`.
    pub const fn per_seconds(count: u32, seconds: u64) -> Self {
        Self {
            count,
            per: Duration::from_secs(seconds),
        }
    }
}

/// The configured rates; an action without a rate is not limited.
#[derive(Debug, Clone)]
pub struct RateLimits {
    /// Per action.
    pub rates: HashMap<Action, Rate>,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            rates: HashMap::from([
                (Action::SendMessage, Rate::per_seconds(30, 10)),
                (Action::React, Rate::per_seconds(5, 60)),
                (Action::Typing, Rate::per_seconds(20, 10)),
                (Action::CreateConversation, Rate::per_seconds(20, 60)),
                (Action::Search, Rate::per_seconds(30, 60)),
                (Action::Upload, Rate::per_seconds(20, 60)),
                (Action::Invite, Rate::per_seconds(20, 60)),
            ]),
        }
    }
}

struct Bucket {
    tokens: f64,
    refreshed: Instant,
}

const PRUNE_AT: usize = 100_000;

/// The limiter shared by the services.
pub(crate) struct Limiter {
    limits: RateLimits,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    buckets: Mutex<HashMap<(UserId, Action), Bucket>>,
}

impl Limiter {
    pub(crate) fn new(
        limits: RateLimits,
        metrics: std::sync::Arc<crate::metrics::Metrics>,
    ) -> Self {
        Self {
            limits,
            metrics,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `actor` and `action`, or answers `RateLimited` with the
    /// seconds until the next token.
    pub(crate) fn check(&self, actor: &Actor, action: Action) -> Result<(), AppError> {
        let (Some(rate), Some(user_id)) = (self.limits.rates.get(&action), actor.user_id.as_ref())
        else {
            return Ok(());
        };
        if actor.server || rate.count == 0 {
            return Ok(());
        }
        let per_token = rate.per.as_secs_f64() / f64::from(rate.count);
        let now = Instant::now();
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        if buckets.len() >= PRUNE_AT {
            let capacity = f64::from(rate.count);
            buckets.retain(|_, bucket| {
                bucket.tokens + now.duration_since(bucket.refreshed).as_secs_f64() / per_token
                    < capacity
            });
        }
        let bucket = buckets.entry((user_id.clone(), action)).or_insert(Bucket {
            tokens: f64::from(rate.count),
            refreshed: now,
        });
        let refill = now.duration_since(bucket.refreshed).as_secs_f64() / per_token;
        bucket.tokens = (bucket.tokens + refill).min(f64::from(rate.count));
        bucket.refreshed = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) * per_token;
            self.metrics
                .rate_limited
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Err(AppError::RateLimited {
                retry_after_secs: wait.ceil().max(1.0) as u64,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> Actor {
        Actor::user(
            UserId::parse("alice").expect("id"),
            natter_proto::AppRole::User,
        )
    }

    #[test]
    fn a_burst_up_to_the_count_passes_then_the_next_waits() {
        let limiter = Limiter::new(
            RateLimits {
                rates: HashMap::from([(Action::React, Rate::per_seconds(5, 60))]),
            },
            Default::default(),
        );
        for _ in 0..5 {
            assert!(limiter.check(&user(), Action::React).is_ok());
        }
        match limiter.check(&user(), Action::React) {
            Err(AppError::RateLimited { retry_after_secs }) => {
                assert!((1..=12).contains(&retry_after_secs))
            }
            other => panic!("expected a rate limit, got {other:?}"),
        }
        assert!(
            limiter.check(&user(), Action::SendMessage).is_ok(),
            "unconfigured actions are free"
        );
        assert!(
            limiter.check(&Actor::server(), Action::React).is_ok(),
            "the server key is exempt"
        );
    }
}
