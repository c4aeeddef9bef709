package deploy

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// cfnTemplate is deploy/aws/cloudformation.yaml decoded, short tags
// (!Ref, !Sub, !GetAtt, !If, ...) turned into their long forms.
type cfnTemplate struct {
	Parameters map[string]map[string]any
	Conditions map[string]any
	Resources  map[string]cfnResource
	Outputs    map[string]map[string]any
	Rules      map[string]any
}

type cfnResource struct {
	Type       string
	Condition  string
	DependsOn  any
	Properties map[string]any
	Metadata   map[string]any
}

func readTemplate(t *testing.T) cfnTemplate {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(), "deploy", "aws", "cloudformation.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		t.Fatalf("cloudformation.yaml: %v", err)
	}
	v, err := cfnValue(&root)
	if err != nil {
		t.Fatalf("cloudformation.yaml: %v", err)
	}
	// Round-trip through JSON into the typed view: the template as
	// CloudFormation's JSON form would read.
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var tpl cfnTemplate
	if err := json.Unmarshal(j, &tpl); err != nil {
		t.Fatalf("cloudformation.yaml: %v", err)
	}
	return tpl
}

// cfnValue decodes a YAML node, mapping CloudFormation's short tags to the
// long forms: !Ref X → {"Ref": X}, !GetAtt A.B → {"Fn::GetAtt": [A, B]},
// !Condition X → {"Condition": X}, !Other V → {"Fn::Other": V}.
func cfnValue(n *yaml.Node) (any, error) {
	var v any
	switch n.Kind {
	case yaml.DocumentNode:
		return cfnValue(n.Content[0])
	case yaml.AliasNode:
		return cfnValue(n.Alias)
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if _, dup := m[k]; dup {
				return nil, fmt.Errorf("line %d: key %s twice", n.Content[i].Line, k)
			}
			val, err := cfnValue(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k] = val
		}
		v = m
	case yaml.SequenceNode:
		s := []any{}
		for _, c := range n.Content {
			val, err := cfnValue(c)
			if err != nil {
				return nil, err
			}
			s = append(s, val)
		}
		v = s
	case yaml.ScalarNode:
		if !strings.HasPrefix(n.Tag, "!") || n.Tag == "!!str" {
			if err := n.Decode(&v); err != nil {
				return nil, err
			}
		} else {
			v = n.Value
		}
	}
	if !strings.HasPrefix(n.Tag, "!") || strings.HasPrefix(n.Tag, "!!") {
		return v, nil
	}
	switch tag := n.Tag[1:]; tag {
	case "Ref", "Condition":
		return map[string]any{tag: v}, nil
	case "GetAtt":
		if s, ok := v.(string); ok {
			res, attr, _ := strings.Cut(s, ".")
			v = []any{res, attr}
		}
		return map[string]any{"Fn::GetAtt": v}, nil
	default:
		return map[string]any{"Fn::" + tag: v}, nil
	}
}

// cfnEval resolves a template value for one set of parameter values:
// conditions and Fn::If are decided, AWS::NoValue dropped, parameters
// substituted; resources stay symbolic ("Ref:X", "GetAtt:X.Arn").
type cfnEval struct {
	tpl    cfnTemplate
	params map[string]string
}

// noValue marks AWS::NoValue, removed from the enclosing list or map.
type noValue struct{}

func (e cfnEval) cond(name string) bool {
	c, ok := e.tpl.Conditions[name]
	if !ok {
		panic("unknown condition " + name)
	}
	return e.truth(c)
}

func (e cfnEval) truth(v any) bool {
	m := v.(map[string]any)
	switch {
	case m["Fn::Equals"] != nil:
		a := m["Fn::Equals"].([]any)
		return fmt.Sprint(e.value(a[0])) == fmt.Sprint(e.value(a[1]))
	case m["Fn::Not"] != nil:
		return !e.truth(m["Fn::Not"].([]any)[0])
	case m["Condition"] != nil:
		return e.cond(m["Condition"].(string))
	}
	panic(fmt.Sprintf("condition %v", v))
}

