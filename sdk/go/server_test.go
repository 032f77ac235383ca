package provlog

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestServer is a provlog server started for a test (exported so that the
// examples of package provlog_test can use it).
type TestServer struct {
	// URL is the server's base URL.
	URL string
	// DataDir is its data directory.
	DataDir string
	// LogSigner is the log's private key (written before the start).
	LogSigner *Signer
	// Submitters are the configured submitters' keys, by id.
	Submitters map[string]*Signer
	cmd        *exec.Cmd
}

var (
	sharedOnce sync.Once
	shared     *TestServer
	sharedErr  error
)

func serverBinary() string {
	if b := os.Getenv("PROVLOG_BIN"); b != "" {
		return b
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache/provlog/target/release/provlog")
}

// StartTestServer starts `provlog serve` in a temporary directory with a
// log key of its own and three submitters: "go" (every action, targets
// svc-*), "goseq" (sequenced, everything) and "dev" (everything). It
// panics if the server does not start.
func StartTestServer() *TestServer {
	s, err := startTestServer()
	if err != nil {
		panic(err)
	}
	return s
}

// sharedServer is one server for the whole test binary.
func sharedServer(t *testing.T) *TestServer {
	t.Helper()
	sharedOnce.Do(func() { shared, sharedErr = startTestServer() })
	if sharedErr != nil {
		t.Fatalf("the provlog server did not start (set PROVLOG_BIN): %v", sharedErr)
	}
	return shared
}

func startTestServer() (*TestServer, error) {
	dir, err := os.MkdirTemp("", "provlog-go-sdk-")
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, err
	}
	logKey, _ := GenerateSigner("localhost/provlog", AlgEd25519, nil)
	if err := os.WriteFile(filepath.Join(data, "log.skey"), []byte(logKey.SkeyString()+"\n"), 0o600); err != nil {
		return nil, err
	}
	s := &TestServer{DataDir: data, LogSigner: logKey, Submitters: map[string]*Signer{}}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "origin = %q\n\n", logKey.Name())
	for _, sub := range []struct{ id, targets, extra string }{
		{"go", `["svc-*"]`, ""},
		{"goseq", `["*"]`, "sequenced = true\n"},
		{"dev", `["*"]`, ""},
	} {
		k, _ := GenerateSigner(sub.id, AlgEd25519, nil)
		s.Submitters[sub.id] = k
		fmt.Fprintf(&cfg, "[[submitters]]\nid = %q\nkey = %q\nactions = [\"*\"]\ntargets = %s\n%s\n", sub.id, k.Public().String(), sub.targets, sub.extra)
	}
	cfgPath := filepath.Join(dir, "provlog.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(serverBinary(), "serve", "--listen", "127.0.0.1:0", "--data-dir", data, "--config", cfgPath)
	cmd.Env = append(os.Environ(), "RUST_LOG=warn")
	// The server dies with the test binary, however that ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := os.Create(filepath.Join(dir, "stderr.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s.cmd = cmd
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var r struct {
				Ready string `json:"ready"`
				URL   string `json:"url"`
			}
			if json.Unmarshal(sc.Bytes(), &r) == nil && r.Ready == "log" && r.URL != "" {
				ready <- r.URL
			}
		}
	}()
	select {
	case s.URL = <-ready:
		return s, nil
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		b, _ := os.ReadFile(stderr.Name())
		return nil, fmt.Errorf("no ready line in 60 s; stderr: %s", b)
	}
}

// LogKey is the log's public key.
func (s *TestServer) LogKey() *Verifier { return s.LogSigner.Public() }

// Stop ends the server and removes its directory.
func (s *TestServer) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_, _ = s.cmd.Process.Wait()
	}
	_ = os.RemoveAll(filepath.Dir(s.DataDir))
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.Stop()
	}
	os.Exit(code)
}
