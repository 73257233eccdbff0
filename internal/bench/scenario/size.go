package scenario

import (
	"time"

	"github.com/logrelay/logrelay/internal/bench/rules"
)

func sizeScenario() *Scenario {
	return &Scenario{
		Name:        "size",
		Description: "Size rule under stress: a high rate over 50 connections (or --conns). Every batch closed by size has exactly batch-size messages; none exceeds it; nothing is lost or duplicated; per-stream order holds.",
		Quick:       Params{Expected: 7 * time.Second, Duration: 5 * time.Second, Rate: 120_000, Conns: 50, Size: 200, MinRate: 100_000},
		Full:        Params{Expected: 22 * time.Second, Duration: 20 * time.Second, Rate: 120_000, Conns: 50, Size: 200, MinRate: 100_000},
		Checks:      checks([]rules.Check{rules.CheckRate, rules.CheckSizeExact, rules.CheckExactCount, rules.CheckOrder}, basic),
		Adjust: func(p *Params, cfg *Config) {
			if cfg.Rate > 0 {
				// The rule follows the rate asked for: 90% of it (the last
				// writes may land a little after the run's end on a loaded
				// machine), at most the scenario's 100,000 msgs/s.
				p.Rate = cfg.Rate
				p.MinRate = min(p.MinRate, 0.9*cfg.Rate)
			}
			if cfg.Conns > 0 {
				p.Conns = cfg.Conns
			}
		},
		Run: runSteady,
	}
}