func (e cfnEval) value(v any) any {
	switch v := v.(type) {
	case []any:
		out := []any{}
		for _, x := range v {
			if r := e.value(x); r != (noValue{}) {
				out = append(out, r)
			}
		}
		return out
	case map[string]any:
		if len(v) == 1 {
			for k, arg := range v {
				switch k {
				case "Ref":
					name := arg.(string)
					if name == "AWS::NoValue" {
						return noValue{}
					}
					if p, ok := e.params[name]; ok {
						return p
					}
					return "Ref:" + name
				case "Fn::GetAtt":
					a := arg.([]any)
					return fmt.Sprintf("GetAtt:%s.%s", a[0], a[1])
				case "Fn::If":
					a := arg.([]any)
					if e.cond(a[0].(string)) {
						return e.value(a[1])
					}
					return e.value(a[2])
				case "Fn::Sub":
					s := arg.(string)
					for p, val := range e.params {
						s = strings.ReplaceAll(s, "${"+p+"}", val)
					}
					return s
				case "Fn::Select":
					a := arg.([]any)
					i, _ := strconv.Atoi(fmt.Sprint(a[0]))
					list, ok := e.value(a[1]).([]any)
					if !ok || i >= len(list) {
						return fmt.Sprintf("Select(%v)", a)
					}
					return list[i]
				case "Fn::Split":
					a := arg.([]any)
					s, _ := e.value(a[1]).(string)
					parts := []any{}
					for _, p := range strings.Split(s, a[0].(string)) {
						parts = append(parts, p)
					}
					return parts
				}
			}
		}
		out := map[string]any{}
		for k, x := range v {
			if r := e.value(x); r != (noValue{}) {
				out[k] = r
			}
		}
		return out
	}
	return v
}

// evalWith resolves the template for the parameter defaults overridden by
// set; pseudo parameters get fixed values.
func evalWith(t *testing.T, tpl cfnTemplate, set map[string]string) cfnEval {
	t.Helper()
	p := map[string]string{"AWS::Region": "eu-west-1", "AWS::AccountId": "123456789012",
		"AWS::Partition": "aws", "AWS::StackName": "stack"}
	for name, def := range tpl.Parameters {
		if d, ok := def["Default"]; ok {
			p[name] = fmt.Sprint(d)
		}
	}
	for k, v := range set {
		if _, ok := tpl.Parameters[k]; !ok {
			t.Fatalf("no parameter %s", k)
		}
		p[k] = v
	}
	for name := range tpl.Parameters {
		if _, ok := p[name]; !ok {
			t.Fatalf("parameter %s has no default and no test value", name)
		}
	}
	return cfnEval{tpl: tpl, params: p}
}

// required are test values of the parameters without defaults.
var required = map[string]string{
	"ImageUri":        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/repartd:v1",
	"SourceStreamArn": "arn:aws:kinesis:eu-west-1:123456789012:stream/dms-cdc",
	"VpcId":           "vpc-1",
	"Subnets":         "subnet-a,subnet-b",
}

func with(extra map[string]string) map[string]string {
	m := maps.Clone(required)
	maps.Copy(m, extra)
	return m
}

// resource returns a resource's properties, resolved, if it exists under e.
func (e cfnEval) resource(t *testing.T, name string) (map[string]any, bool) {
	t.Helper()
	r, ok := e.tpl.Resources[name]
	if !ok {
		t.Fatalf("no resource %s", name)
	}
	if r.Condition != "" && !e.cond(r.Condition) {
		return nil, false
	}
	return e.value(r.Properties).(map[string]any), true
}

func TestCloudFormation_EveryReferenceResolves(t *testing.T) {
	tpl := readTemplate(t)
	pseudo := []string{"AWS::Region", "AWS::AccountId", "AWS::Partition", "AWS::StackName", "AWS::NoValue"}
	var walk func(where string, v any)
	walk = func(where string, v any) {
		switch v := v.(type) {
		case []any:
			for _, x := range v {
				walk(where, x)
			}
		case map[string]any:
			for k, x := range v {
				switch k {
				case "Ref":
					name := x.(string)
					_, p := tpl.Parameters[name]
					_, r := tpl.Resources[name]
					if !p && !r && !slices.Contains(pseudo, name) {
						t.Errorf("%s: !Ref %s: no such parameter or resource", where, name)
					}
				case "Fn::GetAtt":
					if _, ok := tpl.Resources[x.([]any)[0].(string)]; !ok {
						t.Errorf("%s: !GetAtt %v: no such resource", where, x)
					}
				case "Fn::If", "Condition": // an IAM statement's Condition is a map, not a name
					name, isName := x.(string)
					if k == "Fn::If" {
						name, isName = x.([]any)[0].(string), true
					}
					if _, exists := tpl.Conditions[name]; isName && !exists {
						t.Errorf("%s: condition %v does not exist", where, x)
					}
				}
				walk(where, x)
			}
		}
	}
	for name, r := range tpl.Resources {
		walk(name, r.Properties)
		walk(name, r.Metadata)
		if r.Condition != "" {
			if _, ok := tpl.Conditions[r.Condition]; !ok {
				t.Errorf("%s: condition %s does not exist", name, r.Condition)
			}
		}
	}
	walk("Outputs", tpl.Outputs)
	walk("Conditions", tpl.Conditions)
	walk("Rules", tpl.Rules)
}

