package main

// NetworkPolicy enforcement for the pods of this node, compiled to iptables rules in the filter table. This
// machine's kernel lacks nftables' queue expression, which kube-network-policies (and kindnetd, which embeds it)
// depend on; iptables matches are enough for what NetworkPolicy says:
//   - a pod selected by a policy of type Ingress (Egress) is isolated in that direction; traffic is allowed when
//     some rule of some selecting policy allows it, and replies of allowed connections always are;
//   - FORWARD carries pod-to-pod traffic (also between pods of one node: ptp routes through the node) after
//     kube-proxy's DNAT, so rules see the real backend; INPUT carries a pod's traffic to its own node;
//   - traffic from the node itself (kubelet probes) is not filtered, as Kubernetes requires.
// Per pod, a chain returns for allowed traffic and drops the rest; the top chains return for everything else, so
// the node's other rules (kube-proxy's) still apply.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

const (
	chainForward = "PGFLEET-NP"
	chainInput   = "PGFLEET-NP-IN"
)

// peerPod is a pod as a NetworkPolicy peer or target: its namespace, labels, IP and named ports.
type peerPod struct {
	namespace string
	labels    labels.Set
	ip        string
	ports     map[string][2]string // port name -> {protocol, number}
}

func podsOf(pods []v1.Pod) []peerPod {
	var out []peerPod
	for i := range pods {
		p := &pods[i]
		if p.Spec.HostNetwork || p.Status.PodIP == "" || p.Status.Phase == v1.PodSucceeded || p.Status.Phase == v1.PodFailed {
			continue
		}
		ports := map[string][2]string{}
		for _, c := range p.Spec.Containers {
			for _, cp := range c.Ports {
				if cp.Name != "" {
					ports[cp.Name] = [2]string{protocolOf(cp.Protocol), fmt.Sprint(cp.ContainerPort)}
				}
			}
		}
		out = append(out, peerPod{namespace: p.Namespace, labels: p.Labels, ip: p.Status.PodIP, ports: ports})
	}
	return out
}

func protocolOf(p v1.Protocol) string {
	if p == "" {
		return "tcp"
	}
	return strings.ToLower(string(p))
}

func selector(s *metav1.LabelSelector) labels.Selector {
	if s == nil {
		return labels.Nothing()
	}
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		return labels.Nothing() // an invalid selector selects nothing, as the API server would have refused it
	}
	return sel
}

func policyTypes(np *networkingv1.NetworkPolicy) (ingress, egress bool) {
	if len(np.Spec.PolicyTypes) == 0 {
		return true, len(np.Spec.Egress) > 0
	}
	for _, t := range np.Spec.PolicyTypes {
		ingress = ingress || t == networkingv1.PolicyTypeIngress
		egress = egress || t == networkingv1.PolicyTypeEgress
	}
	return ingress, egress
}

// peerSources is the CIDRs a rule's peers stand for (pods as /32); nil peers means anywhere.
func peerSources(peers []networkingv1.NetworkPolicyPeer, policyNS string, pods []peerPod, nsLabels map[string]labels.Set) ([]string, []peerPod) {
	var cidrs []string
	var matched []peerPod
	for _, peer := range peers {
		if peer.IPBlock != nil {
			for _, c := range subtract(peer.IPBlock.CIDR, peer.IPBlock.Except) {
				if !strings.Contains(c, ":") { // the pod network is IPv4 only; iptables takes IPv4
					cidrs = append(cidrs, c)
				}
			}
			continue
		}
		podSel := labels.Everything()
		if peer.PodSelector != nil {
			podSel = selector(peer.PodSelector)
		}
		for _, p := range pods {
			inNS := p.namespace == policyNS
			if peer.NamespaceSelector != nil {
				inNS = selector(peer.NamespaceSelector).Matches(nsLabels[p.namespace])
			}
			if inNS && podSel.Matches(p.labels) {
				matched = append(matched, p)
			}
		}
	}
	return cidrs, matched
}

// subtract is cidr minus the excepted CIDRs, as a list of CIDRs (IPv4 and IPv6).
func subtract(cidr string, except []string) []string {
	base, err := netip.ParsePrefix(cidr)
	if err != nil {
		return nil
	}
	parts := []netip.Prefix{base.Masked()}
	for _, e := range except {
		ex, err := netip.ParsePrefix(e)
		if err != nil {
			continue
		}
		ex = ex.Masked()
		var next []netip.Prefix
		for _, p := range parts {
			next = append(next, without(p, ex)...)
		}
		parts = next
	}
	out := make([]string, 0, len(parts))
	for _, p := range parts {
		out = append(out, p.String())
	}
	return out
}

// without splits p into the largest prefixes that do not overlap ex.
func without(p, ex netip.Prefix) []netip.Prefix {
	if !p.Overlaps(ex) {
		return []netip.Prefix{p}
	}
	if ex.Bits() <= p.Bits() { // ex covers p
		return nil
	}
	lo := netip.PrefixFrom(p.Addr(), p.Bits()+1)
	hiAddr := p.Addr().AsSlice()
	bit := p.Bits()
	hiAddr[bit/8] |= 0x80 >> (bit % 8)
	hi, _ := netip.AddrFromSlice(hiAddr)
	return append(without(lo, ex), without(netip.PrefixFrom(hi, p.Bits()+1), ex)...)
}

