// Package sqlitefile is how assignd opens a SQLite file in DATA_DIR: one
// data-source name for the decision log and the async queue alike. It is a
// leaf under internal/ so both stores import it without importing each other.
package sqlitefile

import "strings"

// shared are the settings every store uses. WAL with synchronous=NORMAL: a
// committed write survives the process being killed (only an OS crash or
// power loss can lose the last transactions), and readers never block the
// writer. busy_timeout waits out a checkpoint; _txlock=immediate takes the
// write lock at BEGIN, so a transaction never fails half-way for it.
const shared = "_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)&_txlock=immediate"

// DSN is the data-source name of the SQLite file at path, for the modernc
// driver: the shared settings, then extra (such as
// "_pragma=foreign_keys(ON)").
func DSN(path string, extra ...string) string {
	return "file:" + escapePath(path) + "?" + strings.Join(append([]string{shared}, extra...), "&")
}

// escapePath escapes what SQLite's URI parser would otherwise read as
// syntax: a '?' or '#' ends the path (opening another file, without the
// pragmas) and a '%' starts an escape.
func escapePath(path string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
}
