package loadgen

import (
	"context"
	"os"
	"testing"
	"time"
)

func TestSmoke(t *testing.T) {
	s := newSink(t, 0).start()
	g, err := New(Config{Addr: s.addr(), Conns: 3, Rate: 1000, Count: 1000, Progress: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := g.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rep.WriteText(os.Stderr)
	waitFor(t, 5*time.Second, "all lines", func() bool { return s.lineCount() == 1000 })
	s.checkReport(t, rep)
}
