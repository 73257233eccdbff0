package wire

// # RELP (client ↔ relay)
//
// RELP, the Reliable Event Logging Protocol of rsyslog's librelp, carries
// one message per command and answers every command with a response. A
// frame is
//
//	TXNR SP COMMAND SP DATALEN [SP DATA] LF
//
// TXNR is 1 to 9 digits, 1..999999999 for commands and their responses
// (after 999999999 the sender continues at 1), 0 for hints (serverclose).
// COMMAND is 1 to 32 ASCII letters. DATALEN is 1 to 9 digits, the length
// of DATA; when it is 0 neither the SP nor DATA is present. DATA is any
// octets.
//
// The client opens a session with "open", whose DATA holds offers, one
// per line: "relp_version=0", "relp_software=NAME,VERSION,URL",
// "commands=syslog". The server answers "rsp" with DATA "200 OK\n"
// followed by the offers it accepts. Each "syslog" command carries one
// message; the server answers "rsp" with DATA "200 OK" once it has taken
// responsibility for it, or "500 TEXT" when it refuses it. Responses go out
// in the order the commands arrived. The client may send up to its window
// of commands before it waits for responses; after a broken connection it
// resends every command not yet answered. "close" is answered by an "rsp"
// with no DATA, after which both sides close. The server may send the hint
// "0 serverclose 0" before it closes the connection itself.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
)

// RELPMaxTxnr is the highest RELP transaction number; the next is 1.
const RELPMaxTxnr = 999_999_999

// RELPDefaultMaxData is librelp's default limit on a frame's DATALEN.
const RELPDefaultMaxData = 128 << 10

// relpMaxHeader bounds TXNR SP COMMAND SP DATALEN SP: 9+1+32+1+9+1.
const relpMaxHeader = 53

// ErrRELPFrame means bytes that are not a well-formed RELP frame.
var ErrRELPFrame = errors.New("malformed RELP frame")

// RELPCommand is a RELP frame's command.
type RELPCommand uint8

// The RELP commands logrelay knows. Any other well-formed command parses
// as RELPOther, with its name in RELPFrame.Name.
const (
	RELPOther RELPCommand = iota
	RELPOpen
	RELPSyslog
	RELPClose
	RELPRsp
	RELPServerClose
)

var relpNames = [...]string{
	RELPOther:       "",
	RELPOpen:        "open",
	RELPSyslog:      "syslog",
	RELPClose:       "close",
	RELPRsp:         "rsp",
	RELPServerClose: "serverclose",
}

// String returns the command as it appears on the wire ("" for RELPOther).
func (c RELPCommand) String() string {
	if int(c) < len(relpNames) {
		return relpNames[c]
	}
	return ""
}

// RELPFrame is one parsed RELP frame. Name and Data alias the parsed
// buffer.
type RELPFrame struct {
	// Txnr is the transaction number (0 only for serverclose).
	Txnr uint32
	// Command is the known command, or RELPOther.
	Command RELPCommand
	// Name is the command as sent.
	Name []byte
	// Data is the frame's DATA, empty when DATALEN is 0.
	Data []byte
}

func relpErr(what string, b []byte) error {
	if len(b) > 20 {
		b = b[:20]
	}
	return fmt.Errorf("%w: %s in %q", ErrRELPFrame, what, b)
}