// portMatches is the iptables matches of a rule's ports for traffic to `dst` (named ports resolve against it);
// a nil result with ok=false means no port of this rule applies to dst.
func portMatches(ports []networkingv1.NetworkPolicyPort, dst *peerPod) (matches []string, ok bool) {
	if len(ports) == 0 {
		return []string{""}, true
	}
	for _, p := range ports {
		proto := "tcp"
		if p.Protocol != nil {
			proto = protocolOf(*p.Protocol)
		}
		switch {
		case p.Port == nil:
			matches = append(matches, "-p "+proto)
		case p.Port.Type == 0: // a number
			port := fmt.Sprint(p.Port.IntVal)
			if p.EndPort != nil {
				port += ":" + fmt.Sprint(*p.EndPort)
			}
			matches = append(matches, fmt.Sprintf("-p %s -m %s --dport %s", proto, proto, port))
		default: // a name: only pods have named ports
			if dst == nil {
				continue
			}
			if np, found := dst.ports[p.Port.StrVal]; found && np[0] == proto {
				matches = append(matches, fmt.Sprintf("-p %s -m %s --dport %s", proto, proto, np[1]))
			}
		}
	}
	return matches, len(matches) > 0
}

// rules is the iptables-restore input (filter table, --noflush) for the pods of `node`, and the chains it makes.
func rules(node string, pods []v1.Pod, namespaces []v1.Namespace, policies []networkingv1.NetworkPolicy) (string, []string) {
	nsLabels := map[string]labels.Set{}
	for _, ns := range namespaces {
		nsLabels[ns.Name] = ns.Labels
	}
	all := podsOf(pods)
	var local []peerPod
	for i := range pods {
		if pods[i].Spec.NodeName == node {
			local = append(local, podsOf(pods[i:i+1])...)
		}
	}
	sort.Slice(local, func(i, j int) bool { return local[i].ip < local[j].ip })

	var b strings.Builder
	b.WriteString("*filter\n")
	chains := []string{chainForward, chainInput}
	var body []string
	jump := func(chain, match, target string) {
		body = append(body, fmt.Sprintf("-A %s %s -j %s", chain, match, target))
	}
	for _, top := range []string{chainForward, chainInput} {
		jump(top, "-m conntrack --ctstate ESTABLISHED,RELATED", "RETURN")
	}
	for i := range local {
		target := &local[i]
		var inRules, outRules []string
		var inIsolated, outIsolated bool
		for j := range policies {
			np := &policies[j]
			if np.Namespace != target.namespace || !selector(&np.Spec.PodSelector).Matches(target.labels) {
				continue
			}
			in, out := policyTypes(np)
			inIsolated, outIsolated = inIsolated || in, outIsolated || out
			if in {
				for _, r := range np.Spec.Ingress {
					ports, ok := portMatches(r.Ports, target)
					if !ok {
						continue
					}
					var sources []string
					if len(r.From) == 0 {
						sources = []string{""}
					} else {
						cidrs, peers := peerSources(r.From, np.Namespace, all, nsLabels)
						sources = append(sources, prefixed("-s ", cidrs)...)
						for _, p := range peers {
							sources = append(sources, "-s "+p.ip+"/32")
						}
					}
					for _, s := range sources {
						for _, pm := range ports {
							inRules = append(inRules, strings.TrimSpace(s+" "+pm))
						}
					}
				}
			}
			if out {
				for _, r := range np.Spec.Egress {
					if len(r.To) == 0 {
						ports, ok := portMatches(r.Ports, nil)
						if ok {
							outRules = append(outRules, ports...)
						}
						continue
					}
					cidrs, peers := peerSources(r.To, np.Namespace, all, nsLabels)
					if ports, ok := portMatches(r.Ports, nil); ok {
						for _, c := range prefixed("-d ", cidrs) {
							for _, pm := range ports {
								outRules = append(outRules, strings.TrimSpace(c+" "+pm))
							}
						}
					}
					for k := range peers {
						ports, ok := portMatches(r.Ports, &peers[k])
						if !ok {
							continue
						}
						for _, pm := range ports {
							outRules = append(outRules, strings.TrimSpace("-d "+peers[k].ip+"/32 "+pm))
						}
					}
				}
			}
		}
		if inIsolated {
			c := chainName("I", target)
			chains = append(chains, c)
			jump(chainForward, "-d "+target.ip+"/32", c)
			for _, r := range dedupe(inRules) {
				jump(c, r, "RETURN")
			}
			body = append(body, "-A "+c+" -j DROP")
		}
		if outIsolated {
			c := chainName("E", target)
			chains = append(chains, c)
			jump(chainForward, "-s "+target.ip+"/32", c)
			jump(chainInput, "-s "+target.ip+"/32", c)
			for _, r := range dedupe(outRules) {
				jump(c, r, "RETURN")
			}
			body = append(body, "-A "+c+" -j DROP")
		}
	}
	for _, c := range chains {
		fmt.Fprintf(&b, ":%s - [0:0]\n", c)
	}
	for _, l := range body {
		b.WriteString(strings.ReplaceAll(l, "  ", " ") + "\n")
	}
	b.WriteString("COMMIT\n")
	return b.String(), chains
}

func chainName(dir string, p *peerPod) string {
	h := sha256.Sum256([]byte(p.namespace + "/" + p.ip))
	return "PGFLEET-" + dir + "-" + hex.EncodeToString(h[:])[:12]
}

func prefixed(prefix string, xs []string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = prefix + x
	}
	return out
}

func dedupe(xs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
