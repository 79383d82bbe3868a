//! One request at a time, for embedders (the original's `RequestsLauncher.launch_requests`): each request
//! offered with `LaunchRequest` ([`RequestSource::offer`]) leaves as soon as a client is idle, in the order
//! offered. The source never finishes: it waits for the next offer.

use std::collections::VecDeque;

use super::{Next, Now, Outgoing, PreparedRequest, RequestSource};
use crate::backend::RequestConfig;

/// The requests embedders offer, sent one per idle client; see the module docs.
#[derive(Debug, Default)]
pub struct OneAtATime {
    queue: VecDeque<RequestConfig>,
    sent: usize,
}

impl RequestSource for OneAtATime {
    fn next(&mut self, now: &Now) -> Next {
        if now.idle_clients == 0 {
            return Next::Wait;
        }
        let Some(config) = self.queue.pop_front() else {
            return Next::Wait;
        };
        let index = self.sent;
        self.sent += 1;
        Next::Send(Outgoing::now(
            index,
            PreparedRequest {
                config,
                actual_input_tokens: None,
            },
        ))
    }

    fn offer(&mut self, request: RequestConfig) -> bool {
        self.queue.push_back(request);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::testing::{now, request, sent};

    #[test]
    fn sends_what_is_offered_in_order_one_per_idle_client_and_never_finishes() {
        let mut s = OneAtATime::default();
        assert!(matches!(s.next(&now(0.0, 0, 2)), Next::Wait));
        for t in ["x", "y", "z"] {
            assert!(s.offer(request(t).config));
        }
        assert!(matches!(s.next(&now(0.0, 0, 0)), Next::Wait));
        let x = sent(s.next(&now(0.0, 0, 2)));
        let y = sent(s.next(&now(0.0, 1, 1)));
        assert_eq!((x.index, x.request.config.prompt.0.as_str()), (0, "x"));
        assert_eq!((y.index, y.request.config.prompt.0.as_str()), (1, "y"));
        assert_eq!(x.request.actual_input_tokens, None);
        assert!(matches!(s.next(&now(0.0, 2, 0)), Next::Wait));
        assert_eq!(sent(s.next(&now(0.1, 1, 1))).index, 2);
        assert!(matches!(s.next(&now(0.1, 1, 1)), Next::Wait));
    }
}
