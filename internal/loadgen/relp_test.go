package loadgen

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/logrelay/logrelay/internal/seqrange"
	"github.com/logrelay/logrelay/internal/wire"
)

// relpTestServer is a RELP server for loadgen's tests: it answers every
// syslog command, records the stamps it received (with repeats), and
// can break sessions: after breakAfter syslog commands it closes the
// connection without answering the last unanswered ones, abortively.
type relpTestServer struct {
	ln net.Listener

	mu         sync.Mutex
	got        map[wire.Stamp]int // by stream and seq (SentNs kept: resends must keep it)
	commands   int
	breakEvery int // break a session after this many syslog commands (0 = never)
	holdBack   int // answers withheld when breaking
	breaks     int
	wg         sync.WaitGroup
}

func newRELPTestServer(t *testing.T, breakEvery, holdBack int) *relpTestServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &relpTestServer{ln: ln, got: map[wire.Stamp]int{}, breakEvery: breakEvery, holdBack: holdBack}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() { defer s.wg.Done(); s.serve(nc) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *relpTestServer) serve(nc net.Conn) {
	defer nc.Close()
	rd := wire.NewRELPReader(nc, 1<<20)
	var held []uint32
	n := 0
	for {
		f, err := rd.Next()
		if err != nil {
			return
		}
		var out []byte
		switch f.Command {
		case wire.RELPOpen:
			out = wire.AppendRELPRsp(nil, f.Txnr, 200, "OK",
				wire.AppendRELPOffers(nil, wire.RELPOffers{Version: "0", Commands: []string{"syslog"}}))
		case wire.RELPClose:
			out = wire.AppendRELP(nil, f.Txnr, "rsp", nil)
			out = wire.AppendRELPServerClose(out)
		case wire.RELPSyslog:
			st, ok := wire.ParseStamp(f.Data)
			s.mu.Lock()
			if ok {
				s.got[st]++
			}
			s.commands++
			n++
			brk := s.breakEvery > 0 && n >= s.breakEvery
			if brk {
				s.breaks++
			}
			s.mu.Unlock()
			held = append(held, f.Txnr)
			if brk { // withhold the last answers and reset the connection
				for _, tx := range held[:max(0, len(held)-s.holdBack)] {
					out = wire.AppendRELPOK(out, tx)
				}
				nc.Write(out)
				nc.(*net.TCPConn).SetLinger(0)
				return
			}
			if len(held) > s.holdBack {
				out = wire.AppendRELPOK(out, held[0])
				held = held[1:]
			}
			if rd.Buffered() == 0 { // answer what is held when the client pauses
				for _, tx := range held {
					out = wire.AppendRELPOK(out, tx)
				}
				held = held[:0]
			}
		}
		if len(out) > 0 {
			if _, err := nc.Write(out); err != nil {
				return
			}
		}
		if f.Command == wire.RELPClose {
			return
		}
	}
}

