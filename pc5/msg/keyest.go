package msg

// Key_Est_Info payloads — PROJECT-DEFINED, NOT 3GPP.
//
// TS 33.536 leaves the contents of the Key establishment information
// container (KEIC) to the application. This project fills it with three
// versioned, suite-identified payloads; docs/protocol.md gives their layouts
// and the cryptographic design that uses them. All multi-octet lengths are
// 2 octets, big endian. Parsing is strict: the version must be KeyEstVersion
// (else ErrVersion), the suite must be known (ErrUnknownSuite), the token
// format must be known (ErrUnknownTokenFormat), key shares and signatures
// must have exactly the suite's length (ErrLength), a P-256 key share must
// be an uncompressed point (ErrInvalid), and nothing may follow (ErrTrailingData).
//
// Which payload a KEIC carries follows from the message: the ESTABLISHMENT
// REQUEST (or a re-authenticating REKEYING REQUEST) carries a KeyEstInit,
// the SECURITY MODE COMMAND a KeyEstResponse, the SECURITY MODE COMPLETE a
// KeyEstFinish.

// KeyEstInit is the initiator's payload in the ESTABLISHMENT REQUEST.
//
//	version(1) = 1 ‖ suite(1) ‖ len(2) ‖ initiator ephemeral public key
type KeyEstInit struct {
	Suite              Suite
	EphemeralPublicKey []byte // P-256: 65 octets (0x04‖X‖Y); X25519: 32 octets
}

// KeyEstResponse is the responder's payload in the SECURITY MODE COMMAND.
//
//	version(1) = 1 ‖ suite(1) ‖ len(2) ‖ responder ephemeral public key ‖
//	token format(1) ‖ len(2) ‖ responder token ‖ len(2) ‖ responder signature
type KeyEstResponse struct {
	Suite              Suite
	EphemeralPublicKey []byte
	TokenFormat        TokenFormat
	Token              []byte // 1..MaxTokenLen octets
	Signature          []byte // SignatureLen octets: ECDSA raw r‖s, or Ed25519
}

// KeyEstFinish is the initiator's payload in the SECURITY MODE COMPLETE.
// The suite is repeated so that the signature length can be checked without
// context; it must equal the suite of the handshake (the link layer checks).
//
//	version(1) = 1 ‖ suite(1) ‖ token format(1) ‖ len(2) ‖ initiator token ‖
//	len(2) ‖ initiator signature
type KeyEstFinish struct {
	Suite       Suite
	TokenFormat TokenFormat
	Token       []byte
	Signature   []byte
}

const (
	ctxKeyEstInit     = "KeyEstInit"
	ctxKeyEstResponse = "KeyEstResponse"
	ctxKeyEstFinish   = "KeyEstFinish"
)

func (k *KeyEstInit) context() string                 { return ctxKeyEstInit }
func (k *KeyEstInit) MarshalLen() int                 { return marshalLen(k) }
func (k *KeyEstInit) MarshalTo(b []byte) (int, error) { return marshalTo(k, b) }
func (k *KeyEstInit) Marshal() ([]byte, error)        { return marshal(k) }

func (k *KeyEstInit) build(b *builder) {
	b.addKeyEstHeader(k.Suite)
	b.addKeyShare(k.Suite, k.EphemeralPublicKey)
}

func (k *KeyEstInit) UnmarshalBinary(p []byte) error {
	r := newReader(ctxKeyEstInit, p)
	var v KeyEstInit
	var err error
	if v.Suite, err = r.readKeyEstHeader(); err != nil {
		return err
	}
	if v.EphemeralPublicKey, err = r.readKeyShare(v.Suite); err != nil {
		return err
	}
	if err := r.ExpectEnd(); err != nil {
		return err
	}
	*k = v
	return nil
}

func (k *KeyEstResponse) context() string                 { return ctxKeyEstResponse }
func (k *KeyEstResponse) MarshalLen() int                 { return marshalLen(k) }
func (k *KeyEstResponse) MarshalTo(b []byte) (int, error) { return marshalTo(k, b) }
func (k *KeyEstResponse) Marshal() ([]byte, error)        { return marshal(k) }

func (k *KeyEstResponse) build(b *builder) {
	b.addKeyEstHeader(k.Suite)
	b.addKeyShare(k.Suite, k.EphemeralPublicKey)
	b.addTokenAndSignature(k.Suite, k.TokenFormat, k.Token, k.Signature)
}

