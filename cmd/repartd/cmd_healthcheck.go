package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"
)

// healthcheckTimeout bounds the whole probe; Docker's and ECS's own
// timeouts are longer, so a hung relay shows as unhealthy, not as a timeout.
const healthcheckTimeout = 2 * time.Second

// cmdHealthcheck probes the /healthz of a `repartd run` on this host: the
// container image has no shell and no curl, so its HEALTHCHECK runs this.
func cmdHealthcheck(ctx context.Context, args []string, getenv func(string) string, io stdio) error {
	fs := newFlags("healthcheck [--addr HOST:PORT]",
		"Exit 0 if `repartd run` answers GET /healthz with 200 within 2 s, else 1.\n"+
			"For container health checks: HEALTHCHECK CMD [\"/repartd\", \"healthcheck\"].", io.err)
	def := "127.0.0.1:9090" // run's --metrics-addr default
	if v := getenv(envName("metrics-addr")); v != "" {
		def = v // the container's REPARTD_METRICS_ADDR: one setting moves both
	}
	addr := fs.String("addr", def, "run's --metrics-addr (default: $REPARTD_METRICS_ADDR, else 127.0.0.1:9090); "+
		"an unspecified host (0.0.0.0, ::, none) means 127.0.0.1")
	if err := parseFlags(fs, args, getenv); err != nil {
		return usageError(err)
	}
	url, err := healthzURL(*addr)
	if err != nil {
		return usageError(err)
	}
	ctx, cancel := context.WithTimeout(ctx, healthcheckTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return usageError(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: GET %s: %s", url, resp.Status)
	}
	return nil
}

// healthzURL turns a listen address into the URL to probe it from the
// same host: a wildcard or empty host is reached on the loopback.
func healthzURL(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("addr %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz", nil
}
