package mockdest

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logrelay/logrelay/internal/wire"
)

// bulkReadBuffer is the size of a request's line reader; longer lines are
// gathered in a growing buffer up to Config.MaxLineBytes.
const bulkReadBuffer = 64 << 10

// bulkServer is ModeBulk's state. Connections accepted (and tracked, so that
// down periods, the bandwidth cap and the counters apply) by the Server's
// accept loop are handed to a net/http server through ln.
type bulkServer struct {
	cfg     *BulkConfig
	ln      *handoffListener
	hash    maphash.Seed
	ids     idSet
	pool    sync.Pool // *bulkReq
	startNs atomic.Int64

	mu      sync.Mutex
	stopped bool
	stop    chan struct{}
	wg      sync.WaitGroup // running handlers

	reqNo, seqNo, genID atomic.Uint64
	c                   bulkCounters
}

type bulkCounters struct {
	byStatus, itemsByStatus                                    [600]atomic.Uint64
	requests, bodyBytes, decodedBytes, gzipRequests, stored    atomic.Uint64
	noContentType, noBatchHeaders, badBatchHeaders, countDiffs atomic.Uint64
	unauthorized, malformed, badRequests, conflicts, tooLarge  atomic.Uint64
	noTimestamp, noMessage, notFound                           atomic.Uint64
	itemsRejected, itemsInvalid, rejected, windowRejected      atomic.Uint64
	serverErrors, broken, truncated, delayed, closedDown       atomic.Uint64
	unavailable                                                atomic.Uint64
	qw                                                         ingestCounters
}

func newBulkServer(cfg *BulkConfig) *bulkServer {
	b := &bulkServer{
		cfg:  cfg,
		ln:   newHandoffListener(),
		hash: maphash.MakeSeed(),
		ids:  idSet{limit: cfg.MaxIDs, seen: make(map[uint64]struct{})},
		stop: make(chan struct{}),
	}
	b.pool.New = func() any {
		q := &bulkReq{br: bufio.NewReaderSize(nil, bulkReadBuffer)}
		q.rng = rand.New(&q.pcg)
		return q
	}
	return b
}

// enter registers a handler, or reports false once serving has stopped.
func (b *bulkServer) enter() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return false
	}
	b.wg.Add(1)
	return true
}

// stopHandlers refuses new handlers and wakes delayed ones; the caller
// then closes the connections and waits for b.wg.
func (b *bulkServer) stopHandlers() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.stopped {
		b.stopped = true
		close(b.stop)
	}
}

