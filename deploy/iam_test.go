package deploy

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/repartd/repartd/kinesisio"
)

// resource roles: the policy's placeholder per stream.
var roleOfResource = map[string]string{
	"arn:aws:kinesis:REGION:ACCOUNT_ID:stream/SOURCE_STREAM": "source",
	"arn:aws:kinesis:REGION:ACCOUNT_ID:stream/DEST_STREAM":   "destination",
	"arn:aws:kinesis:REGION:ACCOUNT_ID:stream/DLQ_STREAM":    "dead-letter",
}

// granted reads deploy/iam/repartd-policy.json: role → actions.
func granted(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, s := range normalizeStatements(t, readPolicy(t, "repartd-policy.json")["Statement"].([]any), nil) {
		role, ok := roleOfResource[s.Resource]
		if !ok {
			t.Fatalf("statement %s: resource %s is none of the streams %v", s.Sid, s.Resource, slices.Sorted(maps.Keys(roleOfResource)))
		}
		if s.Condition != "" {
			t.Errorf("statement %s has a condition; the test cannot judge it", s.Sid)
		}
		out[role] = slices.Sorted(slices.Values(append(out[role], s.Actions...)))
	}
	return out
}

// TestIAM_PolicyIsExactlyWhatTheRelayCalls: the real binary, run against
// kinesalite with a dead-letter stream, starts exactly the operations the
// policy grants on each stream: none missing (AccessDenied in production),
// none extra (not least privilege).
func TestIAM_PolicyIsExactlyWhatTheRelayCalls(t *testing.T) {
	run := recordedRelay(t)
	streamRole := map[string]string{srcStream: "source", dstStream: "destination", dlqStream: "dead-letter"}
	called := map[string][]string{}
	for _, c := range run.calls {
		if c.Service != "Kinesis" {
			t.Errorf("call %+v: repartd run should only call Kinesis", c)
			continue
		}
		role := streamRole[c.Stream]
		switch {
		case c.Stream == "" && c.Client == "source":
			role = "source" // GetRecords names only an iterator; the source client reads only the source
		case c.Stream == "":
			t.Errorf("call %+v names no stream: cannot tell which policy statement covers it", c)
			continue
		case role == "":
			t.Errorf("call %+v on a stream the test did not create", c)
			continue
		}
		if (c.Client == "source") != (role == "source") {
			t.Errorf("call %+v: the %s client touched the %s stream", c, c.Client, role)
		}
		called[role] = append(called[role], "kinesis:"+c.Operation)
	}
	for role := range called {
		called[role] = slices.Compact(slices.Sorted(slices.Values(called[role])))
	}
	t.Logf("recorded: %v", called)
	grants := granted(t)
	for _, role := range []string{"source", "destination", "dead-letter"} {
		for _, a := range called[role] {
			if !slices.Contains(grants[role], a) {
				t.Errorf("repartd-policy.json lacks %s on the %s stream, which repartd run calls", a, role)
			}
		}
		for _, a := range grants[role] {
			if !slices.Contains(called[role], a) {
				t.Errorf("repartd-policy.json grants %s on the %s stream, which repartd run never called", a, role)
			}
		}
	}
}

// TestIAM_PolicyCoversTheRelaysClientInterfaces: the relay reaches AWS
// only through kinesisio.Source and kinesisio.Destination (NewRelay's
// parameters); each method is an operation the policy must grant. A new
// method fails here even if the recorded run never reached it.
func TestIAM_PolicyCoversTheRelaysClientInterfaces(t *testing.T) {
	nr := reflect.TypeOf(kinesisio.NewRelay)
	srcT, dstT := reflect.TypeFor[kinesisio.Source](), reflect.TypeFor[kinesisio.Destination]()
	if nr.NumIn() < 3 || nr.In(1) != srcT || nr.In(2) != dstT {
		t.Fatalf("NewRelay is %v: want (cfg, kinesisio.Source, kinesisio.Destination, ...); update this test", nr)
	}
	grants := granted(t)
	methods := func(it reflect.Type) []string {
		var m []string
		for i := range it.NumMethod() {
			m = append(m, "kinesis:"+it.Method(i).Name)
		}
		return m
	}
	if src := methods(srcT); !slices.Equal(src, grants["source"]) {
		t.Errorf("kinesisio.Source has %v, the policy grants %v on the source", src, grants["source"])
	}
	if dst := methods(dstT); !slices.Equal(dst, grants["destination"]) {
		t.Errorf("kinesisio.Destination has %v, the policy grants %v on the destination", dst, grants["destination"])
	}
	for _, a := range grants["dead-letter"] {
		if !slices.Contains(methods(dstT), a) {
			t.Errorf("the policy grants %s on the dead-letter stream, which the destination client cannot call", a)
		}
	}
}

// TestIAM_KMSPolicyIsScopedToKinesis: the KMS statements (only for
// encrypted streams) grant one action each, through Kinesis only.
func TestIAM_KMSPolicyIsScopedToKinesis(t *testing.T) {
	got := normalizeStatements(t, readPolicy(t, "repartd-kms-policy.json")["Statement"].([]any), nil)
	want := map[string]string{"DecryptSource": "kms:Decrypt", "EncryptDestination": "kms:GenerateDataKey"}
	if len(got) != len(want) {
		t.Errorf("statements %v, want %v", slices.Sorted(maps.Keys(got)), want)
	}
	for sid, action := range want {
		s := got[sid]
		if !slices.Equal(s.Actions, []string{action}) || !strings.Contains(s.Condition, `"kms:ViaService":"kinesis.REGION.amazonaws.com"`) {
			t.Errorf("%s: %+v, want only %s via kinesis", sid, s, action)
		}
	}
}
