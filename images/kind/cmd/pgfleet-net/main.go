// pgfleet-net is the pod network of pgfleet's kind nodes, in the role kind's kindnetd plays (kindnetd is not
// published as a Go module, so it cannot be built here). Every kind node sits on one Docker bridge, so no overlay
// is needed: on each node it
//   - writes the CNI configuration for the node's pod CIDR (Debian's ptp, host-local and portmap plugins),
//   - keeps a route to every other node's pod CIDR via that node's InternalIP,
//   - masquerades its pods' traffic to anything outside the pod network (S3, a registry: what leaves the cluster
//     leaves with the node's address, or the answers would have no way back), as kindnetd does, and
//   - enforces NetworkPolicy for the node's pods with iptables (netpol.go).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

func main() {
	node := flag.String("node", os.Getenv("NODE_NAME"), "this node's name")
	confDir := flag.String("cni-conf-dir", "/etc/cni/net.d", "where the container runtime reads CNI configurations")
	mtu := flag.Int("mtu", 1500, "MTU of the pods' interfaces")
	resync := flag.Duration("resync", 30*time.Second, "how often everything is checked again without a change")
	flag.Parse()
	if *node == "" {
		log.Fatal("no node name: set --node or NODE_NAME")
	}
	cfg, err := rest.InClusterConfig()
	if err != nil {
		log.Fatalf("in-cluster config: %v", err)
	}
	// Watches, not polls: a new pod's address reaches the rules of the pods it talks to within a moment.
	factory := informers.NewSharedInformerFactory(kubernetes.NewForConfigOrDie(cfg), 0)
	changed := make(chan struct{}, 1)
	poke := func(any) {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	handler := cache.ResourceEventHandlerFuncs{AddFunc: poke, UpdateFunc: func(_, o any) { poke(o) }, DeleteFunc: poke}
	listers := lists{
		nodes: factory.Core().V1().Nodes().Lister(), pods: factory.Core().V1().Pods().Lister(),
		namespaces: factory.Core().V1().Namespaces().Lister(), policies: factory.Networking().V1().NetworkPolicies().Lister(),
	}
	for _, inf := range []cache.SharedIndexInformer{factory.Core().V1().Nodes().Informer(), factory.Core().V1().Pods().Informer(),
		factory.Core().V1().Namespaces().Informer(), factory.Networking().V1().NetworkPolicies().Informer()} {
		if _, err := inf.AddEventHandler(handler); err != nil {
			log.Fatal(err)
		}
	}
	stop := make(chan struct{})
	factory.Start(stop)
	factory.WaitForCacheSync(stop)
	for {
		if err := sync(listers, *node, *confDir, *mtu); err != nil {
			log.Printf("sync: %v", err)
		}
		select {
		case <-changed:
			time.Sleep(100 * time.Millisecond) // let a burst of events settle
		case <-time.After(*resync):
		}
	}
}

type lists struct {
	nodes      corelisters.NodeLister
	pods       corelisters.PodLister
	namespaces corelisters.NamespaceLister
	policies   networkinglisters.NetworkPolicyLister
}

// sync makes the CNI configuration, the routes and the policy rules match the cluster.
func sync(l lists, self, confDir string, mtu int) error {
	nodes, err := l.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	for _, n := range nodes {
		if n.Spec.PodCIDR == "" {
			continue
		}
		if n.Name == self {
			if err := writeConf(confDir, n.Spec.PodCIDR, mtu); err != nil {
				return err
			}
			continue
		}
		if err := route(n); err != nil {
			log.Printf("route to node %s: %v", n.Name, err)
		}
	}
	if err := applyMasquerade(self, deref(nodes)); err != nil {
		log.Printf("masquerade: %v", err)
	}
	pods, _ := l.pods.List(labels.Everything())
	namespaces, _ := l.namespaces.List(labels.Everything())
	policies, _ := l.policies.List(labels.Everything())
	text, chains := rules(self, deref(pods), deref(namespaces), deref(policies))
	return applyRules(text, chains)
}

func deref[T any](xs []*T) []T {
	out := make([]T, len(xs))
	for i, x := range xs {
		out[i] = *x
	}
	return out
}

var applied string

// applyRules loads the policy chains atomically when they changed, hooks them first into FORWARD and INPUT, and
// deletes the chains of pods that are gone.
func applyRules(text string, chains []string) error {
	if text != applied {
		cmd := exec.Command("iptables-restore", "--noflush", "--wait")
		cmd.Stdin = strings.NewReader(text)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("iptables-restore: %v: %s", err, out)
		}
		log.Printf("NetworkPolicy rules loaded (%d chains)", len(chains))
		applied = text
	}
	for top, chain := range map[string]string{"FORWARD": chainForward, "INPUT": chainInput} {
		if exec.Command("iptables", "--wait", "-C", top, "-j", chain).Run() != nil {
			if out, err := exec.Command("iptables", "--wait", "-I", top, "1", "-j", chain).CombinedOutput(); err != nil {
				return fmt.Errorf("hook %s into %s: %v: %s", chain, top, err, out)
			}
		}
	}
	out, err := exec.Command("iptables", "--wait", "-S").Output()
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, c := range chains {
		keep[c] = true
	}
	for _, line := range strings.Split(string(out), "\n") {
		if c, ok := strings.CutPrefix(line, "-N "); ok && (strings.HasPrefix(c, "PGFLEET-I-") || strings.HasPrefix(c, "PGFLEET-E-")) && !keep[c] {
			_ = exec.Command("iptables", "--wait", "-F", c).Run()
			_ = exec.Command("iptables", "--wait", "-X", c).Run()
		}
	}
	return nil
}

