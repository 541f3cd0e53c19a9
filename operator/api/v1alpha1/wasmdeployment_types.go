package v1alpha1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WasmDeployment declares one WebAssembly module, its configuration, the proxies that run it and how
// a new version rolls out to them. Istio users will recognise the fields of WasmPlugin; the additions
// are per-route overrides (routes), the choice of data planes (targets) and progressive delivery
// (rollout).
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=wd,categories=wasmesh
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.spec.url`
// +kubebuilder:printcolumn:name="Digest",type=string,JSONPath=`.status.resolvedDigest`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.ready`,description="proxies running the resolved digest / proxies selected"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type WasmDeployment struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec   WasmDeploymentSpec   `json:"spec"`
	Status WasmDeploymentStatus `json:"status,omitempty"`
}

// WasmDeploymentList is a list of WasmDeployments.
//
// +kubebuilder:object:root=true
type WasmDeploymentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []WasmDeployment `json:"items"`
}

// WasmDeploymentSpec is the desired state of a WasmDeployment.
//
// +kubebuilder:validation:XValidation:rule="has(self.selector) != has(self.targetRefs)",message="exactly one of spec.selector or spec.targetRefs must be set (use selector: {} for every workload in the namespace)"
// +kubebuilder:validation:XValidation:rule="!has(self.targetRefs) || 'Istio' in self.targets",message="spec.targetRefs attaches to Istio gateways and waypoints only: add Istio to spec.targets or use spec.selector",fieldPath=".targetRefs"
// +kubebuilder:validation:XValidation:rule="!has(self.sha256) || !self.url.contains('@sha256:') || self.url.endsWith('@sha256:' + self.sha256)",message="spec.sha256 must equal the digest pinned in spec.url",fieldPath=".sha256"
// +kubebuilder:validation:XValidation:rule="!has(self.imagePullSecret) || self.url.startsWith('oci://')",message="spec.imagePullSecret applies to oci:// urls only",fieldPath=".imagePullSecret"
// +kubebuilder:validation:XValidation:rule="!has(self.routes) || self.type != 'NETWORK'",message="spec.routes needs type HTTP: network filters see no routes",fieldPath=".routes"
// +kubebuilder:validation:XValidation:rule="!has(self.routes) || !('Istio' in self.targets) || self.routes.all(r, !has(r.match.path) && !has(r.match.dubboService))",message="spec.routes[].match.path and .dubboService are served by wasmesh proxies only (an EnvoyFilter matches Istio routes by host or name): match by host or name, or remove Istio from spec.targets",fieldPath=".routes"
type WasmDeploymentSpec struct {
	// URL of the module: oci://registry/repository[:tag|@sha256:digest] for an OCI artifact (Istio
	// and CNCF Wasm layouts), or http(s):// for a plain .wasm file.
	//
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.matches('^(oci://[^\\\\s/]+/[^\\\\s]+|https?://[^\\\\s/]+(/[^\\\\s]*)?)$')",message="spec.url must be oci://registry/repository[:tag|@sha256:digest], http://host/path or https://host/path"
	URL string `json:"url"`

	// SHA256 pins the module: for oci:// the manifest digest, for http(s):// the checksum of the
	// .wasm bytes (as Istio's WasmPlugin), as 64 lowercase hex digits without the "sha256:" prefix.
	// When set, a pulled module with another digest is refused.
	//
	// +optional
	// +kubebuilder:validation:Pattern=`^[a-f0-9]{64}$`
	SHA256 string `json:"sha256,omitempty"`

	// ImagePullPolicy says when the operator looks up spec.url's tag again. IfNotPresent (the default)
	// keeps the digest it resolved for as long as spec.url stays the same; Always resolves the tag on
	// every reconcile and at least every resolve interval (the operator's --resolve-interval, 5m by
	// default), and rolls the new digest out when the tag moved. Either way a digest is downloaded once
	// into the operator's cache.
	//
	// +optional
	// +kubebuilder:default=IfNotPresent
	ImagePullPolicy PullPolicy `json:"imagePullPolicy,omitempty"`

	// ImagePullSecret names a kubernetes.io/dockerconfigjson Secret in this WasmDeployment's own
	// namespace holding registry credentials. Secrets in other namespaces cannot be referenced.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	ImagePullSecret string `json:"imagePullSecret,omitempty"`

	// PluginName is the plugin's root id, passed to the module so one binary can hold several
	// plugins.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=256
	PluginName string `json:"pluginName,omitempty"`

	// PluginConfig is handed to the plugin as JSON when it starts (proxy_on_configure).
	//
	// +optional
	// +kubebuilder:validation:Type=object
	// +kubebuilder:pruning:PreserveUnknownFields
	PluginConfig *apiextensionsv1.JSON `json:"pluginConfig,omitempty"`

	// Type is the kind of filter: HTTP (the default) or NETWORK (a TCP filter).
	//
	// +optional
	// +kubebuilder:default=HTTP
	Type PluginType `json:"type,omitempty"`

	// Phase places the filter in the chain relative to the proxy's own filters: AUTHN, AUTHZ, STATS,
	// or UNSPECIFIED_PHASE (the default, just before the router).
	//
	// +optional
	Phase PluginPhase `json:"phase,omitempty"`

	// Priority orders filters within a phase: higher runs first.
	//
	// +optional
	// +kubebuilder:validation:Minimum=-1000
	// +kubebuilder:validation:Maximum=1000
	Priority *int32 `json:"priority,omitempty"`

	// FailStrategy says what a proxy does when the module cannot be fetched or traps.
	//
	// +optional
	// +kubebuilder:default=FAIL_CLOSE
	FailStrategy FailStrategy `json:"failStrategy,omitempty"`

	// VMConfig configures the Wasm VM the plugin runs in.
	//
	// +optional
	VMConfig *VMConfig `json:"vmConfig,omitempty"`

	// Selector chooses workloads by their labels. Exactly one of selector and targetRefs is set.
	//
	// +optional
	Selector *WorkloadSelector `json:"selector,omitempty"`

	// TargetRefs attaches the plugin to Istio gateways, waypoints or service entries, as in Istio's
	// WasmPlugin. Exactly one of selector and targetRefs is set.
	//
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	TargetRefs []PolicyTargetReference `json:"targetRefs,omitempty"`

	// Match limits the plugin to some listener ports and traffic directions. Empty means all.
	//
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	Match []TrafficSelector `json:"match,omitempty"`

	// Routes override the plugin per route: another pluginConfig, or the plugin disabled.
	//
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	Routes []RouteOverride `json:"routes,omitempty"`

	// Targets lists the data planes that receive the plugin: Wasmesh proxies, Istio (Envoy
	// sidecars and gateways through WasmPlugin and EnvoyFilter objects), or both.
	//
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=2
	// +kubebuilder:default={Wasmesh}
	Targets []Target `json:"targets,omitempty"`

	// Rollout says how a new module version reaches the selected proxies. Omitted means all at once.
	//
	// +optional
	Rollout *Rollout `json:"rollout,omitempty"`
}