// A RELP run whose sessions break repeatedly, each time with answers
// withheld, still gets every message answered: the withheld ones are
// resent with their stamps, so the server sees every seq, some twice, and
// the report's counts add up.
func TestRELPResendAfterBreaks(t *testing.T) {
	t.Parallel()
	srv := newRELPTestServer(t, 700, 20)
	const count = 6000
	g, err := New(Config{Addr: srv.ln.Addr().String(), Conns: 3, Count: count, Size: 200, RELP: true,
		RELPWindow: 64, ReconnectBase: time.Millisecond, ReconnectMax: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := g.Run(ctx)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	x := rep.RELP
	if x == nil {
		t.Fatal("no RELP report")
	}
	if rep.Sent != count || x.Acked != count || x.Unacked != 0 || x.Refused != 0 || rep.AtRisk != 0 {
		t.Fatalf("sent %d acked %d unacked %d refused %d at risk %d, want %d acked, none unacked",
			rep.Sent, x.Acked, x.Unacked, x.Refused, rep.AtRisk, count)
	}
	if m := g.RELPMarks(); len(m) != 3 || m[0]+m[1]+m[2] != count || !g.RELPAnswered(m) {
		t.Errorf("marks %v answered %v: want the %d messages, all answered", m, g.RELPAnswered(m), count)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.breaks == 0 || x.Resent == 0 {
		t.Fatalf("breaks %d resent %d: the test broke nothing", srv.breaks, x.Resent)
	}
	dups := 0
	perStream := map[uint32]uint64{}
	for st, n := range srv.got {
		perStream[st.Stream]++
		dups += n - 1
	}
	var distinct uint64
	for _, s := range rep.Streams {
		if perStream[s.ID] != s.LastSeq {
			t.Errorf("stream %d: %d distinct stamps received, want %d", s.ID, perStream[s.ID], s.LastSeq)
		}
		distinct += perStream[s.ID]
	}
	if distinct != count {
		t.Errorf("%d distinct stamps, want %d (a resend changed a stamp?)", distinct, count)
	}
	if uint64(dups) > x.Resent || dups == 0 {
		t.Errorf("%d duplicates at the server, %d resends: want 0 < duplicates ≤ resends", dups, x.Resent)
	}
	// Every seq that arrived twice is in its stream's Resent ranges, and
	// the ranges hold no more seqs than the resends.
	resent := map[uint32]seqrange.Set{}
	var inRanges uint64
	for _, s := range rep.Streams {
		resent[s.ID] = seqrange.Of(s.Resent)
		inRanges += resent[s.ID].Len()
	}
	for st, n := range srv.got {
		if n > 1 && len(resent[st.Stream].Outside(wire.SeqRange{From: st.Seq, To: st.Seq})) > 0 {
			t.Errorf("stream %d seq %d arrived %d times but is not in the stream's resent ranges %v", st.Stream, st.Seq, n, resent[st.Stream])
		}
	}
	if inRanges == 0 || inRanges > x.Resent {
		t.Errorf("%d seqs in the resent ranges, %d resends: want 0 < seqs ≤ resends", inRanges, x.Resent)
	}
	t.Logf("breaks %d, resent %d, duplicates %d", srv.breaks, x.Resent, dups)
}

// The window bounds what is outstanding: against a server that answers
// nothing, each stream writes exactly its window, then waits; after the
// bounded final wait every written message is unacked and at risk.
func TestRELPWindowAndFinalWait(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	wg.Add(1)
	go func() { // answers the open, then nothing
		defer wg.Done()
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		rd := wire.NewRELPReader(nc, 1<<20)
		for {
			f, err := rd.Next()
			if err != nil {
				return
			}
			if f.Command == wire.RELPOpen {
				nc.Write(wire.AppendRELPRsp(nil, f.Txnr, 200, "OK",
					wire.AppendRELPOffers(nil, wire.RELPOffers{Version: "0", Commands: []string{"syslog"}})))
			}
		}
	}()
	g, err := New(Config{Addr: ln.Addr().String(), Count: 1000, Size: 200, RELP: true, RELPWindow: 16,
		Duration: 300 * time.Millisecond, RELPFinalWait: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rep, _ := g.Run(context.Background())
	if m := g.RELPMarks(); len(m) != 1 || m[0] != 16 || g.RELPAnswered(m) || !g.RELPAnswered([]uint64{0}) {
		t.Errorf("marks %v, answered %v: want [16], not answered (0 answered trivially)", m, g.RELPAnswered(m))
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("run took %v: the final wait is not bounded", el)
	}
	if rep.Sent != 16 || rep.RELP.Unacked != 16 || rep.AtRisk != 16 || rep.RELP.Acked != 0 {
		t.Fatalf("sent %d unacked %d at risk %d acked %d, want 16 sent, all unacked and at risk",
			rep.Sent, rep.RELP.Unacked, rep.AtRisk, rep.RELP.Acked)
	}
}
