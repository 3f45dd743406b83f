//! tasklist output (every form). Owned by the tasklist/netstat work item.
use super::{LineDecoder, Sink};

#[derive(Default)]
pub struct TasklistDecoder {}

impl LineDecoder for TasklistDecoder {
    fn line(&mut self, line_no: u64, line: &str, sink: &mut Sink) {
        sink.unknown(line_no, line);
    }
}