func (k *KeyEstResponse) UnmarshalBinary(p []byte) error {
	r := newReader(ctxKeyEstResponse, p)
	var v KeyEstResponse
	var err error
	if v.Suite, err = r.readKeyEstHeader(); err != nil {
		return err
	}
	if v.EphemeralPublicKey, err = r.readKeyShare(v.Suite); err != nil {
		return err
	}
	if v.TokenFormat, v.Token, v.Signature, err = r.readTokenAndSignature(v.Suite); err != nil {
		return err
	}
	if err := r.ExpectEnd(); err != nil {
		return err
	}
	*k = v
	return nil
}

func (k *KeyEstFinish) context() string                 { return ctxKeyEstFinish }
func (k *KeyEstFinish) MarshalLen() int                 { return marshalLen(k) }
func (k *KeyEstFinish) MarshalTo(b []byte) (int, error) { return marshalTo(k, b) }
func (k *KeyEstFinish) Marshal() ([]byte, error)        { return marshal(k) }

func (k *KeyEstFinish) build(b *builder) {
	b.addKeyEstHeader(k.Suite)
	b.addTokenAndSignature(k.Suite, k.TokenFormat, k.Token, k.Signature)
}

func (k *KeyEstFinish) UnmarshalBinary(p []byte) error {
	r := newReader(ctxKeyEstFinish, p)
	var v KeyEstFinish
	var err error
	if v.Suite, err = r.readKeyEstHeader(); err != nil {
		return err
	}
	if v.TokenFormat, v.Token, v.Signature, err = r.readTokenAndSignature(v.Suite); err != nil {
		return err
	}
	if err := r.ExpectEnd(); err != nil {
		return err
	}
	*k = v
	return nil
}

// Shared pieces.

func (b *builder) addKeyEstHeader(s Suite) {
	if !s.Known() {
		b.fail("suite", ErrUnknownSuite, "suite 0x%02x is not defined", uint8(s))
		return
	}
	b.AddUint8(KeyEstVersion)
	b.AddUint8(uint8(s))
}

func (r *reader) readKeyEstHeader() (Suite, error) {
	ver, err := r.ReadUint8("version")
	if err != nil {
		return 0, err
	}
	if ver != KeyEstVersion {
		return 0, r.errf("version", ErrVersion, "need %d, have %d", KeyEstVersion, ver)
	}
	s, err := r.ReadUint8("suite")
	if err != nil {
		return 0, err
	}
	if !Suite(s).Known() {
		return 0, r.errf("suite", ErrUnknownSuite, "suite 0x%02x is not defined", s)
	}
	return Suite(s), nil
}

const fieldKeyShare = "ephemeral public key"

func (b *builder) addKeyShare(s Suite, key []byte) {
	n := s.KeyShareLen()
	if s.KeyExchange() == KeyExchangeP256 && len(key) == n && key[0] != p256UncompressedTag {
		b.fail(fieldKeyShare, ErrInvalid, "P-256 key share must start with 0x04 (uncompressed), have 0x%02x", key[0])
		return
	}
	b.AddLVE(fieldKeyShare, n, n, bytesOf(key))
}

func (r *reader) readKeyShare(s Suite) ([]byte, error) {
	n := s.KeyShareLen()
	key, err := r.ReadLVE(fieldKeyShare, n, n)
	if err != nil {
		return nil, err
	}
	if s.KeyExchange() == KeyExchangeP256 && key[0] != p256UncompressedTag {
		return nil, r.errf(fieldKeyShare, ErrInvalid, "P-256 key share must start with 0x04 (uncompressed), have 0x%02x", key[0])
	}
	return clone(key), nil
}

func (b *builder) addTokenAndSignature(s Suite, f TokenFormat, token, sig []byte) {
	if !f.Known() {
		b.fail("token format", ErrUnknownTokenFormat, "token format %d is not defined", uint8(f))
		return
	}
	b.AddUint8(uint8(f))
	b.AddLVE("token", 1, MaxTokenLen, bytesOf(token))
	n := s.SignatureLen()
	b.AddLVE("signature", n, n, bytesOf(sig))
}

func (r *reader) readTokenAndSignature(s Suite) (TokenFormat, []byte, []byte, error) {
	f, err := r.ReadUint8("token format")
	if err != nil {
		return 0, nil, nil, err
	}
	if !TokenFormat(f).Known() {
		return 0, nil, nil, r.errf("token format", ErrUnknownTokenFormat, "token format %d is not defined", f)
	}
	token, err := r.ReadLVE("token", 1, MaxTokenLen)
	if err != nil {
		return 0, nil, nil, err
	}
	n := s.SignatureLen()
	sig, err := r.ReadLVE("signature", n, n)
	if err != nil {
		return 0, nil, nil, err
	}
	return TokenFormat(f), clone(token), clone(sig), nil
}
