package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prosesec/prosesec/as"
	"github.com/prosesec/prosesec/as/httpapi"
)

// defaultAdminEndpoint is used when no --endpoint, environment variable or
// <data-dir>/admin.addr names the admin API.
const defaultAdminEndpoint = "http://127.0.0.1:8444"

const adminTimeout = 30 * time.Second

// adminConn holds the connection flags shared by every admin command.
type adminConn struct {
	endpoint  string
	dataDir   string
	tokenFile string
	cacert    string
}

func adminConnFlags(fs *flag.FlagSet) *adminConn {
	c := &adminConn{}
	fs.StringVar(&c.endpoint, "endpoint", "", "admin API base `URL` (default: the address in DIR/admin.addr when that file exists, else "+defaultAdminEndpoint+")")
	fs.StringVar(&c.dataDir, "data-dir", "./prose-as-data", "the server's data `DIR`, for admin.token, admin.addr and tls.crt")
	fs.StringVar(&c.tokenFile, "admin-token-file", "", "`FILE` holding the admin token; default DIR/admin.token. PROSE_AS_ADMIN_TOKEN may hold the token itself instead")
	fs.StringVar(&c.cacert, "cacert", "", "CA certificate `FILE` (PEM) to trust for an https endpoint (default: the system roots plus DIR/tls.crt)")
	return c
}

// adminEnvNames maps the connection flags to their environment variables.
func adminEnvNames(fs *flag.FlagSet) map[string]string {
	return map[string]string{
		"endpoint":         "PROSE_AS_ADMIN_ENDPOINT",
		"data-dir":         envName("data-dir"),
		"admin-token-file": envName("admin-token-file"),
		"cacert":           "PROSE_AS_ADMIN_CACERT",
	}
}

// adminClient calls the admin API. It connects lazily, on the first
// call, so that a command checks its own flags before it looks for the
// server's address and token.
type adminClient struct {
	connect func() (*adminClient, error)
	base    string
	token   string
	http    *http.Client
}

