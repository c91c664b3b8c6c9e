// pgfleet-runc: an OCI runtime for dockerd (and the kind nodes' containerd) on hosts whose capability bounding set
// is smaller than what privileged containers ask for (a sandbox without CAP_SYS_RESOURCE, say). It removes from the
// container's spec every capability missing from this process's bounding set, then execs runc with the same
// arguments. `create`/`run` read <bundle>/config.json, `exec` reads the --process file.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Linux capability numbers (include/uapi/linux/capability.h).
var capNumbers = map[string]uint{
	"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3, "CAP_FSETID": 4, "CAP_KILL": 5,
	"CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_LINUX_IMMUTABLE": 9, "CAP_NET_BIND_SERVICE": 10,
	"CAP_NET_BROADCAST": 11, "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15,
	"CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17, "CAP_SYS_CHROOT": 18, "CAP_SYS_PTRACE": 19, "CAP_SYS_PACCT": 20,
	"CAP_SYS_ADMIN": 21, "CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23, "CAP_SYS_RESOURCE": 24, "CAP_SYS_TIME": 25,
	"CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27, "CAP_LEASE": 28, "CAP_AUDIT_WRITE": 29, "CAP_AUDIT_CONTROL": 30,
	"CAP_SETFCAP": 31, "CAP_MAC_OVERRIDE": 32, "CAP_MAC_ADMIN": 33, "CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35,
	"CAP_BLOCK_SUSPEND": 36, "CAP_AUDIT_READ": 37, "CAP_PERFMON": 38, "CAP_BPF": 39, "CAP_CHECKPOINT_RESTORE": 40,
}

// boundingSet reads CapBnd from /proc/self/status.
func boundingSet() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "CapBnd:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, fmt.Errorf("no CapBnd in /proc/self/status")
}

// allowed keeps the capabilities present in the bounding set (unknown names are kept: runc decides).
func allowed(caps []any, bnd uint64) []any {
	out := make([]any, 0, len(caps))
	for _, c := range caps {
		name, _ := c.(string)
		if n, known := capNumbers[strings.ToUpper(name)]; known && bnd&(1<<n) == 0 {
			continue
		}
		out = append(out, c)
	}
	return out
}

// filterProcess edits a spec's "process" object (or a process file) in place.
func filterProcess(process map[string]any, bnd uint64) {
	caps, _ := process["capabilities"].(map[string]any)
	for set, v := range caps {
		if list, ok := v.([]any); ok {
			caps[set] = allowed(list, bnd)
		}
	}
}

func rewrite(path string, process bool, bnd uint64) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if process {
		filterProcess(doc, bnd)
	} else if p, ok := doc["process"].(map[string]any); ok {
		filterProcess(p, bnd)
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o600)
}

// flagValue finds `--name value`, `--name=value` or a short `-n value` among the runtime's arguments.
func flagValue(args []string, long, short string) (string, bool) {
	for i, a := range args {
		if a == long || (short != "" && a == short) {
			if i+1 < len(args) {
				return args[i+1], true
			}
		}
		if v, ok := strings.CutPrefix(a, long+"="); ok {
			return v, true
		}
	}
	return "", false
}

// command is the first argument that is not a flag or a global flag's value.
func command(args []string) (string, int) {
	valued := map[string]bool{"--root": true, "--log": true, "--log-format": true, "--criu": true, "--rootless": true}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if valued[a] {
			i++
			continue
		}
		if !strings.HasPrefix(a, "-") {
			return a, i
		}
	}
	return "", -1
}

func main() {
	args := os.Args[1:]
	runc := os.Getenv("PGFLEET_RUNC")
	if runc == "" {
		runc = "runc"
	}
	path, err := exec.LookPath(runc)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgfleet-runc: %v\n", err)
		os.Exit(1)
	}
	if bnd, err := boundingSet(); err == nil {
		cmd, at := command(args)
		rest := args[at+1:]
		switch cmd {
		case "create", "run":
			bundle, ok := flagValue(rest, "--bundle", "-b")
			if !ok {
				bundle, _ = os.Getwd()
			}
			err = rewrite(filepath.Join(bundle, "config.json"), false, bnd)
		case "exec":
			if p, ok := flagValue(rest, "--process", "-p"); ok {
				err = rewrite(p, true, bnd)
			}
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "pgfleet-runc: %v\n", err)
			os.Exit(1)
		}
	}
	if err := syscall.Exec(path, append([]string{"runc"}, args...), os.Environ()); err != nil {
		fmt.Fprintf(os.Stderr, "pgfleet-runc: exec %s: %v\n", path, err)
		os.Exit(1)
	}
}
