package config

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/assignd/assignd/taskrouter"
)

// DevCredentials stand in for a Twilio account in development mode: the
// server signs-checks with AuthToken, `assignd send` signs with it, and the
// built-in fake TaskRouter API accepts AccountSid/AuthToken.
type DevCredentials struct {
	AccountSid string `json:"account_sid"`
	AuthToken  string `json:"auth_token"`
}

const devFile = "dev-credentials.json"

// DevCredentialsPath is where LoadOrCreateDevCredentials keeps them.
func DevCredentialsPath(dataDir string) string { return filepath.Join(dataDir, devFile) }

// LoadOrCreateDevCredentials returns the development credentials kept in
// dataDir, creating them on first use. created reports a new file.
func LoadOrCreateDevCredentials(dataDir string) (creds DevCredentials, created bool, err error) {
	path := DevCredentialsPath(dataDir)
	data, err := os.ReadFile(path)
	if err == nil {
		if err := json.Unmarshal(data, &creds); err != nil || creds.AuthToken == "" || !taskrouter.ValidSid(taskrouter.PrefixAccount, creds.AccountSid) {
			return creds, false, fmt.Errorf("dev credentials %s are damaged; delete the file to make new ones", path)
		}
		return creds, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return creds, false, fmt.Errorf("read dev credentials: %w", err)
	}
	creds = DevCredentials{AccountSid: taskrouter.PrefixAccount + randomHex(16), AuthToken: randomHex(16)}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return creds, false, fmt.Errorf("create data dir: %w", err)
	}
	data, _ = json.MarshalIndent(creds, "", "  ")
	// Write a complete file under a temporary name, then link it into place:
	// link fails if the name exists, so a racing process (serve and send
	// started together) either wins or reads the winner's whole file, never
	// a half-written one.
	tmp, err := os.CreateTemp(dataDir, devFile+".tmp-*")
	if err != nil {
		return creds, false, fmt.Errorf("create dev credentials: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return creds, false, fmt.Errorf("write dev credentials: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return creds, false, fmt.Errorf("write dev credentials: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return creds, false, fmt.Errorf("write dev credentials: %w", err)
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		return LoadOrCreateDevCredentials(dataDir)
	} else if err != nil {
		return creds, false, fmt.Errorf("create dev credentials: %w", err)
	}
	return creds, true, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}
