//! The queue conformance suite on [`RedisQueue`], against a real Redis
//! (`TEST_REDIS_URL`), each test in its own key prefix.

#![cfg(feature = "redis")]

mod common;

use std::sync::Arc;

use commerce_jobs::testkit::{QueueHarness, test_clock};

commerce_jobs::queue_conformance!(async {
    let clock = test_clock();
    let prefix = common::fresh_prefix();
    let queue = common::redis_queue(&prefix, Arc::new(clock.clone())).await?;
    // The second handle has connections of its own, as another process would.
    let other = common::redis_queue(&prefix, Arc::new(clock.clone())).await?;
    let purge = queue.clone();
    Some(
        QueueHarness::new(Arc::new(queue), Arc::new(other), clock).with_cleanup(Box::new(
            move || {
                Box::pin(async move {
                    let _ = purge.purge().await;
                })
            },
        )),
    )
});