// PullPolicy says when a proxy pulls the module again.
//
// +kubebuilder:validation:Enum=IfNotPresent;Always
type PullPolicy string

// Pull policies.
const (
	PullIfNotPresent PullPolicy = "IfNotPresent"
	PullAlways       PullPolicy = "Always"
)

// PluginType is the kind of filter a module implements.
//
// +kubebuilder:validation:Enum=HTTP;NETWORK
type PluginType string

// Plugin types.
const (
	PluginTypeHTTP    PluginType = "HTTP"
	PluginTypeNetwork PluginType = "NETWORK"
)

// PluginPhase places a filter in the chain.
//
// +kubebuilder:validation:Enum=UNSPECIFIED_PHASE;AUTHN;AUTHZ;STATS
type PluginPhase string

// Plugin phases, in the order they run.
const (
	PhaseUnspecified PluginPhase = "UNSPECIFIED_PHASE"
	PhaseAuthn       PluginPhase = "AUTHN"
	PhaseAuthz       PluginPhase = "AUTHZ"
	PhaseStats       PluginPhase = "STATS"
)

// FailStrategy says what a proxy does when the plugin cannot run.
//
// +kubebuilder:validation:Enum=FAIL_CLOSE;FAIL_OPEN;FAIL_RELOAD
type FailStrategy string

// Fail strategies.
const (
	// FailClose answers 5xx (HTTP) or closes the connection (NETWORK) while the plugin is broken.
	FailClose FailStrategy = "FAIL_CLOSE"
	// FailOpen skips the plugin while it is broken. Not for authentication or authorization.
	FailOpen FailStrategy = "FAIL_OPEN"
	// FailReload starts a fresh VM for the next request after a runtime trap and fails closed for
	// other errors (a module that cannot be fetched or compiled).
	FailReload FailStrategy = "FAIL_RELOAD"
)

// Target is a kind of data plane.
//
// +kubebuilder:validation:Enum=Wasmesh;Istio
type Target string

