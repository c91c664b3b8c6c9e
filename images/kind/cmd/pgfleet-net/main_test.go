package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
)

func TestConflistUsesThePodCIDRAndNoMasquerade(t *testing.T) {
	data, err := conflist("10.244.2.0/24", 1400)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Plugins []struct {
			Type   string `json:"type"`
			IPMasq *bool  `json:"ipMasq"`
			MTU    int    `json:"mtu"`
			IPAM   struct {
				Ranges [][]struct{ Subnet string } `json:"ranges"`
			} `json:"ipam"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Plugins) != 2 || c.Plugins[0].Type != "ptp" || c.Plugins[1].Type != "portmap" {
		t.Fatalf("plugins: %s", data)
	}
	p := c.Plugins[0]
	if p.IPMasq == nil || *p.IPMasq || p.MTU != 1400 || p.IPAM.Ranges[0][0].Subnet != "10.244.2.0/24" {
		t.Fatalf("ptp plugin: %s", data)
	}
}

func TestWriteConfOnlyRewritesAChangedConfiguration(t *testing.T) {
	dir := t.TempDir()
	if err := writeConf(dir, "10.244.0.0/24", 1500); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "10-pgfleet.conflist")
	// Mark the file: a rewrite would replace it with a new one.
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeConf(dir, "10.244.0.0/24", 1500); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatal("an unchanged configuration was rewritten")
	}
	if err := writeConf(dir, "10.244.1.0/24", 1500); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if !json.Valid(data) || !strings.Contains(string(data), "10.244.1.0/24") {
		t.Fatalf("changed configuration not written: %s", data)
	}
}

func TestInternalIPv4SkipsOtherAddressTypesAndIPv6(t *testing.T) {
	n := &v1.Node{Status: v1.NodeStatus{Addresses: []v1.NodeAddress{
		{Type: v1.NodeHostName, Address: "10.0.0.9"},
		{Type: v1.NodeInternalIP, Address: "fc00::2"},
		{Type: v1.NodeInternalIP, Address: "172.18.0.3"},
	}}}
	if ip := internalIPv4(n); ip == nil || ip.String() != "172.18.0.3" {
		t.Fatalf("got %v", ip)
	}
	if ip := internalIPv4(&v1.Node{}); ip != nil {
		t.Fatalf("got %v for a node without addresses", ip)
	}
}

func TestMasqueradeLeavesPodTrafficAloneAndNATsTheRest(t *testing.T) {
	node := func(name, cidr string) v1.Node {
		n := v1.Node{}
		n.Name, n.Spec.PodCIDR = name, cidr
		return n
	}
	nodes := []v1.Node{node("w2", "10.244.2.0/24"), node("cp", "10.244.0.0/24"), node("w1", "10.244.1.0/24"), node("new", "")}
	want := "*nat\n:PGFLEET-MASQ - [0:0]\n" +
		"-A PGFLEET-MASQ -d 10.244.0.0/24 -j RETURN\n-A PGFLEET-MASQ -d 10.244.1.0/24 -j RETURN\n-A PGFLEET-MASQ -d 10.244.2.0/24 -j RETURN\n" +
		"-A PGFLEET-MASQ -j MASQUERADE\nCOMMIT\n"
	if got := masqRules("w1", nodes); got != want {
		t.Fatalf("masqRules:\n%s\nwant:\n%s", got, want)
	}
	if got := masqRules("new", nodes); got != "" {
		t.Fatalf("a node without a pod CIDR masquerades nothing yet, got:\n%s", got)
	}
}