// bulkHTTPServer returns the net/http server of ModeBulk.
func (s *Server) bulkHTTPServer() *http.Server {
	return &http.Server{
		Handler:           http.HandlerFunc(s.serveBulkHTTP),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
}

// bulkReq is one request's working memory, pooled.
type bulkReq struct {
	pcg      rand.PCG
	rng      *rand.Rand
	br       *bufio.Reader
	gz       *gzip.Reader
	line     []byte // a line longer than br's buffer
	msg      []byte // an unescaped message
	p        parsed // stamps of the stored documents
	nbytes   int    // bytes of their messages, a newline each
	noTime   int    // of them without "@timestamp"
	noMsg    int    // of them without the message field
	items    []bulkItem
	ids      []uint64 // ids remembered by this request, forgotten again if it fails
	injected bool     // some item was failed on purpose
	out      []byte
	act      bulkAction
	ingest   bool        // the request is to Quickwit's ingest API, answered in its shapes
	qwREST   bool        // the quickwit flavour, outside /api/v1/_elastic: errors in the ingest API's shape
	fails    []parseFail // the ingest API's rejected documents, in order
	failText []byte      // their lines, one after another
}

// bulkItem is the answer to one document: about 56 bytes, the largest
// per-document memory of a request.
type bulkItem struct {
	index  string
	id     string // the request's _id; "" = generated (genID)
	genID  uint64
	seqNo  uint64
	status int16
	create bool    // keyed "create", else "index"
	err    itemErr // why status is an error
}

// itemErr is why an item failed; itemErrs gives its type and reason.
type itemErr uint8

const (
	errNone        itemErr = iota
	errMalformed           // 400: not a JSON object
	errInjected400         // 400 on purpose
	errInjected429         // 429 on purpose
	errConflict            // 409: the _id is stored
	errNoIndex             // 404: the quickwit flavour does not know the index
)

var itemErrs = [...]struct{ typ, reason string }{
	errMalformed:   {wire.BulkErrMapping, "failed to parse: the document is not a JSON object"},
	errInjected400: {wire.BulkErrMapping, "failed to parse field [message]: mockdest: injected"},
	errInjected429: {wire.BulkErrRejected, "rejected execution of coordinating operation: mockdest: injected"},
	errConflict:    {wire.BulkErrVersionConflict, "version conflict, document already exists (current version [1])"},
	errNoIndex:     {"index_not_found_exception", "no such index ["}, // + the index + "]"
}

// bulkAction is an action line's decoding target.
type bulkAction struct {
	Create *bulkActionMeta `json:"create"`
	Index  *bulkActionMeta `json:"index"`
}

type bulkActionMeta struct {
	Index string `json:"_index"`
	ID    string `json:"_id"`
}

// errLineTooLong means an NDJSON line exceeded Config.MaxLineBytes.
var errLineTooLong = errors.New("line too long")

// readLine returns the next line without its "\n" (and "\r"); io.EOF at the
// end. The line is valid until the next call.
func (q *bulkReq) readLine(maxLen int) ([]byte, error) {
	line, err := q.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		q.line = append(q.line[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			if len(q.line) > maxLen {
				return nil, errLineTooLong
			}
			line, err = q.br.ReadSlice('\n')
			q.line = append(q.line, line...)
		}
		line = q.line
	}
	if err != nil && !(errors.Is(err, io.EOF) && len(line) > 0) {
		return nil, err
	}
	line = bytes.TrimSuffix(line, []byte{'\n'})
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if len(line) > maxLen {
		return nil, errLineTooLong
	}
	return line, nil
}

// parseAction decodes an action line into q.act: its action name and
// metadata, ok false when it is not a create or index action.
func (q *bulkReq) parseAction(line []byte) (action string, meta bulkActionMeta, ok bool) {
	switch string(line) {
	case `{"create":{}}`:
		return wire.BulkCreate, meta, true
	case `{"index":{}}`:
		return wire.BulkIndex, meta, true
	}
	q.act = bulkAction{}
	if json.Unmarshal(line, &q.act) != nil {
		return "", meta, false
	}
	switch {
	case q.act.Create != nil && q.act.Index == nil:
		return wire.BulkCreate, *q.act.Create, true
	case q.act.Index != nil && q.act.Create == nil:
		return wire.BulkIndex, *q.act.Index, true
	}
	return "", meta, false
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// serveBulkHTTP answers every request of ModeBulk.
func (s *Server) serveBulkHTTP(w http.ResponseWriter, r *http.Request) {
	b := s.bulk
	if !b.enter() {
		closeConn(w)
		return
	}
	defer b.wg.Done()
	reqNo := b.reqNo.Add(1)
	b.c.requests.Add(1)
	q := b.pool.Get().(*bulkReq)
	defer b.pool.Put(q)
	q.pcg.Seed(uint64(s.cfg.Seed), reqNo)
	_, q.ingest = wire.QuickwitIngestIndex(r.URL.Path)
	q.ingest = q.ingest && b.cfg.Flavour == FlavourQuickwit
	q.qwREST = b.cfg.Flavour == FlavourQuickwit && !strings.HasPrefix(r.URL.Path, "/api/v1/_elastic/")

	if s.down.Load() {
		b.c.closedDown.Add(1)
		closeConn(w)
		return
	}
	if b.cfg.Authorization != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte(b.cfg.Authorization)) != 1 {
		b.c.unauthorized.Add(1)
		w.Header().Set("WWW-Authenticate", `Basic realm="security", Bearer realm="security", ApiKey`)
		s.bulkError(w, r, q, http.StatusUnauthorized, "security_exception", "missing or wrong authentication credentials for REST request ["+r.URL.Path+"]")
		return
	}
	if q.ingest {
		s.serveIngest(w, r, q)
		return
	}
	if !strings.HasSuffix(r.URL.Path, "/_bulk") {
		s.serveBulkOther(w, r, q)
		return
	}
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		w.Header().Set("Allow", "POST, PUT")
		s.bulkError(w, r, q, http.StatusMethodNotAllowed, "illegal_argument_exception", "_bulk takes POST or PUT, not "+r.Method)
		return
	}
	s.serveBulk(w, r, q)
}

