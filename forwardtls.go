package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/urfave/cli/v2"
)

// forwardTLSFlags are the TLS settings of the POSTs to an https handler.
func forwardTLSFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "forward-ca", Usage: "PEM file of certificate authorities to trust for an https handler, besides the system's (one with a certificate of its own, or of an internal CA)", EnvVars: []string{"DIALPAD_TUNNEL_FORWARD_CA"}},
		&cli.StringFlag{Name: "forward-cert", Usage: "PEM client certificate for an https handler that asks for one (mutual TLS); with --forward-key", EnvVars: []string{"DIALPAD_TUNNEL_FORWARD_CERT"}},
		&cli.StringFlag{Name: "forward-key", Usage: "PEM private key of --forward-cert", EnvVars: []string{"DIALPAD_TUNNEL_FORWARD_KEY"}},
		&cli.BoolFlag{Name: "forward-insecure", Usage: "do not verify an https handler's certificate (a handler of this host with a certificate of its own; prefer --forward-ca)"},
	}
}

// forwardTLS reads the TLS flags into the client configuration of the
// POSTs; nil when none is given (the system's authorities, no client
// certificate).
func forwardTLS(c *cli.Context) (*tls.Config, error) {
	ca, cert, key, insecure := c.String("forward-ca"), c.String("forward-cert"), c.String("forward-key"), c.Bool("forward-insecure")
	if ca == "" && cert == "" && key == "" && !insecure {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		if insecure {
			return nil, errors.New("--forward-ca and --forward-insecure contradict each other: the first checks the handler's certificate, the second does not")
		}
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", flagLabel(c, "forward-ca"), err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool() // none on this system: only the file's
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s %s: no PEM certificate in it (want -----BEGIN CERTIFICATE----- blocks)", flagLabel(c, "forward-ca"), ca)
		}
		cfg.RootCAs = pool
	}
	switch {
	case cert != "" && key != "":
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			// Its errors name the files' problem, never a key's bytes.
			return nil, fmt.Errorf("%s and %s: %w", flagLabel(c, "forward-cert"), flagLabel(c, "forward-key"), err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	case cert != "" || key != "":
		return nil, errors.New("--forward-cert and --forward-key go together: pass both")
	}
	cfg.InsecureSkipVerify = insecure
	return cfg, nil
}

// warnInsecureForward says, at start, that the handler's certificate is
// not checked.
func warnInsecureForward(cfg *tls.Config, log *slog.Logger) {
	if cfg != nil && cfg.InsecureSkipVerify {
		log.Warn("--forward-insecure: an https handler's certificate is not checked, so whoever answers at its address gets the events; prefer --forward-ca with the handler's certificate")
	}
}
