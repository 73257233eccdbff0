package scenario

import (
	"time"

	"github.com/logrelay/logrelay/internal/bench/rules"
)

func ageScenario() *Scenario {
	return &Scenario{
		Name:        "age",
		Description: "Age rule: a trickle over a few connections, long enough for at least three age flushes with the real flush interval. Every batch's age at flush is ≤ flush-interval + tolerance, and no age flush comes much earlier than the interval.",
		Quick:       Params{Expected: 38 * time.Second, Duration: 36 * time.Second, Rate: 4, Conns: 3, Size: 200, MinAgeFlushes: 3},
		Full:        Params{Expected: 46 * time.Second, Duration: 44 * time.Second, Rate: 4, Conns: 3, Size: 200, MinAgeFlushes: 4},
		Concurrent:  true,
		FlushTimed:  true,
		Checks:      checks([]rules.Check{rules.CheckAgeFlushes, rules.CheckAgeNotEarly, rules.CheckExactCount, rules.CheckOrder}, basic),
		Run:         runSteady,
	}
}