const chainMasq = "PGFLEET-MASQ"

// masqRules is the iptables-restore input (nat table, --noflush) that masquerades traffic from this node's pods to
// any address outside every node's pod CIDR; pod-to-pod traffic keeps its source, which NetworkPolicy matches on.
// Empty when this node has no pod CIDR yet.
func masqRules(self string, nodes []v1.Node) string {
	var own string
	var cidrs []string
	for _, n := range nodes {
		if n.Spec.PodCIDR == "" {
			continue
		}
		cidrs = append(cidrs, n.Spec.PodCIDR)
		if n.Name == self {
			own = n.Spec.PodCIDR
		}
	}
	if own == "" {
		return ""
	}
	sort.Strings(cidrs)
	var b strings.Builder
	fmt.Fprintf(&b, "*nat\n:%s - [0:0]\n", chainMasq)
	for _, c := range cidrs {
		fmt.Fprintf(&b, "-A %s -d %s -j RETURN\n", chainMasq, c)
	}
	fmt.Fprintf(&b, "-A %s -j MASQUERADE\nCOMMIT\n", chainMasq)
	return b.String()
}

var appliedMasq string

// applyMasquerade loads the masquerade chain when it changed and hooks it into POSTROUTING for this node's pods.
func applyMasquerade(self string, nodes []v1.Node) error {
	text := masqRules(self, nodes)
	if text == "" {
		return nil
	}
	if text != appliedMasq {
		cmd := exec.Command("iptables-restore", "--noflush", "--wait")
		cmd.Stdin = strings.NewReader(text)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("iptables-restore: %v: %s", err, out)
		}
		log.Printf("masquerading pod traffic that leaves the pod network")
		appliedMasq = text
	}
	for _, n := range nodes {
		if n.Name != self {
			continue
		}
		hook := func(op string) []string {
			return []string{"--wait", "-t", "nat", op, "POSTROUTING", "-s", n.Spec.PodCIDR, "-j", chainMasq}
		}
		if exec.Command("iptables", hook("-C")...).Run() != nil {
			if out, err := exec.Command("iptables", hook("-A")...).CombinedOutput(); err != nil {
				return fmt.Errorf("hook %s into POSTROUTING: %v: %s", chainMasq, err, out)
			}
		}
	}
	return nil
}

// conflist is the CNI configuration for a node's pod CIDR.
func conflist(podCIDR string, mtu int) ([]byte, error) {
	conf := map[string]any{
		"cniVersion": "0.4.0",
		"name":       "pgfleet",
		"plugins": []any{
			map[string]any{
				"type":   "ptp",
				"ipMasq": false,
				"mtu":    mtu,
				"ipam": map[string]any{
					"type":    "host-local",
					"dataDir": "/run/cni-ipam-state",
					"ranges":  [][]map[string]string{{{"subnet": podCIDR}}},
					"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	return json.MarshalIndent(conf, "", "  ")
}

// writeConf writes the configuration atomically, only when it changed (the runtime watches the directory).
func writeConf(dir, podCIDR string, mtu int) error {
	data, err := conflist(podCIDR, mtu)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, "10-pgfleet.conflist")
	if old, err := os.ReadFile(path); err == nil && string(old) == string(data) {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	log.Printf("CNI configuration for pod CIDR %s written to %s", podCIDR, path)
	return os.Rename(tmp, path)
}

// route sends another node's pod CIDR to that node.
func route(n *v1.Node) error {
	gw := internalIPv4(n)
	if gw == nil {
		return fmt.Errorf("no IPv4 InternalIP")
	}
	_, dst, err := net.ParseCIDR(n.Spec.PodCIDR)
	if err != nil {
		return err
	}
	return netlink.RouteReplace(&netlink.Route{Dst: dst, Gw: gw})
}

// internalIPv4 is the node's first IPv4 InternalIP, or nil.
func internalIPv4(n *v1.Node) net.IP {
	for _, a := range n.Status.Addresses {
		if ip := net.ParseIP(a.Address); a.Type == v1.NodeInternalIP && ip != nil && ip.To4() != nil {
			return ip
		}
	}
	return nil
}
