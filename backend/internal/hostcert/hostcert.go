// Package hostcert makes and pins the TLS certificates of workshop hosts.
//
// The control plane makes one ECDSA P-256 key pair and self-signed
// certificate per workshop host, hands both to the host in its instance
// metadata (seats cannot reach the metadata server) and keeps only the
// certificate, with the workshop. Its clients then trust exactly that
// certificate: not the system roots, not any other self-signed one. The
// host's address is not known when the certificate is made (an ephemeral
// external IP), so every host certificate carries the DNS name ServerName
// and clients verify that name instead of the IP.
package hostcert

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// ServerName is the DNS name in every host certificate, and the name
// clients verify.
const ServerName = "agent.clarateach.internal"

// Validity of a host certificate: a workshop host lives for hours or days;
// a year leaves room for long or paused workshops.
const Validity = 365 * 24 * time.Hour

// Pair is a PEM certificate and its PEM private key.
type Pair struct {
	CertPEM string
	KeyPEM  string
}

// Generate makes a fresh key pair and a self-signed certificate for the
// host called hostName (recorded in the subject, for operators).
func Generate(hostName string, now time.Time) (Pair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Pair{}, fmt.Errorf("hostcert: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return Pair{}, fmt.Errorf("hostcert: serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: hostName, Organization: []string{"ClaraTeach workshop host"}},
		DNSNames:              []string{ServerName},
		NotBefore:             now.Add(-time.Hour), // clock skew between control plane and host
		NotAfter:              now.Add(Validity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // its own root, so it can be the only one in RootCAs
		MaxPathLenZero:        true, // and sign nothing else
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return Pair{}, fmt.Errorf("hostcert: create certificate: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return Pair{}, fmt.Errorf("hostcert: encode key: %w", err)
	}
	return Pair{
		CertPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		KeyPEM:  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})),
	}, nil
}

// Parse returns the one certificate in certPEM.
func Parse(certPEM string) (*x509.Certificate, error) {
	block, rest := pem.Decode([]byte(certPEM))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("hostcert: no PEM certificate")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("hostcert: more than one PEM block; a host pin is exactly one certificate")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("hostcert: %w", err)
	}
	return c, nil
}

// Fingerprint is the SHA-256 of the certificate's DER, in hex (what
// operators compare with `openssl x509 -noout -fingerprint -sha256`).
func Fingerprint(certPEM string) (string, error) {
	c, err := Parse(certPEM)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:]), nil
}

// ClientConfig is a TLS client configuration that accepts exactly the
// certificate certPEM: the chain must verify to it as the only root (for
// ServerName, within its validity), and the host's leaf must be that very
// certificate, byte for byte.
func ClientConfig(certPEM string) (*tls.Config, error) {
	pinned, err := Parse(certPEM)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(pinned)
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		RootCAs:    pool,
		ServerName: ServerName,
		NextProtos: []string{"http/1.1"}, // WebSockets (terminals) upgrade over HTTP/1.1
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 || !bytes.Equal(raw[0], pinned.Raw) {
				return errors.New("hostcert: the host presented a certificate other than the one pinned for it")
			}
			return nil
		},
	}, nil
}

// ServerConfig is the host's TLS configuration for the key pair.
func ServerConfig(certPEM, keyPEM []byte) (*tls.Config, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("hostcert: load key pair: %w", err)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{pair},
		NextProtos:   []string{"http/1.1"},
	}, nil
}
