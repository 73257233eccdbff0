// Package relay provides the log relay: it receives newline-delimited
// lines over TCP, batches them and delivers the batches, acknowledged and
// in per-connection order, to a Sink.
//
// # Overload
//
// The relay holds at most Config.MaxPending messages and
// Config.MaxPendingBytes bytes that the destination has not acknowledged.
// When a destination is slower than its clients these limits are reached
// again and again, and reading pauses until the held counts fall to three
// quarters of the limits. What is admitted when reading resumes is shared
// fairly: from the pause on, connections read in turns, in the order they
// asked, one read (at most 128 KiB) per turn, and a connection with more
// to read asks again behind the others. So
// every connection with data waiting gets the same number of reads per
// round, and a quiet connection waits at most one round of the others'
// reads before its line is read, then behind what is already pending.
// When nobody waits and there is room, connections read in parallel again
// without taking turns: the turns cost nothing on the hot path.
//
// # Memory
//
// Beyond the pending messages, memory goes to read chunks in use (one per
// reading connection: 64 KiB plus MaxLineBytes, at most 128 KiB; a line
// longer than that gets a buffer of its own size while it is handed off),
// to batch buffers, to each connection (its goroutine, socket and a
// partial line under 16 KiB) and
// to partial lines of 16 KiB or more, which count against
// Config.MaxCarryBytes; a line that would take them over it is dropped and
// counted. Config.LineTimeout closes a connection whose line does not end
// in time. Config.SoftMemoryLimit gives the Go runtime a memory limit that
// keeps the garbage collector's headroom proportional to the limits; the
// relay command sets it.
//
// # Shutdown
//
// Serve stops accepting, stops reading (a partial line is dropped and
// counted as truncated; bytes still unread in a client's socket are not
// received, and are counted in Stats.UnreadConns and Stats.UnreadBytes),
// flushes the last batch and waits up to Config.ShutdownTimeout for the
// destination's acknowledgements.
package relay
