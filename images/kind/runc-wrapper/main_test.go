package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// This sandbox's bounding set: everything up to CAP_CHECKPOINT_RESTORE except CAP_SYS_RESOURCE (24).
const bnd = uint64(0x1fffeffffff)

func TestAllowedDropsOnlyWhatTheBoundingSetLacks(t *testing.T) {
	in := []any{"CAP_CHOWN", "CAP_SYS_RESOURCE", "CAP_SYS_ADMIN", "cap_net_admin", "CAP_FUTURE_THING"}
	got := allowed(in, bnd)
	want := []any{"CAP_CHOWN", "CAP_SYS_ADMIN", "cap_net_admin", "CAP_FUTURE_THING"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("allowed = %v, want %v", got, want)
	}
	if got := allowed(in, ^uint64(0)); len(got) != len(in) {
		t.Fatalf("a full bounding set must keep every capability, kept %v", got)
	}
}

func TestRewriteFiltersEveryCapabilitySetOfABundleAndAProcessFile(t *testing.T) {
	dir := t.TempDir()
	caps := map[string]any{}
	for _, set := range []string{"bounding", "effective", "inheritable", "permitted", "ambient"} {
		caps[set] = []any{"CAP_KILL", "CAP_SYS_RESOURCE"}
	}
	spec := map[string]any{"ociVersion": "1.0.2", "process": map[string]any{"args": []any{"sh"}, "capabilities": caps}, "root": map[string]any{"path": "rootfs"}}
	raw, _ := json.Marshal(spec)
	config := filepath.Join(dir, "config.json")
	if err := os.WriteFile(config, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := rewrite(config, false, bnd); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	out, _ := os.ReadFile(config)
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	for set, v := range got["process"].(map[string]any)["capabilities"].(map[string]any) {
		if !reflect.DeepEqual(v, []any{"CAP_KILL"}) {
			t.Errorf("%s = %v, want [CAP_KILL]", set, v)
		}
	}
	if got["root"].(map[string]any)["path"] != "rootfs" || got["ociVersion"] != "1.0.2" {
		t.Errorf("the rest of the spec must be kept: %v", got)
	}

	process := filepath.Join(dir, "process.json")
	raw, _ = json.Marshal(map[string]any{"args": []any{"sh"}, "capabilities": map[string]any{"effective": []any{"CAP_SYS_RESOURCE", "CAP_NET_RAW"}}})
	if err := os.WriteFile(process, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := rewrite(process, true, bnd); err != nil {
		t.Fatal(err)
	}
	out, _ = os.ReadFile(process)
	var p map[string]any
	_ = json.Unmarshal(out, &p)
	if !reflect.DeepEqual(p["capabilities"].(map[string]any)["effective"], []any{"CAP_NET_RAW"}) {
		t.Errorf("exec process file not filtered: %v", p)
	}
}

func TestCommandAndFlagsAsRuncReceivesThem(t *testing.T) {
	// containerd-shim: runc --root R --log L --log-format json create --bundle B --pid-file P ID
	args := []string{"--root", "/run/r", "--log", "/l.json", "--log-format", "json", "create", "--bundle", "/b", "--pid-file", "/p", "id1"}
	cmd, at := command(args)
	if cmd != "create" || at != 6 {
		t.Fatalf("command = %q at %d", cmd, at)
	}
	if b, ok := flagValue(args[at+1:], "--bundle", "-b"); !ok || b != "/b" {
		t.Fatalf("bundle = %q %v", b, ok)
	}
	if b, ok := flagValue([]string{"--bundle=/x", "id"}, "--bundle", "-b"); !ok || b != "/x" {
		t.Fatalf("--bundle=/x: %q %v", b, ok)
	}
	args = []string{"--root", "/run/r", "exec", "--process", "/tmp/p.json", "--detach", "id1"}
	cmd, at = command(args)
	if p, ok := flagValue(args[at+1:], "--process", "-p"); cmd != "exec" || !ok || p != "/tmp/p.json" {
		t.Fatalf("exec: %q %q %v", cmd, p, ok)
	}
	if cmd, _ := command([]string{"--version"}); cmd != "" {
		t.Fatalf("no command in %q", cmd)
	}
}
