package scenario

import (
	"time"

	"github.com/logrelay/logrelay/internal/bench/rules"
)

func manyConnsScenario() *Scenario {
	return &Scenario{
		Name:        "many-conns",
		Description: "Thousands of concurrent connections at a moderate total rate: the rules hold, nothing is lost, and the relay's RSS is reported.",
		Quick:       Params{Expected: 10 * time.Second, Duration: 6 * time.Second, Rate: 10_000, Conns: 2000, Size: 200, MaxRSS: 512 << 20},
		Full:        Params{Expected: 25 * time.Second, Duration: 20 * time.Second, Rate: 20_000, Conns: 5000, Size: 200, MaxRSS: 512 << 20},
		Checks:      checks([]rules.Check{rules.CheckConns, rules.CheckRSS, rules.CheckExactCount, rules.CheckOrder}, basic),
		Relay:       OwnProcess,
		Adjust: func(p *Params, cfg *Config) {
			if cfg.ManyConns > 0 {
				p.Conns = cfg.ManyConns
			}
		},
		Run: runSteady,
	}
}
