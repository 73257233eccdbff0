package scenario

import (
	"time"

	"github.com/logrelay/logrelay/internal/bench/rules"
)

func outageScenario() *Scenario {
	return &Scenario{
		Name:        "outage",
		Description: "Destination outage: mockdest goes down and comes back several times. The relay retries and applies backpressure (pending stays within max-pending); nothing is lost; per-stream order holds through the resends; batches never exceed batch-size.",
		Quick: Params{Expected: 12 * time.Second, Duration: 10 * time.Second, Rate: 20_000, Conns: 20, Size: 200,
			DownFor: time.Second, DownEvery: 3 * time.Second, MaxPending: 20_000},
		Full: Params{Expected: 25 * time.Second, Duration: 22 * time.Second, Rate: 30_000, Conns: 20, Size: 200,
			DownFor: 2 * time.Second, DownEvery: 5 * time.Second, MaxPending: 20_000},
		Checks: checks([]rules.Check{rules.CheckOutage, rules.CheckPendingBound, rules.CheckExactCount, rules.CheckOrder}, basic),
		Run:    runSteady,
	}
}
