// Package devcluster runs a real, local Kubernetes control plane for tests,
// the demo and development: etcd (from Debian), kube-apiserver and
// kube-controller-manager (built from the pinned k8s.io/kubernetes module in
// tools/k8s and cached outside the repository). EnsureHelm builds, the same
// way, the helm pinned in tools/helm that renders quell's chart.
//
// The control plane has no scheduler and no kubelet, so pods stay Pending, but
// every controller is real (a deleted Deployment pod is recreated), RBAC is
// enforced, TokenRequest works and audit webhooks fire.
//
// Start launches the processes on free loopback ports and returns once the
// API server is ready and the controller manager has created the default
// service account. Stop (or Down, for a cluster started by another process)
// stops exactly the processes Start launched, verified by pid and start time,
// and removes the data they wrote. A Cluster is safe for concurrent use.
package devcluster
