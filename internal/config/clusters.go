package config

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"quell.dev/quell/internal/kube"
)

// listEntries are the keys whose value is a list of mappings: in YAML
// each entry's fields arrive one by one, as KEY[i].FIELD, and set, when
// called with field "" (the entry itself), only makes room for entry i.
func listEntries() map[string]func(c *Config, i int, field, v string) error {
	return map[string]func(c *Config, i int, field, v string) error{
		"kubernetes.clusters": setClusterField,
	}
}

// entryKey splits KEY[i].FIELD (or KEY[i]) into its parts.
func entryKey(key string) (base string, i int, field string, ok bool) {
	open := strings.IndexByte(key, '[')
	end := strings.IndexByte(key, ']')
	if open <= 0 || end < open {
		return "", 0, "", false
	}
	i, err := strconv.Atoi(key[open+1 : end])
	if err != nil || i < 0 {
		return "", 0, "", false
	}
	rest := key[end+1:]
	if rest != "" && !strings.HasPrefix(rest, ".") {
		return "", 0, "", false
	}
	return key[:open], i, strings.TrimPrefix(rest, "."), true
}

func setClusterField(c *Config, i int, field, v string) error {
	for len(c.Kubernetes.Clusters) <= i {
		c.Kubernetes.Clusters = append(c.Kubernetes.Clusters, Cluster{})
	}
	cl := &c.Kubernetes.Clusters[i]
	switch field {
	case "":
	case "name":
		cl.Name = v
	case "kubeconfig":
		cl.Kubeconfig = v
	case "context":
		cl.Context = v
	default:
		return errors.New("unknown setting of a cluster (want name, kubeconfig, context)")
	}
	return nil
}

// setClusters parses the one-line form of kubernetes.clusters (for the
// environment and flags): comma-separated NAME=KUBECONFIG entries, each
// optionally followed by #CONTEXT.
func setClusters(c *Config, v string) error {
	var out []Cluster
	for _, item := range splitList(v) {
		name, rest, ok := strings.Cut(item, "=")
		if !ok {
			return fmt.Errorf("%q is not NAME=KUBECONFIG or NAME=KUBECONFIG#CONTEXT", item)
		}
		kc, ctx, _ := strings.Cut(rest, "#")
		out = append(out, Cluster{Name: strings.TrimSpace(name), Kubeconfig: strings.TrimSpace(kc), Context: strings.TrimSpace(ctx)})
	}
	c.Kubernetes.Clusters = out
	return nil
}

// checkClusters validates kubernetes.clusters and
// kubernetes.default_cluster against each other and the one-cluster form,
// returning every problem; set tells whether a key was given and src where.
func checkClusters(c *Config, set func(key string) bool, src func(key string) string) []error {
	k := c.Kubernetes
	var errs []error
	fail := func(key, format string, args ...any) {
		errs = append(errs, &Problem{Key: key, Source: src(key), Msg: fmt.Sprintf(format, args...)})
	}
	if len(k.Clusters) > 0 {
		for _, one := range []string{"kubernetes.kubeconfig", "kubernetes.cluster"} {
			if set(one) {
				fail(one, "set either kubernetes.clusters or the one cluster's kubernetes.kubeconfig and kubernetes.cluster, not both")
			}
		}
	}
	names := map[string]int{}
	reaches := map[Cluster]int{} // kubeconfig and context -> entry
	for i, cl := range k.Clusters {
		key := "kubernetes.clusters[" + strconv.Itoa(i) + "]"
		if err := checkName(cl.Name); err != nil {
			fail(key+".name", "%v", err)
		} else if j, dup := names[cl.Name]; dup {
			fail(key+".name", "%q is already the name of kubernetes.clusters[%d]", cl.Name, j)
		} else {
			names[cl.Name] = i
		}
		if cl.Kubeconfig != "" {
			if err := checkKubeconfig(cl.Kubeconfig, cl.Context); errors.Is(err, kube.ErrNoContext) && cl.Context != "" {
				fail(key+".context", "%v", err)
			} else if err != nil {
				fail(key+".kubeconfig", "%v", err)
			}
			reach := Cluster{Kubeconfig: cl.Kubeconfig, Context: cl.Context}
			if j, dup := reaches[reach]; dup {
				fail(key, "reaches the same cluster as kubernetes.clusters[%d] (same kubeconfig and context): it would be acted on twice", j)
			} else {
				reaches[reach] = i
			}
		}
	}
	if d := k.DefaultCluster; d != "" {
		var known []string
		for _, cl := range k.List() {
			known = append(known, cl.Name)
		}
		if !slices.Contains(known, d) {
			fail("kubernetes.default_cluster", "%q is not a configured cluster (configured: %s)", d, strings.Join(known, ", "))
		}
	}
	return errs
}

// checkKubeconfig checks that path is a readable kubeconfig holding
// context (empty: a current context).
func checkKubeconfig(path, context string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("cannot read %s: %w", path, errors.Unwrap(err))
	}
	f.Close()
	return kube.Check(path, context)
}
