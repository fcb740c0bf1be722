package demo

import (
	"crypto/rand"
	"encoding/hex"
)

func randomToken() string {
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
