package investigate

import (
	"fmt"
	"path"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// sensitivePaths are host paths that give a container the node: its
// configuration, credentials, container runtimes, kubelet state, kernel
// interfaces and binaries. A hostPath at, under or above one is
// sensitive.
var sensitivePaths = []string{
	"/", "/etc", "/root", "/home", "/boot", "/dev", "/proc", "/sys", "/usr", "/bin", "/sbin", "/lib",
	"/var/run", "/run", "/var/lib/kubelet", "/var/lib/docker", "/var/lib/containerd", "/var/log", "/etc/kubernetes",
}

func sensitive(p string) bool {
	p = path.Clean("/" + p)
	for _, s := range sensitivePaths {
		switch {
		case p == s:
			return true
		case s != "/" && strings.HasPrefix(p, s+"/"): // under it
			return true
		case p != "/" && strings.HasPrefix(s, p+"/"): // above it: /var holds /var/run
			return true
		}
	}
	return false
}

// podSecurity evaluates pods against the Pod Security Standards.
type podSecurity struct{ eval policy.Evaluator }

func newPodSecurity() (podSecurity, error) {
	e, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		return podSecurity{}, fmt.Errorf("pod security checks: %w", err)
	}
	return podSecurity{e}, nil
}

func (ps podSecurity) check(pod *corev1.Pod) PodSecurity {
	violations := func(level psapi.Level) []string {
		var out []string
		for _, r := range ps.eval.EvaluatePod(psapi.LevelVersion{Level: level, Version: psapi.LatestVersion()}, &pod.ObjectMeta, &pod.Spec) {
			if !r.Allowed {
				out = append(out, strings.TrimSpace(r.ForbiddenReason+" ("+r.ForbiddenDetail+")"))
			}
		}
		return out
	}
	out := PodSecurity{Baseline: violations(psapi.LevelBaseline), Level: string(psapi.LevelPrivileged)}
	if len(out.Baseline) == 0 {
		out.Level = string(psapi.LevelBaseline)
		if out.Restricted = violations(psapi.LevelRestricted); len(out.Restricted) == 0 {
			out.Level = string(psapi.LevelRestricted)
		}
	} else {
		out.Restricted = violations(psapi.LevelRestricted)
	}
	return out
}

// configOf reports the pod's configuration risk; sa is its service
// account, if read.
func (iv *Investigator) configOf(pod *corev1.Pod, sa *corev1.ServiceAccount) Config {
	c := Config{HostPID: pod.Spec.HostPID, HostNetwork: pod.Spec.HostNetwork, HostIPC: pod.Spec.HostIPC, AutomountToken: true}
	switch {
	case pod.Spec.AutomountServiceAccountToken != nil:
		c.AutomountToken = *pod.Spec.AutomountServiceAccountToken
	case sa != nil && sa.AutomountServiceAccountToken != nil:
		c.AutomountToken = *sa.AutomountServiceAccountToken
	}
	psc := pod.Spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	add := func(ct corev1.Container, init bool) {
		c.Images = append(c.Images, splitImage(ct.Name, ct.Image))
		r := ContainerRisk{Name: ct.Name, Init: init, AllowPrivilegeEscalation: true, RunAsRoot: true}
		sc := ct.SecurityContext
		if sc == nil {
			sc = &corev1.SecurityContext{}
		}
		r.Privileged = sc.Privileged != nil && *sc.Privileged
		if sc.Capabilities != nil {
			for _, capa := range sc.Capabilities.Add {
				r.AddedCapabilities = append(r.AddedCapabilities, string(capa))
			}
		}
		if sc.AllowPrivilegeEscalation != nil {
			r.AllowPrivilegeEscalation = *sc.AllowPrivilegeEscalation
		}
		r.ReadOnlyRootFilesystem = sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem
		nonRoot, uid := psc.RunAsNonRoot, psc.RunAsUser
		if sc.RunAsNonRoot != nil {
			nonRoot = sc.RunAsNonRoot
		}
		if sc.RunAsUser != nil {
			uid = sc.RunAsUser
		}
		if (nonRoot != nil && *nonRoot) || (uid != nil && *uid != 0) {
			r.RunAsRoot = false
		}
		c.Containers = append(c.Containers, r)
	}
	for _, ct := range pod.Spec.InitContainers {
		add(ct, true)
	}
	for _, ct := range pod.Spec.Containers {
		add(ct, false)
	}
	for _, v := range pod.Spec.Volumes {
		if v.HostPath != nil {
			c.HostPaths = append(c.HostPaths, HostPath{Volume: v.Name, Path: v.HostPath.Path, Sensitive: sensitive(v.HostPath.Path)})
		}
	}
	c.PodSecurity = iv.pss.check(pod)
	return c
}

