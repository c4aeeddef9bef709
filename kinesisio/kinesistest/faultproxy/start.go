package faultproxy

import "testing"

// Start runs a proxy in front of upstream on a free loopback port for the
// duration of the test, closing it at cleanup; its URL is p.URL(). A
// failed test logs the seed, to repeat the run with Options.Seed.
func Start(t testing.TB, upstream string, opts Options) *Proxy {
	t.Helper()
	p, err := New(upstream, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.Close()
		if t.Failed() {
			t.Logf("faultproxy seed %d", p.Seed())
		}
	})
	return p
}
