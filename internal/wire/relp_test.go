package wire

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestParseRELP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		max     int
		txnr    uint32
		cmd     RELPCommand
		cmdName string
		data    string
		n       int
		err     error
	}{
		{"syslog", "1 syslog 5 hello\n", 100, 1, RELPSyslog, "syslog", "hello", 17, nil},
		{"syslog then more", "2 syslog 2 ab\n3 syslog", 100, 2, RELPSyslog, "syslog", "ab", 14, nil},
		{"data with LF and SP", "7 syslog 5 a\nb c\n", 100, 7, RELPSyslog, "syslog", "a\nb c", 17, nil},
		{"open", "1 open 46 relp_version=0\nrelp_software=x\ncommands=syslog\n", 100, 1, RELPOpen, "open", "relp_version=0\nrelp_software=x\ncommands=syslog", 57, nil},
		{"close no data", "9 close 0\n", 100, 9, RELPClose, "close", "", 10, nil},
		{"rsp", "12 rsp 6 200 OK\n", 100, 12, RELPRsp, "rsp", "200 OK", 16, nil},
		{"serverclose", "0 serverclose 0\n", 100, 0, RELPServerClose, "serverclose", "", 16, nil},
		{"max txnr", "999999999 syslog 1 x\n", 100, 999999999, RELPSyslog, "syslog", "x", 21, nil},
		{"other command", "3 starttls 0\n", 100, 3, RELPOther, "starttls", "", 13, nil},
		{"data at limit", "1 syslog 3 abc\n", 3, 1, RELPSyslog, "syslog", "abc", 15, nil},
		{"empty", "", 100, 0, 0, "", "", 0, ErrShort},
		{"short txnr", "12", 100, 0, 0, "", "", 0, ErrShort},
		{"short cmd", "1 sysl", 100, 0, 0, "", "", 0, ErrShort},
		{"short datalen", "1 syslog 12", 100, 0, 0, "", "", 0, ErrShort},
		{"short data", "1 syslog 5 hel", 100, 0, 0, "", "", 0, ErrShort},
		{"short trailer", "1 syslog 5 hello", 100, 0, 0, "", "", 0, ErrShort},
		{"short after zero len", "1 close 0", 100, 0, 0, "", "", 0, ErrShort},
		{"over limit", "1 syslog 4 abcd\n", 3, 0, 0, "", "", 0, ErrTooLarge},
		{"huge datalen from header", "1 syslog 999999999", 1000, 0, 0, "", "", 0, ErrTooLarge},
		{"txnr 10 digits", "1234567890 syslog 1 x\n", 100, 0, 0, "", "", 0, ErrRELPFrame},
		{"datalen 10 digits", "1 syslog 0000000001 x\n", 100, 0, 0, "", "", 0, ErrRELPFrame},
		{"no txnr", " syslog 1 x\n", 100, 0, 0, "", "", 0, ErrRELPFrame},
		{"letter in txnr", "1a syslog 1 x\n", 100, 0, 0, "", "", 0, ErrRELPFrame},
		{"txnr 0 on command", "0 syslog 1 x\n", 100, 0, 0, "", "", 0, ErrRELPFrame},
		{"serverclose with txnr", "5 serverclose 0\n", 100, 0, 0, "", "", 0, ErrRELPFrame},
		{"digit in command", "1 sys1og 1 x\n", 100, 0, 0, "", "", 0, ErrRELPFrame},
		{"empty command", "1  1 x\n", 100, 0, 0, "", "", 0, ErrRELPFrame},
		{"command 33 letters", "1 " + strings.Repeat("a", 33) + " 0\n", 100, 0, 0, "", "", 0, ErrRELPFrame},
		{"no datalen", "1 syslog x\n", 100, 0, 0, "", "", 0, ErrRELPFrame},
		{"zero len with SP", "1 close 0 \n", 100, 0, 0, "", "", 0, ErrRELPFrame},
		{"no SP before data", "1 syslog 1x\n", 100, 0, 0, "", "", 0, ErrRELPFrame},
		{"no LF after data", "1 syslog 1 xy\n", 100, 0, 0, "", "", 0, ErrRELPFrame},
		{"CRLF trailer", "1 syslog 1 x\r\n", 100, 0, 0, "", "", 0, ErrRELPFrame},
	}
	for _, tt := range tests {
		f, n, err := ParseRELP([]byte(tt.in), tt.max)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("%s: err = %v, want %v", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: err = %v", tt.name, err)
			continue
		}
		if f.Txnr != tt.txnr || f.Command != tt.cmd || string(f.Name) != tt.cmdName ||
			string(f.Data) != tt.data || n != tt.n {
			t.Errorf("%s: got txnr %d cmd %v %q data %q n %d, want %d %v %q %q %d", tt.name,
				f.Txnr, f.Command, f.Name, f.Data, n, tt.txnr, tt.cmd, tt.cmdName, tt.data, tt.n)
		}
	}
}