// client resolves the connection settings and returns a client.
func (c *adminConn) client(fs *flag.FlagSet, e *env) (*adminClient, error) {
	src, err := resolveSettings(fs, adminEnvNames(fs), e.lookupEnv, nil, "")
	if err != nil {
		return nil, err
	}
	tc, err := chooseSecret("admin-token-file", c.tokenFile, src["admin-token-file"], "PROSE_AS_ADMIN_TOKEN", c.dataDir, fileAdminToken, e.lookupEnv)
	if err != nil {
		return nil, err
	}
	var tok string
	if tc.path == "" {
		if tok, err = parseAdminToken([]byte(tc.value)); err != nil {
			return nil, fmt.Errorf("prose-as: PROSE_AS_ADMIN_TOKEN: %v", err)
		}
	} else {
		data, err := os.ReadFile(tc.path)
		if err != nil {
			return nil, fmt.Errorf("prose-as: reading the admin token: %v; pass --admin-token-file, --data-dir or PROSE_AS_ADMIN_TOKEN", err)
		}
		if tok, err = parseAdminToken(data); err != nil {
			return nil, fmt.Errorf("prose-as: admin token file %s: %v", tc.path, err)
		}
	}
	base := c.endpoint
	if base == "" {
		base = defaultAdminEndpoint
		addrFile := filepath.Join(c.dataDir, fileAdminAddr)
		if b, err := os.ReadFile(addrFile); err == nil {
			// The file says where the admin token is sent: only a
			// directory no one else can write to may say so.
			if fi, err := os.Stat(c.dataDir); err == nil && fi.Mode().Perm()&0o022 != 0 {
				return nil, fmt.Errorf("prose-as: data directory %s is writable by group or others (mode %04o), so %s cannot be trusted with the admin token; run chmod 700 %s, or pass --endpoint", c.dataDir, fi.Mode().Perm(), addrFile, c.dataDir)
			}
			if addr := strings.TrimSpace(string(b)); addr != "" {
				scheme := "https"
				if isLoopbackAddr(addr) {
					scheme = "http"
				}
				base = scheme + "://" + addr
			}
		}
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("--endpoint %q: want a URL such as %s", base, defaultAdminEndpoint)
	}
	if u.Scheme == "http" && !isLoopbackAddr(hostPort(u)) {
		return nil, fmt.Errorf("prose-as: refusing to send the admin token over plain HTTP to %s; use https or a loopback address", u.Host)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if u.Scheme == "https" {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		ca := c.cacert
		if ca == "" {
			if p := filepath.Join(c.dataDir, fileTLSCert); fileExists(p) {
				ca = p
			}
		}
		if ca != "" {
			pemData, err := os.ReadFile(ca)
			if err != nil {
				return nil, fmt.Errorf("prose-as: reading CA certificate: %v", err)
			}
			if !pool.AppendCertsFromPEM(pemData) {
				return nil, fmt.Errorf("prose-as: %s holds no PEM certificate", ca)
			}
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &adminClient{
		base:  strings.TrimSuffix(base, "/"),
		token: tok,
		http:  &http.Client{Transport: tr, Timeout: adminTimeout},
	}, nil
}

func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// do sends a request and decodes a JSON answer into out (if not nil).
func (c *adminClient) do(ctx context.Context, method, path string, in, out any) error {
	if c.http == nil {
		cc, err := c.connect()
		if err != nil {
			return err
		}
		c.base, c.token, c.http = cc.base, cc.token, cc.http
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("prose-as: building request: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return fmt.Errorf("prose-as: cannot reach the admin API at %s: %v; is 'prose-as serve' running, and are --endpoint / --data-dir right?", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("prose-as: reading the admin API answer: %v", err)
	}
	if resp.StatusCode >= 300 {
		var er httpapi.ErrorResponse
		_ = json.Unmarshal(data, &er)
		switch {
		case resp.StatusCode == http.StatusUnauthorized:
			return errors.New("prose-as: the admin API rejected the admin token (401); use the token of this server: --admin-token-file, --data-dir or PROSE_AS_ADMIN_TOKEN")
		case er.Error != "" && er.ErrorDescription != "":
			return fmt.Errorf("prose-as: %s (%s)", er.ErrorDescription, er.Error)
		case er.Error != "":
			return fmt.Errorf("prose-as: admin API error %s (HTTP %d)", er.Error, resp.StatusCode)
		}
		return fmt.Errorf("prose-as: admin API answered HTTP %d; is %s the admin listener (--admin-listen) of prose-as?", resp.StatusCode, c.base)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("prose-as: the admin API answer is not the expected JSON: %v", err)
		}
	}
	return nil
}

// printJSON writes v indented.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// normalizeGrant accepts "use:00002a", "serve:2A", "u2u:use:00002a" and
// returns the scope string "u2u:<role>:<6 lower-case hex digits>".
func normalizeGrant(g string) (string, error) {
	s := strings.TrimPrefix(strings.TrimSpace(g), "u2u:")
	role, rsc, ok := strings.Cut(s, ":")
	if !ok || (role != "use" && role != "serve") {
		return "", usagef("--grant %q: want use:<RSC> or serve:<RSC>, e.g. use:00002a", g)
	}
	rsc = strings.ToLower(strings.TrimPrefix(strings.ToLower(rsc), "0x"))
	v, err := strconv.ParseUint(rsc, 16, 32)
	if err != nil || rsc == "" || len(rsc) > 6 || v > 0xFFFFFF {
		return "", usagef("--grant %q: the relay service code must be up to 6 hex digits (24 bits), e.g. use:00002a", g)
	}
	return fmt.Sprintf("u2u:%s:%06x", role, v), nil
}

func normalizeGrants(gs []string) ([]string, error) {
	out := make([]string, 0, len(gs))
	for _, g := range gs {
		n, err := normalizeGrant(g)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// leaf builds an admin leaf command whose flags include the connection flags.
func adminLeaf(name, synopsis, short, long string, examples []string, setup func(fs *flag.FlagSet) func(ctx context.Context, e *env, c *adminClient) error) *command {
	return &command{
		name: name, synopsis: synopsis, short: short, long: long, examples: examples,
		envNames:    adminEnvNames,
		sharedFlags: []string{"endpoint", "data-dir", "admin-token-file", "cacert"},
		setup: func(fs *flag.FlagSet) action {
			conn := adminConnFlags(fs)
			act := setup(fs)
			return func(ctx context.Context, e *env, fs *flag.FlagSet) error {
				c := &adminClient{connect: func() (*adminClient, error) { return conn.client(fs, e) }}
				return act(ctx, e, c)
			}
		},
	}
}

func adminCommand() *command {
	return &command{
		name:     "admin",
		synopsis: "prose-as admin COMMAND [flags]",
		short:    "manage UEs, issued tokens and signing keys",
		long: "Talks to the admin API of a running server (prose-as serve, --admin-listen). The endpoint " +
			"and admin token are found in the data directory (admin.addr, admin.token) unless given " +
			"with --endpoint and --admin-token-file or PROSE_AS_ADMIN_ENDPOINT and PROSE_AS_ADMIN_TOKEN. " +
			"Output is a table; --json prints the admin API's JSON.",
		examples: []string{
			"# Register a UE with a client secret and one grant\nprose-as admin ue add --id ue-1 --public-key ue-1.pem.pub.jwk --secret --grant use:00002a",
			"# List the tokens issued to ue-1 that have not expired\nprose-as admin token list --sub ue-1 --active",
			"# Against a remote server\nPROSE_AS_ADMIN_TOKEN=$(cat admin.token) prose-as admin keys list --endpoint https://as.example.net:8444",
		},
		subs: []*command{
			{
				name:     "ue",
				synopsis: "prose-as admin ue COMMAND [flags]",
				short:    "register, update, remove, list and revoke UEs",
				long: "Manages registered UEs (end UEs and UE-to-UE relays): their ID (the OAuth client_id), " +
					"PC5 identity public key, client secret and grants (use or serve a relay service code).",
				examples: []string{"prose-as admin ue list", "prose-as admin ue show --id ue-1"},
				subs: []*command{
					ueAddCommand(), ueUpdateCommand(), ueRemoveCommand(), ueListCommand(), ueShowCommand(), ueRevokeCommand(),
				},
			},
			{
				name:     "token",
				synopsis: "prose-as admin token COMMAND [flags]",
				short:    "list and revoke issued tokens",
				long:     "Lists the record of issued tokens (every token a client received is on record) and revokes them: a revoked token's bit is set in its status list.",
				examples: []string{"prose-as admin token list --active", "prose-as admin token revoke --jti 3Jd0…"},
				subs:     []*command{tokenListCommand(), tokenRevokeCommand()},
			},
			{
				name:     "keys",
				synopsis: "prose-as admin keys COMMAND [flags]",
				short:    "list and rotate signing keys",
				long: "Lists the issuer signing keys (next, active, retired) and rotates them. A next key is " +
					"published before it signs (at least --max-token-lifetime + --offline-horizon ahead); a " +
					"retired key stays published until every token it signed has expired.",
				examples: []string{"prose-as admin keys list", "prose-as admin keys rotate"},
				subs:     []*command{keysListCommand(), keysRotateCommand()},
			},
		},
	}
}

func ueAddCommand() *command {
	return adminLeaf("add",
		"prose-as admin ue add --id ID --public-key FILE [--secret] [--grant ROLE:RSC]... [flags]",
		"register a UE",
		"Registers a UE with its PC5 identity public key (a JWK or PEM file, e.g. FILE.pub.jwk from "+
			"prose-as keygen) and its grants. The UE then authenticates at the token endpoint with "+
			"private_key_jwt using that key, or with client_secret_basic if --secret is given: the "+
			"generated client secret is printed once (or written to --secret-out) and cannot be shown again.",
		[]string{
			"# A source/target UE allowed to use relay service 00002a, with a client secret\n" +
				"prose-as admin ue add --id ue-1 --public-key ue-1.pem.pub.jwk --grant use:00002a --secret",
			"# A relay serving two services, 2h tokens, secret saved to a file\n" +
				"prose-as admin ue add --id relay-1 --public-key relay-1.pem.pub.jwk --grant serve:00002a \\\n" +
				"  --grant serve:00002b --token-lifetime 2h --secret --secret-out relay-1.secret",
		},
		func(fs *flag.FlagSet) func(ctx context.Context, e *env, c *adminClient) error {
			id := fs.String("id", "", "the UE's `ID`: user info / application layer ID, used as client_id (required)")
			pk := fs.String("public-key", "", "identity public key `FILE`: JWK or PEM (required)")
			secret := fs.Bool("secret", false, "generate a client secret for client_secret_basic/post")
			secretOut := fs.String("secret-out", "", "write the generated secret to `FILE` (0600) instead of printing it")
			var grants stringList
			fs.Var(&grants, "grant", "grant `ROLE:RSC` (use:00002a, serve:00002a); repeat for several")
			lifetime := fs.Duration("token-lifetime", 0, "token lifetime `DURATION` for this UE (0: the server default)")
			asJSON := fs.Bool("json", false, "print the admin API's JSON answer")
			return func(ctx context.Context, e *env, c *adminClient) error {
				if *id == "" || *pk == "" {
					return usagef("admin ue add: --id and --public-key are required")
				}
				if *secretOut != "" && !*secret {
					return usagef("admin ue add: --secret-out needs --secret")
				}
				jwk, err := readPublicKey(*pk)
				if err != nil {
					return err
				}
				gs, err := normalizeGrants(grants)
				if err != nil {
					return err
				}
				req := httpapi.RegisterUERequest{ID: *id, PublicKey: jwk, WithSecret: *secret, Grants: gs}
				if *lifetime != 0 {
					req.TokenLifetime, _ = json.Marshal(lifetime.String())
				}
				var resp httpapi.UEResponse
				if err := c.do(ctx, http.MethodPost, "/admin/v1/ues", req, &resp); err != nil {
					return err
				}
				return printUEResult(e, "registered", resp, *secretOut, *asJSON)
			}
		})
}

// printUEResult prints a UE after add/update, with its new secret if any.
func printUEResult(e *env, verb string, resp httpapi.UEResponse, secretOut string, asJSON bool) error {
	if resp.ClientSecret != "" && secretOut != "" {
		if err := writeFileExclusive(secretOut, []byte(resp.ClientSecret+"\n"), 0o600); err != nil {
			// Do not lose the only copy of the secret.
			fmt.Fprintf(e.stderr, "prose-as: could not write %s: %v; the secret is printed instead\n", secretOut, err)
			secretOut = ""
		}
	}
	if asJSON {
		if secretOut != "" {
			resp.ClientSecret = ""
		}
		return printJSON(e.stdout, resp)
	}
	if resp.UE == nil {
		return errors.New("prose-as: the admin API answer has no UE")
	}
	fmt.Fprintf(e.stdout, "UE %s %s\n", resp.UE.ID, verb)
	printUE(e.stdout, resp.UE)
	if resp.ClientSecret != "" {
		if secretOut != "" {
			fmt.Fprintf(e.stdout, "client secret written to %s (mode 0600)\n", secretOut)
		} else {
			fmt.Fprintf(e.stdout, "client_secret: %s\n", resp.ClientSecret)
			fmt.Fprintf(e.stderr, "Store the client secret now: it is not shown again (a new one: prose-as admin ue update --id %s --rotate-secret).\n", resp.UE.ID)
		}
	}
	return nil
}

func printUE(w io.Writer, u *as.UEInfo) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	lifetime := u.TokenLifetime
	if lifetime == "" {
		lifetime = "server default"
	}
	grants := strings.Join(u.Grants, " ")
	if grants == "" {
		grants = "(none)"
	}
	fmt.Fprintf(tw, "  id:\t%s\n", u.ID)
	fmt.Fprintf(tw, "  grants:\t%s\n", grants)
	fmt.Fprintf(tw, "  client secret:\t%s\n", yesNo(u.HasSecret))
	fmt.Fprintf(tw, "  token lifetime:\t%s\n", lifetime)
	fmt.Fprintf(tw, "  key thumbprint:\t%s\n", u.KeyThumbprint)
	fmt.Fprintf(tw, "  created:\t%s\n", fmtTime(u.CreatedAt))
	fmt.Fprintf(tw, "  updated:\t%s\n", fmtTime(u.UpdatedAt))
	tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func fmtTimePtr(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return fmtTime(*t)
}

func ueUpdateCommand() *command {
	return adminLeaf("update",
		"prose-as admin ue update --id ID [--public-key FILE] [--grant ROLE:RSC]... [flags]",
		"change a UE's key, grants, lifetime or secret",
		"Changes a registered UE; what is not given stays as it is. --grant replaces the whole list of "+
			"grants (repeat it for several; --clear-grants removes them all). Tokens already issued are "+
			"not changed: revoke them (prose-as admin ue revoke) if the change must take effect at once.",
		[]string{
			"# Replace the grants\nprose-as admin ue update --id ue-1 --grant use:00002a --grant use:00002b",
			"# New client secret, written to a file\nprose-as admin ue update --id ue-1 --rotate-secret --secret-out ue-1.secret",
			"# Back to the server's default lifetime\nprose-as admin ue update --id ue-1 --token-lifetime 0",
		},
		func(fs *flag.FlagSet) func(ctx context.Context, e *env, c *adminClient) error {
			id := fs.String("id", "", "the UE's `ID` (required)")
			pk := fs.String("public-key", "", "new identity public key `FILE`: JWK or PEM")
			var grants stringList
			fs.Var(&grants, "grant", "grant `ROLE:RSC`, replacing all grants; repeat for several")
			clearGrants := fs.Bool("clear-grants", false, "remove every grant")
			lifetime := fs.Duration("token-lifetime", 0, "token lifetime `DURATION` for this UE; 0 returns to the server default")
			rotate := fs.Bool("rotate-secret", false, "generate a new client secret (printed once)")
			remove := fs.Bool("remove-secret", false, "remove the client secret (private_key_jwt only)")
			secretOut := fs.String("secret-out", "", "write a generated secret to `FILE` (0600) instead of printing it")
			asJSON := fs.Bool("json", false, "print the admin API's JSON answer")
			return func(ctx context.Context, e *env, c *adminClient) error {
				if *id == "" {
					return usagef("admin ue update: --id is required")
				}
				if *rotate && *remove {
					return usagef("admin ue update: --rotate-secret and --remove-secret exclude each other")
				}
				if *clearGrants && len(grants) > 0 {
					return usagef("admin ue update: --clear-grants and --grant exclude each other")
				}
				if *secretOut != "" && !*rotate {
					return usagef("admin ue update: --secret-out needs --rotate-secret")
				}
				var req httpapi.UpdateUERequest
				changed := false
				if *pk != "" {
					jwk, err := readPublicKey(*pk)
					if err != nil {
						return err
					}
					req.PublicKey, changed = jwk, true
				}
				if len(grants) > 0 || *clearGrants {
					gs, err := normalizeGrants(grants)
					if err != nil {
						return err
					}
					req.Grants, changed = &gs, true
				}
				if isSet(fs, "token-lifetime") {
					req.TokenLifetime, _ = json.Marshal(lifetime.String())
					if *lifetime == 0 {
						req.TokenLifetime = json.RawMessage("0")
					}
					changed = true
				}
				switch {
				case *rotate:
					req.Secret, changed = string(as.SecretRotate), true
				case *remove:
					req.Secret, changed = string(as.SecretRemove), true
				}
				if !changed {
					return usagef("admin ue update: nothing to change; give --public-key, --grant, --clear-grants, --token-lifetime, --rotate-secret or --remove-secret")
				}
				var resp httpapi.UEResponse
				if err := c.do(ctx, http.MethodPut, "/admin/v1/ues/"+url.PathEscape(*id), req, &resp); err != nil {
					return err
				}
				return printUEResult(e, "updated", resp, *secretOut, *asJSON)
			}
		})
}

func ueRemoveCommand() *command {
	return adminLeaf("remove",
		"prose-as admin ue remove --id ID [flags]",
		"remove a UE and revoke its tokens",
		"Removes a registered UE and revokes every token it still holds, so that it stops working "+
			"offline too once peers refresh the status list. The records of its issued tokens are kept.",
		[]string{"prose-as admin ue remove --id ue-1"},
		func(fs *flag.FlagSet) func(ctx context.Context, e *env, c *adminClient) error {
			id := fs.String("id", "", "the UE's `ID` (required)")
			asJSON := fs.Bool("json", false, "print the admin API's JSON answer")
			return func(ctx context.Context, e *env, c *adminClient) error {
				if *id == "" {
					return usagef("admin ue remove: --id is required")
				}
				var resp httpapi.RevokeResponse
				if err := c.do(ctx, http.MethodDelete, "/admin/v1/ues/"+url.PathEscape(*id), nil, &resp); err != nil {
					return err
				}
				if *asJSON {
					return printJSON(e.stdout, resp)
				}
				fmt.Fprintf(e.stdout, "UE %s removed; %d token(s) revoked\n", *id, resp.Revoked)
				return nil
			}
		})
}

func ueRevokeCommand() *command {
	return adminLeaf("revoke",
		"prose-as admin ue revoke --id ID [flags]",
		"revoke every token of a UE",
		"Revokes every unexpired token issued to a UE (also works for a removed UE). The UE stays "+
			"registered and may request new tokens; remove it or change its grants to stop that.",
		[]string{"prose-as admin ue revoke --id ue-1"},
		func(fs *flag.FlagSet) func(ctx context.Context, e *env, c *adminClient) error {
			id := fs.String("id", "", "the UE's `ID` (required)")
			asJSON := fs.Bool("json", false, "print the admin API's JSON answer")
			return func(ctx context.Context, e *env, c *adminClient) error {
				if *id == "" {
					return usagef("admin ue revoke: --id is required")
				}
				var resp httpapi.RevokeResponse
				if err := c.do(ctx, http.MethodPost, "/admin/v1/ues/"+url.PathEscape(*id)+"/revoke", nil, &resp); err != nil {
					return err
				}
				if *asJSON {
					return printJSON(e.stdout, resp)
				}
				fmt.Fprintf(e.stdout, "%d token(s) of %s revoked\n", resp.Revoked, *id)
				return nil
			}
		})
}

func ueListCommand() *command {
	return adminLeaf("list",
		"prose-as admin ue list [--json] [flags]",
		"list registered UEs",
		"Lists every registered UE with its grants, whether it has a client secret, its token lifetime "+
			"and key thumbprint.",
		[]string{"prose-as admin ue list", "# Machine-readable\nprose-as admin ue list --json"},
		func(fs *flag.FlagSet) func(ctx context.Context, e *env, c *adminClient) error {
			asJSON := fs.Bool("json", false, "print JSON ({\"ues\": [...]}, as the admin API)")
			return func(ctx context.Context, e *env, c *adminClient) error {
				var all []*as.UEInfo
				after := ""
				for {
					q := url.Values{"limit": {strconv.Itoa(httpapi.MaxPageSize)}}
					if after != "" {
						q.Set("after", after)
					}
					var resp httpapi.UEListResponse
					if err := c.do(ctx, http.MethodGet, "/admin/v1/ues?"+q.Encode(), nil, &resp); err != nil {
						return err
					}
					all = append(all, resp.UEs...)
					if resp.Next == "" || len(resp.UEs) == 0 {
						break
					}
					after = resp.Next
				}
				if *asJSON {
					if all == nil {
						all = []*as.UEInfo{}
					}
					return printJSON(e.stdout, httpapi.UEListResponse{UEs: all})
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 8, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tGRANTS\tSECRET\tLIFETIME\tKEY THUMBPRINT\tCREATED")
				for _, u := range all {
					lt := u.TokenLifetime
					if lt == "" {
						lt = "default"
					}
					g := strings.Join(u.Grants, ",")
					if g == "" {
						g = "-"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.ID, g, yesNo(u.HasSecret), lt, u.KeyThumbprint, fmtTime(u.CreatedAt))
				}
				tw.Flush()
				if len(all) == 0 {
					fmt.Fprintln(e.stderr, "no UEs registered; add one with: prose-as admin ue add --help")
				}
				return nil
			}
		})
}

func ueShowCommand() *command {
	return adminLeaf("show",
		"prose-as admin ue show --id ID [--json] [flags]",
		"show one UE",
		"Shows one registered UE; --json includes its public key (JWK).",
		[]string{"prose-as admin ue show --id ue-1", "prose-as admin ue show --id ue-1 --json"},
		func(fs *flag.FlagSet) func(ctx context.Context, e *env, c *adminClient) error {
			id := fs.String("id", "", "the UE's `ID` (required)")
			asJSON := fs.Bool("json", false, "print the admin API's JSON answer")
			return func(ctx context.Context, e *env, c *adminClient) error {
				if *id == "" {
					return usagef("admin ue show: --id is required")
				}
				var resp httpapi.UEResponse
				if err := c.do(ctx, http.MethodGet, "/admin/v1/ues/"+url.PathEscape(*id), nil, &resp); err != nil {
					return err
				}
				if *asJSON {
					return printJSON(e.stdout, resp)
				}
				if resp.UE == nil {
					return errors.New("prose-as: the admin API answer has no UE")
				}
				printUE(e.stdout, resp.UE)
				fmt.Fprintf(e.stdout, "  public key:\t%s\n", string(resp.UE.PublicKey))
				return nil
			}
		})
}

func tokenListCommand() *command {
	return adminLeaf("list",
		"prose-as admin token list [--sub ID] [--active] [--json] [flags]",
		"list issued tokens",
		"Lists the issued-token records in status-index order: jti, subject, scope, format, signing "+
			"key, status index, times, and whether the token is active, expired or revoked.",
		[]string{
			"prose-as admin token list",
			"# Unexpired tokens of one UE, as JSON\nprose-as admin token list --sub ue-1 --active --json",
		},
		func(fs *flag.FlagSet) func(ctx context.Context, e *env, c *adminClient) error {
			sub := fs.String("sub", "", "only tokens of this UE `ID`")
			active := fs.Bool("active", false, "only tokens that have not expired (revoked ones included, marked)")
			asJSON := fs.Bool("json", false, "print JSON ({\"tokens\": [...]}, as the admin API)")
			return func(ctx context.Context, e *env, c *adminClient) error {
				all, err := listTokens(ctx, c, *sub, *active)
				if err != nil {
					return err
				}
				if *asJSON {
					return printJSON(e.stdout, httpapi.TokenListResponse{Tokens: all})
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 8, 2, ' ', 0)
				fmt.Fprintln(tw, "JTI\tSUB\tSCOPE\tFORMAT\tSTATUS IDX\tISSUED\tEXPIRES\tSTATE")
				for _, t := range all {
					state := "active"
					switch {
					case t.RevokedAt != nil:
						state = "revoked " + fmtTime(*t.RevokedAt)
					case t.Expired:
						state = "expired"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", t.JTI, t.Subject, t.Scope, t.Format, t.StatusIndex, fmtTime(t.IssuedAt), fmtTime(t.ExpiresAt), state)
				}
				tw.Flush()
				return nil
			}
		})
}

// listTokens fetches every page of the token list.
func listTokens(ctx context.Context, c *adminClient, sub string, active bool) ([]*as.TokenInfo, error) {
	all := []*as.TokenInfo{}
	var after *uint64
	for {
		q := url.Values{"limit": {strconv.Itoa(httpapi.MaxPageSize)}}
		if sub != "" {
			q.Set("sub", sub)
		}
		if active {
			q.Set("active", "true")
		}
		if after != nil {
			q.Set("after", strconv.FormatUint(*after, 10))
		}
		var resp httpapi.TokenListResponse
		if err := c.do(ctx, http.MethodGet, "/admin/v1/tokens?"+q.Encode(), nil, &resp); err != nil {
			return nil, err
		}
		all = append(all, resp.Tokens...)
		if resp.Next == nil || len(resp.Tokens) == 0 {
			return all, nil
		}
		after = resp.Next
	}
}

func tokenRevokeCommand() *command {
	return adminLeaf("revoke",
		"prose-as admin token revoke --jti JTI [flags]",
		"revoke one token",
		"Revokes one issued token by its jti (see prose-as admin token list). Revoking twice is not an "+
			"error. The token's bit is set in its status list, which verifiers refresh while in coverage.",
		[]string{"prose-as admin token revoke --jti 8uKj0Hq3c4rXb7Vw2QfN1A"},
		func(fs *flag.FlagSet) func(ctx context.Context, e *env, c *adminClient) error {
			jti := fs.String("jti", "", "the token's `JTI` (required)")
			asJSON := fs.Bool("json", false, "print the admin API's JSON answer")
			return func(ctx context.Context, e *env, c *adminClient) error {
				if *jti == "" {
					return usagef("admin token revoke: --jti is required")
				}
				var resp httpapi.RevokeResponse
				if err := c.do(ctx, http.MethodPost, "/admin/v1/tokens/"+url.PathEscape(*jti)+"/revoke", nil, &resp); err != nil {
					return err
				}
				if *asJSON {
					return printJSON(e.stdout, resp)
				}
				fmt.Fprintf(e.stdout, "token %s revoked\n", *jti)
				return nil
			}
		})
}

func printKeys(e *env, keys []as.KeyInfo, asJSON bool) error {
	if asJSON {
		if keys == nil {
			keys = []as.KeyInfo{}
		}
		return printJSON(e.stdout, httpapi.KeysResponse{Keys: keys})
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tSTATE\tPUBLISHED\tCREATED\tACTIVATED\tSIGNS FROM\tRETIRED\tPUBLISHED UNTIL")
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.KID, k.Algorithm, k.State, yesNo(k.Published),
			fmtTime(k.CreatedAt), fmtTimePtr(k.ActivatedAt), fmtTimePtr(k.SignsFrom), fmtTimePtr(k.RetiredAt), fmtTimePtr(k.PublishUntil))
	}
	return tw.Flush()
}

func keysListCommand() *command {
	return adminLeaf("list",
		"prose-as admin keys list [--json] [flags]",
		"list signing keys",
		"Lists the issuer signing keys: the active key signs, the next key is published and will sign "+
			"from SIGNS FROM, retired keys stay published until PUBLISHED UNTIL.",
		[]string{"prose-as admin keys list", "prose-as admin keys list --json"},
		func(fs *flag.FlagSet) func(ctx context.Context, e *env, c *adminClient) error {
			asJSON := fs.Bool("json", false, "print the admin API's JSON answer")
			return func(ctx context.Context, e *env, c *adminClient) error {
				var resp httpapi.KeysResponse
				if err := c.do(ctx, http.MethodGet, "/admin/v1/keys", nil, &resp); err != nil {
					return err
				}
				return printKeys(e, resp.Keys, *asJSON)
			}
		})
}

func keysRotateCommand() *command {
	return adminLeaf("rotate",
		"prose-as admin keys rotate [--force] [flags]",
		"rotate the signing keys now",
		"Makes the next key active, retires the active key (published until its tokens expire) and "+
			"publishes a new next key. Without --force this is refused until the next key has been "+
			"published for --max-token-lifetime + --offline-horizon, so that UEs out of coverage already "+
			"know it. --force is for emergencies such as a suspected key compromise: UEs that have not "+
			"refreshed the JWKS will reject new tokens, and tokens signed by the old key stay valid until "+
			"they expire unless you revoke them.",
		[]string{"prose-as admin keys rotate", "# Emergency rotation\nprose-as admin keys rotate --force"},
		func(fs *flag.FlagSet) func(ctx context.Context, e *env, c *adminClient) error {
			force := fs.Bool("force", false, "rotate even if the next key has not been published long enough")
			asJSON := fs.Bool("json", false, "print the admin API's JSON answer")
			return func(ctx context.Context, e *env, c *adminClient) error {
				var resp httpapi.KeysResponse
				if err := c.do(ctx, http.MethodPost, "/admin/v1/keys/rotate", httpapi.RotateKeysRequest{Force: *force}, &resp); err != nil {
					return err
				}
				if !*asJSON {
					fmt.Fprintln(e.stdout, "signing keys rotated")
				}
				return printKeys(e, resp.Keys, *asJSON)
			}
		})
}