// ParseRELP parses the frame at the start of b. It returns the frame, the
// number of bytes it occupies, and nil; or ErrShort when b holds only the
// beginning of a well-formed frame; or an error wrapping ErrTooLarge when
// DATALEN exceeds maxData (known from the header alone); or an error
// wrapping ErrRELPFrame. It does not allocate.
func ParseRELP(b []byte, maxData int) (RELPFrame, int, error) {
	var f RELPFrame
	i := 0
	// TXNR
	txnr, digits := 0, 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		if digits++; digits > 9 {
			return f, 0, relpErr("TXNR over 9 digits", b)
		}
		txnr = txnr*10 + int(b[i]-'0')
	}
	if i == len(b) {
		return f, 0, ErrShort
	}
	if digits == 0 || b[i] != ' ' {
		return f, 0, relpErr("bad TXNR", b)
	}
	i++
	// COMMAND
	cs := i
	for ; i < len(b) && isAlpha(b[i]); i++ {
		if i-cs >= 32 {
			return f, 0, relpErr("command over 32 letters", b)
		}
	}
	if i == len(b) {
		return f, 0, ErrShort
	}
	if i == cs || b[i] != ' ' {
		return f, 0, relpErr("bad command", b)
	}
	f.Name = b[cs:i]
	f.Command = relpCommand(f.Name)
	i++
	// DATALEN
	dlen, digits := 0, 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		if digits++; digits > 9 {
			return f, 0, relpErr("DATALEN over 9 digits", b)
		}
		dlen = dlen*10 + int(b[i]-'0')
		if dlen > maxData {
			return f, 0, fmt.Errorf("%w: RELP DATALEN over %d", ErrTooLarge, maxData)
		}
	}
	if i == len(b) {
		return f, 0, ErrShort
	}
	if digits == 0 {
		return f, 0, relpErr("bad DATALEN", b)
	}
	if txnr == 0 && f.Command != RELPServerClose {
		return f, 0, relpErr("TXNR 0 on a command", b)
	}
	if txnr > 0 && f.Command == RELPServerClose {
		return f, 0, relpErr("serverclose with a TXNR", b)
	}
	f.Txnr = uint32(txnr)
	if dlen > 0 {
		if b[i] != ' ' {
			return f, 0, relpErr("no SP before DATA", b)
		}
		i++
		if len(b)-i < dlen+1 {
			return f, 0, ErrShort
		}
		f.Data = b[i : i+dlen]
		i += dlen
	}
	if b[i] != '\n' {
		return f, 0, relpErr("no LF after frame", b[i:])
	}
	return f, i + 1, nil
}

func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

func relpCommand(name []byte) RELPCommand {
	switch string(name) { // no allocation: the compiler compares in place
	case "syslog":
		return RELPSyslog
	case "rsp":
		return RELPRsp
	case "open":
		return RELPOpen
	case "close":
		return RELPClose
	case "serverclose":
		return RELPServerClose
	}
	return RELPOther
}

// AppendRELP appends the frame TXNR SP cmd SP len(data) [SP data] LF.
func AppendRELP(dst []byte, txnr uint32, cmd string, data []byte) []byte {
	dst = strconv.AppendUint(dst, uint64(txnr), 10)
	dst = append(dst, ' ')
	dst = append(dst, cmd...)
	dst = append(dst, ' ')
	dst = strconv.AppendUint(dst, uint64(len(data)), 10)
	if len(data) > 0 {
		dst = append(dst, ' ')
		dst = append(dst, data...)
	}
	return append(dst, '\n')
}

// AppendRELPOK appends "TXNR rsp 6 200 OK\n", the answer to a syslog
// command the server has taken responsibility for.
func AppendRELPOK(dst []byte, txnr uint32) []byte {
	dst = strconv.AppendUint(dst, uint64(txnr), 10)
	return append(dst, " rsp 6 200 OK\n"...)
}

// AppendRELPRsp appends an rsp frame with DATA "CODE TEXT" (code 200 or
// 500; TEXT without LF), followed by LF and extra when extra is not empty.
func AppendRELPRsp(dst []byte, txnr uint32, code int, text string, extra []byte) []byte {
	n := 4 + len(text)
	if len(extra) > 0 {
		n += 1 + len(extra)
	}
	dst = strconv.AppendUint(dst, uint64(txnr), 10)
	dst = append(dst, " rsp "...)
	dst = strconv.AppendUint(dst, uint64(n), 10)
	dst = append(dst, ' ')
	dst = strconv.AppendUint(dst, uint64(code), 10)
	dst = append(dst, ' ')
	dst = append(dst, text...)
	if len(extra) > 0 {
		dst = append(dst, '\n')
		dst = append(dst, extra...)
	}
	return append(dst, '\n')
}

// AppendRELPServerClose appends the hint "0 serverclose 0\n".
func AppendRELPServerClose(dst []byte) []byte {
	return append(dst, "0 serverclose 0\n"...)
}

// ParseRELPRsp splits an rsp frame's DATA into its status code, the
// human-readable text and the data after the first LF (nil if none).
func ParseRELPRsp(data []byte) (code int, text, rest []byte, err error) {
	if len(data) < 3 {
		return 0, nil, nil, relpErr("rsp data too short", data)
	}
	for _, c := range data[:3] {
		if c < '0' || c > '9' {
			return 0, nil, nil, relpErr("rsp status not 3 digits", data)
		}
		code = code*10 + int(c-'0')
	}
	line := data[3:]
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line, rest = line[:i], line[i+1:]
	}
	if len(line) > 0 {
		if line[0] != ' ' {
			return 0, nil, nil, relpErr("no SP after rsp status", data)
		}
		line = line[1:]
	}
	return code, line, rest, nil
}