func TestCloudFormation_OneFargateTaskWithTheImageContract(t *testing.T) {
	tpl := readTemplate(t)
	for _, storage := range []string{"efs", "ephemeral"} {
		t.Run(storage, func(t *testing.T) {
			e := evalWith(t, tpl, with(map[string]string{"CheckpointStorage": storage}))
			dst, _ := e.resource(t, "DestStream")
			if dst["StreamModeDetails"].(map[string]any)["StreamMode"] != "ON_DEMAND" {
				t.Errorf("destination stream mode %v, want ON_DEMAND", dst["StreamModeDetails"])
			}
			lg, _ := e.resource(t, "LogGroup")
			if lg["RetentionInDays"] == nil {
				t.Error("log group without retention")
			}
			svc, _ := e.resource(t, "Service")
			dc := svc["DeploymentConfiguration"].(map[string]any)
			if fmt.Sprint(svc["DesiredCount"]) != "1" || svc["LaunchType"] != "FARGATE" ||
				fmt.Sprint(dc["MaximumPercent"]) != "100" || fmt.Sprint(dc["MinimumHealthyPercent"]) != "0" {
				t.Errorf("service %v: want one Fargate task, never two at once (MaximumPercent 100, MinimumHealthyPercent 0)", svc)
			}
			td, _ := e.resource(t, "TaskDefinition")
			if !reflect.DeepEqual(td["RequiresCompatibilities"], []any{"FARGATE"}) {
				t.Errorf("task definition compatibilities %v", td["RequiresCompatibilities"])
			}
			if td["TaskRoleArn"] != "GetAtt:TaskRole.Arn" {
				t.Errorf("task role %v, want TaskRole", td["TaskRoleArn"])
			}
			cds := td["ContainerDefinitions"].([]any)
			if len(cds) != 1 {
				t.Fatalf("%d containers, want 1", len(cds))
			}
			c := cds[0].(map[string]any)
			if !reflect.DeepEqual(c["Command"], []any{"run"}) {
				t.Errorf("command %v, want [run]", c["Command"])
			}
			hc := c["HealthCheck"].(map[string]any)["Command"]
			if want := append([]any{"CMD"}, anys(dockerHealthcheck(t))...); !reflect.DeepEqual(hc, want) {
				t.Errorf("health check %v, want the image's %v", hc, want)
			}
			stop, _ := strconv.Atoi(fmt.Sprint(c["StopTimeout"]))
			drain, err := time.ParseDuration(flagDefault(t, "drain-timeout", "run"))
			if err != nil || time.Duration(stop)*time.Second <= drain {
				t.Errorf("StopTimeout %d s must outlast --drain-timeout %v (%v), or SIGKILL cuts the drain", stop, drain, err)
			}
			env := map[string]string{}
			for _, kv := range c["Environment"].([]any) {
				m := kv.(map[string]any)
				env[m["Name"].(string)] = fmt.Sprint(m["Value"])
			}
			flags := flagEnv(t, "run")
			for k := range env {
				if strings.HasPrefix(k, "REPARTD_") && !flags[k] {
					t.Errorf("%s is not a flag of repartd run", k)
				}
			}
			if env["REPARTD_SOURCE"] != "dms-cdc" || env["REPARTD_DEST"] != "Ref:DestStream" || env["REPARTD_CHECKPOINT"] != checkpointDir {
				t.Errorf("environment %v: want source from the ARN, the created destination, checkpoint in %s", env, checkpointDir)
			}
			mp := c["MountPoints"].([]any)[0].(map[string]any)
			vols := td["Volumes"].([]any)
			if mp["ContainerPath"] != checkpointDir || len(vols) != 1 || vols[0].(map[string]any)["Name"] != mp["SourceVolume"] {
				t.Errorf("mount %v over volumes %v: want the checkpoint volume on %s", mp, vols, checkpointDir)
			}
			_, efs := vols[0].(map[string]any)["EFSVolumeConfiguration"]
			if efs != (storage == "efs") {
				t.Errorf("storage %s: EFS volume %v", storage, efs)
			}
			if ap, ok := e.resource(t, "CheckpointAccessPoint"); ok {
				if u := ap["PosixUser"].(map[string]any); u["Uid"] != "65532" || u["Gid"] != "65532" {
					t.Errorf("access point user %v, want the image's nonroot 65532", u)
				}
			}
		})
	}
}