// Every proper prefix of a valid frame is ErrShort, never an error or a
// frame.
func TestParseRELPPrefixes(t *testing.T) {
	t.Parallel()
	for _, frame := range []string{"123 syslog 11 hello world\n", "4 close 0\n", "0 serverclose 0\n",
		"77 rsp 6 200 OK\n"} {
		for i := 0; i < len(frame); i++ {
			if _, _, err := ParseRELP([]byte(frame[:i]), 100); err != ErrShort {
				t.Errorf("%q[:%d]: err = %v, want ErrShort", frame, i, err)
			}
		}
	}
}

func TestAppendRELPRoundTrip(t *testing.T) {
	t.Parallel()
	var b []byte
	b = AppendRELP(b, 1, "open", []byte("relp_version=0\ncommands=syslog"))
	b = AppendRELP(b, 2, "syslog", []byte("<13>msg"))
	b = AppendRELPOK(b, 2)
	b = AppendRELPRsp(b, 3, 500, "rejected", nil)
	b = AppendRELPRsp(b, 1, 200, "OK", []byte("relp_version=0"))
	b = AppendRELP(b, 4, "close", nil)
	b = AppendRELPServerClose(b)
	want := "1 open 30 relp_version=0\ncommands=syslog\n2 syslog 7 <13>msg\n2 rsp 6 200 OK\n" +
		"3 rsp 12 500 rejected\n1 rsp 21 200 OK\nrelp_version=0\n4 close 0\n0 serverclose 0\n"
	if string(b) != want {
		t.Fatalf("encoded\n%q\nwant\n%q", b, want)
	}
	r := NewRELPReader(iotest.OneByteReader(bytes.NewReader(b)), 100)
	var got []string
	for {
		f, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		got = append(got, f.Command.String()+":"+string(f.Data))
	}
	wantFrames := []string{"open:relp_version=0\ncommands=syslog", "syslog:<13>msg", "rsp:200 OK",
		"rsp:500 rejected", "rsp:200 OK\nrelp_version=0", "close:", "serverclose:"}
	if strings.Join(got, "|") != strings.Join(wantFrames, "|") {
		t.Fatalf("frames %q, want %q", got, wantFrames)
	}
}

func TestRELPReaderErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		err  error
	}{
		{"eof inside frame", "1 syslog 5 he", io.ErrUnexpectedEOF},
		{"clean eof", "", io.EOF},
		{"too large", "1 syslog 200000 x", ErrTooLarge},
		{"malformed", "x", ErrRELPFrame},
	}
	for _, tt := range tests {
		r := NewRELPReader(strings.NewReader(tt.in), 1000)
		if _, err := r.Next(); !errors.Is(err, tt.err) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.err)
		}
	}
	// A frame bigger than the initial buffer makes it grow.
	big := strings.Repeat("x", 100_000)
	r := NewRELPReader(strings.NewReader("1 syslog 100000 "+big+"\n"), 100_000)
	f, err := r.Next()
	if err != nil || string(f.Data) != big {
		t.Fatalf("big frame: err %v, %d bytes", err, len(f.Data))
	}
}

