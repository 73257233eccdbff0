// Package relay provides the log relay: a TCP listener that reads
// newline-delimited lines from many clients, groups them into batches by
// count, bytes and age, and delivers every batch to a Sink, holding at
// most a bounded amount of undelivered data and never dropping a message
// it has read.
//
// # Pipeline
//
//	client conns ──▶ connReader (one per conn) ──▶ chunk queue ──▶ batcher ──▶ batch queue ──▶ Sink.Run ──▶ destination
//	                 parses one read into a chunk  lock-free MPSC  one goroutine  Feed              its own engine
//	                 reserves room (pendingLimit)                  size/bytes/age                   settles each batch
//
// Each reader turns one read into a chunk of complete lines and reserves
// room for them under the pending limit (MaxPending, MaxPendingBytes);
// without room it stops reading, which pushes back on its client. The
// batcher copies chunks into batches that are already wire frames and
// flushes them (reason size, bytes, age or shutdown) onto the batch queue.
// The sink takes batches from the queue through a Feed and settles each
// one (Feed.Settle) with its Outcome; settling releases the batch's room,
// counts its messages as delivered or rejected at the sink, and recycles
// the buffer. Shutdown runs in one order: stop accepting, stop reading,
// flush the batcher, let the sink drain (until ShutdownTimeout), wait.
//
// # The sink seam
//
// A Sink is handed the whole delivery problem: Run(ctx, feed) takes
// batches and settles them, and nothing else crosses the seam. The relay
// does not assume that a destination acknowledges in order, or one batch
// at a time, because the destinations do not agree: the framed TCP
// protocol acknowledges a stream of batches in order, so its engine keeps
// a window and resends the whole window after a failure; an HTTP bulk API
// answers each request separately, out of order, with a result per
// message, and must never resend a request that was answered because
// another one failed. One engine written against a Send/Recv connection
// cannot serve both, so the engine sits behind the seam:
//
//   - StreamSink is the engine for stream destinations: the windowed,
//     in-order sender over SinkConn sessions from a Dialer. NewTCPSink is
//     that engine over the wire protocol.
//   - A request/response sink runs its own engine inside Run: Policy's
//     Concurrency workers each take a batch (Feed.Next), send it, retry
//     what its answer says to retry, and settle it with the messages that
//     were refused for good (Outcome.Rejected) and those the destination
//     already had (Outcome.Duplicate). TestHTTPLikeSink runs such a sink
//     through the real pipeline.
//
// The seam is one Run per relay rather than a Deliver call per batch, so
// the engine decides how many goroutines and connections it keeps, whether
// batches wait for one another (the TCP window does, HTTP requests do
// not), and when it takes the next batch; the relay only learns each
// batch's fate.
//
// What every sink shares stays on the relay's side of the seam: the
// delivery policy (Policy: batches in flight, attempt timeout, retry
// backoff), the clock and logger, and the counters, which the Feed keeps
// (Attempt counts retries, Failed counts sink errors, Settle counts
// outcomes). A Batch gives encoders its header (Header) and its messages
// with their receive times (All) without allocating. The sink package
// builds a Sink from a URL (sink.FromURL); relay does not import it.
package relay
