package scenario

import (
	"time"

	"github.com/logrelay/logrelay/internal/bench/rules"
)

func acksScenario() *Scenario {
	return &Scenario{
		Name:        "acks",
		Description: "Destination outage, second half: mockdest delays acknowledgements, negatively acknowledges some batches and never acknowledges others. The relay resends (duplicate batches are expected and reported); nothing is lost; per-stream order holds through the resends; batches never exceed batch-size.",
		Quick: Params{Expected: 8 * time.Second, Duration: 6 * time.Second, Rate: 20_000, Conns: 20, Size: 200,
			AckDelay: 2 * time.Millisecond, AckJitter: 5 * time.Millisecond, NackRate: 0.02, NoAckRate: 0.01,
			MaxPending: 20_000, SendTimeout: 250 * time.Millisecond},
		Full: Params{Expected: 22 * time.Second, Duration: 15 * time.Second, Rate: 20_000, Conns: 20, Size: 200,
			AckDelay: 2 * time.Millisecond, AckJitter: 5 * time.Millisecond, NackRate: 0.02, NoAckRate: 0.01,
			MaxPending: 20_000, SendTimeout: 250 * time.Millisecond},
		Checks: checks([]rules.Check{rules.CheckAckTrouble, rules.CheckPendingBound, rules.CheckExactCount, rules.CheckOrder}, basic),
		Run:    runSteady,
	}
}
