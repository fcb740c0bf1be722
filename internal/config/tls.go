package config

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// ClientCAPool reads a PEM file of CA certificates for verifying client
// certificates. It fails unless the file holds at least one certificate
// and nothing but certificates.
func ClientCAPool(path string) (*x509.CertPool, error) { return CertPool("client CA file", path) }

// CertPool reads a PEM file of certificates (what names it in errors).
// It fails unless the file holds at least one certificate and nothing but
// certificates.
func CertPool(what, path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	certs, err := parsePEMCerts(b)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// checkClientCA validates server.tls_client_ca_file: it needs HTTPS, and
// the file must read and parse.
func checkClientCA(path, certFile string) error {
	if path == "" {
		return nil
	}
	if certFile == "" {
		return errors.New("needs server.tls_cert_file and server.tls_key_file (mutual TLS is TLS)")
	}
	_, err := ClientCAPool(path)
	return err
}

// parsePEMCerts parses every PEM block of b as an X.509 certificate.
func parsePEMCerts(b []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for n := 1; ; n++ {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is a %q, not a CERTIFICATE", n, block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", n, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return certs, nil
}
