package playbook

// OnceKey exposes the action idempotency key to the engine's tests.
var OnceKey = onceKey