func TestParseRELPRsp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in         string
		code       int
		text, rest string
		ok         bool
	}{
		{"200 OK", 200, "OK", "", true},
		{"500 queue full", 500, "queue full", "", true},
		{"200 OK\nrelp_version=0\ncommands=syslog", 200, "OK", "relp_version=0\ncommands=syslog", true},
		{"200", 200, "", "", true},
		{"20", 0, "", "", false},
		{"2x0 OK", 0, "", "", false},
		{"200OK", 0, "", "", false},
	}
	for _, tt := range tests {
		code, text, rest, err := ParseRELPRsp([]byte(tt.in))
		if (err == nil) != tt.ok || code != tt.code || string(text) != tt.text || string(rest) != tt.rest {
			t.Errorf("%q: got %d %q %q %v, want %d %q %q ok=%v", tt.in, code, text, rest, err,
				tt.code, tt.text, tt.rest, tt.ok)
		}
	}
}

func TestRELPOffers(t *testing.T) {
	t.Parallel()
	o, err := ParseRELPOffers([]byte("relp_version=0\nrelp_software=librelp,1.11.0,https://x\ncommands=syslog,eventlog\nfoo=bar"))
	if err != nil {
		t.Fatal(err)
	}
	if o.Version != "0" || o.Software != "librelp,1.11.0,https://x" || !o.HasCommand("syslog") ||
		!o.HasCommand("eventlog") || o.HasCommand("foo") {
		t.Fatalf("offers %+v", o)
	}
	if _, err := ParseRELPOffers([]byte("commands=syslog")); !errors.Is(err, ErrRELPFrame) {
		t.Fatalf("no version: err %v", err)
	}
	b := AppendRELPOffers(nil, RELPOffers{Version: "0", Software: "logrelay", Commands: []string{"syslog"}})
	if string(b) != "relp_version=0\nrelp_software=logrelay\ncommands=syslog" {
		t.Fatalf("encoded %q", b)
	}
}

func TestNextTxnr(t *testing.T) {
	t.Parallel()
	for _, tt := range [][2]uint32{{1, 2}, {998, 999}, {RELPMaxTxnr - 1, RELPMaxTxnr}, {RELPMaxTxnr, 1}} {
		if got := NextTxnr(tt[0]); got != tt[1] {
			t.Errorf("NextTxnr(%d) = %d, want %d", tt[0], got, tt[1])
		}
	}
}

func TestParseRELPNoAlloc(t *testing.T) {
	b := []byte("123 syslog 11 hello world\n")
	out := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() {
		f, _, _ := ParseRELP(b, 100)
		out = AppendRELPOK(out[:0], f.Txnr)
	}); n != 0 {
		t.Fatalf("%v allocations per parse+rsp", n)
	}
}

// FuzzParseRELP: on any input ParseRELP returns quickly without panic; a
// frame it accepts re-encodes to exactly the bytes it consumed (modulo
// leading zeros, which it accepts and AppendRELP does not write), and the
// RELPReader agrees with it.
func FuzzParseRELP(f *testing.F) {
	for _, s := range []string{"1 syslog 5 hello\n", "0 serverclose 0\n", "1 open 14 relp_version=0\n",
		"3 rsp 6 200 OK\n4 close 0\n", "01 syslog 01 x\n", "1 syslog 3 a\nb\n", "9 x 0\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, n, err := ParseRELP(b, 1000)
		if err != nil {
			if !errors.Is(err, ErrShort) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrRELPFrame) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if n <= 0 || n > len(b) || len(fr.Data) > 1000 {
			t.Fatalf("n %d of %d, data %d", n, len(b), len(fr.Data))
		}
		enc := AppendRELP(nil, fr.Txnr, string(fr.Name), fr.Data)
		re, m, err := ParseRELP(enc, 1000)
		if err != nil || m != len(enc) || re.Txnr != fr.Txnr || !bytes.Equal(re.Name, fr.Name) ||
			!bytes.Equal(re.Data, fr.Data) {
			t.Fatalf("re-encoded %q: %+v %d %v, want %+v", enc, re, m, err, fr)
		}
		if b[0] != '0' && !bytes.Contains(b[:n-len(fr.Data)], []byte(" 0")) && !bytes.Equal(enc, b[:n]) {
			t.Fatalf("re-encoded %q, consumed %q", enc, b[:n])
		}
		rf, err := NewRELPReader(bytes.NewReader(b), 1000).Next()
		if err != nil || rf.Txnr != fr.Txnr || !bytes.Equal(rf.Data, fr.Data) {
			t.Fatalf("reader: %+v %v, want %+v", rf, err, fr)
		}
	})
}
