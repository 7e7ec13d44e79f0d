//! The queue conformance suite on [`InProcessQueue`].

use std::sync::Arc;

use commerce_jobs::InProcessQueue;
use commerce_jobs::testkit::{QueueHarness, test_clock};

commerce_jobs::queue_conformance!(async {
    let clock = test_clock();
    let queue = Arc::new(InProcessQueue::new(Arc::new(clock.clone())));
    Some(QueueHarness::new(Arc::clone(&queue), queue, clock))
});
