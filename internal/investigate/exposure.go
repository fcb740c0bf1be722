package investigate

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// exposureOf finds what reaches pod: Services selecting it, Ingresses
// routing to those, NetworkPolicies selecting it, EndpointSlices naming it.
func (iv *Investigator) exposureOf(pod *corev1.Pod) Exposure {
	var e Exposure
	podLabels := labels.Set(pod.Labels)
	svcs, _ := iv.objs.List("Service", pod.Namespace)
	var names []string
	for _, o := range svcs {
		svc := o.(*corev1.Service)
		if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) {
			continue
		}
		s := Service{Name: svc.Name, Type: string(svc.Spec.Type)}
		for _, p := range svc.Spec.Ports {
			port := fmt.Sprintf("%d/%s", p.Port, p.Protocol)
			if p.NodePort != 0 {
				port += fmt.Sprintf(" (node port %d)", p.NodePort)
			}
			s.Ports = append(s.Ports, port)
		}
		s.External = svc.Spec.Type == corev1.ServiceTypeLoadBalancer || svc.Spec.Type == corev1.ServiceTypeNodePort || len(svc.Spec.ExternalIPs) > 0
		e.Services = append(e.Services, s)
		names = append(names, svc.Name)
	}
	ings, _ := iv.objs.List("Ingress", pod.Namespace)
	for _, o := range ings {
		ing := o.(*networkingv1.Ingress)
		var hit []string
		backend := func(b *networkingv1.IngressBackend) {
			if b != nil && b.Service != nil && slices.Contains(names, b.Service.Name) && !slices.Contains(hit, b.Service.Name) {
				hit = append(hit, b.Service.Name)
			}
		}
		backend(ing.Spec.DefaultBackend)
		var hosts []string
		for _, r := range ing.Spec.Rules {
			if r.Host != "" && !slices.Contains(hosts, r.Host) {
				hosts = append(hosts, r.Host)
			}
			if r.HTTP != nil {
				for _, p := range r.HTTP.Paths {
					backend(&p.Backend)
				}
			}
		}
		if len(hit) > 0 {
			e.Ingresses = append(e.Ingresses, Ingress{Name: ing.Name, Hosts: hosts, Services: hit})
		}
	}
	nps, _ := iv.objs.List("NetworkPolicy", pod.Namespace)
	for _, o := range nps {
		np := o.(*networkingv1.NetworkPolicy)
		sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if err != nil || !sel.Matches(podLabels) {
			continue
		}
		e.NetworkPolicies = append(e.NetworkPolicies, np.Name)
		types := np.Spec.PolicyTypes
		if len(types) == 0 { // the API's default: Ingress, and Egress when it has egress rules
			types = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
			if len(np.Spec.Egress) > 0 {
				types = append(types, networkingv1.PolicyTypeEgress)
			}
		}
		e.IngressIsolated = e.IngressIsolated || slices.Contains(types, networkingv1.PolicyTypeIngress)
		e.EgressIsolated = e.EgressIsolated || slices.Contains(types, networkingv1.PolicyTypeEgress)
	}
	slices_, _ := iv.objs.List("EndpointSlice", pod.Namespace)
	for _, o := range slices_ {
		es := o.(*discoveryv1.EndpointSlice)
		for _, ep := range es.Endpoints {
			if ep.TargetRef != nil && ep.TargetRef.UID == pod.UID {
				e.EndpointSlices = append(e.EndpointSlices, es.Name)
				break
			}
		}
	}
	return e
}
