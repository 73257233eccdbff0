// Package docs holds no code. Its tests check that the pages under docs/
// describe the programs as they are: every flag a program's --help prints
// is in that program's page, every metric the relay serves is in
// docs/relay.md, and the Python destination in docs/wire.md works against
// the relay as the page says.
package docs
