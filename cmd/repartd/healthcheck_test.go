package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// healthServer serves /healthz with status on a loopback port.
func healthServer(t *testing.T, status int, delay time.Duration) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func runHealthcheck(t *testing.T, env map[string]string, args ...string) (error, string) {
	t.Helper()
	var stderr bytes.Buffer
	err := run(context.Background(), append([]string{"healthcheck"}, args...),
		func(k string) string { return env[k] }, stdio{out: &stderr, err: &stderr}, nil)
	return err, stderr.String()
}

func TestHealthcheck_ExitCodes(t *testing.T) {
	closed := func() string { // a port nothing listens on
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}()
	ok := healthServer(t, http.StatusOK, 0)
	_, port, _ := net.SplitHostPort(ok)
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		code int
	}{
		{"healthy", []string{"--addr", ok}, nil, 0},
		{"wildcard host means loopback", []string{"--addr", "0.0.0.0:" + port}, nil, 0},
		{"empty host means loopback", []string{"--addr", ":" + port}, nil, 0},
		{"follows REPARTD_METRICS_ADDR", nil, map[string]string{"REPARTD_METRICS_ADDR": "0.0.0.0:" + port}, 0},
		{"REPARTD_ADDR beats REPARTD_METRICS_ADDR", nil, map[string]string{"REPARTD_ADDR": ok, "REPARTD_METRICS_ADDR": closed}, 0},
		{"the flag beats both", []string{"--addr", ok}, map[string]string{"REPARTD_ADDR": closed}, 0},
		{"503", []string{"--addr", healthServer(t, http.StatusServiceUnavailable, 0)}, nil, 1},
		{"nothing listening", []string{"--addr", closed}, nil, 1},
		{"bad address", []string{"--addr", "no-port"}, nil, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err, out := runHealthcheck(t, tc.env, tc.args...)
			if got := exitCode(err, &bytes.Buffer{}); got != tc.code {
				t.Errorf("exit %d (%v; %s), want %d", got, err, out, tc.code)
			}
		})
	}
}

func TestHealthcheck_GivesUpAfterTwoSeconds(t *testing.T) {
	hung := healthServer(t, http.StatusOK, time.Minute)
	start := time.Now()
	err, _ := runHealthcheck(t, nil, "--addr", hung)
	if err == nil || exitCode(err, &bytes.Buffer{}) != 1 {
		t.Fatalf("hung /healthz: %v, want exit 1", err)
	}
	if d := time.Since(start); d < healthcheckTimeout || d > healthcheckTimeout+3*time.Second {
		t.Errorf("gave up after %v, want about %v", d, healthcheckTimeout)
	}
}