// serveBulkOther answers the probes shippers make besides _bulk: GET /
// (the engine's version) and GET /health; anything else is 404.
func (s *Server) serveBulkOther(w http.ResponseWriter, r *http.Request, q *bulkReq) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/health":
		s.bulkCount(q, http.StatusOK)
		fmt.Fprint(w, "OK")
	case r.Method == http.MethodGet && q.qwREST && (r.URL.Path == "/health/livez" || r.URL.Path == "/health/readyz"):
		s.bulkCount(q, http.StatusOK)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, "true")
	case (r.Method == http.MethodGet || r.Method == http.MethodHead) && r.URL.Path == "/":
		s.bulkCount(q, http.StatusOK)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"name":"mockdest","cluster_name":"mockdest","version":{"number":"8.17.0","build_flavor":"default"},"tagline":"You Know, for Search"}`)
	default:
		s.bulk.c.notFound.Add(1)
		msg := "no handler for " + r.Method + " " + r.URL.Path
		if q.qwREST {
			msg = "Route not found"
		}
		s.bulkError(w, r, q, http.StatusNotFound, "resource_not_found_exception", msg)
	}
}

// serveBulk answers a _bulk request: the whole-request misbehaviours
// first (nothing stored), then the documents, then the answer, which may
// be delayed, cut off or truncated on purpose.
func (s *Server) serveBulk(w http.ResponseWriter, r *http.Request, q *bulkReq) {
	b, cfg := s.bulk, s.bulk.cfg
	start := time.Now()
	batch, wantCount := s.requestBatch(r, start)
	if s.injectRequestFault(w, r, q, &batch, start) {
		return
	}
	if r.ContentLength > cfg.MaxBodyBytes {
		s.rec.markBulkFault(&batch)
		s.bulkTooLarge(w, r, q, r.ContentLength)
		return
	}
	ndjson := isNDJSON(r.Header.Get("Content-Type"))
	if !ndjson {
		b.c.noContentType.Add(1)
		if cfg.Flavour == FlavourVictoriaLogs {
			// VictoriaLogs stores nothing and says all is well.
			drainBody(r, cfg.MaxBodyBytes)
			q.items = q.items[:0]
			s.bulkAnswer(w, r, q, start, false)
			return
		}
	}
	var res bulkResult
	if !s.readBody(w, r, q, &batch, func() error { res = s.bulkDocs(r, q); return res.readErr }) {
		return
	}
	if res.failed {
		// Nothing stored, except where the flavour stores what came before.
		b.ids.forget(q.ids)
		if res.keep {
			s.bulkCommit(q, &batch, false, q.injected)
		}
		if res.emptyServerError {
			s.bulk.c.badRequests.Add(1)
			s.bulkDelay(r, q)
			s.bulkCount(q, http.StatusInternalServerError)
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		s.bulkBadRequest(w, r, q, res.errType, res.reason)
		return
	}
	if wantCount >= 0 && wantCount != len(q.items) {
		b.c.countDiffs.Add(1)
	}
	s.answerStored(w, r, q, &batch, func(broken bool) {
		s.bulkCommit(q, &batch, broken, q.injected)
		q.out = s.appendBulkResponse(q.out[:0], q, time.Since(start).Milliseconds(), r.URL.Query().Get("filter_path"))
	})
}

// requestBatch returns the batch a request carries (a part of), from its
// X-Logrelay-* headers, and its X-Logrelay-Count (-1 without headers).
func (s *Server) requestBatch(r *http.Request, start time.Time) (Batch, int) {
	b := s.bulk
	batch := Batch{Reason: ReasonRequest, ArrivalNs: start.UnixNano()}
	if r.Header.Get(wire.HeaderSeq) == "" {
		b.c.noBatchHeaders.Add(1)
		return batch, -1
	}
	h, err := wire.ParseBatchHeaders(r.Header)
	if err != nil {
		b.c.badBatchHeaders.Add(1)
		s.log.Debug("bulk: bad batch headers", "err", err)
		return batch, -1
	}
	batch.Seq, batch.Reason, batch.OldestNs, batch.FlushNs = h.Seq, h.Reason.String(), h.OldestNs, h.FlushNs
	return batch, int(h.Count)
}

// injectRequestFault answers a request with an injected whole-request
// failure (closed connection, 429, 500, 503; nothing stored) when the
// dice say so, and reports whether it did.
func (s *Server) injectRequestFault(w http.ResponseWriter, r *http.Request, q *bulkReq, batch *Batch, start time.Time) bool {
	b, cfg := s.bulk, s.bulk.cfg
	fault := func() { s.rec.markBulkFault(batch) }
	if s.cfg.CloseRate > 0 && q.rng.Float64() < s.cfg.CloseRate {
		s.mis.connsClosed.Add(1)
		fault()
		closeConn(w)
		return true
	}
	if cfg.RejectFor > 0 {
		since := time.Duration(start.UnixNano() - b.startNs.Load())
		if since >= cfg.RejectFrom && since < cfg.RejectFrom+cfg.RejectFor {
			b.c.windowRejected.Add(1)
			fault()
			s.bulkReject(w, r, q)
			return true
		}
	}
	if cfg.RejectRate > 0 && q.rng.Float64() < cfg.RejectRate {
		b.c.rejected.Add(1)
		fault()
		s.bulkReject(w, r, q)
		return true
	}
	for _, e := range [...]struct {
		rate             float64
		n                *atomic.Uint64
		status           int
		typ, msg, ingest string
	}{
		{cfg.ServerErrorRate, &b.c.serverErrors, http.StatusInternalServerError, "internal_server_error",
			"mockdest: injected server error", "an internal error occurred: internal error"},
		{cfg.UnavailableRate, &b.c.unavailable, http.StatusServiceUnavailable, "unavailable_shards_exception",
			"mockdest: injected: no shards available", "ingest service is unavailable (no shards available)"},
	} {
		if e.rate > 0 && q.rng.Float64() < e.rate {
			e.n.Add(1)
			fault()
			drainBody(r, cfg.MaxBodyBytes)
			if q.ingest {
				e.msg = e.ingest
			}
			s.bulkError(w, r, q, e.status, e.typ, e.msg)
			return true
		}
	}
	return false
}

// readBody reads the request's body (gunzipped when it says so, both the
// body as sent and decoded bounded by MaxBodyBytes) through q.br with
// docs, and counts its bytes. It answers and reports false when the body
// is over the limit (413), not gzip as it claims, or has an over-long line
// (400), or the client went away (no answer); docs's documents are then
// not stored.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, q *bulkReq, batch *Batch, docs func() error) bool {
	b, cfg := s.bulk, s.bulk.cfg
	gzipMsg := func(err error) string {
		if q.ingest {
			return "Error while decompressing the data"
		}
		return "request body is not valid gzip: " + err.Error()
	}
	body := &countingReader{r: r.Body}
	var src io.Reader = &io.LimitedReader{R: body, N: cfg.MaxBodyBytes + 1}
	enc := r.Header.Get("Content-Encoding")
	gzipped := strings.EqualFold(enc, "gzip") || q.ingest && strings.EqualFold(enc, "x-gzip")
	if gzipped {
		b.c.gzipRequests.Add(1)
		if err := q.resetGzip(src); err != nil {
			b.c.bodyBytes.Add(uint64(body.n))
			s.bulkBadRequest(w, r, q, "parse_exception", gzipMsg(err))
			return false
		}
		src = q.gz
	}
	decoded := &io.LimitedReader{R: src, N: cfg.MaxBodyBytes + 1}
	q.br.Reset(decoded)
	readErr := docs()
	b.c.bodyBytes.Add(uint64(body.n))
	b.c.decodedBytes.Add(uint64(cfg.MaxBodyBytes + 1 - decoded.N))
	q.br.Reset(nil)
	if decoded.N <= 0 || body.n > cfg.MaxBodyBytes {
		b.ids.forget(q.ids)
		s.rec.markBulkFault(batch)
		s.bulkTooLarge(w, r, q, -1)
		return false
	}
	if readErr == nil {
		return true
	}
	// Nothing is stored. An over-long line or a broken gzip stream is a
	// 400; any other read error means the client went away, and no answer
	// is possible.
	b.ids.forget(q.ids)
	if errors.Is(readErr, errLineTooLong) {
		s.linesTooLong.Add(1)
		s.bulkBadRequest(w, r, q, "illegal_argument_exception", fmt.Sprintf("line longer than %d bytes", s.cfg.MaxLineBytes))
		return false
	}
	var corrupt flate.CorruptInputError
	if gzipped && (errors.Is(readErr, gzip.ErrChecksum) || errors.Is(readErr, gzip.ErrHeader) ||
		errors.Is(readErr, io.ErrUnexpectedEOF) || errors.As(readErr, &corrupt)) {
		s.bulkBadRequest(w, r, q, "parse_exception", gzipMsg(readErr))
		return false
	}
	s.log.Debug("bulk: reading the body", "err", readErr)
	closeConn(w)
	return false
}

// answerStored stores a request's documents with commit, which also
// encodes the 200 answer into q.out, and writes it, cut off or truncated
// on purpose when the dice say so. A server gone down while reading
// stores nothing and closes the connection.
func (s *Server) answerStored(w http.ResponseWriter, r *http.Request, q *bulkReq, batch *Batch, commit func(broken bool)) {
	b, cfg := s.bulk, s.bulk.cfg
	if s.down.Load() {
		b.ids.forget(q.ids)
		b.c.closedDown.Add(1)
		s.rec.markBulkFault(batch)
		closeConn(w)
		return
	}
	var breakIt, truncate bool
	if cfg.BreakRate > 0 && q.rng.Float64() < cfg.BreakRate {
		breakIt = true
	} else if cfg.TruncateRate > 0 && q.rng.Float64() < cfg.TruncateRate {
		truncate = true
	}
	commit(breakIt || truncate)
	switch {
	case breakIt:
		b.c.broken.Add(1)
		s.breakAnswer(w, r, q)
	case truncate:
		b.c.truncated.Add(1)
		s.writeAnswer(w, r, q, true)
	default:
		s.writeAnswer(w, r, q, false)
	}
}

// bulkResult is how reading a request's documents ended.
type bulkResult struct {
	readErr          error  // reading failed: no answer but a 400 for a bad line or gzip
	failed           bool   // a whole-request error, of errType and reason
	errType, reason  string //
	keep             bool   // the items before the error are stored (victorialogs, zincsearch)
	emptyServerError bool   // answer 500 with an empty body (zincsearch)
}

// bulkDocs reads the action/document pairs of a request into q.items and
// the stamps of the documents to store into q.p.
func (s *Server) bulkDocs(r *http.Request, q *bulkReq) bulkResult {
	b, cfg := s.bulk, s.bulk.cfg
	q.items, q.ids, q.nbytes, q.noTime, q.noMsg, q.injected = q.items[:0], q.ids[:0], 0, 0, 0, false
	q.p.stamps, q.p.ok = q.p.stamps[:0], q.p.ok[:0]
	msgField := cfg.MessageField
	pathIndex := ""
	if cfg.Flavour == FlavourVictoriaLogs {
		if f := r.URL.Query().Get("_msg_field"); f != "" {
			msgField = f
		} else if f := r.Header.Get("VL-Msg-Field"); f != "" {
			msgField = f
		}
	} else {
		pathIndex = bulkPathIndex(r.URL.Path)
	}
	stopAfter := func(k int) bulkResult { // a malformed document ends the request after storing the others
		if cfg.Flavour == FlavourZincSearch {
			return bulkResult{failed: true, keep: k > 0, emptyServerError: true}
		}
		return bulkResult{failed: true, keep: k > 0, errType: "illegal_argument_exception",
			reason: fmt.Sprintf("cannot decode log message #%d: not a JSON object", k)}
	}
	for n := 1; ; n++ {
		aline, err := q.readLine(s.cfg.MaxLineBytes)
		if errors.Is(err, io.EOF) {
			return bulkResult{}
		}
		if err != nil {
			return bulkResult{readErr: err}
		}
		if len(bytes.TrimSpace(aline)) == 0 {
			n--
			continue
		}
		action, meta, ok := q.parseAction(aline)
		if !ok {
			if cfg.Flavour == FlavourVictoriaLogs || cfg.Flavour == FlavourZincSearch {
				return stopAfter(len(q.items))
			}
			return bulkResult{failed: true, errType: "illegal_argument_exception",
				reason: fmt.Sprintf("Malformed action/metadata line [%d]: want {\"create\":{…}} or {\"index\":{…}}", 2*n-1)}
		}
		dline, err := q.readLine(s.cfg.MaxLineBytes)
		if errors.Is(err, io.EOF) {
			return bulkResult{failed: true, errType: "illegal_argument_exception",
				reason: fmt.Sprintf("action line [%d] has no document line after it", 2*n-1)}
		}
		if err != nil {
			return bulkResult{readErr: err}
		}
		it := bulkItem{create: action == wire.BulkCreate, index: meta.Index}
		switch cfg.Flavour {
		case FlavourVictoriaLogs:
			it.create = true
		case FlavourQuickwit, FlavourZincSearch:
			it.create = false
		}
		if it.index == "" {
			it.index = pathIndex
		}
		if it.index == "" && cfg.Flavour != FlavourVictoriaLogs {
			return bulkResult{failed: true, errType: "action_request_validation_exception", reason: "Validation Failed: 1: index is missing;"}
		}
		if cfg.Flavour == FlavourQuickwit && !cfg.knownIndex(it.index) {
			it.status, it.err = http.StatusNotFound, errNoIndex
			q.items = append(q.items, it)
			continue
		}
		f, valid := scanDoc(dline, msgField)
		if !valid || !f.object {
			b.c.malformed.Add(1)
			if cfg.Flavour == FlavourVictoriaLogs || cfg.Flavour == FlavourZincSearch {
				return stopAfter(len(q.items))
			}
			it.status, it.err = http.StatusBadRequest, errMalformed
			q.items = append(q.items, it)
			continue
		}
		if cfg.Flavour == FlavourElasticsearch || cfg.Flavour == FlavourZincSearch {
			it.id = meta.ID
		}
		if cfg.ItemInvalidRate > 0 || cfg.ItemRejectRate > 0 {
			x := q.rng.Float64()
			switch {
			case x < cfg.ItemInvalidRate:
				b.c.itemsInvalid.Add(1)
				it.status, it.err, q.injected = http.StatusBadRequest, errInjected400, true
				q.items = append(q.items, it)
				continue
			case x < cfg.ItemInvalidRate+cfg.ItemRejectRate:
				b.c.itemsRejected.Add(1)
				it.status, it.err, q.injected = http.StatusTooManyRequests, errInjected429, true
				q.items = append(q.items, it)
				continue
			}
		}
		if cfg.Flavour == FlavourElasticsearch && meta.ID != "" && action == wire.BulkCreate {
			idHash := maphash.String(b.hash, meta.ID)
			if !b.ids.add(idHash) {
				it.status, it.err = http.StatusConflict, errConflict
				q.items = append(q.items, it)
				continue
			}
			q.ids = append(q.ids, idHash)
		}
		it.status = http.StatusCreated
		if cfg.Flavour == FlavourZincSearch {
			it.status = http.StatusOK
		}
		s.storeDoc(q, dline, &f)
		q.items = append(q.items, it)
	}
}

// storeDoc adds the stamp of a document to store (doc, scanned into f) to
// q.p: its message field's, or the whole document's without one.
func (s *Server) storeDoc(q *bulkReq, doc []byte, f *docFields) {
	if !f.hasTime {
		q.noTime++
	}
	msg := f.msg
	if msg == nil {
		q.noMsg++
		msg = doc
	} else if f.msgEscape {
		q.msg = appendUnescaped(q.msg[:0], msg)
		msg = q.msg
	}
	q.p.add(msg)
	q.nbytes += len(msg) + 1
}

// bulkCommit records the stored documents of q.items (whose stamps q.p
// holds, in order) and counts the items by status.
func (s *Server) bulkCommit(q *bulkReq, batch *Batch, broken, faulted bool) {
	b := s.bulk
	stored := uint64(len(q.p.stamps))
	seq := b.seqNo.Add(stored) - stored
	for i := range q.items {
		it := &q.items[i]
		if int(it.status) < len(b.c.itemsByStatus) {
			b.c.itemsByStatus[it.status].Add(1)
		}
		if it.status == http.StatusConflict {
			b.c.conflicts.Add(1)
		}
		if it.id == "" {
			it.genID = b.genID.Add(1)
		}
		if it.status == http.StatusCreated || it.status == http.StatusOK {
			it.seqNo = seq
			seq++
		}
	}
	s.recordStored(q, batch, broken, faulted)
}

// recordStored counts and records the documents of q.p as stored.
func (s *Server) recordStored(q *bulkReq, batch *Batch, broken, faulted bool) {
	c := &s.bulk.c
	c.stored.Add(uint64(len(q.p.stamps)))
	c.noTimestamp.Add(uint64(q.noTime))
	c.noMessage.Add(uint64(q.noMsg))
	s.rec.recordBulk(batch, &q.p, q.nbytes, broken, faulted)
}

// bulkPathIndex returns the index named by a _bulk path:
// /logs/_bulk, /api/v1/_elastic/logs/_bulk and /es/logs/_bulk give "logs";
// /_bulk, /api/v1/_elastic/_bulk, /es/_bulk and
// /insert/elasticsearch/_bulk give "".
func bulkPathIndex(path string) string {
	rest := strings.TrimSuffix(path, "/_bulk")
	seg := rest[strings.LastIndexByte(rest, '/')+1:]
	switch seg {
	case "", "_elastic", "es", "elasticsearch", "api":
		return ""
	}
	return seg
}

func isNDJSON(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "application/x-ndjson")
}

// resetGzip makes q.gz read src.
func (q *bulkReq) resetGzip(src io.Reader) error {
	if q.gz == nil {
		gz, err := gzip.NewReader(src)
		if err != nil {
			return err
		}
		q.gz = gz
		return nil
	}
	return q.gz.Reset(src)
}

// drainBody reads and discards up to limit bytes of the request's body,
// as an engine reads a request before it answers.
func drainBody(r *http.Request, limit int64) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, limit))
}

// closeConn closes the request's connection without an answer.
func closeConn(w http.ResponseWriter) {
	c, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // closes the connection
	}
	c.Close()
}

// bulkCount counts an answer of the status, also as the ingest API's.
func (s *Server) bulkCount(q *bulkReq, status int) {
	if status < 0 || status >= len(s.bulk.c.byStatus) {
		return
	}
	s.bulk.c.byStatus[status].Add(1)
	if q.ingest {
		s.bulk.c.qw.byStatus[status].Add(1)
	}
}

// bulkDelay waits for the configured answer delay (AckDelay plus a random
// part of AckJitter), unless the request or the server ends first.
func (s *Server) bulkDelay(r *http.Request, q *bulkReq) {
	d := s.cfg.AckDelay
	if s.cfg.AckJitter > 0 {
		d += time.Duration(q.rng.Int64N(int64(s.cfg.AckJitter)))
	}
	if d <= 0 {
		return
	}
	s.bulk.c.delayed.Add(1)
	s.bulkWait(r, d)
}

// bulkWait waits d, unless the request or the server ends first.
func (s *Server) bulkWait(r *http.Request, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	case <-s.bulk.stop:
	}
}

// bulkReject answers a whole-request 429.
func (s *Server) bulkReject(w http.ResponseWriter, r *http.Request, q *bulkReq) {
	drainBody(r, s.bulk.cfg.MaxBodyBytes)
	if ra := s.bulk.cfg.RetryAfter; ra > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(int64((ra+time.Second-1)/time.Second), 10))
	}
	msg := "rejected execution of coordinating operation: mockdest: injected"
	if q.ingest {
		msg = "rate limited " + quickwitRateLimits[q.rng.IntN(len(quickwitRateLimits))]
	}
	s.bulkError(w, r, q, http.StatusTooManyRequests, wire.BulkErrRejected, msg)
}

// quickwitRateLimits are the causes of Quickwit's 429s.
var quickwitRateLimits = [...]string{"shard rate limiting", "wal full (memory or disk)", "load shedding"}

// bulkTooLarge answers 413 and closes the connection (the rest of the
// body is not read).
func (s *Server) bulkTooLarge(w http.ResponseWriter, r *http.Request, q *bulkReq, n int64) {
	s.bulk.c.tooLarge.Add(1)
	w.Header().Set("Connection", "close")
	reason := fmt.Sprintf("request body exceeds %d bytes", s.bulk.cfg.MaxBodyBytes)
	if n > 0 {
		reason = fmt.Sprintf("request body of %d bytes exceeds %d bytes", n, s.bulk.cfg.MaxBodyBytes)
	}
	if q.ingest {
		reason = "The request payload is too large"
	}
	s.bulkError(w, r, q, http.StatusRequestEntityTooLarge, "content_too_long_exception", reason)
}

// bulkBadRequest answers a whole-request 400 caused by the request.
func (s *Server) bulkBadRequest(w http.ResponseWriter, r *http.Request, q *bulkReq, typ, reason string) {
	s.bulk.c.badRequests.Add(1)
	s.bulkError(w, r, q, http.StatusBadRequest, typ, reason)
}

// bulkError answers a whole-request error in the API's and flavour's
// shape: wire.QuickwitError (of message reason) for Quickwit's own REST
// API (the quickwit flavour outside /api/v1/_elastic), plain
// text for victorialogs, wire.BulkErrorResponse for the others.
func (s *Server) bulkError(w http.ResponseWriter, r *http.Request, q *bulkReq, status int, typ, reason string) {
	s.bulkDelay(r, q)
	s.bulkCount(q, status)
	if q.qwREST {
		q.out = appendQuickwitError(q.out[:0], reason)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(q.out)
		return
	}
	if s.bulk.cfg.Flavour == FlavourVictoriaLogs {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		fmt.Fprintf(w, "remoteAddr: %q; requestURI: %s; %s\n", r.RemoteAddr, r.URL.RequestURI(), reason)
		return
	}
	body, _ := json.Marshal(wire.BulkErrorResponse{Error: wire.BulkError{Type: typ, Reason: reason}, Status: status})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// bulkAnswer encodes and writes the 200 answer to a _bulk request.
func (s *Server) bulkAnswer(w http.ResponseWriter, r *http.Request, q *bulkReq, start time.Time, truncate bool) {
	q.out = s.appendBulkResponse(q.out[:0], q, time.Since(start).Milliseconds(), r.URL.Query().Get("filter_path"))
	s.writeAnswer(w, r, q, truncate)
}

// writeAnswer writes q.out as the 200 answer, or with truncate its first
// half as a complete HTTP response.
func (s *Server) writeAnswer(w http.ResponseWriter, r *http.Request, q *bulkReq, truncate bool) {
	out := q.out
	if truncate {
		out = out[:len(out)/2]
	}
	s.bulkDelay(r, q)
	s.bulkCount(q, http.StatusOK)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	_, _ = w.Write(out)
}

// breakAnswer writes the headers of q.out as the 200 answer and half its
// body, then closes the connection.
func (s *Server) breakAnswer(w http.ResponseWriter, r *http.Request, q *bulkReq) {
	s.bulkDelay(r, q)
	c, bw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	defer c.Close()
	s.bulkCount(q, http.StatusOK)
	fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(q.out))
	_, _ = bw.Write(q.out[:len(q.out)/2])
	_ = bw.Flush()
}

// handoffListener is a net.Listener whose connections are handed to it.
type handoffListener struct {
	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

func newHandoffListener() *handoffListener {
	return &handoffListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// bulkConn is an accepted connection served by net/http: reads go through
// the bandwidth cap, and Close tells the accept loop's goroutine.
type bulkConn struct {
	net.Conn
	r      io.Reader
	closed chan struct{}
	once   sync.Once
}

func (c *bulkConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *bulkConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// serveBulkConn hands c to the HTTP server and waits until it is closed
// or serving ends.
func (s *Server) serveBulkConn(ctx context.Context, c net.Conn, src io.Reader) {
	bc := &bulkConn{Conn: c, r: src, closed: make(chan struct{})}
	select {
	case s.bulk.ln.conns <- bc:
	case <-s.bulk.ln.done:
		return
	case <-ctx.Done():
		return
	}
	select {
	case <-bc.closed:
	case <-ctx.Done():
	}
}

// idSet remembers document ids (as 64-bit hashes) up to a limit, forgetting
// the oldest first.
type idSet struct {
	limit int
	mu    sync.Mutex
	seen  map[uint64]struct{}
	ring  []uint64
	head  int
}

func (s *idSet) has(h uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.seen[h]
	return ok
}

// add remembers h and reports true, or reports false if h is remembered
// already.
func (s *idSet) add(h uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.seen[h]; ok {
		return false
	}
	if len(s.ring) < s.limit {
		s.ring = append(s.ring, h)
	} else {
		delete(s.seen, s.ring[s.head])
		s.ring[s.head] = h
		s.head = (s.head + 1) % s.limit
	}
	s.seen[h] = struct{}{}
	return true
}

// forget removes ids a failed request added (their ring slots stay until
// reused).
func (s *idSet) forget(hs []uint64) {
	if len(hs) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range hs {
		delete(s.seen, h)
	}
}