// splitImage splits an image reference as the container runtimes do: a
// first path component with a dot or colon, or "localhost", is the
// registry (docker.io otherwise, with library/ for single names).
func splitImage(container, ref string) Image {
	img := Image{Container: container, Reference: ref}
	rest := ref
	if at := strings.Index(rest, "@"); at >= 0 {
		img.Digest, rest = rest[at+1:], rest[:at]
	}
	if slash := strings.LastIndex(rest, "/"); strings.LastIndex(rest, ":") > slash {
		colon := strings.LastIndex(rest, ":")
		img.Tag, rest = rest[colon+1:], rest[:colon]
	}
	first, remainder, found := strings.Cut(rest, "/")
	if found && (strings.ContainsAny(first, ".:") || first == "localhost") {
		img.Registry, img.Repository = first, remainder
	} else {
		img.Registry, img.Repository = "docker.io", rest
		if !found {
			img.Repository = "library/" + rest
		}
	}
	if img.Tag == "" && img.Digest == "" {
		img.Tag = "latest"
	}
	return img
}

// dependenciesOf lists the pod's volumes, claims, config maps and secrets.
func (iv *Investigator) dependenciesOf(pod *corev1.Pod) Dependencies {
	var d Dependencies
	cms, secrets := map[string][]string{}, map[string][]string{}
	use := func(m map[string][]string, name, how string) {
		if name != "" && !slices.Contains(m[name], how) {
			m[name] = append(m[name], how)
		}
	}
	for _, v := range pod.Spec.Volumes {
		vol := Volume{Name: v.Name, Type: volumeType(v)}
		switch {
		case v.HostPath != nil:
			vol.Source = v.HostPath.Path
		case v.PersistentVolumeClaim != nil:
			vol.Source = v.PersistentVolumeClaim.ClaimName
			d.PVCs = append(d.PVCs, iv.pvc(pod.Namespace, v.PersistentVolumeClaim.ClaimName))
		case v.ConfigMap != nil:
			vol.Source = v.ConfigMap.Name
			use(cms, v.ConfigMap.Name, "volume "+v.Name)
		case v.Secret != nil:
			vol.Source = v.Secret.SecretName
			use(secrets, v.Secret.SecretName, "volume "+v.Name)
		case v.Projected != nil:
			for _, src := range v.Projected.Sources {
				if src.ConfigMap != nil {
					use(cms, src.ConfigMap.Name, "projected volume "+v.Name)
				}
				if src.Secret != nil {
					use(secrets, src.Secret.Name, "projected volume "+v.Name)
				}
			}
		}
		d.Volumes = append(d.Volumes, vol)
	}
	for _, ct := range slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers) {
		for _, e := range ct.EnvFrom {
			if e.ConfigMapRef != nil {
				use(cms, e.ConfigMapRef.Name, "envFrom of container "+ct.Name)
			}
			if e.SecretRef != nil {
				use(secrets, e.SecretRef.Name, "envFrom of container "+ct.Name)
			}
		}
		for _, e := range ct.Env {
			if e.ValueFrom == nil {
				continue
			}
			if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
				use(cms, r.Name, "env "+e.Name+" of container "+ct.Name)
			}
			if r := e.ValueFrom.SecretKeyRef; r != nil {
				use(secrets, r.Name, "env "+e.Name+" of container "+ct.Name)
			}
		}
	}
	for _, s := range pod.Spec.ImagePullSecrets {
		use(secrets, s.Name, "image pull secret")
	}
	d.ConfigMaps, d.Secrets = references(cms), references(secrets)
	return d
}

func references(m map[string][]string) []Reference {
	var out []Reference
	for name, uses := range m {
		out = append(out, Reference{Name: name, Uses: uses})
	}
	slices.SortFunc(out, func(a, b Reference) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (iv *Investigator) pvc(ns, name string) PVC {
	o, ok := iv.objs.Get("PersistentVolumeClaim", ns, name)
	if !ok {
		return PVC{Name: name, Phase: "missing"}
	}
	c := o.(*corev1.PersistentVolumeClaim)
	return PVC{Name: name, Phase: string(c.Status.Phase), Volume: c.Spec.VolumeName}
}

func volumeType(v corev1.Volume) string {
	switch {
	case v.HostPath != nil:
		return "hostPath"
	case v.EmptyDir != nil:
		return "emptyDir"
	case v.PersistentVolumeClaim != nil:
		return "persistentVolumeClaim"
	case v.ConfigMap != nil:
		return "configMap"
	case v.Secret != nil:
		return "secret"
	case v.Projected != nil:
		return "projected"
	case v.DownwardAPI != nil:
		return "downwardAPI"
	case v.CSI != nil:
		return "csi"
	case v.Ephemeral != nil:
		return "ephemeral"
	case v.NFS != nil:
		return "nfs"
	case v.Image != nil:
		return "image"
	}
	return "other"
}