func anys(s []string) []any {
	out := make([]any, len(s))
	for i, x := range s {
		out[i] = x
	}
	return out
}

// policyStatement is one IAM statement, normalized for comparison.
type policyStatement struct {
	Sid       string
	Actions   []string // sorted
	Resource  string
	Condition string // JSON, "" for none
}

func normalizeStatements(t *testing.T, stmts []any, resources map[string]string) map[string]policyStatement {
	t.Helper()
	out := map[string]policyStatement{}
	for _, s := range stmts {
		m := s.(map[string]any)
		if m["Effect"] != "Allow" {
			t.Errorf("statement %v: only Allow statements expected", m)
		}
		var acts []string
		switch a := m["Action"].(type) {
		case string:
			acts = []string{a}
		case []any:
			for _, x := range a {
				acts = append(acts, x.(string))
			}
		}
		slices.Sort(acts)
		res := fmt.Sprint(m["Resource"])
		if r, ok := resources[res]; ok {
			res = r
		}
		cond := ""
		if c, ok := m["Condition"]; ok {
			b, _ := json.Marshal(c)
			cond = strings.NewReplacer("eu-west-1", "REGION").Replace(string(b))
		}
		sid, _ := m["Sid"].(string)
		if _, dup := out[sid]; dup || sid == "" {
			t.Errorf("statement Sid %q missing or twice", sid)
		}
		out[sid] = policyStatement{Sid: sid, Actions: acts, Resource: res, Condition: cond}
	}
	return out
}

func readPolicy(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(), "deploy", "iam", name))
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return p
}

// TestCloudFormation_TaskRoleIsTheIAMPolicy: under every combination of
// the optional parameters, the task role is repartd-policy.json (without
// the dead-letter statement when there is no dead-letter stream), plus the
// KMS statements of repartd-kms-policy.json exactly when their keys are
// given, plus the EFS mount exactly when the checkpoint is on EFS.
func TestCloudFormation_TaskRoleIsTheIAMPolicy(t *testing.T) {
	tpl := readTemplate(t)
	file := normalizeStatements(t, readPolicy(t, "repartd-policy.json")["Statement"].([]any), map[string]string{})
	kms := normalizeStatements(t, readPolicy(t, "repartd-kms-policy.json")["Statement"].([]any), map[string]string{})
	// The template's resources, named as the policy files name them.
	names := map[string]string{
		required["SourceStreamArn"]:                         "arn:aws:kinesis:REGION:ACCOUNT_ID:stream/SOURCE_STREAM",
		"GetAtt:DestStream.Arn":                             "arn:aws:kinesis:REGION:ACCOUNT_ID:stream/DEST_STREAM",
		"GetAtt:DeadLetterStream.Arn":                       "arn:aws:kinesis:REGION:ACCOUNT_ID:stream/DLQ_STREAM",
		"arn:aws:kms:eu-west-1:123456789012:key/source-key": "SOURCE_KMS_KEY_ARN",
		"arn:aws:kms:eu-west-1:123456789012:key/dest-key":   "DEST_KMS_KEY_ARN",
	}
	for _, dlq := range []string{"", "dms-cdc-dlq"} {
		for _, srcKey := range []string{"", "arn:aws:kms:eu-west-1:123456789012:key/source-key"} {
			for _, dstKey := range []string{"", "arn:aws:kms:eu-west-1:123456789012:key/dest-key"} {
				for _, storage := range []string{"efs", "ephemeral"} {
					name := fmt.Sprintf("dlq=%t,srckey=%t,dstkey=%t,%s", dlq != "", srcKey != "", dstKey != "", storage)
					t.Run(name, func(t *testing.T) {
						e := evalWith(t, tpl, with(map[string]string{"DeadLetterStreamName": dlq,
							"SourceKmsKeyArn": srcKey, "DestKmsKeyArn": dstKey, "CheckpointStorage": storage}))
						role, _ := e.resource(t, "TaskRole")
						pols := role["Policies"].([]any)
						if len(pols) != 1 || len(role) != 2 {
							t.Fatalf("task role %v: want one inline policy and nothing else (no managed policies)", role)
						}
						got := normalizeStatements(t, pols[0].(map[string]any)["PolicyDocument"].(map[string]any)["Statement"].([]any), names)
						want := map[string]policyStatement{"ReadSource": file["ReadSource"], "WriteDestination": file["WriteDestination"]}
						if dlq != "" {
							want["WriteDeadLetter"] = file["WriteDeadLetter"]
						}
						if srcKey != "" {
							want["DecryptSource"] = kms["DecryptSource"]
						}
						if dstKey != "" {
							want["EncryptDestination"] = kms["EncryptDestination"]
						}
						efs, hasEFS := got["MountCheckpoint"]
						delete(got, "MountCheckpoint")
						if hasEFS != (storage == "efs") || hasEFS && (!slices.Equal(efs.Actions, []string{"elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"}) ||
							efs.Resource != "GetAtt:CheckpointFileSystem.Arn" || !strings.Contains(efs.Condition, "GetAtt:CheckpointAccessPoint.Arn")) {
							t.Errorf("storage %s: EFS statement %+v", storage, efs)
						}
						if !reflect.DeepEqual(got, want) {
							t.Errorf("task role statements\n  %+v\nwant (deploy/iam)\n  %+v", got, want)
						}
					})
				}
			}
		}
	}
}

