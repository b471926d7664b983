package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"time"
)

// servePprof serves Go's profiles (net/http/pprof) on a loopback listener
// of their own, for measuring a running server (the hidden serve flag
// --debug-pprof-addr). Profiles show the program's internals, so the
// address must be loopback. It returns a function that closes the
// listener. It also turns on the mutex and block profiles
// (/debug/pprof/mutex, /debug/pprof/block), sampling one contention event
// in 100 and blocking events of 100 µs or more, which costs a little on
// every lock; only a server started with the flag pays it, and only until
// the returned function is called.
func servePprof(addr string) (func(), error) {
	if err := checkPprofAddr(addr); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--debug-pprof-addr: %w", err)
	}
	prevMutex := runtime.SetMutexProfileFraction(100)
	runtime.SetBlockProfileRate(100_000)
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return func() {
		_ = srv.Close()
		// The process goes on without the profiles' cost (serve run
		// in-process, as by tests). The block profile's rate cannot be
		// read back; nothing else sets it, so it goes back to off.
		runtime.SetMutexProfileFraction(prevMutex)
		runtime.SetBlockProfileRate(0)
	}, nil
}

// checkPprofAddr refuses an address that is not a loopback host:port, so
// that the profiles are never reachable from another machine. serve checks
// it with its other flags, before it opens the database.
func checkPprofAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return usagef("--debug-pprof-addr %q must be a loopback host:port, like 127.0.0.1:6060", addr)
	}
	return nil
}
