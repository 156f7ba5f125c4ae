package async

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/assignd/assignd/policy"
)

// Secrets in an instruction are sealed before the instruction is stored in
// a job's args, which River keeps for 25 hours and shows to anyone who can
// read the queue (River UI, a database dump). The only such secret today is
// the conference's sip_auth_password, which the update needs, so it cannot
// simply be dropped: it is encrypted with AES-256-GCM under a key derived
// (HKDF-SHA256) from the REST credential's secret (auth token or API key
// secret), which every instance working the queue already has and which is
// never stored. Rotating that secret makes decisions stored before the
// rotation fail with a clear error instead of sending a wrong password.
//
// Which fields are secrets is defined once, by the secret check on the
// field (policy.SecretFields).

// sealedPrefix marks a sealed value; "v1" names the key derivation.
const sealedPrefix = "sealed:v1:"

type sealer struct{ aead cipher.AEAD }

func newSealer(secret string) *sealer {
	key, err := hkdf.Key(sha256.New, []byte(secret), nil, "assignd job args v1", 32)
	if err != nil {
		panic(fmt.Sprintf("hkdf: %v", err)) // only for an impossible key length
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(fmt.Sprintf("aes: %v", err))
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(fmt.Sprintf("gcm: %v", err))
	}
	return &sealer{aead: aead}
}

// sealInstruction returns the instruction JSON with its secrets sealed. A
// nil sealer (no credentials) refuses an instruction that has a secret.
func (s *sealer) sealInstruction(b []byte) (json.RawMessage, error) {
	return s.mapFields(b, func(field, v string) (string, error) {
		if s == nil {
			return "", fmt.Errorf("%s: cannot store it without REST credentials to seal it with", field)
		}
		nonce := make([]byte, s.aead.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			return "", fmt.Errorf("%s: %w", field, err)
		}
		return sealedPrefix + base64.RawStdEncoding.EncodeToString(s.aead.Seal(nonce, nonce, []byte(v), []byte(field))), nil
	})
}

// openInstruction reverses sealInstruction.
func (s *sealer) openInstruction(b []byte) (json.RawMessage, error) {
	return s.mapFields(b, func(field, v string) (string, error) {
		if len(v) < len(sealedPrefix) || v[:len(sealedPrefix)] != sealedPrefix {
			return v, nil // stored before sealing existed
		}
		if s == nil {
			return "", fmt.Errorf("%s: sealed, and no credentials to open it", field)
		}
		raw, err := base64.RawStdEncoding.DecodeString(v[len(sealedPrefix):])
		if err != nil || len(raw) < s.aead.NonceSize() {
			return "", fmt.Errorf("%s: sealed value is corrupt", field)
		}
		n := s.aead.NonceSize()
		plain, err := s.aead.Open(nil, raw[:n], raw[n:], []byte(field))
		if err != nil {
			return "", errors.New(field + ": cannot open the sealed value (were the REST credentials rotated since the decision was stored?)")
		}
		return string(plain), nil
	})
}

// mapFields applies f to each non-empty sealed field of the instruction JSON
// and leaves every other byte's meaning alone.
//
// When no secret field's name appears in b it returns b as is without
// decoding it: there is nothing to map.
func (s *sealer) mapFields(b []byte, f func(field, v string) (string, error)) (json.RawMessage, error) {
	if !policy.MayHoldSecret(b) {
		return b, nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return nil, fmt.Errorf("instruction JSON: %w", err)
	}
	changed := false
	for _, name := range policy.SecretFields() {
		raw, ok := fields[name]
		if !ok {
			continue
		}
		var v string
		if err := json.Unmarshal(raw, &v); err != nil || v == "" {
			continue
		}
		out, err := f(name, v)
		if err != nil {
			return nil, err
		}
		if fields[name], err = json.Marshal(out); err != nil {
			return nil, err
		}
		changed = true
	}
	if !changed {
		return b, nil
	}
	return json.Marshal(fields)
}
