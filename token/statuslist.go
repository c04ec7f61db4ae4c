package token

import (
	"bytes"
	"compress/zlib"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// Status types (draft-ietf-oauth-status-list §7.1).
const (
	StatusValid     uint8 = 0
	StatusInvalid   uint8 = 1
	StatusSuspended uint8 = 2
)

// Limits on status lists.
const (
	// DefaultMaxStatusListSize caps a Status List Token handed to a
	// verifier, in bytes, before any parsing.
	DefaultMaxStatusListSize = 1 << 20
	// DefaultMaxStatusListBytes caps the decompressed byte array of a
	// status list (the decompression bomb guard): 16 MiB is 134M entries
	// at one bit each.
	DefaultMaxStatusListBytes = 16 << 20
)

// Status List Token type values: JWT typ (draft §5.1) and COSE typ
// (draft §5.2, RFC 9596).
const (
	typStatusListCWT = "application/statuslist+cwt"
)

// StatusList is the byte array of a Token Status List
// (draft-ietf-oauth-status-list §4.1): entry i occupies bits
// [(i*bits) mod 8, +bits) of byte (i*bits)/8, counted from the least
// significant bit. It is not safe for concurrent Set and Get.
type StatusList struct {
	bits int
	n    int
	data []byte
}

func validBits(bits int) bool { return bits == 1 || bits == 2 || bits == 4 || bits == 8 }

// NewStatusList returns a list of size entries of bits bits each (1, 2, 4
// or 8), all StatusValid.
func NewStatusList(size int, bits int) (*StatusList, error) {
	if !validBits(bits) {
		return nil, fmt.Errorf("token: status list bits %d, want 1, 2, 4 or 8", bits)
	}
	if size <= 0 {
		return nil, fmt.Errorf("token: status list size %d, want at least 1", size)
	}
	nbytes := (size*bits + 7) / 8
	if size > DefaultMaxStatusListBytes*8 || nbytes > DefaultMaxStatusListBytes {
		return nil, fmt.Errorf("token: status list of %d entries needs %d bytes, limit %d", size, nbytes, DefaultMaxStatusListBytes)
	}
	return &StatusList{bits: bits, n: size, data: make([]byte, nbytes)}, nil
}

// Len returns the number of entries.
func (l *StatusList) Len() int { return l.n }

// Bits returns the number of bits per entry.
func (l *StatusList) Bits() int { return l.bits }

// Bytes returns a copy of the uncompressed byte array.
func (l *StatusList) Bytes() []byte { return bytes.Clone(l.data) }

func (l *StatusList) locate(idx uint64) (byteIdx int, shift uint, err error) {
	if idx >= uint64(l.n) {
		return 0, 0, fmt.Errorf("token: status list index %d out of range: the list has %d entries", idx, l.n)
	}
	bit := idx * uint64(l.bits)
	return int(bit / 8), uint(bit % 8), nil
}

// Set sets entry idx to v, which must fit in Bits() bits.
func (l *StatusList) Set(idx uint64, v uint8) error {
	if l.bits < 8 && v>>l.bits != 0 {
		return fmt.Errorf("token: status value %d does not fit in %d bits", v, l.bits)
	}
	i, shift, err := l.locate(idx)
	if err != nil {
		return err
	}
	mask := byte(1<<l.bits-1) << shift
	l.data[i] = l.data[i]&^mask | v<<shift
	return nil
}

// Get returns entry idx.
func (l *StatusList) Get(idx uint64) (uint8, error) {
	i, shift, err := l.locate(idx)
	if err != nil {
		return 0, err
	}
	return l.data[i] >> shift & byte(1<<l.bits-1), nil
}

// Compress returns the byte array compressed with DEFLATE in the ZLIB
// format at the best compression level (draft §4.1 step 4): the "lst"
// value before base64url (JSON) or as the byte string (CBOR).
func (l *StatusList) Compress() ([]byte, error) {
	var buf bytes.Buffer
	w, err := zlib.NewWriterLevel(&buf, zlib.BestCompression)
	if err != nil {
		return nil, fmt.Errorf("token: status list compression: %v", err)
	}
	if _, err := w.Write(l.data); err != nil {
		return nil, fmt.Errorf("token: status list compression: %v", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("token: status list compression: %v", err)
	}
	return buf.Bytes(), nil
}

// ParseStatusList decompresses a ZLIB-compressed status list byte array of
// bits bits per entry. The decompressed array may not exceed maxBytes (0
// means DefaultMaxStatusListBytes). Every entry of the array counts, so
// Len() is len(array)*8/bits. Errors wrap ErrMalformed.
func ParseStatusList(bits int, lst []byte, maxBytes int) (*StatusList, error) {
	if !validBits(bits) {
		return nil, errorf(ErrMalformed, "status list bits %d, want 1, 2, 4 or 8", bits)
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxStatusListBytes
	}
	br := bytes.NewReader(lst)
	zr, err := zlib.NewReader(br)
	if err != nil {
		return nil, errorf(ErrMalformed, "status list is not ZLIB data: %v", err)
	}
	data, err := io.ReadAll(io.LimitReader(zr, int64(maxBytes)+1))
	if err != nil {
		return nil, errorf(ErrMalformed, "status list decompression: %v", err)
	}
	if len(data) > maxBytes {
		return nil, errorf(ErrMalformed, "status list decompresses to more than %d bytes", maxBytes)
	}
	if br.Len() != 0 {
		return nil, errorf(ErrMalformed, "status list has %d bytes after the ZLIB stream", br.Len())
	}
	if len(data) == 0 {
		return nil, errorf(ErrMalformed, "status list is empty")
	}
	return &StatusList{bits: bits, n: len(data) * 8 / bits, data: data}, nil
}

// StatusListToken is a verified (or to be signed) Status List Token
// (draft-ietf-oauth-status-list §5).
type StatusListToken struct {
	Issuer   string
	Subject  string // the status list URI
	IssuedAt time.Time
	Expiry   time.Time     // optional (zero: none)
	TTL      time.Duration // optional (zero: none); whole seconds
	List     *StatusList
}

type jwtStatusListClaims struct {
	Iss        string         `json:"iss,omitempty"`
	Sub        string         `json:"sub,omitempty"`
	Iat        *int64         `json:"iat,omitempty"`
	Exp        *int64         `json:"exp,omitempty"`
	TTL        *int64         `json:"ttl,omitempty"`
	StatusList *jwtStatusList `json:"status_list,omitempty"`
}

type jwtStatusList struct {
	Bits           int    `json:"bits"`
	Lst            string `json:"lst"`
	AggregationURI string `json:"aggregation_uri,omitempty"`
}

type cwtStatusListClaims struct {
	Iss        string         `cbor:"1,keyasint,omitempty"`
	Sub        string         `cbor:"2,keyasint,omitempty"`
	Exp        *int64         `cbor:"4,keyasint,omitempty"`
	Iat        *int64         `cbor:"6,keyasint,omitempty"`
	TTL        *int64         `cbor:"65534,keyasint,omitempty"`
	StatusList *cwtStatusList `cbor:"65533,keyasint,omitempty"`
}

type cwtStatusList struct {
	Bits           int    `cbor:"bits"`
	Lst            []byte `cbor:"lst"`
	AggregationURI string `cbor:"aggregation_uri,omitempty"`
}

// SignStatusList signs t as a Status List Token in format f: a JWT with
// typ "statuslist+jwt" or a tagged COSE_Sign1 with typ
// "application/statuslist+cwt". Issuer may be empty (the signer's is used)
// or must equal the signer's; Subject (the list URI) and IssuedAt are
// required; TTL, if set, must be at least one second.
func (s *Signer) SignStatusList(t *StatusListToken, f Format) ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	switch {
	case t == nil || t.List == nil:
		return nil, fmt.Errorf("token: status list token without a list")
	case t.Issuer != "" && t.Issuer != s.Issuer:
		return nil, fmt.Errorf("token: status list issuer %q differs from signer issuer %q", t.Issuer, s.Issuer)
	case t.Subject == "":
		return nil, fmt.Errorf("token: status list token has no subject (list URI)")
	case t.IssuedAt.IsZero():
		return nil, fmt.Errorf("token: status list token has no iat")
	case t.TTL < 0 || (t.TTL > 0 && t.TTL < time.Second):
		return nil, fmt.Errorf("token: status list ttl %s, want zero or at least 1s", t.TTL)
	}
	lst, err := t.List.Compress()
	if err != nil {
		return nil, err
	}
	var ttl *int64
	if t.TTL > 0 {
		v := int64(t.TTL / time.Second)
		ttl = &v
	}
	switch f {
	case JWT:
		payload, err := json.Marshal(jwtStatusListClaims{
			Iss: s.Issuer, Sub: t.Subject, Iat: numericDate(t.IssuedAt), Exp: numericDate(t.Expiry), TTL: ttl,
			StatusList: &jwtStatusList{Bits: t.List.bits, Lst: b64.EncodeToString(lst)},
		})
		if err != nil {
			return nil, fmt.Errorf("token: encoding status list claims: %v", err)
		}
		return s.signJWS(payload, typStatusListJWT)
	case CWT:
		payload, err := cborEnc.Marshal(cwtStatusListClaims{
			Iss: s.Issuer, Sub: t.Subject, Iat: numericDate(t.IssuedAt), Exp: numericDate(t.Expiry), TTL: ttl,
			StatusList: &cwtStatusList{Bits: t.List.bits, Lst: lst},
		})
		if err != nil {
			return nil, fmt.Errorf("token: encoding status list claims: %v", err)
		}
		return s.signCOSE(payload, typStatusListCWT)
	}
	return nil, fmt.Errorf("token: unknown format %d", int(f))
}

// StatusListVerifier verifies Status List Tokens offline.
type StatusListVerifier struct {
	Trust        *TrustStore
	Algorithms   []Algorithm   // allow-list; required
	Leeway       time.Duration // clock skew allowed on exp and iat
	MaxSize      int           // token size cap; 0 means DefaultMaxStatusListSize
	MaxListBytes int           // decompressed list cap; 0 means DefaultMaxStatusListBytes
}

// VerifyStatusList verifies a Status List Token with the default limits;
// see StatusListVerifier.Verify.
func VerifyStatusList(raw []byte, f Format, trust *TrustStore, algs []Algorithm, now time.Time, leeway time.Duration) (*StatusListToken, error) {
	v := StatusListVerifier{Trust: trust, Algorithms: algs, Leeway: leeway}
	return v.Verify(raw, f, now)
}

// parsedStatusList is a Status List Token before verification.
type parsedStatusList struct {
	alg      Algorithm
	kid      string
	tbs, sig []byte
	iss, sub string
	iat, exp *int64
	ttl      *int64
	bits     int
	lst      []byte
}

// Verify checks, in order: size (ErrTooLarge), encoding and typ
// (ErrMalformed), algorithm (ErrAlgorithmNotAllowed), issuer
// (ErrUnknownIssuer: the token's iss must be trusted), kid (ErrUnknownKey),
// signature (ErrBadSignature), exp (valid while now < exp + Leeway, else
// ErrExpired; exp is optional), iat (required; after now + Leeway is
// ErrNotYetValid), and only then decompresses the list under the bomb
// guard (ErrMalformed).
func (v *StatusListVerifier) Verify(raw []byte, f Format, now time.Time) (*StatusListToken, error) {
	switch {
	case v.Trust == nil:
		return nil, errorf(ErrVerifierConfig, "no trust store")
	case v.Leeway < 0 || v.MaxSize < 0 || v.MaxListBytes < 0:
		return nil, errorf(ErrVerifierConfig, "negative leeway or limit")
	}
	if err := checkAlgs(v.Algorithms); err != nil {
		return nil, err
	}
	max := v.MaxSize
	if max == 0 {
		max = DefaultMaxStatusListSize
	}
	if len(raw) > max {
		return nil, errorf(ErrTooLarge, "status list token of %d bytes, limit %d", len(raw), max)
	}
	var p *parsedStatusList
	var err error
	switch f {
	case JWT:
		p, err = parseStatusListJWT(raw, v.Algorithms)
	case CWT:
		p, err = parseStatusListCWT(raw, v.Algorithms)
	default:
		return nil, errorf(ErrVerifierConfig, "unknown format %d", int(f))
	}
	if err != nil {
		return nil, err
	}
	if _, err := verifySigned(v.Trust, v.Algorithms, p.iss, p.kid, p.alg, p.tbs, p.sig); err != nil {
		return nil, err
	}
	if p.iat == nil {
		return nil, errorf(ErrMalformed, "status list token has no iat")
	}
	ts, err := fromNumericDates(p.iat, p.exp)
	if err != nil {
		return nil, err
	}
	t := &StatusListToken{Issuer: p.iss, Subject: p.sub, IssuedAt: ts[0], Expiry: ts[1]}
	if p.exp != nil {
		if err := checkTimes(t.Expiry, time.Time{}, t.IssuedAt, now, v.Leeway); err != nil {
			return nil, err
		}
	} else if t.IssuedAt.After(now.Add(v.Leeway)) {
		return nil, errorf(ErrNotYetValid, "status list iat %s is after now %s plus leeway %s", t.IssuedAt.Format(timeFmt), now.UTC().Format(timeFmt), v.Leeway)
	}
	if p.sub == "" {
		return nil, errorf(ErrMalformed, "status list token has no sub (list URI)")
	}
	if p.ttl != nil {
		if *p.ttl <= 0 || *p.ttl > int64(1<<62/time.Second) {
			return nil, errorf(ErrMalformed, "status list ttl %d, want a positive number of seconds", *p.ttl)
		}
		t.TTL = time.Duration(*p.ttl) * time.Second
	}
	t.List, err = ParseStatusList(p.bits, p.lst, v.MaxListBytes)
	if err != nil {
		return nil, err
	}
	return t, nil
}

func parseStatusListJWT(raw []byte, algs []Algorithm) (*parsedStatusList, error) {
	m, err := decodeJWS(raw)
	if err != nil {
		return nil, err
	}
	if err := checkAlgAllowed(Algorithm(m.hdr.Alg), algs); err != nil {
		return nil, err
	}
	if !typIs(m.hdr.Typ, typStatusListJWT) {
		return nil, errorf(ErrMalformed, "JWS typ %q, want %q", m.hdr.Typ, typStatusListJWT)
	}
	p := &parsedStatusList{alg: Algorithm(m.hdr.Alg), kid: m.hdr.Kid, tbs: m.tbs, sig: m.sig}
	r := newJSONReader(m.payload, "status list JWT claims")
	var seen uint32
	var lst string
	err = r.object(func(k []byte) error {
		switch string(k) {
		case "iss":
			return r.strMember(&seen, 0, k, &p.iss)
		case "sub":
			return r.strMember(&seen, 1, k, &p.sub)
		case "iat":
			return r.dateMember(&seen, 2, k, &p.iat)
		case "exp":
			return r.dateMember(&seen, 3, k, &p.exp)
		case "ttl":
			return r.dateMember(&seen, 4, k, &p.ttl)
		case "status_list":
			if err := r.once(&seen, 5, k); err != nil {
				return err
			}
			var s2 uint32
			return r.object(func(k []byte) error {
				switch string(k) {
				case "bits":
					if err := r.once(&s2, 0, k); err != nil {
						return err
					}
					v, err := r.int64()
					if err == nil && !validBits(int(v)) {
						err = r.fail("bits must be 1, 2, 4 or 8")
					}
					p.bits = int(v)
					return err
				case "lst":
					return r.strMember(&s2, 1, k, &lst)
				}
				return r.skip()
			})
		}
		return r.skip()
	})
	if err == nil {
		err = r.end()
	}
	if err != nil {
		return nil, err
	}
	if seen&(1<<5) == 0 || p.bits == 0 || lst == "" {
		return nil, errorf(ErrMalformed, "status list JWT has no status_list claim with bits and lst")
	}
	if p.lst, err = b64.DecodeString(lst); err != nil {
		return nil, errorf(ErrMalformed, "status list lst is not unpadded base64url: %v", err)
	}
	return p, nil
}

func parseStatusListCWT(raw []byte, algs []Algorithm) (*parsedStatusList, error) {
	m, err := decodeSign1(raw, false, false)
	if err != nil {
		return nil, err
	}
	if err := checkAlgAllowed(m.alg, algs); err != nil {
		return nil, err
	}
	if m.typ != typStatusListCWT {
		return nil, errorf(ErrMalformed, "COSE typ %q, want %q", m.typ, typStatusListCWT)
	}
	var c cwtStatusListClaims
	if err := cborDec.Unmarshal(m.payload, &c); err != nil {
		return nil, errorf(ErrMalformed, "status list CWT claims: %v", err)
	}
	if c.StatusList == nil {
		return nil, errorf(ErrMalformed, "status list CWT has no status list claim (65533)")
	}
	return &parsedStatusList{
		alg: m.alg, kid: m.kid, tbs: m.tbs, sig: m.sig,
		iss: c.Iss, sub: c.Sub, iat: c.Iat, exp: c.Exp, ttl: c.TTL,
		bits: c.StatusList.Bits, lst: c.StatusList.Lst,
	}, nil
}

// StatusCache is the UE-side offline store of verified Status List Tokens,
// one per (issuer, list URI). It implements StatusChecker and
// IssuerStatusChecker and is safe for concurrent use.
//
// Lists are keyed by issuer and URI together: a list that one trusted
// issuer publishes under a URI never replaces, shadows or answers for the
// list of another issuer under the same URI (every trusted issuer could
// otherwise evict another's list with a later iat and make its tokens fail
// with ErrStatusListMissing). The Verifier looks lists up with StatusOf
// and the token's iss.
type StatusCache struct {
	maxAge time.Duration
	mu     sync.RWMutex
	lists  map[string]map[string]*StatusListToken // URI → issuer → list
}

// NewStatusCache returns an empty cache. A list older than maxAge (now -
// IssuedAt > maxAge) is stale; maxAge 0 sets no age limit. An expired list
// (now >= Expiry, no leeway) is always stale. The list's ttl (a hint to
// refresh while online) is not a staleness rule.
func NewStatusCache(maxAge time.Duration) *StatusCache {
	return &StatusCache{maxAge: maxAge, lists: map[string]map[string]*StatusListToken{}}
}

// Put stores a verified Status List Token under its Issuer and Subject (the
// list URI), unless the cache already holds one of that issuer for that URI
// issued at the same time or later. Lists of other issuers under the same
// URI are not touched. The cache keeps t: do not modify it afterwards.
func (c *StatusCache) Put(t *StatusListToken) {
	if t == nil || t.List == nil || t.Subject == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lists == nil { // the zero StatusCache has no age limit
		c.lists = map[string]map[string]*StatusListToken{}
	}
	byIssuer := c.lists[t.Subject]
	if byIssuer == nil {
		byIssuer = map[string]*StatusListToken{}
		c.lists[t.Subject] = byIssuer
	}
	if old, ok := byIssuer[t.Issuer]; ok && !t.IssuedAt.After(old.IssuedAt) {
		return
	}
	byIssuer[t.Issuer] = t
}

// Get returns the cached token for a list URI when exactly one issuer has
// a list cached under it, or nil (none, or several: use GetOf).
func (c *StatusCache) Get(uri string) *StatusListToken {
	t, _ := c.lookup("", uri)
	return t
}

// GetOf returns the cached token of issuer for a list URI, or nil.
func (c *StatusCache) GetOf(issuer, uri string) *StatusListToken {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.lists[uri][issuer]
}

// lookup finds the list of issuer under uri; an empty issuer matches the
// one list cached under uri, and n reports how many there are.
func (c *StatusCache) lookup(issuer, uri string) (t *StatusListToken, n int) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	byIssuer := c.lists[uri]
	if issuer != "" {
		t = byIssuer[issuer]
		if t != nil {
			n = 1
		}
		return t, n
	}
	for _, x := range byIssuer {
		t = x
	}
	if len(byIssuer) != 1 {
		t = nil
	}
	return t, len(byIssuer)
}

