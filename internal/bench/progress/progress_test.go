package progress

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestProgress(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	p := New(&b, false)
	p.Start("size", 5*time.Second)
	var n uint64 = 100
	p.Track("size", "", func() uint64 { return n })
	n = 400
	p.Draw()
	p.Done("size")
	p.Draw() // nothing running: nothing drawn
	if out := b.String(); !strings.HasPrefix(out, "[size]") || !strings.Contains(out, "/5 s") || !strings.Contains(out, "400 sent") || strings.Count(out, "\n") != 1 {
		t.Errorf("progress output: %q", out)
	}
	tty := New(&b, true)
	tty.Start("age", time.Second)
	b.Reset()
	tty.Draw()
	tty.Printf("done\n")
	if out := b.String(); !strings.Contains(out, "\r") || !strings.HasSuffix(out, "done\n") {
		t.Errorf("tty progress output: %q", out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tty.Run(ctx) // returns at once on a done context
}
