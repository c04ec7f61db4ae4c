package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMultiProcess runs the whole of Solution #4 with real binaries: prose-as
// serve (plain HTTP on loopback), three UEs registered with prose-as admin
// and provisioned with prose-ue, then the AS stopped and a relay, a target and
// a source run as three prose-ue processes on the UDP loopback medium; the
// source pings the target through the relay. Then, back in coverage (the AS
// restarted on the same data dir), the target's tokens are revoked and the
// relay alone re-provisions, fetching the new status lists; out of coverage
// again, the relay refuses hop 2 to the target (#6 to the target) and the
// source's hop 1 is rejected with #4.
func TestMultiProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs binaries")
	}
	asBin, ueBin := buildTools(t)
	work := t.TempDir()
	must := func(name string, args ...string) string {
		t.Helper()
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %q: %v\n%s", filepath.Base(name), args, err, out)
		}
		return string(out)
	}

	// The AS.
	data := filepath.Join(work, "as")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	as := start(t, asBin, "serve", "--data-dir", data, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--insecure-http")
	addr := listenAddr(t, data, as)
	issuer := "http://" + addr
	ues := []struct{ dir, name, grant string }{
		{"s1", "ue-source-00001", "use:00002a"},
		{"t1", "ue-target-00001", "use:00002a"},
		{"r1", "ue-relay-000001", "serve:00002a"},
	}
	for _, u := range ues {
		dir, pub := filepath.Join(work, u.dir), filepath.Join(work, u.dir+".pub.pem")
		must(ueBin, "keygen", "--cache-dir", dir, "--pub-out", pub)
		must(asBin, "admin", "ue", "add", "--data-dir", data, "--id", u.name, "--public-key", pub, "--grant", u.grant)
		if out := must(ueBin, "provision", "--cache-dir", dir, "--issuer", issuer, "--client-id", u.name); !strings.Contains(out, "provisioned "+u.name) {
			t.Fatalf("provision: %s", out)
		}
	}
	as.stop(t)
	if out := must(ueBin, "status", "--cache-dir", filepath.Join(work, "r1")); !strings.Contains(out, "offline:      ready") {
		t.Fatalf("status:\n%s", out)
	}

	// Out of coverage.
	ports := freeUDPPorts(t, 3)
	peer := func(id string, p int) string { return fmt.Sprintf("%s=127.0.0.1:%d", id, p) }
	listen := func(p int) string { return fmt.Sprintf("127.0.0.1:%d", p) }
	relayP := start(t, ueBin, "run", "--cache-dir", filepath.Join(work, "r1"), "--role", "relay", "--l2", "10",
		"--listen", listen(ports[0]), "--peer", peer("1", ports[1]), "--peer", peer("21", ports[2]))
	targetP := start(t, ueBin, "run", "--cache-dir", filepath.Join(work, "t1"), "--role", "target", "--l2", "21",
		"--listen", listen(ports[2]), "--peer", peer("10", ports[0]))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	src := exec.CommandContext(ctx, ueBin, "run", "--cache-dir", filepath.Join(work, "s1"), "--role", "source", "--l2", "1",
		"--listen", listen(ports[1]), "--peer", peer("10", ports[0]), "--target", "ue-target-00001", "--ping", "3", "--interval", "2s")
	out, err := src.CombinedOutput()
	relayP.stop(t)
	targetP.stop(t)
	t.Logf("source:\n%s\nrelay:\n%s\ntarget:\n%s", out, relayP.out.String(), targetP.out.String())
	if err != nil {
		t.Fatalf("source: %v", err)
	}
	for _, want := range []string{"relay ue-relay-000001 (000010) selected", "established (NEA2/NIA2)",
		"target ue-target-00001 at fd50:4300:10::21", "icmp_seq=3", "3 packets transmitted, 3 received, 0% packet loss"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("source output lacks %q", want)
		}
	}
	if !strings.Contains(relayP.out.String(), "forwarded 6,") {
		t.Errorf("relay did not forward 6 packets")
	}
	if !strings.Contains(targetP.out.String(), "echo request seq=3 from fd50:4300:10::1") {
		t.Errorf("target did not see the echo requests")
	}
	if t.Failed() {
		return
	}

	// Back in coverage: the AS again on the same data dir and address (the
	// issuer URL is in the tokens), the target's tokens revoked, and the
	// relay (only it) refreshes its cached status lists.
	as = start(t, asBin, "serve", "--data-dir", data, "--listen", addr, "--admin-listen", "127.0.0.1:0", "--insecure-http")
	revoked := ""
	for i := 0; i < 200; i++ {
		o, err := exec.Command(asBin, "admin", "ue", "revoke", "--data-dir", data, "--id", "ue-target-00001").CombinedOutput()
		if revoked = string(o); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(revoked, "1 token(s) of ue-target-00001 revoked") {
		t.Fatalf("revoke: %s\nprose-as:\n%s", revoked, as.out.String())
	}
	if out := must(ueBin, "provision", "--cache-dir", filepath.Join(work, "r1"), "--issuer", issuer, "--client-id", "ue-relay-000001"); !strings.Contains(out, "provisioned ue-relay-000001") {
		t.Fatalf("provision: %s", out)
	}
	as.stop(t)

	// Out of coverage again: the target (whose own cache does not know of
	// the revocation) runs, the source asks for it; the relay's hop 2 to
	// the revoked target fails, and the source gets the reject.
	relayP = start(t, ueBin, "run", "--cache-dir", filepath.Join(work, "r1"), "--role", "relay", "--l2", "10",
		"--listen", listen(ports[0]), "--peer", peer("1", ports[1]), "--peer", peer("21", ports[2]))
	targetP = start(t, ueBin, "run", "--cache-dir", filepath.Join(work, "t1"), "--role", "target", "--l2", "21",
		"--listen", listen(ports[2]), "--peer", peer("10", ports[0]))
	src = exec.CommandContext(ctx, ueBin, "run", "--cache-dir", filepath.Join(work, "s1"), "--role", "source", "--l2", "1",
		"--listen", listen(ports[1]), "--peer", peer("10", ports[0]), "--target", "ue-target-00001", "--ping", "1", "--interval", "1s")
	out, err = src.CombinedOutput()
	relayP.stop(t)
	targetP.stop(t)
	t.Logf("after revocation:\nsource:\n%s\nrelay:\n%s\ntarget:\n%s", out, relayP.out.String(), targetP.out.String())
	if err == nil {
		t.Fatalf("source reached the revoked target")
	}
	for _, want := range []string{"relay ue-relay-000001 (000010) selected", "hop 1 rejected with cause #4"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("source output lacks %q", want)
		}
	}
	if strings.Contains(string(out), "icmp_seq=") {
		t.Errorf("an echo came back from the revoked target")
	}
	if !strings.Contains(relayP.out.String(), "hop 2 failures 1") {
		t.Errorf("relay counted no hop 2 failure")
	}
	// The relay refused the target's token (its refreshed status list marks
	// it revoked) in its SECURITY MODE COMMAND check: #6 to the target.
	if !strings.Contains(targetP.out.String(), "link with 000010 rejected: cause #6") ||
		!strings.Contains(targetP.out.String(), "SECURITY MODE REJECT with #6 authentication failure") {
		t.Errorf("target was not rejected with #6")
	}
}

