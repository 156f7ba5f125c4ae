// Package sqlitefile is how assignd opens a SQLite file in DATA_DIR: one
// data-source name for the decision log and the async queue alike. It is a
// leaf under internal/ so both stores import it without importing each other.
package sqlitefile

import "strings"

// base are the settings every store shares. WAL with synchronous=NORMAL: a
// committed write survives the process being killed (only an OS crash or
// power loss can lose the last transactions), and readers never block the
// writer. busy_timeout waits out a checkpoint; _txlock=immediate takes the
// write lock at BEGIN, so a transaction never fails half-way for it.
var base = []string{
	"_pragma=journal_mode(WAL)",
	"_pragma=synchronous(NORMAL)",
	"_pragma=busy_timeout(10000)",
	"_txlock=immediate",
}

// uriPath escapes what SQLite's URI parser would otherwise read as syntax:
// a '?' or '#' ends the path (opening another file, without the pragmas)
// and a '%' starts an escape.
var uriPath = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")

// DSN is the data-source name of the SQLite file at path, for the modernc
// driver: the shared settings, then extra (such as
// "_pragma=foreign_keys(ON)").
func DSN(path string, extra ...string) string {
	return "file:" + uriPath.Replace(path) + "?" + strings.Join(append(append([]string(nil), base...), extra...), "&")
}
