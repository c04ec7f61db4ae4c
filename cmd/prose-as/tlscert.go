package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// selfSignedValidity is the lifetime of a generated certificate.
const selfSignedValidity = 365 * 24 * time.Hour

// generateSelfSigned writes a self-signed ECDSA P-256 certificate for
// localhost, 127.0.0.1 and ::1 to certPath and its key (0600) to keyPath.
// The certificate is its own CA so that clients can trust it directly
// (curl --cacert certPath).
func generateSelfSigned(certPath, keyPath string, now time.Time, rnd io.Reader) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rnd)
	if err != nil {
		return fmt.Errorf("prose-as: generating TLS key: %v", err)
	}
	serial, err := randSerial(rnd)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "prose-as self-signed", Organization: []string{"prosesec"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(selfSignedValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rnd, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("prose-as: creating TLS certificate: %v", err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("prose-as: encoding TLS key: %v", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	// Key first: a certificate without its key would block the next start.
	if err := writeFileExclusive(keyPath, keyPEM, 0o600); err != nil {
		return fmt.Errorf("prose-as: writing TLS key: %v", err)
	}
	if err := writeFileExclusive(certPath, certPEM, 0o644); err != nil {
		os.Remove(keyPath)
		return fmt.Errorf("prose-as: writing TLS certificate: %v", err)
	}
	return nil
}

func randSerial(rnd io.Reader) (*big.Int, error) {
	b := make([]byte, 16)
	if _, err := io.ReadFull(rnd, b); err != nil {
		return nil, fmt.Errorf("prose-as: generating certificate serial: %v", err)
	}
	b[0] &= 0x7f
	return new(big.Int).SetBytes(b), nil
}

// tlsFiles decides which certificate and key to use. With neither flag,
// the data directory's tls.crt/tls.key are used, generated if both are
// absent (generated reports that).
func tlsFiles(certFlag, keyFlag, dataDir string, now time.Time, rnd io.Reader) (cert, key string, generated bool, err error) {
	switch {
	case certFlag != "" && keyFlag != "":
		return certFlag, keyFlag, false, nil
	case certFlag != "" || keyFlag != "":
		return "", "", false, usagef("give both --tls-cert and --tls-key, or neither to use a generated self-signed certificate")
	}
	cert, key = filepath.Join(dataDir, fileTLSCert), filepath.Join(dataDir, fileTLSKey)
	_, cErr := os.Stat(cert)
	_, kErr := os.Stat(key)
	switch {
	case cErr == nil && kErr == nil:
		return cert, key, false, nil
	case errors.Is(cErr, fs.ErrNotExist) && errors.Is(kErr, fs.ErrNotExist):
		if err := generateSelfSigned(cert, key, now, rnd); err != nil {
			return "", "", false, err
		}
		return cert, key, true, nil
	case errors.Is(cErr, fs.ErrNotExist):
		return "", "", false, fmt.Errorf("prose-as: %s exists but %s does not; remove %s to generate a new self-signed pair", key, cert, key)
	case errors.Is(kErr, fs.ErrNotExist):
		return "", "", false, fmt.Errorf("prose-as: %s exists but %s does not; remove %s to generate a new self-signed pair", cert, key, cert)
	}
	if cErr != nil {
		return "", "", false, fmt.Errorf("prose-as: TLS certificate: %v", cErr)
	}
	return "", "", false, fmt.Errorf("prose-as: TLS key: %v", kErr)
}

// loadTLS loads a certificate and key and returns a server configuration
// (TLS 1.2+) and the leaf, for expiry warnings.
func loadTLS(certPath, keyPath string) (*tls.Config, *x509.Certificate, error) {
	if fi, err := os.Stat(keyPath); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, nil, fmt.Errorf("prose-as: TLS key %s is readable by group or others (mode %04o); restrict it with: chmod 600 %s", keyPath, fi.Mode().Perm(), keyPath)
	}
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, nil, fmt.Errorf("prose-as: loading TLS certificate %s and key %s: %v", certPath, keyPath, err)
	}
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, nil, fmt.Errorf("prose-as: parsing TLS certificate %s: %v", certPath, err)
		}
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{pair},
	}, leaf, nil
}
