package main

import (
	"net/netip"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func pod(ns, name, node, ip string, labels map[string]string, ports ...v1.ContainerPort) v1.Pod {
	return v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec:       v1.PodSpec{NodeName: node, Containers: []v1.Container{{Name: "c", Ports: ports}}},
		Status:     v1.PodStatus{PodIP: ip, Phase: v1.PodRunning},
	}
}

func namespace(name string) v1.Namespace {
	return v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/metadata.name": name}}}
}

// The shape of the chart's own policy: PostgreSQL from labelled clients (named port), Patroni's API from the
// other members only, egress to the API server anywhere but the pod network.
func chartLikePolicy() networkingv1.NetworkPolicy {
	tcp := v1.ProtocolTCP
	return networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: "db", Name: "database"},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "pg"}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{
				{From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"client": "true"}}}},
					Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &intstr.IntOrString{Type: intstr.String, StrVal: "postgresql"}}}},
				{From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "pg"}}}},
					Ports: []networkingv1.NetworkPolicyPort{{Port: &intstr.IntOrString{IntVal: 8008}}}},
			},
			Egress: []networkingv1.NetworkPolicyEgressRule{
				{To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0", Except: []string{"10.244.0.0/16"}}}},
					Ports: []networkingv1.NetworkPolicyPort{{Port: &intstr.IntOrString{IntVal: 6443}}}},
				{To: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "pg"}}}}},
			},
		},
	}
}

func TestRulesIsolateSelectedLocalPodsOnly(t *testing.T) {
	pg := v1.ContainerPort{Name: "postgresql", ContainerPort: 5432}
	pods := []v1.Pod{
		pod("db", "pg-0", "n1", "10.244.1.5", map[string]string{"app": "pg"}, pg),
		pod("db", "pg-1", "n2", "10.244.2.5", map[string]string{"app": "pg"}, pg),
		pod("db", "app", "n2", "10.244.2.9", map[string]string{"client": "true"}),
		pod("db", "outsider", "n1", "10.244.1.9", map[string]string{"app": "other"}),
		pod("other", "labelled-elsewhere", "n1", "10.244.1.10", map[string]string{"client": "true"}),
	}
	text, chains := rules("n1", pods, []v1.Namespace{namespace("db"), namespace("other")}, []networkingv1.NetworkPolicy{chartLikePolicy()})
	in, out := chainName("I", &peerPod{namespace: "db", ip: "10.244.1.5"}), chainName("E", &peerPod{namespace: "db", ip: "10.244.1.5"})
	if len(chains) != 4 {
		t.Fatalf("chains %v: want the two top chains and pg-0's two", chains)
	}
	for _, want := range []string{
		"-A PGFLEET-NP -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN",
		"-A PGFLEET-NP -d 10.244.1.5/32 -j " + in,
		"-A PGFLEET-NP -s 10.244.1.5/32 -j " + out,
		"-A PGFLEET-NP-IN -s 10.244.1.5/32 -j " + out,
		"-A " + in + " -s 10.244.2.9/32 -p tcp -m tcp --dport 5432 -j RETURN", // the client, named port resolved
		"-A " + in + " -s 10.244.1.5/32 -p tcp -m tcp --dport 8008 -j RETURN",
		"-A " + in + " -s 10.244.2.5/32 -p tcp -m tcp --dport 8008 -j RETURN",
		"-A " + in + " -j DROP",
		"-A " + out + " -d 10.244.2.5/32 -j RETURN",
		"-A " + out + " -d 128.0.0.0/1 -p tcp -m tcp --dport 6443 -j RETURN",
		"-A " + out + " -j DROP",
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("missing %q in\n%s", want, text)
		}
	}
	for _, absent := range []string{"10.244.1.9", "10.244.1.10", "-d 10.244.2.5/32 -j PGFLEET-I", "10.244.0.0/16 -p"} {
		if strings.Contains(text, absent) {
			t.Errorf("%q must not appear (outsider, client of another namespace, a pod of another node, the excepted block):\n%s", absent, text)
		}
	}
	if !strings.HasPrefix(text, "*filter\n") || !strings.HasSuffix(text, "COMMIT\n") {
		t.Errorf("not an iptables-restore table:\n%s", text)
	}
}

func TestRulesWithoutPoliciesOnlyLetRepliesThrough(t *testing.T) {
	text, chains := rules("n1", []v1.Pod{pod("db", "a", "n1", "10.244.1.5", nil)}, nil, nil)
	if len(chains) != 2 || strings.Contains(text, "DROP") {
		t.Fatalf("an unselected pod is not isolated:\n%s", text)
	}
}

func TestAnEmptyRuleAllowsEverythingAndAnEmptyPolicyDeniesEverything(t *testing.T) {
	pods := []v1.Pod{pod("db", "a", "n1", "10.244.1.5", map[string]string{"app": "pg"})}
	allowAll := networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "db"}, Spec: networkingv1.NetworkPolicySpec{
		Ingress: []networkingv1.NetworkPolicyIngressRule{{}}}}
	text, _ := rules("n1", pods, nil, []networkingv1.NetworkPolicy{allowAll})
	in := chainName("I", &peerPod{namespace: "db", ip: "10.244.1.5"})
	if !strings.Contains(text, "-A "+in+" -j RETURN\n") {
		t.Errorf("an empty ingress rule allows all:\n%s", text)
	}
	if strings.Contains(text, "PGFLEET-E-") {
		t.Errorf("no egress rules and no policyTypes: not isolated for egress:\n%s", text)
	}
	denyAll := networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "db"}}
	text, _ = rules("n1", pods, nil, []networkingv1.NetworkPolicy{denyAll})
	if !strings.Contains(text, "-A "+in+" -j DROP\n") || strings.Contains(text, "-A "+in+" -j RETURN") {
		t.Errorf("a policy without rules isolates and allows nothing:\n%s", text)
	}
}

func TestSubtractCoversExactlyTheRest(t *testing.T) {
	parts := subtract("0.0.0.0/0", []string{"10.0.0.0/8", "192.168.1.0/24"})
	var total uint64
	for _, p := range parts {
		pp := netip.MustParsePrefix(p)
		for _, ex := range []string{"10.0.0.0/8", "192.168.1.0/24"} {
			if pp.Overlaps(netip.MustParsePrefix(ex)) {
				t.Fatalf("%s overlaps the excepted %s", p, ex)
			}
		}
		total += 1 << (32 - pp.Bits())
	}
	if want := uint64(1<<32 - 1<<24 - 1<<8); total != want {
		t.Fatalf("the parts cover %d addresses, want %d: %v", total, want, parts)
	}
	if got := subtract("10.0.0.0/8", []string{"0.0.0.0/0"}); len(got) != 0 {
		t.Fatalf("an except covering the block leaves nothing, got %v", got)
	}
}
