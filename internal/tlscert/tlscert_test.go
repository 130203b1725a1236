package tlscert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pair returns PEM certificate and key for name, valid until notAfter.
func pair(t *testing.T, name string, notAfter time.Time) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: notAfter.Add(-48 * time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func served(t *testing.T, s *Store) string {
	t.Helper()
	c, err := s.Config().GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.Leaf.Subject.CommonName
}

func TestReloadSwapsAGoodPairAndKeepsTheOldOnABadOne(t *testing.T) {
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	c, k := pair(t, "one", time.Now().Add(time.Hour))
	write(t, cf, c)
	write(t, kf, k)
	s, err := Load(cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	if got := served(t, s); got != "one" {
		t.Fatalf("served %q", got)
	}
	c2, k2 := pair(t, "two", time.Now().Add(time.Hour))
	write(t, cf, c2)
	err = s.Reload() // the key on disk is still the old one
	if err == nil || !strings.Contains(err.Error(), "still serving the previous certificate") {
		t.Fatalf("mismatched pair: %v", err)
	}
	if got := served(t, s); got != "one" {
		t.Fatalf("after a failed reload served %q", got)
	}
	write(t, kf, k2)
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := served(t, s); got != "two" {
		t.Fatalf("after reload served %q", got)
	}
}

func TestLoadRefusesExpiredMissingAndKeyAlone(t *testing.T) {
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	c, k := pair(t, "old", time.Now().Add(-time.Hour))
	write(t, cf, c)
	write(t, kf, k)
	if _, err := Load(cf, kf); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "absent"), kf); err == nil || !strings.Contains(err.Error(), "tls_cert_file") {
		t.Fatalf("missing: %v", err)
	}
	if _, err := Load("", kf); err == nil || !strings.Contains(err.Error(), "tls_cert_file is not") {
		t.Fatalf("key alone: %v", err)
	}
}

func TestOneFileHoldingCertificateAndKey(t *testing.T) {
	c, k := pair(t, "combined", time.Now().Add(time.Hour))
	f := filepath.Join(t.TempDir(), "both.pem")
	write(t, f, append(c, k...))
	s, err := Load(f, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := served(t, s); got != "combined" {
		t.Fatalf("served %q", got)
	}
	if cfg := s.Config(); cfg.MinVersion == 0 || len(cfg.NextProtos) != 1 || cfg.NextProtos[0] != "http/1.1" {
		t.Fatalf("config offers %v (min %x): only HTTP/1.1 carries WebSockets here", cfg.NextProtos, cfg.MinVersion)
	}
}