// Targets.
const (
	// TargetWasmesh is the fleet of wasmesh proxies, configured over xDS by the operator.
	TargetWasmesh Target = "Wasmesh"
	// TargetIstio is Istio's Envoy sidecars and gateways, configured through WasmPlugin and
	// EnvoyFilter objects owned by the WasmDeployment.
	TargetIstio Target = "Istio"
)

// VMConfig configures the Wasm VM.
type VMConfig struct {
	// Env is the environment the module sees through WASI.
	//
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	Env []EnvVar `json:"env,omitempty"`
}

// EnvVar is one environment variable of the VM.
//
// +kubebuilder:validation:XValidation:rule="self.valueFrom != 'HOST' || !has(self.value)",message="value must be empty when valueFrom is HOST: the value is read from the proxy's own environment"
type EnvVar struct {
	// Name of the variable.
	//
	// +required
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z0-9_]*$`
	Name string `json:"name"`

	// ValueFrom is INLINE (the default: the value below) or HOST (the proxy's variable of the same
	// name).
	//
	// +optional
	// +kubebuilder:default=INLINE
	ValueFrom EnvValueSource `json:"valueFrom,omitempty"`

	// Value of the variable when valueFrom is INLINE.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Value string `json:"value,omitempty"`
}

// EnvValueSource says where a VM environment variable's value comes from.
//
// +kubebuilder:validation:Enum=INLINE;HOST
type EnvValueSource string

// Environment value sources.
const (
	EnvInline EnvValueSource = "INLINE"
	EnvHost   EnvValueSource = "HOST"
)

// WorkloadSelector selects workloads by label. Empty matchLabels select every workload in the
// namespace.
type WorkloadSelector struct {
	// MatchLabels are the labels a workload must all have.
	//
	// +optional
	// +kubebuilder:validation:MaxProperties=256
	MatchLabels map[string]string `json:"matchLabels,omitempty"`
}

// PolicyTargetReference names a resource the plugin attaches to, as in Istio.
//
// +kubebuilder:validation:XValidation:rule="[['gateway.networking.k8s.io', 'Gateway'], ['gateway.networking.k8s.io', 'GatewayClass'], ['core', 'Service'], ['networking.istio.io', 'ServiceEntry']].exists(p, p[0] == (has(self.group) && size(self.group) > 0 ? self.group : 'core') && p[1] == self.kind)",message="targetRefs supports Gateway and GatewayClass (gateway.networking.k8s.io), Service (core) and ServiceEntry (networking.istio.io)"
type PolicyTargetReference struct {
	// Group of the target resource; empty for the core group.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Group string `json:"group"`

	// Kind of the target resource.
	//
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Kind string `json:"kind"`

	// Name of the target resource, in this namespace.
	//
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// TrafficSelector limits a plugin to some ports and directions.
type TrafficSelector struct {
	// Mode is the direction: SERVER (inbound), CLIENT (outbound and gateways) or
	// CLIENT_AND_SERVER (the default).
	//
	// +optional
	// +kubebuilder:default=CLIENT_AND_SERVER
	Mode TrafficMode `json:"mode,omitempty"`

	// Ports the listener must serve. Empty means every port.
	//
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	Ports []PortSelector `json:"ports,omitempty"`
}

// TrafficMode is a direction of traffic relative to the workload.
//
// +kubebuilder:validation:Enum=CLIENT;SERVER;CLIENT_AND_SERVER
type TrafficMode string

// Traffic modes.
const (
	ModeClient          TrafficMode = "CLIENT"
	ModeServer          TrafficMode = "SERVER"
	ModeClientAndServer TrafficMode = "CLIENT_AND_SERVER"
)

// PortSelector is a listener port.
type PortSelector struct {
	// Number of the port.
	//
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Number int32 `json:"number"`
}

// RouteOverride changes the plugin on the routes it matches: another pluginConfig, or disabled.
//
// +kubebuilder:validation:XValidation:rule="has(self.pluginConfig) != self.disabled",message="set exactly one of pluginConfig or disabled: true"
type RouteOverride struct {
	// Name identifies the override in status, events and generated objects.
	//
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// Match chooses the routes.
	//
	// +required
	Match RouteMatch `json:"match"`

	// PluginConfig replaces spec.pluginConfig on the matched routes.
	//
	// +optional
	// +kubebuilder:validation:Type=object
	// +kubebuilder:pruning:PreserveUnknownFields
	PluginConfig *apiextensionsv1.JSON `json:"pluginConfig,omitempty"`

	// Disabled turns the plugin off on the matched routes.
	//
	// +optional
	// +kubebuilder:default=false
	Disabled bool `json:"disabled,omitempty"`
}

// RouteMatch chooses routes. All fields that are set must match.
//
// +kubebuilder:validation:XValidation:rule="has(self.host) || has(self.path) || has(self.routeName) || has(self.dubboService)",message="match needs at least one of host, path, routeName or dubboService"
// +kubebuilder:validation:XValidation:rule="!has(self.dubboService) || (!has(self.host) && !has(self.path))",message="dubboService cannot be combined with host or path: Dubbo requests have neither"
type RouteMatch struct {
	// Host matches the request's authority (virtual host domain), e.g. api.example.com or
	// *.example.com.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^(\*|(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)$`
	Host string `json:"host,omitempty"`

	// Path matches the request path.
	//
	// +optional
	Path *PathMatch `json:"path,omitempty"`

	// RouteName matches a route by name: the name of an http route in an Istio VirtualService,
	// or of a route in a wasmesh proxy's configuration.
	//
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	RouteName string `json:"routeName,omitempty"`

	// DubboService matches Dubbo requests by interface name, e.g. org.apache.dubbo.demo.Greeter.
	// Served by wasmesh proxies only.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^[A-Za-z_$][A-Za-z0-9_$]*(\.[A-Za-z_$][A-Za-z0-9_$]*)*$`
	DubboService string `json:"dubboService,omitempty"`
}

