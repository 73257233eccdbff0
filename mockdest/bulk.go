package main

import (
	"github.com/spf13/pflag"

	"github.com/logrelay/logrelay/internal/mockdest"
)

// bulkAuthEnv holds the Authorization header value that bulk mode
// requires, when set: a secret, so an environment variable and no flag.
const bulkAuthEnv = "MOCKDEST_BULK_AUTHORIZATION"

// addBulkFlags adds the flags of --mode bulk.
func addBulkFlags(fs *pflag.FlagSet, b *mockdest.BulkConfig) {
	fs.StringVar(&b.Flavour, "bulk-flavour", mockdest.FlavourElasticsearch, "bulk mode: answer as elasticsearch, victorialogs, quickwit or zincsearch")
	fs.StringVar(&b.MessageField, "bulk-message-field", mockdest.DefaultBulkMessageField, "bulk mode: document field holding the original line (checked for the stamp)")
	fs.Int64Var(&b.MaxBodyBytes, "bulk-max-body-bytes", 0, "bulk mode: answer 413 to a larger body, as sent or decoded, nothing stored (0 = 100 MiB, quickwit flavour 10 MiB)")
	fs.IntVar(&b.MaxIDs, "bulk-max-ids", mockdest.DefaultBulkMaxIDs, "bulk mode: document _ids remembered for 409s (elasticsearch flavour)")
	fs.Float64Var(&b.ItemRejectRate, "bulk-item-reject-rate", 0, "bulk mode: fraction of documents answered 429 (not stored)")
	fs.Float64Var(&b.ItemInvalidRate, "bulk-item-invalid-rate", 0, "bulk mode: fraction of documents answered 400 mapper_parsing_exception (not stored)")
	fs.Float64Var(&b.RejectRate, "bulk-reject-rate", 0, "bulk mode: fraction of requests answered 429 as a whole (nothing stored)")
	fs.DurationVar(&b.RejectFrom, "bulk-reject-from", 0, "bulk mode: answer every request 429 from this long after the start ...")
	fs.DurationVar(&b.RejectFor, "bulk-reject-for", 0, "... for this long (0 = no window)")
	fs.DurationVar(&b.RetryAfter, "bulk-retry-after", 0, "bulk mode: Retry-After (whole seconds) sent with whole-request 429s (0 = none)")
	fs.Float64Var(&b.ServerErrorRate, "bulk-server-error-rate", 0, "bulk mode: fraction of requests answered 500 (nothing stored)")
	fs.Float64Var(&b.BreakRate, "bulk-break-rate", 0, "bulk mode: fraction of requests stored whose answer is cut off mid-body (connection closed)")
	fs.Float64Var(&b.TruncateRate, "bulk-truncate-rate", 0, "bulk mode: fraction of requests stored whose answer carries half its JSON body")
	fs.Float64Var(&b.UnavailableRate, "bulk-unavailable-rate", 0, "bulk mode: fraction of requests answered 503 (nothing stored)")
}

// addQuickwitFlags adds the flags of the quickwit flavour's ingest API
// (/api/v1/<index>/ingest).
func addQuickwitFlags(fs *pflag.FlagSet, b *mockdest.BulkConfig) {
	fs.StringSliceVar(&b.Indexes, "quickwit-indexes", nil, "quickwit flavour: index ids the ingest API knows, others 404 (* = any; default "+mockdest.DefaultQuickwitIndex+")")
	fs.Float64Var(&b.ParseFailureRate, "quickwit-parse-failure-rate", 0, "quickwit flavour: fraction of valid documents the ingest API rejects as invalid_schema parse failures")
	fs.DurationVar(&b.CommitDelay, "quickwit-commit-delay", 0, "quickwit flavour: delay the ingest API's answers to commit=wait_for and commit=force by this much")
}
