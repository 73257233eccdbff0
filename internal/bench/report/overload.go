package report

import "time"

// Overload is what the overload scenario measured: how the flooding
// connections shared what was delivered, window by window, and how long
// the quiet clients' messages took to arrive.
type Overload struct {
	Window       time.Duration   `json:"window_ns"`
	Flooders     int             `json:"flooders"`
	Jain         []float64       `json:"jain"`          // Jain's index of the flooders' arrivals, per window
	Starved      []int           `json:"starved"`       // flooders with nothing arrived, per window
	QuietSent    int             `json:"quiet_sent"`    // quiet messages sent
	QuietArrived int             `json:"quiet_arrived"` // of those, arrived within QuietTimeout
	QuietTimeout time.Duration   `json:"quiet_timeout_ns"`
	QuietLatency []time.Duration `json:"quiet_latency_ns"` // p50, p99, max of the arrived
	ArrivalsPerS float64         `json:"arrivals_per_s"`   // arrivals at mockdest per second during the load, all streams (the drain after it excluded)
}