// PathMatch matches a request path exactly or by prefix.
//
// +kubebuilder:validation:XValidation:rule="has(self.exact) != has(self.prefix)",message="set exactly one of exact or prefix"
type PathMatch struct {
	// Exact path, e.g. /healthz.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^/[^\s?#]*$`
	Exact string `json:"exact,omitempty"`

	// Prefix of the path, e.g. /api/.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^/[^\s?#]*$`
	Prefix string `json:"prefix,omitempty"`
}

// Rollout says how a new module version reaches the selected proxies.
//
// +kubebuilder:validation:XValidation:rule="self.strategy == 'Canary' ? has(self.steps) : !has(self.steps)",message="rollout.steps are required with strategy Canary and not allowed with AllAtOnce",fieldPath=".steps"
type Rollout struct {
	// Strategy is AllAtOnce (the default) or Canary.
	//
	// +optional
	// +kubebuilder:default=AllAtOnce
	Strategy RolloutStrategy `json:"strategy,omitempty"`

	// Steps of a canary rollout, by strictly increasing percent of the selected proxies. After the
	// last step the new version goes to every selected proxy.
	//
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=10
	// +kubebuilder:validation:XValidation:rule="self.map(s, s.percent).isSorted() && self.all(s, self.exists_one(t, t.percent == s.percent))",message="rollout.steps[].percent must be strictly increasing"
	Steps []CanaryStep `json:"steps,omitempty"`

	// Abort rolls back to status.lastGoodDigest automatically when the new version misbehaves.
	//
	// +optional
	Abort *AbortRule `json:"abort,omitempty"`
}

// RolloutStrategy is a way to roll out a new module version.
//
// +kubebuilder:validation:Enum=AllAtOnce;Canary
type RolloutStrategy string

// Rollout strategies.
const (
	RolloutAllAtOnce RolloutStrategy = "AllAtOnce"
	RolloutCanary    RolloutStrategy = "Canary"
)

// CanaryStep sends the new version to a share of the selected proxies, then waits.
type CanaryStep struct {
	// Percent of the selected proxies that run the new version in this step.
	//
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	Percent int32 `json:"percent"`

	// Pause after the step before the next one. Omitted means go on as soon as the proxies of
	// this step have acknowledged the new version.
	//
	// +optional
	Pause *Pause `json:"pause,omitempty"`
}

// Pause waits for a duration or until a person approves the step.
//
// Approve by setting the annotation ApprovedStepAnnotation to the step's index (from 0).
//
// +kubebuilder:validation:XValidation:rule="has(self.duration) != self.untilApproved",message="set exactly one of pause.duration or pause.untilApproved: true"
type Pause struct {
	// Duration to wait, e.g. 5m.
	//
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	Duration *metav1.Duration `json:"duration,omitempty"`

	// UntilApproved waits until the step is approved.
	//
	// +optional
	// +kubebuilder:default=false
	UntilApproved bool `json:"untilApproved,omitempty"`
}

// ApprovedStepAnnotation approves a canary step paused untilApproved: its value is the index of the
// highest approved step, from 0.
const ApprovedStepAnnotation = "wasmesh.io/approved-step"

