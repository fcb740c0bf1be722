package jit

import (
	"context"
	"crypto/rand"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"quell.dev/quell/internal/respond"
)

// Labels and annotations of JIT objects.
const (
	// LabelJIT marks every object Acquire creates.
	LabelJIT = "quell.dev/jit"
	// AnnotationExpires holds the lease's expiry (RFC 3339).
	AnnotationExpires = "quell.dev/jit-expires"
)

// Kinds are the kinds of object Acquire creates, in creation order.
var Kinds = []string{"ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}

// deleteOrder deletes bindings first, so the permissions go with the
// first delete, and the ServiceAccount last.
var deleteOrder = map[string]int{"RoleBinding": 0, "ClusterRoleBinding": 1, "Role": 2, "ClusterRole": 3, "ServiceAccount": 4}

// NamePrefix starts the name of every object Acquire creates.
const NamePrefix = "quell-jit-"

// newName returns quell-jit-<incident>-<6 random characters>.
func newName(incident int64) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 6)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return NamePrefix + strconv.FormatInt(incident, 10) + "-" + string(b)
}

func objectMeta(name, namespace string, incident int64, expires time.Time) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: name, Namespace: namespace,
		Labels: map[string]string{
			respond.LabelIncident: strconv.FormatInt(incident, 10),
			respond.LabelLifetime: respond.LifetimeTemporary,
			LabelJIT:              "true",
		},
		Annotations: map[string]string{AnnotationExpires: expires.UTC().Format(time.RFC3339)},
	}
}

// createObject creates the object ref names, of ref.Kind, with meta and
// the payload (rules for roles, the role for bindings), and returns ref
// with the new object's UID.
func createObject(ctx context.Context, cs kubernetes.Interface, fm string, ref respond.ObjectRef, meta metav1.ObjectMeta,
	rules []rbacv1.PolicyRule, subject rbacv1.Subject) (respond.ObjectRef, error) {
	opts := metav1.CreateOptions{FieldManager: fm}
	roleRef := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Name: ref.Name}
	var (
		obj metav1.Object
		err error
	)
	switch ref.Kind {
	case "ServiceAccount":
		obj, err = cs.CoreV1().ServiceAccounts(ref.Namespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: meta}, opts)
	case "Role":
		obj, err = cs.RbacV1().Roles(ref.Namespace).Create(ctx, &rbacv1.Role{ObjectMeta: meta, Rules: rules}, opts)
	case "RoleBinding":
		roleRef.Kind = "Role"
		obj, err = cs.RbacV1().RoleBindings(ref.Namespace).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: meta,
			Subjects: []rbacv1.Subject{subject}, RoleRef: roleRef}, opts)
	case "ClusterRole":
		obj, err = cs.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: meta, Rules: rules}, opts)
	case "ClusterRoleBinding":
		roleRef.Kind = "ClusterRole"
		obj, err = cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: meta,
			Subjects: []rbacv1.Subject{subject}, RoleRef: roleRef}, opts)
	default:
		return ref, fmt.Errorf("create %s: kind not handled", ref)
	}
	if err != nil {
		return ref, fmt.Errorf("create %s: %w", ref, err)
	}
	ref.UID = string(obj.GetUID())
	return ref, nil
}

// deleteObject deletes ref, only if its UID is still ref.UID when set.
// NotFound and a UID conflict (the name now belongs to another object) are
// not errors: the object ref names is gone.
func deleteObject(ctx context.Context, cs kubernetes.Interface, ref respond.ObjectRef) (deleted bool, err error) {
	opts := metav1.DeleteOptions{}
	if ref.UID != "" {
		uid := types.UID(ref.UID)
		opts.Preconditions = &metav1.Preconditions{UID: &uid}
	}
	switch ref.Kind {
	case "ServiceAccount":
		err = cs.CoreV1().ServiceAccounts(ref.Namespace).Delete(ctx, ref.Name, opts)
	case "Role":
		err = cs.RbacV1().Roles(ref.Namespace).Delete(ctx, ref.Name, opts)
	case "RoleBinding":
		err = cs.RbacV1().RoleBindings(ref.Namespace).Delete(ctx, ref.Name, opts)
	case "ClusterRole":
		err = cs.RbacV1().ClusterRoles().Delete(ctx, ref.Name, opts)
	case "ClusterRoleBinding":
		err = cs.RbacV1().ClusterRoleBindings().Delete(ctx, ref.Name, opts)
	default:
		return false, fmt.Errorf("delete %s: kind not handled", ref)
	}
	switch {
	case err == nil:
		return true, nil
	case apierrors.IsNotFound(err), apierrors.IsConflict(err) && ref.UID != "":
		return false, nil
	}
	return false, fmt.Errorf("delete %s: %w", ref, err)
}

// exists reads ref back: true when an object of its name (and UID, when
// set) is still there, including one being deleted.
func exists(ctx context.Context, cs kubernetes.Interface, ref respond.ObjectRef) (bool, error) {
	opts := metav1.GetOptions{}
	var (
		obj metav1.Object
		err error
	)
	switch ref.Kind {
	case "ServiceAccount":
		obj, err = cs.CoreV1().ServiceAccounts(ref.Namespace).Get(ctx, ref.Name, opts)
	case "Role":
		obj, err = cs.RbacV1().Roles(ref.Namespace).Get(ctx, ref.Name, opts)
	case "RoleBinding":
		obj, err = cs.RbacV1().RoleBindings(ref.Namespace).Get(ctx, ref.Name, opts)
	case "ClusterRole":
		obj, err = cs.RbacV1().ClusterRoles().Get(ctx, ref.Name, opts)
	case "ClusterRoleBinding":
		obj, err = cs.RbacV1().ClusterRoleBindings().Get(ctx, ref.Name, opts)
	default:
		return false, fmt.Errorf("get %s: kind not handled", ref)
	}
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("get %s: %w", ref, err)
	}
	return ref.UID == "" || string(obj.GetUID()) == ref.UID, nil
}