var tools struct {
	once         sync.Once
	dir          string
	asBin, ueBin string
	err          error
}

// TestMain removes the binaries buildTools made.
func TestMain(m *testing.M) {
	code := m.Run()
	if tools.dir != "" {
		os.RemoveAll(tools.dir)
	}
	os.Exit(code)
}

// buildTools builds prose-as and prose-ue once for all tests and returns
// their paths.
func buildTools(t *testing.T) (asBin, ueBin string) {
	t.Helper()
	tools.once.Do(func() {
		if tools.dir, tools.err = os.MkdirTemp("", "prose-ue-test-bin"); tools.err != nil {
			return
		}
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
		}
		for _, p := range []string{"prose-as", "prose-ue"} {
			b := exec.Command(goTool, "build", "-o", filepath.Join(tools.dir, p), "../"+p)
			if out, err := b.CombinedOutput(); err != nil {
				tools.err = fmt.Errorf("building %s: %v\n%s", p, err, out)
				return
			}
		}
		tools.asBin, tools.ueBin = filepath.Join(tools.dir, "prose-as"), filepath.Join(tools.dir, "prose-ue")
	})
	if tools.err != nil {
		t.Fatal(tools.err)
	}
	return tools.asBin, tools.ueBin
}

// listenAddr waits for prose-as serve to write its public listen address
// to DIR/listen.addr and returns it.
func listenAddr(t *testing.T, dataDir string, as *proc) string {
	t.Helper()
	var addr []byte
	var err error
	for i := 0; i < 200; i++ {
		if addr, err = os.ReadFile(filepath.Join(dataDir, "listen.addr")); err == nil && len(bytes.TrimSpace(addr)) > 0 {
			return strings.TrimSpace(string(addr))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("prose-as did not start: %v\n%s", err, as.out.String())
	return ""
}

type proc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(name, args...), out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// stop ends the process with SIGTERM (graceful shutdown), then SIGKILL.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

func freeUDPPorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var conns []net.PacketConn
	for range n {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		ports = append(ports, c.LocalAddr().(*net.UDPAddr).Port)
	}
	for _, c := range conns {
		c.Close()
	}
	return ports
}

// TestProvisionFromHTTPSAS follows the README with prose-as serve on HTTPS
// (its generated self-signed certificate): the UE's key made with prose-as
// keygen and registered, then prose-ue provision. A key made by prose-ue
// instead gets the 401 with the key hint; no --ca-file gets the
// unknown-authority hint naming tls.crt; the imported key works.
func TestProvisionFromHTTPSAS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs prose-as")
	}
	asBin, _ := buildTools(t)
	work := t.TempDir()
	data := filepath.Join(work, "prose-as-data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	as := start(t, asBin, "serve", "--data-dir", data, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0")
	defer as.stop(t)
	issuer := "https://" + listenAddr(t, data, as)
	cert := filepath.Join(data, "tls.crt")
	must := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(asBin, args...).CombinedOutput(); err != nil {
			t.Fatalf("prose-as %q: %v\n%s", args, err, out)
		}
	}
	key := filepath.Join(work, "ue-1.pem")
	must("keygen", "--out", key)
	must("admin", "ue", "add", "--data-dir", data, "--id", "ue-1", "--public-key", key+".pub.jwk", "--grant", "use:00002a")

	provision := func(dir string, extra ...string) (string, error) {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), append([]string{"provision", "--cache-dir", dir, "--issuer", issuer, "--client-id", "ue-1"}, extra...), &stdout, &stderr)
		return stdout.String(), err
	}
	// A key made by prose-ue, not the registered one.
	other := filepath.Join(work, "other")
	if _, _, code := runCLI("keygen", "--cache-dir", other); code != 0 {
		t.Fatal("keygen failed")
	}
	_, err := provision(other, "--ca-file", cert)
	t.Logf("unregistered key: %v", err)
	if err == nil || !strings.Contains(err.Error(), "401 invalid_client") ||
		!strings.Contains(err.Error(), "hint: the identity key in "+other) ||
		!strings.Contains(err.Error(), "prose-ue keygen --cache-dir "+other+" --from FILE --force") {
		t.Errorf("provision with an unregistered key: %v", err)
	}

	// The imported key, without --ca-file: the AS's certificate is not
	// trusted, and the hint names the file to pass.
	ue1 := filepath.Join(work, "ue1")
	if _, errOut, code := runCLI("keygen", "--cache-dir", ue1, "--from", key); code != 0 {
		t.Fatalf("keygen --from: %s", errOut)
	}
	_, err = provision(ue1)
	t.Logf("no --ca-file: %v", err)
	if err == nil || !strings.Contains(err.Error(), "x509: certificate signed by unknown authority") ||
		!strings.Contains(err.Error(), "hint: ") || !strings.Contains(err.Error(), "--ca-file prose-as-data/tls.crt") {
		t.Errorf("provision without --ca-file: %v", err)
	}
	// With the AS's certificate it works.
	out, err := provision(ue1, "--ca-file", cert)
	if err != nil || !strings.Contains(out, "provisioned ue-1") {
		t.Fatalf("provision with the imported key: %v\n%s\nprose-as:\n%s", err, out, as.out.String())
	}
}
