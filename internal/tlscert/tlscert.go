// Package tlscert holds the server's TLS certificate and swaps it on
// reload, so new handshakes use a renewed certificate while sockets that
// already finished theirs carry on untouched.
package tlscert

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// Store is the current certificate. Reload replaces it only with a pair
// that loads and matches, so a half-copied renewal never takes the node's
// TLS down.
type Store struct {
	certFile, keyFile string
	current           atomic.Pointer[tls.Certificate]
}

// Load reads the pair once; an error names the config key at fault. An
// empty keyFile reads the key from certFile (a combined PEM, as PHP's
// local_cert takes).
func Load(certFile, keyFile string) (*Store, error) {
	if certFile == "" {
		return nil, errors.New("tls_key_file is set but tls_cert_file is not: set both (or only tls_cert_file for a PEM holding the certificate and the key)")
	}
	if keyFile == "" {
		keyFile = certFile
	}
	s := &Store{certFile: certFile, keyFile: keyFile}
	cert, err := s.read()
	if err != nil {
		return nil, err
	}
	s.current.Store(cert)
	return s, nil
}

// Reload swaps in the pair now on disk, or keeps the old one and says why.
func (s *Store) Reload() error {
	cert, err := s.read()
	if err != nil {
		return fmt.Errorf("%w; still serving the previous certificate", err)
	}
	s.current.Store(cert)
	return nil
}

// Describe names the certificate in use, for the log.
func (s *Store) Describe() string {
	leaf := s.current.Load().Leaf
	if leaf == nil {
		return s.certFile
	}
	return fmt.Sprintf("%s (subject %q, valid until %s)", s.certFile, leaf.Subject.CommonName, leaf.NotAfter.UTC().Format(time.RFC3339))
}

// Config is the server side of every TLS handshake. HTTP/1.1 is the only
// protocol offered: WebSockets and the Pusher HTTP API both ride on it.
func (s *Store) Config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return s.current.Load(), nil
		},
	}
}

func (s *Store) read() (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(s.certFile, s.keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls_cert_file %s / tls_key_file %s: %w", s.certFile, s.keyFile, err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("tls_cert_file %s: %w", s.certFile, err)
		}
	}
	if time.Now().After(cert.Leaf.NotAfter) {
		return nil, fmt.Errorf("tls_cert_file %s: the certificate expired on %s: renew it", s.certFile, cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return &cert, nil
}
