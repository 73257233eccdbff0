package victorialogs

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestBinaryFromEnv(t *testing.T) {
	t.Setenv(EnvBinary, filepath.Join(t.TempDir(), "none"))
	if _, err := Binary(); !errors.Is(err, ErrNoBinary) {
		t.Errorf("Binary() with %s pointing nowhere: err = %v, want ErrNoBinary", EnvBinary, err)
	}
}

// TestNodeLifecycle starts a node, counts an empty store, kills it by PID
// and restarts it on the same port and data.
func TestNodeLifecycle(t *testing.T) {
	bin, err := Binary()
	if err != nil {
		t.Skipf("SKIP: needs VictoriaLogs %s: %v", Version, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := Start(ctx, bin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	if got, err := n.Stats(ctx, "*", "count()"); err != nil || got != 0 {
		t.Fatalf("count() of a new node = %d, %v; want 0", got, err)
	}
	addr := n.Addr()
	n.Kill()
	if err := n.health(ctx); err == nil {
		t.Fatalf("killed node still answers")
	}
	if err := n.Restart(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if n.Addr() != addr {
		t.Errorf("restarted on %s, want %s", n.Addr(), addr)
	}
}
