package sut

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// external is a relay the bench did not start.
type external struct {
	addr, admin string
	pid         int
	maxPending  int
}

func (h *external) Kind() Kind       { return External }
func (h *external) Addr() string     { return h.addr }
func (h *external) RELPAddr() string { return "" }
func (h *external) PID() int         { return h.pid }
func (h *external) MaxPending() int  { return h.maxPending }

// Stats scrapes the relay's /metrics at its admin address.
func (h *external) Stats() (Stats, error) {
	if h.admin == "" {
		return Stats{}, fmt.Errorf("%w: no --relay-admin", ErrNoCounters)
	}
	return scrape(&http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}, h.admin)
}

// Stop does not stop the relay: its result's Err wraps ErrNotStarted.
func (h *external) Stop(context.Context) Shutdown {
	return Shutdown{Err: fmt.Errorf("%w: cannot stop an external relay", ErrNotStarted)}
}
