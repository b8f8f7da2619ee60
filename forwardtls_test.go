package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// writePEM writes one PEM block of typ holding der to a new file in dir.
func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// clientCert makes a self-signed client certificate and its key, written
// as PEM files in dir, and returns their paths and the certificate.
func clientCert(t *testing.T, dir string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dialpad-tunnel test client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true, IsCA: true, // its own issuer, for the handler's pool
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err = x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, dir, "client.pem", "CERTIFICATE", der), writePEM(t, dir, "client-key.pem", "PRIVATE KEY", keyDER), cert
}

// TestForwardTLS: an https handler with a certificate of its own is
// reached with --forward-ca (its certificate trusted besides the system's),
// or with --forward-insecure, which says at start that nothing is checked;
// one that asks for a client certificate gets --forward-cert's. Without
// them every event became a dead letter (an unknown authority is final).
func TestForwardTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, client := clientCert(t, dir)
	got := make(chan []byte, 10)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- b
	})
	plain := httptest.NewTLSServer(handler)
	defer plain.Close()
	mutual := httptest.NewUnstartedServer(handler)
	pool := x509.NewCertPool()
	pool.AddCert(client)
	mutual.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	mutual.StartTLS()
	defer mutual.Close()
	caFile := writePEM(t, dir, "handler-ca.pem", "CERTIFICATE", plain.Certificate().Raw)
	mutualCA := writePEM(t, dir, "mutual-ca.pem", "CERTIFICATE", mutual.Certificate().Raw)

	for _, tc := range []struct {
		name, url string
		flags     []string
		warns     bool
	}{
		{"forward-ca", plain.URL, []string{"--forward-ca", caFile}, false},
		{"forward-insecure", plain.URL, []string{"--forward-insecure"}, true},
		{"client certificate", mutual.URL, []string{"--forward-ca", mutualCA, "--forward-cert", certFile, "--forward-key", keyFile}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
			r := start(t, listenArgs(srv, wsID, tc.url, append([]string{"--no-spool", "--max-attempts", "1"}, tc.flags...)...)...)
			r.waitConnected(t, srv, 1)
			ev := dialpadtest.NewGenerator(5).SMS()
			srv.Publish("sms", ev)
			select {
			case b := <-got:
				if string(b) != string(ev) {
					t.Fatalf("handler got %q, want the event", b)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("the https handler got nothing:\n%s", r.stdout.String())
			}
			if err := r.stop(t); err != nil {
				t.Fatal(err)
			}
			if warned := strings.Contains(r.stdout.String(), "certificate is not checked"); warned != tc.warns {
				t.Errorf("warned of an unchecked certificate: %v, want %v\n%s", warned, tc.warns, r.stdout.String())
			}
		})
	}
}

// TestForwardTLSRefusesBadFiles: each TLS flag's mistake stops listen at
// start, naming the flag and what is wrong, before it connects.
func TestForwardTLSRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := clientCert(t, dir)
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	for _, tc := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--forward-ca", filepath.Join(dir, "missing.pem")}, "--forward-ca: open " + filepath.Join(dir, "missing.pem") + ": no such file"},
		{[]string{"--forward-ca", notPEM}, "--forward-ca " + notPEM + ": no PEM certificate in it"},
		{[]string{"--forward-ca", notPEM, "--forward-insecure"}, "contradict"},
		{[]string{"--forward-cert", certFile}, "--forward-cert and --forward-key go together"},
		{[]string{"--forward-cert", certFile, "--forward-key", certFile}, "--forward-cert and --forward-key: tls:"},
		{[]string{"--forward-cert", keyFile, "--forward-key", keyFile}, "--forward-cert and --forward-key: tls:"},
	} {
		r := start(t, listenArgs(srv, wsID, "https://127.0.0.1:1/", append([]string{"--no-spool"}, tc.flags...)...)...)
		if err := r.wait(t, 10*time.Second); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: listen ended with %v, want %q", tc.flags, err, tc.want)
		}
	}
	if n := srv.Handshakes(); n != 0 {
		t.Errorf("listen connected %d times before refusing its TLS flags", n)
	}
}

// TestDoctorForwardTLS: doctor checks an https handler as listen POSTs to
// it: with --forward-ca its certificate is trusted; without, the fix says
// to give it, not to start a handler that is running. One that asks for a
// client certificate is ok with --forward-cert, and without it the fix
// names that flag.
func TestDoctorForwardTLS(t *testing.T) {
	h := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer h.Close()
	caFile := writePEM(t, t.TempDir(), "handler.pem", "CERTIFICATE", h.Certificate().Raw)
	srv := newFake(t, dialpadtest.Config{})
	ws := srv.AddWebsocket("s")
	if _, err := srv.AddSubscription("call", ws, dialpadtest.SubscriptionOptions{}); err != nil {
		t.Fatal(err)
	}
	args := append(append([]string{"doctor"}, apiArgs(srv)...), "--forward-to", h.URL)
	out, err := runCmd(t, args...)
	if err == nil || !strings.Contains(out, "[FAIL] forward target") || !strings.Contains(out, "give listen (and doctor) --forward-ca") {
		t.Errorf("doctor without --forward-ca: %v\n%s\nwant the forward target failed, with the --forward-ca fix", err, out)
	}
	out, err = runCmd(t, append(args, "--forward-ca", caFile)...)
	if err != nil || !strings.Contains(out, "[ok  ] forward target") {
		t.Errorf("doctor with --forward-ca: %v\n%s\nwant the forward target ok", err, out)
	}

	// A handler that asks for a client certificate: without one, the fix
	// says to give it; it said to start the handler, which was running.
	dir := t.TempDir()
	certFile, keyFile, client := clientCert(t, dir)
	mutual := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	pool := x509.NewCertPool()
	pool.AddCert(client)
	mutual.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	mutual.StartTLS()
	defer mutual.Close()
	mutualCA := writePEM(t, dir, "mutual-ca.pem", "CERTIFICATE", mutual.Certificate().Raw)
	args = append(append([]string{"doctor"}, apiArgs(srv)...), "--forward-to", mutual.URL, "--forward-ca", mutualCA)
	out, err = runCmd(t, args...)
	if err == nil || !strings.Contains(out, "[FAIL] forward target") || !strings.Contains(out, "--forward-cert and --forward-key") {
		t.Errorf("doctor without a client certificate: %v\n%s\nwant the forward target failed, with the --forward-cert fix", err, out)
	}
	out, err = runCmd(t, append(args, "--forward-cert", certFile, "--forward-key", keyFile)...)
	if err != nil || !strings.Contains(out, "[ok  ] forward target") {
		t.Errorf("doctor with --forward-cert: %v\n%s\nwant the forward target ok", err, out)
	}
}
