package v1alpha1

// Condition types of a WasmDeployment, in the order a healthy deployment reaches them.
const (
	// ConditionResolved is true once spec.url resolved to status.resolvedDigest.
	ConditionResolved = "Resolved"
	// ConditionPulled is true once the module was fetched, verified and compiled.
	ConditionPulled = "Pulled"
	// ConditionProgressing is true while a rollout moves proxies to a new digest.
	ConditionProgressing = "Progressing"
	// ConditionReady is true when every selected proxy runs status.resolvedDigest.
	ConditionReady = "Ready"
	// ConditionDegraded is true when proxies reject the module or it fails at run time.
	ConditionDegraded = "Degraded"
)

// Condition reasons. Messages carry the details (reference, digest, proxy, error).
const (
	ReasonResolved          = "Resolved"
	ReasonResolveFailed     = "ResolveFailed"
	ReasonDigestMismatch    = "DigestMismatch"
	ReasonPullSecretMissing = "PullSecretMissing"
	ReasonPulled            = "Pulled"
	ReasonPullFailed        = "PullFailed"
	ReasonInvalidModule     = "InvalidModule"
	ReasonRollingOut        = "RollingOut"
	ReasonWaitingForPause   = "WaitingForPause"
	ReasonWaitingApproval   = "WaitingForApproval"
	ReasonRolloutComplete   = "RolloutComplete"
	ReasonRolledBack        = "RolledBack"
	ReasonProxiesRejected   = "ProxiesRejected"
	ReasonErrorRateExceeded = "ErrorRateExceeded"
	ReasonNoProxiesSelected = "NoProxiesSelected"
	ReasonAllAcknowledged   = "AllProxiesAcknowledged"
	ReasonHealthy           = "Healthy"
)
