package mockdest

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"time"
)

// linesReadBuffer is the initial size of a lines-mode connection's buffer;
// it grows up to Config.MaxLineBytes to hold one long line.
const linesReadBuffer = 256 << 10

// serveLines reads newline-delimited messages from src until it ends. The
// complete lines of each read form one batch (reason "read"). At EOF a
// final unterminated line counts as a message; after a read error it is
// dropped. Lines longer than MaxLineBytes are discarded and counted.
func (s *Server) serveLines(c net.Conn, src io.Reader, rng *rand.Rand) error {
	buf := make([]byte, min(linesReadBuffer, s.cfg.MaxLineBytes+1))
	n := 0 // bytes of an incomplete line at buf[:n]
	discarding := false
	for {
		m, err := src.Read(buf[n:])
		data := buf[:n+m]
		from := n // where the new bytes start
		if discarding && m > 0 {
			i := bytes.IndexByte(data[from:], '\n')
			if i < 0 {
				data, from = data[:0], 0
			} else {
				discarding = false
				rest := copy(buf, data[from+i+1:])
				data, from = buf[:rest], 0
			}
		}
		n = len(data)
		if i := bytes.LastIndexByte(data[from:], '\n'); i >= 0 {
			cut := from + i + 1
			if !s.recordLines(rng, data[:cut]) {
				return nil
			}
			n = copy(buf, data[cut:])
		}
		if n == len(buf) {
			if len(buf) <= s.cfg.MaxLineBytes {
				nb := make([]byte, min(2*len(buf), s.cfg.MaxLineBytes+1))
				copy(nb, buf[:n])
				buf = nb
			} else {
				s.linesTooLong.Add(1)
				discarding = true
				n = 0
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				if n > 0 && !discarding {
					s.recordLines(rng, buf[:n])
				}
				return nil
			}
			return err
		}
	}
}

// recordLines records one lines-mode batch, or reports false when the
// close-rate misbehaviour closes the connection instead.
func (s *Server) recordLines(rng *rand.Rand, lines []byte) bool {
	if s.cfg.CloseRate > 0 && rng.Float64() < s.cfg.CloseRate {
		s.mis.connsClosed.Add(1)
		return false
	}
	s.rec.Record(Batch{Reason: ReasonRead, ArrivalNs: time.Now().UnixNano()}, lines)
	return true
}
