package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/assignd/assignd/config"
)

// dataDirLockName is the file in DATA_DIR whose lock says which process owns it.
const dataDirLockName = "assignd.lock"

// lockDataDir makes this process DATA_DIR's only user while it holds the
// SQLite queue and decision log, and is taken before anything is printed, so
// a second assignd in the same checkout stops with one line instead of a
// banner and a queue error. With DATABASE_URL the stores are shared by
// design and DATA_DIR is not locked. release gives it back (the OS does so
// too when the process dies).
func lockDataDir(cfg config.Config) (release func(), err error) {
	if cfg.DatabaseURL != "" {
		return func() {}, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, &config.Error{Var: "DATA_DIR", Msg: err.Error()}
	}
	f, err := os.OpenFile(filepath.Join(cfg.DataDir, dataDirLockName), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, &config.Error{Var: "DATA_DIR", Msg: fmt.Sprintf("lock: %v", err)}
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &config.Error{Var: "DATA_DIR", Msg: fmt.Sprintf("lock: %v", err)}
		}
		return nil, fmt.Errorf("another assignd holds DATA_DIR=%s%s; stop it or choose another DATA_DIR", cfg.DataDir, holder(f))
	}
	// The holder's pid, for the next one's message; the lock is what counts.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() { f.Close() }, nil
}

// holder is " (pid N)" when the lock file names its holder.
func holder(f *os.File) string {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	if pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n]))); err == nil && pid > 0 {
		return fmt.Sprintf(" (pid %d)", pid)
	}
	return ""
}