// AbortRule rolls a new version back when too many proxies reject it or it fails too often.
//
// +kubebuilder:validation:XValidation:rule="has(self.maxNACKs) || has(self.maxErrorRatePercent)",message="abort needs maxNACKs, maxErrorRatePercent or both"
type AbortRule struct {
	// MaxNACKs rolls back when more proxies than this reject (NACK) the new version.
	//
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100000
	MaxNACKs *int32 `json:"maxNACKs,omitempty"`

	// MaxErrorRatePercent rolls back when the share of the plugin's calls that trap or fail,
	// measured on the proxies running the new version over Window, goes above this percent.
	//
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	MaxErrorRatePercent *int32 `json:"maxErrorRatePercent,omitempty"`

	// Window over which the error rate is measured.
	//
	// +optional
	// +kubebuilder:default="1m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	Window *metav1.Duration `json:"window,omitempty"`
}

// WasmDeploymentStatus is the observed state of a WasmDeployment.
type WasmDeploymentStatus struct {
	// ObservedGeneration is the metadata.generation the status describes.
	//
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// ResolvedDigest is the digest spec.url resolved to, as sha256:<hex>.
	//
	// +optional
	// +kubebuilder:validation:Pattern=`^sha256:[a-f0-9]{64}$`
	ResolvedDigest string `json:"resolvedDigest,omitempty"`

	// ResolvedURL is the spec.url resolvedDigest was resolved from.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	ResolvedURL string `json:"resolvedURL,omitempty"`

	// LastGoodDigest is the last digest every selected proxy acknowledged; rollbacks return to it.
	//
	// +optional
	// +kubebuilder:validation:Pattern=`^sha256:[a-f0-9]{64}$`
	LastGoodDigest string `json:"lastGoodDigest,omitempty"`

	// Ready is "acknowledged/selected" summed over the targets, for kubectl get.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=32
	Ready string `json:"ready,omitempty"`

	// Conditions: Resolved, Pulled, Progressing, Ready and Degraded.
	//
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Targets holds the counts of each data plane.
	//
	// +optional
	// +listType=map
	// +listMapKey=target
	// +kubebuilder:validation:MaxItems=2
	Targets []TargetStatus `json:"targets,omitempty"`

	// Rollout is the progress of the current rollout, if any.
	//
	// +optional
	Rollout *RolloutStatus `json:"rollout,omitempty"`
}

// MaxFailures bounds TargetStatus.Failures so a broken fleet cannot grow the object past etcd's
// size limit.
const MaxFailures = 10

// TargetStatus counts the proxies of one data plane.
type TargetStatus struct {
	// Target is the data plane.
	//
	// +required
	Target Target `json:"target"`

	// Selected proxies match the selector or targetRefs.
	//
	// +kubebuilder:validation:Minimum=0
	Selected int32 `json:"selected"`

	// Updated proxies were sent the resolved digest.
	//
	// +kubebuilder:validation:Minimum=0
	Updated int32 `json:"updated"`

	// Acknowledged proxies run the resolved digest.
	//
	// +kubebuilder:validation:Minimum=0
	Acknowledged int32 `json:"acknowledged"`

	// Failed proxies rejected the resolved digest or report the plugin as failing.
	//
	// +kubebuilder:validation:Minimum=0
	Failed int32 `json:"failed"`

	// Failures lists some failing proxies with their messages, at most MaxFailures.
	//
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=10
	Failures []ProxyFailure `json:"failures,omitempty"`
}

// ProxyFailure is one proxy's complaint.
type ProxyFailure struct {
	// Proxy identifies the proxy: its node id, or namespace/pod for Istio.
	//
	// +required
	// +kubebuilder:validation:MaxLength=253
	Proxy string `json:"proxy"`

	// Message is what the proxy reported, cut to 1024 bytes.
	//
	// +required
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message"`

	// Time the failure was last seen.
	//
	// +optional
	Time *metav1.Time `json:"time,omitempty"`
}

// RolloutStatus is the progress of a rollout.
type RolloutStatus struct {
	// Digest being rolled out, as sha256:<hex>.
	//
	// +optional
	// +kubebuilder:validation:Pattern=`^sha256:[a-f0-9]{64}$`
	Digest string `json:"digest,omitempty"`

	// Step is the index of the current canary step, from 0.
	//
	// +optional
	// +kubebuilder:validation:Minimum=0
	Step int32 `json:"step,omitempty"`

	// Percent of the selected proxies that should run Digest now.
	//
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Percent int32 `json:"percent,omitempty"`

	// StepStartedAt is when the current step began.
	//
	// +optional
	StepStartedAt *metav1.Time `json:"stepStartedAt,omitempty"`
}
