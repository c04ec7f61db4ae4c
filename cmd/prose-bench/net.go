//go:build linux

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"
)

// isLoopbackIP reports whether ip is in 127.0.0.0/8 or is ::1.
func isLoopbackIP(ip net.IP) bool {
	if ip4 := ip.To4(); ip4 != nil {
		return ip4[0] == 127
	}
	return ip.Equal(net.IPv6loopback)
}

// checkLoopbackURL parses an http(s) URL and checks that every address its
// host resolves to is a loopback address. what names the flag in errors.
func checkLoopbackURL(ctx context.Context, what, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("%s %q: want an http:// or https:// URL such as http://127.0.0.1:8443", what, raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, usagef("%s %q: want a URL without user info, query or fragment", what, raw)
	}
	host := u.Hostname()
	var ips []net.IP
	if ip := net.ParseIP(host); ip != nil {
		ips = []net.IP{ip}
	} else {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		addrs, err := net.DefaultResolver.LookupIPAddr(rctx, host)
		cancel()
		if err != nil {
			return nil, usagef("%s %q: cannot resolve %q (%v); prose-bench only sends traffic to loopback addresses", what, raw, host, err)
		}
		for _, a := range addrs {
			ips = append(ips, a.IP)
		}
	}
	if len(ips) == 0 {
		return nil, usagef("%s %q: %q resolves to no address", what, raw, host)
	}
	for _, ip := range ips {
		if !isLoopbackIP(ip) {
			return nil, usagef("%s %q: %q is %v, not a loopback address; prose-bench only sends traffic to 127.0.0.0/8 or ::1", what, raw, host, ip)
		}
	}
	return u, nil
}

// loopbackDialer refuses to connect anywhere but loopback, whatever a name
// resolves to at dial time.
func loopbackDialer() *net.Dialer {
	return &net.Dialer{
		Timeout:   5 * time.Second,
		KeepAlive: 30 * time.Second,
		Control: func(network, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			if ip := net.ParseIP(host); ip == nil || !isLoopbackIP(ip) {
				return fmt.Errorf("prose-bench: refusing to connect to %s: not a loopback address", address)
			}
			return nil
		},
	}
}

// newClient returns an HTTP/1.1 client for conns concurrent requests to one
// loopback host: keep-alive, an idle pool that holds every connection, no
// HTTP/2, no compression, no proxy. caFile, if set, is trusted for https.
func newClient(conns int, caFile string) (*http.Client, error) {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           loopbackDialer().DialContext,
		MaxIdleConns:          conns + 16,
		MaxIdleConnsPerHost:   conns + 16,
		MaxConnsPerHost:       0,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
		DisableKeepAlives:     false,
		ForceAttemptHTTP2:     false,
		TLSNextProto:          map[string]func(string, *tls.Conn) http.RoundTripper{}, // no HTTP/2
		ResponseHeaderTimeout: 30 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
	}
	tc, err := tlsConfigFor(caFile)
	if err != nil {
		return nil, err
	}
	tr.TLSClientConfig = tc
	// No Client.Timeout: it would arm a timer per request. A stuck server
	// is bounded by ResponseHeaderTimeout and by the run's context.
	return &http.Client{Transport: tr}, nil
}

// tlsConfigFor returns the TLS configuration that trusts caFile, or nil
// (the system roots) when caFile is empty.
func tlsConfigFor(caFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("prose-bench: --cacert: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("prose-bench: --cacert %s holds no PEM certificate", caFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// baseURL returns u without a trailing slash or a trailing token endpoint
// path, so that both http://host:port and http://host:port/oauth2/token
// name the server.
func baseURL(u *url.URL) string {
	s := u.Scheme + "://" + u.Host + strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/oauth2/token")
	return strings.TrimSuffix(s, "/")
}
