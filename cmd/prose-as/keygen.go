package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// assertionLifetime is the validity of a client assertion made by
// "prose-as assertion".
const assertionLifetime = 60 * time.Second

func keygenCommand() *command {
	return &command{
		name:     "keygen",
		synopsis: "prose-as keygen --out FILE [--alg ES256|EdDSA]",
		short:    "generate a UE identity key pair (private PEM + public JWK)",
		long: "Generates a PC5 identity key pair for a UE, as a convenience for operators and demos. " +
			"The private key is written as PKCS #8 PEM to FILE (mode 0600) and the public key as a JWK " +
			"to FILE.pub.jwk, ready for 'prose-as admin ue add --public-key FILE.pub.jwk'. The UE keeps " +
			"the private key: it authenticates with it (private_key_jwt, see 'prose-as assertion') and " +
			"proves possession of its tokens on PC5. Existing files are never overwritten.",
		examples: []string{
			"# An ES256 (ECDSA P-256) key for UE ue-1\nprose-as keygen --out ue-1.pem",
			"# An Ed25519 key\nprose-as keygen --out relay-1.pem --alg EdDSA",
		},
		setup: func(fs *flag.FlagSet) action {
			out := fs.String("out", "", "`FILE` for the private key (PEM, 0600); the public JWK goes to FILE.pub.jwk (required)")
			alg := fs.String("alg", "ES256", "key `ALG`: ES256 (ECDSA P-256) or EdDSA (Ed25519)")
			return func(ctx context.Context, e *env, fs *flag.FlagSet) error {
				if *out == "" {
					return usagef("keygen: --out is required")
				}
				jwkJSON, err := keygen(*out, *alg, e.rand)
				if err != nil {
					return err
				}
				var jwk struct {
					KID string `json:"kid"`
				}
				_ = json.Unmarshal(jwkJSON, &jwk)
				fmt.Fprintf(e.stdout, "private key: %s (keep it secret)\npublic key:  %s.pub.jwk (kid %s)\n", *out, *out, jwk.KID)
				return nil
			}
		},
	}
}

// keygen writes a new key pair and returns the public JWK.
func keygen(out, alg string, rnd io.Reader) ([]byte, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rnd)
	case "EdDSA":
		_, priv, err = ed25519.GenerateKey(rnd)
	default:
		return nil, usagef("keygen: --alg %q is not supported; use ES256 or EdDSA", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("prose-as: generating key: %v", err)
	}
	jwkJSON, err := publicJWK(priv.Public())
	if err != nil {
		return nil, err
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("prose-as: encoding private key: %v", err)
	}
	pubPath := out + ".pub.jwk"
	for _, p := range []string{out, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return nil, fmt.Errorf("prose-as: %s exists; choose another --out or remove it first", p)
		}
	}
	if err := writeFileExclusive(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600); err != nil {
		return nil, fmt.Errorf("prose-as: writing private key: %v", err)
	}
	if err := writeFileExclusive(pubPath, append(jwkJSON, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("prose-as: writing public key: %v", err)
	}
	return jwkJSON, nil
}

// publicJWK encodes a P-256 or Ed25519 public key as a JWK with its RFC
// 7638 thumbprint as kid, its algorithm and use "sig".
func publicJWK(pub crypto.PublicKey) ([]byte, error) {
	alg, err := keyAlg(pub)
	if err != nil {
		return nil, err
	}
	k := jose.JSONWebKey{Key: pub, Algorithm: alg, Use: "sig"}
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("prose-as: key thumbprint: %v", err)
	}
	k.KeyID = base64.RawURLEncoding.EncodeToString(tp)
	return k.MarshalJSON()
}

func keyAlg(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return "ES256", nil
		}
		return "", fmt.Errorf("prose-as: ECDSA curve %s is not supported; use P-256", k.Curve.Params().Name)
	case ed25519.PublicKey:
		return "EdDSA", nil
	}
	return "", fmt.Errorf("prose-as: key type %T is not supported; use an ECDSA P-256 or Ed25519 key", pub)
}

// readPublicKey reads a public key file in JWK (JSON) or PEM form (a public
// key, a certificate or a private key whose public half is taken) and
// returns it as a public JWK.
func readPublicKey(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("prose-as: reading public key: %v", err)
	}
	pub, err := parsePublicKey(data)
	if err != nil {
		return nil, fmt.Errorf("prose-as: public key file %s: %v", path, err)
	}
	return publicJWK(pub)
}

