package repartition

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// bannedImports keep the core pure (STYLE.md "Packages and names"): no I/O,
// no AWS, no logging. Test files may import what they like.
var bannedImports = []string{"net", "net/http", "os", "os/exec", "log", "io/ioutil"}

// bannedPrefixes ban whole module trees.
var bannedPrefixes = []string{"github.com/aws/", "github.com/rs/zerolog"}

func banned(path string) bool {
	for _, b := range bannedImports {
		if path == b {
			return true
		}
	}
	for _, p := range bannedPrefixes {
		if strings.HasPrefix(path, p) || path == strings.TrimSuffix(p, "/") {
			return true
		}
	}
	return false
}

func TestImports_BannedListMatches(t *testing.T) {
	for path, want := range map[string]bool{
		"os": true, "os/exec": true, "net": true, "net/http": true, "log": true, "io/ioutil": true,
		"github.com/aws/aws-sdk-go-v2/service/kinesis": true, "github.com/aws/smithy-go": true,
		"github.com/rs/zerolog": true, "github.com/rs/zerolog/log": true,
		"fmt": false, "strings": false, "github.com/cespare/xxhash/v2": false, "net/netip": false,
		"log/slog": false, "github.com/awsome/x": false, "osx": false,
	} {
		if banned(path) != want {
			t.Errorf("banned(%q) = %v, want %v", path, !want, want)
		}
	}
}

// TestImports_NoIO checks the non-test imports of this package and of every
// non-standard package it depends on. Standard packages are not checked:
// fmt itself imports os.
func TestImports_NoIO(t *testing.T) {
	goTool, err := exec.LookPath("go") // go test puts GOROOT/bin first in PATH
	if err != nil {
		t.Fatalf("go tool not found: %v", err)
	}
	cmd := exec.Command(goTool, "list", "-deps", "-json=ImportPath,Standard,DepOnly,Imports", ".")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	type pkg struct {
		ImportPath string
		Standard   bool
		DepOnly    bool
		Imports    []string
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	self, checked := "", 0
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if p.Standard {
			continue
		}
		if !p.DepOnly {
			self = p.ImportPath
		}
		checked++
		for _, imp := range p.Imports {
			if banned(imp) {
				t.Errorf("%s imports %s", p.ImportPath, imp)
			}
		}
	}
	if !strings.HasSuffix(self, "/repartition") {
		t.Fatalf("go list did not list package repartition (got %q)", self)
	}
	if checked < 2 {
		t.Fatalf("checked %d packages; expected repartition and xxhash at least", checked)
	}
}
