package bench

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/logrelay/logrelay/internal/bench/scenario"
)

// ParsePeer parses a --peer value:
// "name=rsyslog,addr=127.0.0.1:5514,dest=127.0.0.1:5515[,pid=1234][,mode=lines]".
func ParsePeer(s string) (scenario.Peer, error) {
	var p scenario.Peer
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return p, fmt.Errorf("%w: peer %q: %q is not key=value", ErrConfig, s, kv)
		}
		switch k {
		case "name":
			p.Name = v
		case "addr":
			p.Addr = v
		case "dest":
			p.DestAddr = v
		case "mode":
			if v != "lines" && v != "frames" {
				return p, fmt.Errorf("%w: peer %q: mode %q: want lines or frames", ErrConfig, s, v)
			}
			p.DestMode = v
		case "pid":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return p, fmt.Errorf("%w: peer %q: pid %q", ErrConfig, s, v)
			}
			p.PID = n
		default:
			return p, fmt.Errorf("%w: peer %q: unknown key %q (want name, addr, dest, pid, mode)", ErrConfig, s, k)
		}
	}
	if p.Name == "" || p.Addr == "" || p.DestAddr == "" {
		return p, fmt.Errorf("%w: peer %q needs name, addr and dest", ErrConfig, s)
	}
	return p, nil
}

// List writes the suite's scenarios, one per paragraph, with their quick
// and full durations and how each would run its relay under cfg
// (--relay-process, --relay-addr).
func List(cfg Config) string {
	var b strings.Builder
	for _, s := range scenario.Suite() {
		mode := s.Relay.String()
		switch {
		case cfg.RelayAddr != "" && s.Signals():
			mode = "not applicable to an external relay"
		case cfg.RelayAddr != "":
			mode = "external relay at " + cfg.RelayAddr
		case cfg.RelayProcess && s.Relay == scenario.BothWays:
			mode = "a relay process in both rounds"
		case cfg.RelayProcess:
			mode = scenario.OwnProcess.String()
		}
		if s.Concurrent {
			mode += ", runs concurrently"
		}
		if s.OptIn {
			mode += ", only when --scenario names it"
		}
		fmt.Fprintf(&b, "%-11s ~%s (--quick ~%s; %s)\n            %s\n", s.Name, s.Full.Expected, s.Quick.Expected, mode, s.Description)
	}
	return b.String()
}