// TestCloudFormation_FiltersAndAlarmsAreDeployCloudWatch: the template's
// metric filters and alarms are the ones in deploy/cloudwatch/.
func TestCloudFormation_FiltersAndAlarmsAreDeployCloudWatch(t *testing.T) {
	tpl := readTemplate(t)
	e := evalWith(t, tpl, required)
	var filters []metricFilter
	readJSON(t, "cloudwatch/metric-filters.json", &filters)
	var alarms []map[string]any
	readJSON(t, "cloudwatch/alarms.json", &alarms)

	byName := map[string]map[string]any{}
	for name, r := range tpl.Resources {
		p, _ := e.resource(t, name)
		switch r.Type {
		case "AWS::Logs::MetricFilter":
			byName[p["FilterName"].(string)] = p
			if p["LogGroupName"] != "Ref:LogGroup" {
				t.Errorf("%s filters %v, want the service's log group", name, p["LogGroupName"])
			}
		case "AWS::CloudWatch::Alarm":
			byName[strings.TrimPrefix(p["AlarmName"].(string), "stack-")] = p
		}
	}
	if len(byName) != len(filters)+len(alarms) {
		t.Errorf("template has %d filters and alarms, deploy/cloudwatch %d", len(byName), len(filters)+len(alarms))
	}
	for _, f := range filters {
		p := byName[f.FilterName]
		if p == nil {
			t.Errorf("template lacks metric filter %s", f.FilterName)
			continue
		}
		if p["FilterPattern"] != f.FilterPattern {
			t.Errorf("%s: pattern %q, deploy/cloudwatch %q", f.FilterName, p["FilterPattern"], f.FilterPattern)
		}
		mts := p["MetricTransformations"].([]any)
		if len(mts) != len(f.MetricTransformations) {
			t.Errorf("%s: %d transformations, want %d", f.FilterName, len(mts), len(f.MetricTransformations))
			continue
		}
		for i, want := range f.MetricTransformations {
			got := mts[i].(map[string]any)
			dims := map[string]string{}
			for _, d := range got["Dimensions"].([]any) {
				dims[d.(map[string]any)["Key"].(string)] = d.(map[string]any)["Value"].(string)
			}
			if got["MetricName"] != want.MetricName || got["MetricNamespace"] != want.MetricNamespace ||
				got["MetricValue"] != want.MetricValue || got["Unit"] != want.Unit || !maps.Equal(dims, want.Dimensions) {
				t.Errorf("%s: transformation %v, deploy/cloudwatch %+v", f.FilterName, got, want)
			}
		}
	}
	for _, a := range alarms {
		name := a["AlarmName"].(string)
		p := byName[name]
		if p == nil {
			t.Errorf("template lacks alarm %s", name)
			continue
		}
		for k, want := range a {
			got := p[k]
			switch k {
			case "AlarmName":
				continue
			case "Dimensions": // SOURCE_STREAM: the stream named by SourceStreamArn
				want = strings.ReplaceAll(fmt.Sprint(want), "SOURCE_STREAM", "dms-cdc")
				got = fmt.Sprint(got)
			case "Threshold": // a parameter whose default is the file's value
				want = fmt.Sprint(want)
				got = fmt.Sprint(got)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("alarm %s: %s = %v, deploy/cloudwatch %v", name, k, got, want)
			}
		}
	}
}

type metricFilter struct {
	FilterName            string `json:"filterName"`
	FilterPattern         string `json:"filterPattern"`
	MetricTransformations []struct {
		MetricName      string            `json:"metricName"`
		MetricNamespace string            `json:"metricNamespace"`
		MetricValue     string            `json:"metricValue"`
		Dimensions      map[string]string `json:"dimensions"`
		Unit            string            `json:"unit"`
	} `json:"metricTransformations"`
}

func readJSON(t *testing.T, rel string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(), "deploy", rel))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
}