func parsePublicKey(data []byte) (crypto.PublicKey, error) {
	text := strings.TrimSpace(string(data))
	if strings.HasPrefix(text, "{") {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON([]byte(text)); err != nil {
			return nil, fmt.Errorf("not a valid JWK: %v", err)
		}
		if !k.Valid() {
			return nil, errors.New("not a valid JWK")
		}
		pub := k.Public()
		if pub.Key == nil {
			return nil, errors.New("the JWK has no public key")
		}
		return pub.Key, nil
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("want a JWK (JSON) or a PEM public key, certificate or private key")
	}
	switch block.Type {
	case "PUBLIC KEY":
		return x509.ParsePKIXPublicKey(block.Bytes)
	case "CERTIFICATE":
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		return c.PublicKey, nil
	case "PRIVATE KEY", "EC PRIVATE KEY":
		priv, err := parsePrivateKeyPEM(data)
		if err != nil {
			return nil, err
		}
		return priv.Public(), nil
	}
	return nil, fmt.Errorf("PEM block %q is not a public key, certificate or private key", block.Type)
}

func parsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM private key found")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key (want PRIVATE KEY or EC PRIVATE KEY)", block.Type)
	}
	if err != nil {
		return nil, err
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported private key type %T", key)
	}
	if _, err := keyAlg(s.Public()); err != nil {
		return nil, err
	}
	return s, nil
}

func assertionCommand() *command {
	return &command{
		name:     "assertion",
		synopsis: "prose-as assertion --key FILE --client-id ID --audience URL",
		short:    "print an RFC 7523 client assertion for private_key_jwt",
		long: "Prints a fresh RFC 7523 client assertion (a JWT signed with the UE's identity key, " +
			"iss = sub = the client ID, aud = the token endpoint URL, a random jti, valid for 60 " +
			"seconds) for use with curl: send it as client_assertion with client_assertion_type " +
			"urn:ietf:params:oauth:client-assertion-type:jwt-bearer. Each assertion can be used once.",
		examples: []string{
			"# Get a token for ue-1 with private_key_jwt\n" +
				"curl --cacert prose-as-data/tls.crt https://127.0.0.1:8443/oauth2/token \\\n" +
				"  -d grant_type=client_credentials -d scope=u2u:use:00002a -d client_id=ue-1 \\\n" +
				"  -d client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer \\\n" +
				"  -d client_assertion=$(prose-as assertion --key ue-1.pem --client-id ue-1 \\\n" +
				"      --audience https://127.0.0.1:8443/oauth2/token)",
		},
		setup: func(fs *flag.FlagSet) action {
			keyPath := fs.String("key", "", "private key `FILE` (PEM, as written by prose-as keygen) (required)")
			clientID := fs.String("client-id", "", "the UE's client `ID` (its registered ID) (required)")
			aud := fs.String("audience", "", "the token endpoint `URL`, e.g. https://127.0.0.1:8443/oauth2/token (required)")
			return func(ctx context.Context, e *env, fs *flag.FlagSet) error {
				switch {
				case *keyPath == "":
					return usagef("assertion: --key is required")
				case *clientID == "":
					return usagef("assertion: --client-id is required")
				case *aud == "":
					return usagef("assertion: --audience is required (the token endpoint URL)")
				}
				data, err := os.ReadFile(*keyPath)
				if err != nil {
					return fmt.Errorf("prose-as: reading key: %v", err)
				}
				priv, err := parsePrivateKeyPEM(data)
				if err != nil {
					return fmt.Errorf("prose-as: key file %s: %v", *keyPath, err)
				}
				a, err := clientAssertion(priv, *clientID, *aud, e.now(), e.rand)
				if err != nil {
					return err
				}
				fmt.Fprintln(e.stdout, a)
				return nil
			}
		},
	}
}

// clientAssertion makes an RFC 7523 §3 client authentication JWT.
func clientAssertion(priv crypto.Signer, clientID, audience string, now time.Time, rnd io.Reader) (string, error) {
	alg, err := keyAlg(priv.Public())
	if err != nil {
		return "", err
	}
	jwkJSON, err := publicJWK(priv.Public())
	if err != nil {
		return "", err
	}
	var kid struct {
		KID string `json:"kid"`
	}
	_ = json.Unmarshal(jwkJSON, &kid)
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: priv},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid.KID))
	if err != nil {
		return "", fmt.Errorf("prose-as: signer: %v", err)
	}
	var jti [16]byte
	if _, err := io.ReadFull(rnd, jti[:]); err != nil {
		return "", fmt.Errorf("prose-as: generating jti: %v", err)
	}
	claims := jwt.Claims{
		Issuer:   clientID,
		Subject:  clientID,
		Audience: jwt.Audience{audience},
		IssuedAt: jwt.NewNumericDate(now),
		Expiry:   jwt.NewNumericDate(now.Add(assertionLifetime)),
		ID:       base64.RawURLEncoding.EncodeToString(jti[:]),
	}
	s, err := jwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		return "", fmt.Errorf("prose-as: signing assertion: %v", err)
	}
	return s, nil
}
