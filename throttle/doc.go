// Package throttle limits password guessing. It keeps, in memory, two kinds
// of counters: consecutive failures per (username, source address), which
// lead to an exponential back-off, and failures per source address across
// usernames over a sliding window. A caller asks Begin before it computes a
// password hash and reports the outcome afterwards, so a refused attempt
// costs a map lookup and no hash.
//
// Counters are keyed by address as well as username, so that failures from
// one address never lock a user out from another. Both tables are bounded:
// when one is full, the entry touched least recently is dropped.
//
// The package imports nothing from Latchkey; it knows nothing of HTTP or
// storage.
package throttle