// Status returns the status of ref at now without knowing the token's
// issuer: ErrStatusListMissing if no list for ref.URI is cached, or if
// lists of several issuers are cached under ref.URI (ambiguous: the cache
// cannot tell whose list answers, so it fails closed; the Verifier calls
// StatusOf with the token's issuer instead); ErrStatusListStale if the list
// is expired or too old; ErrMalformed if ref.Index is beyond the list.
func (c *StatusCache) Status(ref StatusRef, now time.Time) (uint8, error) {
	return c.StatusOf("", ref, now)
}

// StatusOf is Status for a token of issuer: only the list that issuer
// published under ref.URI answers; lists of other issuers under the same
// URI do not count (ErrStatusListMissing). An empty issuer is Status: it
// matches the list under ref.URI if exactly one issuer has one.
func (c *StatusCache) StatusOf(issuer string, ref StatusRef, now time.Time) (uint8, error) {
	t, n := c.lookup(issuer, ref.URI)
	switch {
	case t == nil && n > 1:
		return 0, errorf(ErrStatusListMissing, "status lists of %d issuers are cached for %q and the token's issuer is not known", n, ref.URI)
	case t == nil && issuer != "" && c.hasAny(ref.URI):
		return 0, errorf(ErrStatusListMissing, "no status list of %q cached for %q (only other issuers' lists)", issuer, ref.URI)
	case t == nil:
		return 0, errorf(ErrStatusListMissing, "no status list cached for %q", ref.URI)
	}
	if !t.Expiry.IsZero() && !now.Before(t.Expiry) {
		return 0, errorf(ErrStatusListStale, "status list %q expired at %s, now %s", ref.URI, t.Expiry.Format(timeFmt), now.UTC().Format(timeFmt))
	}
	if c.maxAge > 0 && now.Sub(t.IssuedAt) > c.maxAge {
		return 0, errorf(ErrStatusListStale, "status list %q issued at %s is older than %s at %s", ref.URI, t.IssuedAt.Format(timeFmt), c.maxAge, now.UTC().Format(timeFmt))
	}
	v, err := t.List.Get(ref.Index)
	if err != nil {
		return 0, errorf(ErrMalformed, "status reference %q #%d: %v", ref.URI, ref.Index, err)
	}
	return v, nil
}

func (c *StatusCache) hasAny(uri string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.lists[uri]) > 0
}