// RELPOffers are the offers of an open command or its response.
type RELPOffers struct {
	// Version is the relp_version value ("" if absent).
	Version string
	// Software is the relp_software value.
	Software string
	// Commands lists the commands offered (e.g. "syslog").
	Commands []string
}

// HasCommand reports whether cmd is among the offered commands.
func (o RELPOffers) HasCommand(cmd string) bool {
	for _, c := range o.Commands {
		if c == cmd {
			return true
		}
	}
	return false
}

// ParseRELPOffers parses offers, one "name[=value[,value]]" per line.
// Unknown offers are ignored. It fails when relp_version is missing.
func ParseRELPOffers(data []byte) (RELPOffers, error) {
	var o RELPOffers
	seenVersion := false
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		name, value, _ := bytes.Cut(line, []byte{'='})
		switch string(name) {
		case "relp_version":
			o.Version, seenVersion = string(value), true
		case "relp_software":
			o.Software = string(value)
		case "commands":
			for _, c := range bytes.Split(value, []byte{','}) {
				if len(c) > 0 {
					o.Commands = append(o.Commands, string(c))
				}
			}
		}
	}
	if !seenVersion {
		return o, fmt.Errorf("%w: open offers without relp_version", ErrRELPFrame)
	}
	return o, nil
}

// AppendRELPOffers appends o in wire form: relp_version, relp_software
// (if set), then commands, separated by LF.
func AppendRELPOffers(dst []byte, o RELPOffers) []byte {
	dst = append(dst, "relp_version="...)
	dst = append(dst, o.Version...)
	if o.Software != "" {
		dst = append(dst, "\nrelp_software="...)
		dst = append(dst, o.Software...)
	}
	dst = append(dst, "\ncommands="...)
	for i, c := range o.Commands {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, c...)
	}
	return dst
}

// NextTxnr returns the transaction number after t: t+1, or 1 after
// RELPMaxTxnr.
func NextTxnr(t uint32) uint32 {
	if t >= RELPMaxTxnr {
		return 1
	}
	return t + 1
}

// RELPReader reads RELP frames from a stream. Its buffer grows to hold the
// largest frame allowed (maxData plus the header), no further.
type RELPReader struct {
	r          io.Reader
	buf        []byte
	start, end int
	maxData    int
	err        error
}

// NewRELPReader returns a reader of frames with DATALEN at most maxData
// (RELPDefaultMaxData if maxData ≤ 0).
func NewRELPReader(r io.Reader, maxData int) *RELPReader {
	if maxData <= 0 {
		maxData = RELPDefaultMaxData
	}
	return &RELPReader{r: r, buf: make([]byte, 16<<10), maxData: maxData}
}

// Buffered reports how many bytes are read but not yet parsed.
func (r *RELPReader) Buffered() int { return r.end - r.start }

// Next returns the next frame; its Name and Data are valid until the next
// call. At the end of the stream it returns io.EOF, or
// io.ErrUnexpectedEOF inside a frame. A read deadline's error is returned
// without ending the stream: Next may be called again.
func (r *RELPReader) Next() (RELPFrame, error) {
	for {
		f, n, err := ParseRELP(r.buf[r.start:r.end], r.maxData)
		if err == nil {
			r.start += n
			return f, nil
		}
		if !errors.Is(err, ErrShort) {
			return f, err
		}
		if r.err != nil {
			if r.err == io.EOF && r.end > r.start {
				return f, io.ErrUnexpectedEOF
			}
			return f, r.err
		}
		if r.start > 0 {
			r.end = copy(r.buf, r.buf[r.start:r.end])
			r.start = 0
		}
		if r.end == len(r.buf) {
			if len(r.buf) >= r.maxData+relpMaxHeader+1 {
				return f, relpErr("frame longer than its DATALEN allows", r.buf)
			}
			nb := make([]byte, min(2*len(r.buf), r.maxData+relpMaxHeader+1))
			copy(nb, r.buf[:r.end])
			r.buf = nb
		}
		n, err = r.r.Read(r.buf[r.end:])
		r.end += n
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return f, err // not sticky: the stream goes on after a deadline
		}
		if err != nil {
			r.err = err
		}
	}
}
