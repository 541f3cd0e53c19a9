package controller

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/opencontainers/go-digest"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/wasmesh/wasmesh/oci"
	"github.com/wasmesh/wasmesh/operator/api/v1alpha1"
	"github.com/wasmesh/wasmesh/operator/modules"
	"github.com/wasmesh/wasmesh/operator/store"
	"github.com/wasmesh/wasmesh/operator/xds"
	"github.com/wasmesh/wasmesh/xdsapi"
)

// Delivery is the xDS side the reconciler drives; *xds.Server satisfies it.
type Delivery interface {
	Nodes() []xdsapi.Node
	Progress(deployment string) map[string]xds.Progress
	SetPlan(deployment string, p xds.Plan) error
}

var _ Delivery = (*xds.Server)(nil)

// Reconciler reconciles WasmDeployments.
type Reconciler struct {
	Store  store.Store
	Puller *modules.Puller
	// Delivery is nil when no wasmesh proxies are served (then only the module is resolved and pulled).
	Delivery Delivery
	// ModulesURL is the module server's base URL as proxies reach it, e.g. http://wasmesh-operator:8081.
	ModulesURL string
	// Istio writes WasmPlugin and EnvoyFilter objects for deployments targeting Istio; nil in directory mode.
	Istio IstioApplier
	// Metrics is optional.
	Metrics *Metrics
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// ResolveInterval is how often a deployment with imagePullPolicy Always has its tag resolved again even
	// when nothing else happens; 0 is DefaultResolveInterval.
	ResolveInterval time.Duration

	// aborts remembers the rollouts this reconciler aborted, by deployment key, until the spec or the resolved
	// digest changes. The status is the durable record of an abort, but the status a reconcile reads can be
	// older than the reconciler's own last write (an informer cache that lags, a write that lost a conflict):
	// re-deriving the decision from such a status and from load reports would put the rejected version back on
	// the canaries, or lose the rollback once the reports leave the abort window.
	mu     sync.Mutex
	aborts map[string]abortRecord
}

// abortRecord is an abort decision: which generation and digest it concerns, the rollback target, and the
// Progressing condition and canary state the status showed when it was taken.
type abortRecord struct {
	generation  int64
	digest      string
	lastGood    string
	progressing metav1.Condition
	rollout     v1alpha1.RolloutStatus
}

// DefaultResolveInterval is Reconciler.ResolveInterval's default: a moved tag reaches the fleet within five
// minutes, at the cost of one registry HEAD per Always deployment per interval.
const DefaultResolveInterval = 5 * time.Minute

var _ reconcile.Reconciler = (*Reconciler)(nil)

// pullRetry is how soon a failed resolve or pull is tried again when the error is not returned (the
// workqueue's backoff applies when it is).
const pullRetry = 30 * time.Second

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (res reconcile.Result, err error) {
	start := time.Now()
	log := logr.FromContextOrDiscard(ctx)
	defer func() { r.Metrics.reconciled(err, time.Since(start)) }()
	key := req.NamespacedName.String()

	wd, err := r.Store.Get(ctx, req.NamespacedName)
	if errors.Is(err, store.ErrNotFound) {
		r.forgetAbort(key)
		if r.Delivery != nil {
			if err := r.Delivery.SetPlan(key, nil); err != nil {
				return reconcile.Result{}, fmt.Errorf("withdrawing %s from proxies: %w", key, err)
			}
		}
		log.V(1).Info("WasmDeployment gone: withdrawn from proxies")
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	orig := wd.Status.DeepCopy()
	st := &wd.Status
	gen := wd.Generation
	now := r.now()
	oldConds := append([]metav1.Condition(nil), st.Conditions...)

	// 1. Credentials, from the deployment's own namespace only.
	var dockerConfig []byte
	var fault *failure
	if s := wd.Spec.ImagePullSecret; s != "" {
		dockerConfig, err = r.Store.PullSecret(ctx, wd.Namespace, s)
		if err != nil {
			fault = &failure{cond: v1alpha1.ConditionResolved, reason: v1alpha1.ReasonPullSecretMissing,
				msg: fmt.Sprintf("imagePullSecret %q in namespace %s: %v: create a kubernetes.io/dockerconfigjson secret there", s, wd.Namespace, err)}
		}
	}

	// 2. Resolve. IfNotPresent: the tag is resolved again only when spec.url changed or the last attempt
	// failed, so a registry outage (or a tag pushed over) does not disturb a deployment that is running.
	// Always: on every reconcile, and the result asks for one more after ResolveInterval.
	manifest := digest.Digest(st.ResolvedDigest)
	always := wd.Spec.ImagePullPolicy == v1alpha1.PullAlways
	needResolve := always || manifest == "" || st.ResolvedURL != wd.Spec.URL ||
		(wd.Spec.SHA256 != "" && manifest.Encoded() != wd.Spec.SHA256) ||
		!meta.IsStatusConditionTrue(st.Conditions, v1alpha1.ConditionResolved) ||
		!meta.IsStatusConditionTrue(st.Conditions, v1alpha1.ConditionPulled)
	if fault == nil && needResolve {
		d, err := r.Puller.Resolve(ctx, wd.Spec.URL, dockerConfig)
		switch {
		case err != nil:
			fault = &failure{cond: v1alpha1.ConditionResolved, reason: v1alpha1.ReasonResolveFailed, msg: fmt.Sprintf("resolving %s: %v", wd.Spec.URL, err)}
		case wd.Spec.SHA256 != "" && d.Encoded() != wd.Spec.SHA256:
			fault = &failure{cond: v1alpha1.ConditionResolved, reason: v1alpha1.ReasonDigestMismatch,
				msg: fmt.Sprintf("%s resolved to %s but spec.sha256 pins sha256:%s: push the pinned module or update spec.sha256", wd.Spec.URL, d, wd.Spec.SHA256)}
		default:
			manifest = d
		}
	}
	if fault == nil {
		meta.SetStatusCondition(&st.Conditions, cond(v1alpha1.ConditionResolved, true, v1alpha1.ReasonResolved, fmt.Sprintf("%s is %s", wd.Spec.URL, manifest), gen))
	}

	// 3. Pull once per digest into the shared cache (a hit after the first time) and verify.
	var newMod *modules.Module
	if fault == nil {
		m, err := r.Puller.Fetch(ctx, wd.Spec.URL, manifest, dockerConfig)
		if err != nil {
			reason := v1alpha1.ReasonPullFailed
			switch {
			case errors.Is(err, oci.ErrNotWasm), errors.Is(err, oci.ErrNoModule), errors.Is(err, oci.ErrUnsupportedMediaType), errors.Is(err, oci.ErrTooLarge):
				reason = v1alpha1.ReasonInvalidModule
			case errors.Is(err, oci.ErrDigestMismatch):
				reason = v1alpha1.ReasonDigestMismatch
			}
			r.Metrics.pulled("failed")
			fault = &failure{cond: v1alpha1.ConditionPulled, reason: reason, msg: fmt.Sprintf("pulling %s (%s): %v", wd.Spec.URL, manifest, err)}
		} else {
			newMod = &m
			st.ResolvedDigest, st.ResolvedURL = manifest.String(), wd.Spec.URL
			if m.Fetched {
				r.Metrics.pulled("fetched")
				r.Store.Event(wd, store.EventNormal, v1alpha1.ReasonPulled, fmt.Sprintf("pulled %s: module %s, %d bytes", manifest, m.ModuleDigest, m.Size))
			} else {
				r.Metrics.pulled("cached")
			}
			meta.SetStatusCondition(&st.Conditions, cond(v1alpha1.ConditionPulled, true, v1alpha1.ReasonPulled, fmt.Sprintf("module %s (%d bytes) verified and served", m.ModuleDigest, m.Size), gen))
		}
	}
	if fault != nil {
		keep := ""
		if st.LastGoodDigest != "" {
			keep = "; proxies keep running " + st.LastGoodDigest
		}
		fault.msg += keep
		meta.SetStatusCondition(&st.Conditions, cond(fault.cond, false, fault.reason, fault.msg, gen))
		if fault.cond == v1alpha1.ConditionResolved {
			meta.SetStatusCondition(&st.Conditions, cond(v1alpha1.ConditionPulled, false, fault.reason, "nothing to pull: "+fault.msg, gen))
		}
		// Events every time, not only on a change: with FAIL_OPEN a proxy silently skips a plugin it cannot get,
		// so the operator is where someone notices; the recorder aggregates repeats.
		r.Store.Event(wd, store.EventWarning, fault.reason, fault.msg)
		log.Info("module not available", "reason", fault.reason, "message", fault.msg)
	}

	// 4. Deliver to the selected wasmesh proxies and read back their acknowledgements. A rollout this reconciler
	// aborted stays aborted whatever status was read.
	if newMod != nil {
		r.reapplyAbort(key, wd, newMod.ManifestDigest.String())
	}
	requeue := time.Duration(0)
	if r.Delivery != nil && targetsWasmesh(wd) {
		var oldMod *modules.Module
		if st.LastGoodDigest != "" && (newMod == nil || st.LastGoodDigest != newMod.ManifestDigest.String()) {
			if m, err := r.Puller.Fetch(ctx, wd.Spec.URL, digest.Digest(st.LastGoodDigest), dockerConfig); err == nil {
				oldMod = &m
			} else {
				log.Info("last good module unavailable: no rollback target", "digest", st.LastGoodDigest, "err", err.Error())
			}
		}
		if newMod == nil && oldMod == nil {
			// Nothing verified to send: leave whatever proxies run untouched rather than withdraw a plugin
			// (withdrawing an authentication filter because a registry is down would fail open).
			r.setProgressConditions(wd, nil, 0, gen)
		} else {
			requeue, err = r.deliver(ctx, wd, newMod, oldMod, now)
			if err != nil {
				return reconcile.Result{}, err
			}
		}
	} else {
		st.Targets = nil
		r.setProgressConditions(wd, nil, 0, gen)
	}

	// 5. Istio's Envoys get the resolved digest through a WasmPlugin (all at once: Istio has no canary).
	var istioErr error
	if r.Istio != nil && newMod != nil && slices.Contains(wd.Spec.Targets, v1alpha1.TargetIstio) {
		if istioErr = r.Istio.Apply(ctx, wd, st.ResolvedDigest); istioErr != nil {
			r.Store.Event(wd, store.EventWarning, "IstioApplyFailed", istioErr.Error())
		} else {
			st.Targets = append(st.Targets, v1alpha1.TargetStatus{Target: v1alpha1.TargetIstio})
		}
	}

	st.ObservedGeneration = gen
	r.emitTransitions(wd, oldConds)
	if !equality.Semantic.DeepEqual(orig, st) {
		if err := r.Store.UpdateStatus(ctx, wd); err != nil {
			return reconcile.Result{}, err
		}
	}
	if istioErr != nil {
		return reconcile.Result{}, istioErr // the workqueue's backoff retries
	}
	if fault != nil {
		return reconcile.Result{RequeueAfter: pullRetry}, nil
	}
	if always {
		requeue = soonest(requeue, r.resolveInterval())
	}
	return reconcile.Result{RequeueAfter: requeue}, nil
}

func (r *Reconciler) resolveInterval() time.Duration {
	if r.ResolveInterval > 0 {
		return r.ResolveInterval
	}
	return DefaultResolveInterval
}

// soonest is the earlier of two requeue delays, 0 meaning none.
func soonest(a, b time.Duration) time.Duration {
	if a == 0 || (b != 0 && b < a) {
		return b
	}
	return a
}

type failure struct{ cond, reason, msg string }

func cond(t string, ok bool, reason, msg string, gen int64) metav1.Condition {
	s := metav1.ConditionFalse
	if ok {
		s = metav1.ConditionTrue
	}
	if len(msg) > 32768 {
		msg = msg[:32768]
	}
	return metav1.Condition{Type: t, Status: s, Reason: reason, Message: msg, ObservedGeneration: gen}
}

func targetsWasmesh(wd *v1alpha1.WasmDeployment) bool {
	if wd.Spec.Selector == nil {
		return false // targetRefs attach to Istio gateways only
	}
	if len(wd.Spec.Targets) == 0 {
		return true
	}
	for _, t := range wd.Spec.Targets {
		if t == v1alpha1.TargetWasmesh {
			return true
		}
	}
	return false
}

// selects says whether a proxy is chosen by wd: same namespace (as Istio's WasmPlugin outside the root
// namespace) and all the selector's labels.
func selects(wd *v1alpha1.WasmDeployment, n xdsapi.Node) bool {
	if n.Namespace != wd.Namespace {
		return false
	}
	for k, v := range wd.Spec.Selector.MatchLabels {
		if got, ok := n.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// canaryOrder sorts nodes by a hash of deployment and node, so each step's canaries are a superset of the
// previous step's and different deployments pick different canaries.
func canaryOrder(key string, nodes []xdsapi.Node) {
	ranks := make(map[string]uint64, len(nodes)) // hashed once per node, not per comparison
	for _, n := range nodes {
		s := sha256.Sum256([]byte(key + "\x00" + n.ID))
		ranks[n.ID] = binary.BigEndian.Uint64(s[:8])
	}
	sort.Slice(nodes, func(i, j int) bool { return ranks[nodes[i].ID] < ranks[nodes[j].ID] })
}

// rememberAbort records the abort of wd's rollout of manifest, just decided, with the status it set.
func (r *Reconciler) rememberAbort(key string, wd *v1alpha1.WasmDeployment, manifest string) {
	rec := abortRecord{generation: wd.Generation, digest: manifest, lastGood: wd.Status.LastGoodDigest}
	if c := meta.FindStatusCondition(wd.Status.Conditions, v1alpha1.ConditionProgressing); c != nil {
		rec.progressing = *c
	}
	if wd.Status.Rollout != nil {
		wd.Status.Rollout.DeepCopyInto(&rec.rollout)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.aborts == nil {
		r.aborts = map[string]abortRecord{}
	}
	r.aborts[key] = rec
}

// reapplyAbort puts back into wd's status the abort of its rollout of manifest if this reconciler decided it
// and the status read does not show it yet, so deliver keeps every proxy on the rollback target without
// deciding again. A newer generation or another digest starts a new rollout: the record is dropped.
func (r *Reconciler) reapplyAbort(key string, wd *v1alpha1.WasmDeployment, manifest string) {
	r.mu.Lock()
	rec, ok := r.aborts[key]
	if ok && (wd.Generation > rec.generation || rec.digest != manifest) {
		delete(r.aborts, key)
		ok = false
	}
	r.mu.Unlock()
	if !ok || wd.Generation != rec.generation || rolledBack(wd, manifest) {
		return
	}
	st := &wd.Status
	st.LastGoodDigest = rec.lastGood
	st.Rollout = rec.rollout.DeepCopy()
	meta.SetStatusCondition(&st.Conditions, rec.progressing)
}

func (r *Reconciler) forgetAbort(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.aborts, key)
}

func rolledBack(wd *v1alpha1.WasmDeployment, manifest string) bool {
	c := meta.FindStatusCondition(wd.Status.Conditions, v1alpha1.ConditionProgressing)
	return c != nil && isRollback(c.Reason) && c.ObservedGeneration == wd.Generation &&
		wd.Status.Rollout != nil && wd.Status.Rollout.Digest == manifest
}

// isRollback says whether a Progressing reason is one of an aborted rollout.
func isRollback(reason string) bool {
	return reason == v1alpha1.ReasonRolledBack || reason == v1alpha1.ReasonErrorRateExceeded
}

// LoadReports is the optional ability of a Delivery to tell how a filter fares where it runs (proxies' load
// reports); *xds.Server has it. Without it abort.maxErrorRatePercent is not acted on.
type LoadReports interface {
	Load(deployment, moduleDigest string, since time.Time) (calls, failures uint64)
}

var _ LoadReports = (*xds.Server)(nil)

// minErrorRateCalls is how many calls the new module must have served in the window before its error rate
// can abort a rollout: one trapped call out of one is noise, not a rate.
const minErrorRateCalls = 10

// errorRateOver reads the new module's calls and failures over the abort window and says whether the failed
// share is above abort.maxErrorRatePercent. Calls are counted by module digest, so they come from the proxies
// running the new version (the canaries) only.
func (r *Reconciler) errorRateOver(key string, newMod *modules.Module, a *v1alpha1.AbortRule, now time.Time) (calls, failures uint64, over bool) {
	lr, ok := r.Delivery.(LoadReports)
	if !ok || newMod == nil || a.MaxErrorRatePercent == nil {
		return 0, 0, false
	}
	calls, failures = lr.Load(key, newMod.ModuleDigest.String(), now.Add(-abortWindow(a)))
	return calls, failures, calls >= minErrorRateCalls && failures*100 > calls*uint64(*a.MaxErrorRatePercent)
}

// abortWindow is abort.window, one minute when unset (the CRD's default).
func abortWindow(a *v1alpha1.AbortRule) time.Duration {
	if a.Window != nil && a.Window.Duration > 0 {
		return a.Window.Duration
	}
	return time.Minute
}

// deliver plans the filter of every selected proxy, reads their progress, advances or aborts the rollout and
// fills the status. It returns when to look again (a timed pause), 0 for on the next event.
func (r *Reconciler) deliver(ctx context.Context, wd *v1alpha1.WasmDeployment, newMod, oldMod *modules.Module, now time.Time) (time.Duration, error) {
	st := &wd.Status
	key := fmt.Sprintf("%s/%s", wd.Namespace, wd.Name)
	gen := wd.Generation
	var selected []xdsapi.Node
	for _, n := range r.Delivery.Nodes() {
		if selects(wd, n) {
			selected = append(selected, n)
		}
	}
	canaryOrder(key, selected)

	var newB, oldB *xdsapi.Built
	var err error
	if newMod != nil {
		if newB, err = xdsapi.Build(filterOf(wd, newMod, r.ModulesURL)); err != nil {
			return 0, fmt.Errorf("building the filter of %s: %w", key, err)
		}
	}
	if oldMod != nil {
		if oldB, err = xdsapi.Build(filterOf(wd, oldMod, r.ModulesURL)); err != nil {
			return 0, fmt.Errorf("building the filter of %s: %w", key, err)
		}
	}
	manifest := ""
	if newMod != nil {
		manifest = newMod.ManifestDigest.String()
	}
	back := newB != nil && oldB != nil && rolledBack(wd, manifest)
	ro := wd.Spec.Rollout
	canary := newB != nil && oldB != nil && !back && ro != nil && ro.Strategy == v1alpha1.RolloutCanary && len(ro.Steps) > 0
	if canary && (st.Rollout == nil || st.Rollout.Digest != manifest) {
		st.Rollout = &v1alpha1.RolloutStatus{Digest: manifest, Step: 0, Percent: ro.Steps[0].Percent, StepStartedAt: &metav1.Time{Time: now}}
	}
	if !canary && !back {
		if newB != nil {
			st.Rollout = nil
		}
	}

	plan := func() (xds.Plan, int) {
		p := xds.Plan{}
		percent := int32(100)
		switch {
		case back || newB == nil:
			percent = 0
		case canary:
			percent = st.Rollout.Percent
		}
		k := (len(selected)*int(percent) + 99) / 100
		for i, n := range selected {
			if i < k {
				p[n.ID] = newB
			} else if oldB != nil {
				p[n.ID] = oldB
			}
		}
		return p, k
	}
	p, updated := plan()
	if err := r.Delivery.SetPlan(key, p); err != nil {
		return 0, fmt.Errorf("delivering %s: %w", key, err)
	}

	count := func(updated int) (acked, failed int, failures []v1alpha1.ProxyFailure) {
		prog := r.Delivery.Progress(key)
		for _, n := range selected {
			pr := prog[n.ID]
			if newB != nil && pr.Acked == newB.Hash {
				acked++
			}
			if newB != nil && pr.Nacked == newB.Hash {
				failed++
				msg := pr.Message
				if len(msg) > 1024 {
					msg = msg[:1024]
				}
				failures = append(failures, v1alpha1.ProxyFailure{Proxy: n.ID, Message: msg, Time: &metav1.Time{Time: pr.Time.Truncate(time.Second)}})
			}
		}
		sort.Slice(failures, func(i, j int) bool { return failures[i].Proxy < failures[j].Proxy })
		if len(failures) > v1alpha1.MaxFailures {
			failures = failures[:v1alpha1.MaxFailures]
		}
		return acked, failed, failures
	}
	acked, failed, failures := count(updated)

	// Abort: too many proxies rejected the new version, or it fails too often where it runs; every proxy goes
	// back to the last good one.
	if !back && oldB != nil && ro != nil && ro.Abort != nil {
		reason, msg := "", ""
		if ro.Abort.MaxNACKs != nil && failed > int(*ro.Abort.MaxNACKs) {
			reason = v1alpha1.ReasonRolledBack
			msg = fmt.Sprintf("%d proxies rejected %s (abort.maxNACKs %d), e.g. %s: %s; rolled back to %s", failed, manifest, *ro.Abort.MaxNACKs, failures[0].Proxy, failures[0].Message, st.LastGoodDigest)
		} else if calls, fails, over := r.errorRateOver(key, newMod, ro.Abort, now); over {
			reason = v1alpha1.ReasonErrorRateExceeded
			msg = fmt.Sprintf("%s failed %d of %d calls (%.1f%%) over the last %s, above abort.maxErrorRatePercent %d; rolled back to %s",
				manifest, fails, calls, 100*float64(fails)/float64(calls), abortWindow(ro.Abort), *ro.Abort.MaxErrorRatePercent, st.LastGoodDigest)
		}
		if reason != "" {
			back = true
			if st.Rollout == nil || st.Rollout.Digest != manifest {
				st.Rollout = &v1alpha1.RolloutStatus{Digest: manifest, Percent: 100, StepStartedAt: &metav1.Time{Time: now}}
			}
			meta.SetStatusCondition(&st.Conditions, cond(v1alpha1.ConditionProgressing, false, reason, msg, gen))
			r.rememberAbort(key, wd, manifest)
			r.Store.Event(wd, store.EventWarning, reason, msg)
			logr.FromContextOrDiscard(ctx).Info("rollout aborted", "digest", manifest, "lastGood", st.LastGoodDigest, "reason", reason)
			canary = false
			p, updated = plan()
			if err := r.Delivery.SetPlan(key, p); err != nil {
				return 0, fmt.Errorf("rolling back %s: %w", key, err)
			}
		}
	}

	// Canary steps: go on when this step's proxies all acknowledged and its pause is over.
	var requeue time.Duration
	waiting := ""
	if canary && int(st.Rollout.Step) < len(ro.Steps) && failed == 0 && acked >= updated {
		step := ro.Steps[st.Rollout.Step]
		advance := true
		if step.Pause != nil {
			switch {
			case step.Pause.Duration != nil:
				left := st.Rollout.StepStartedAt.Add(step.Pause.Duration.Duration).Sub(now)
				if left > 0 {
					advance, requeue, waiting = false, left, v1alpha1.ReasonWaitingForPause
				}
			case step.Pause.UntilApproved:
				approved, err := strconv.Atoi(wd.Annotations[v1alpha1.ApprovedStepAnnotation])
				if err != nil || approved < int(st.Rollout.Step) {
					advance, waiting = false, v1alpha1.ReasonWaitingApproval
				}
			}
		}
		if advance {
			st.Rollout.Step++
			st.Rollout.Percent = 100
			if int(st.Rollout.Step) < len(ro.Steps) {
				st.Rollout.Percent = ro.Steps[st.Rollout.Step].Percent
			}
			st.Rollout.StepStartedAt = &metav1.Time{Time: now}
			p, updated = plan()
			if err := r.Delivery.SetPlan(key, p); err != nil {
				return 0, fmt.Errorf("delivering %s: %w", key, err)
			}
			acked, failed, failures = count(updated)
		}
	}

	sel := int32(len(selected))
	if back && failed == 0 && len(st.Targets) == 1 && st.Targets[0].Failed > 0 {
		// Rolled back, the proxies acknowledged the old version again and cleared their rejection: keep the
		// rejections that caused the rollback on display until the spec changes.
		failed, failures = int(st.Targets[0].Failed), st.Targets[0].Failures
	}
	st.Targets = []v1alpha1.TargetStatus{{Target: v1alpha1.TargetWasmesh, Selected: sel, Updated: int32(updated), Acknowledged: int32(acked), Failed: int32(failed), Failures: failures}}
	st.Ready = fmt.Sprintf("%d/%d", acked, sel)
	// The new version becomes the rollback target only when the rollout is over: a paused canary step that
	// covers every selected proxy (50% of one proxy, a 100% bake step) is still watched by the abort rule,
	// which needs the old version to go back to.
	paused := canary && int(st.Rollout.Step) < len(ro.Steps)
	if !back && !paused && newB != nil && sel > 0 && acked == len(selected) {
		st.LastGoodDigest = manifest
	}
	r.setProgressConditions(wd, &progress{back: back, waiting: waiting, selected: len(selected), acked: acked, failed: failures, failedN: failed, manifest: manifest}, 0, gen)
	return requeue, nil
}

type progress struct {
	back            bool
	waiting         string
	selected, acked int
	failedN         int
	failed          []v1alpha1.ProxyFailure
	manifest        string
}

// setProgressConditions fills Progressing, Ready and Degraded; p is nil when nothing was delivered.
func (r *Reconciler) setProgressConditions(wd *v1alpha1.WasmDeployment, p *progress, _ int, gen int64) {
	st := &wd.Status
	set := func(t string, ok bool, reason, msg string) {
		meta.SetStatusCondition(&st.Conditions, cond(t, ok, reason, msg, gen))
	}
	if p == nil {
		pulled := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionPulled)
		switch {
		case pulled != nil && pulled.Status != metav1.ConditionTrue:
			set(v1alpha1.ConditionReady, false, pulled.Reason, "the module is not available: "+pulled.Message)
			set(v1alpha1.ConditionProgressing, false, pulled.Reason, "waiting for the module")
		default:
			set(v1alpha1.ConditionReady, true, v1alpha1.ReasonNoProxiesSelected, "no wasmesh proxies are targeted (selector unset or Wasmesh not in spec.targets)")
			set(v1alpha1.ConditionProgressing, false, v1alpha1.ReasonRolloutComplete, "nothing to roll out")
		}
		set(v1alpha1.ConditionDegraded, false, v1alpha1.ReasonHealthy, "no proxy reported a problem")
		return
	}
	switch {
	case p.back:
		// Progressing=RolledBack (or ErrorRateExceeded) was set when the rollback happened; keep its message.
		if c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionProgressing); c == nil || !isRollback(c.Reason) {
			set(v1alpha1.ConditionProgressing, false, v1alpha1.ReasonRolledBack, "rolled back to "+st.LastGoodDigest)
		}
	case p.acked < p.selected || p.waiting != "":
		reason := v1alpha1.ReasonRollingOut
		if p.waiting != "" {
			reason = p.waiting
		}
		msg := fmt.Sprintf("%d of %d proxies run %s", p.acked, p.selected, p.manifest)
		if st.Rollout != nil {
			msg += fmt.Sprintf(" (canary step %d, %d%%)", st.Rollout.Step, st.Rollout.Percent)
		}
		set(v1alpha1.ConditionProgressing, true, reason, msg)
	default:
		set(v1alpha1.ConditionProgressing, false, v1alpha1.ReasonRolloutComplete, fmt.Sprintf("%d of %d proxies run %s", p.acked, p.selected, p.manifest))
	}
	switch {
	case p.back:
		set(v1alpha1.ConditionReady, false, v1alpha1.ReasonRolledBack, fmt.Sprintf("%s was rolled back; proxies run %s", p.manifest, st.LastGoodDigest))
	case p.selected == 0:
		set(v1alpha1.ConditionReady, true, v1alpha1.ReasonNoProxiesSelected, "no connected proxy matches the selector; proxies that connect get "+p.manifest)
	case p.acked == p.selected:
		set(v1alpha1.ConditionReady, true, v1alpha1.ReasonAllAcknowledged, fmt.Sprintf("all %d selected proxies run %s", p.selected, p.manifest))
	default:
		set(v1alpha1.ConditionReady, false, v1alpha1.ReasonRollingOut, fmt.Sprintf("%d of %d selected proxies run %s", p.acked, p.selected, p.manifest))
	}
	switch {
	case p.back:
		c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionProgressing)
		set(v1alpha1.ConditionDegraded, true, c.Reason, c.Message)
	case p.failedN > 0:
		set(v1alpha1.ConditionDegraded, true, v1alpha1.ReasonProxiesRejected, fmt.Sprintf("%d proxies rejected %s, e.g. %s: %s", p.failedN, p.manifest, p.failed[0].Proxy, p.failed[0].Message))
	default:
		set(v1alpha1.ConditionDegraded, false, v1alpha1.ReasonHealthy, "no proxy reported a problem")
	}
}

// emitTransitions records an event when a proxy-facing condition turns bad (pull failures have their own).
func (r *Reconciler) emitTransitions(wd *v1alpha1.WasmDeployment, old []metav1.Condition) {
	c := meta.FindStatusCondition(wd.Status.Conditions, v1alpha1.ConditionDegraded)
	if c == nil || c.Status != metav1.ConditionTrue || c.Reason != v1alpha1.ReasonProxiesRejected {
		return
	}
	if o := meta.FindStatusCondition(old, v1alpha1.ConditionDegraded); o != nil && o.Status == c.Status && o.Reason == c.Reason && o.Message == c.Message {
		return
	}
	r.Store.Event(wd, store.EventWarning, c.Reason, c.Message)
}

// filterOf turns the spec and a module into what a proxy runs.
func filterOf(wd *v1alpha1.WasmDeployment, m *modules.Module, base string) xdsapi.Filter {
	s := wd.Spec
	f := xdsapi.Filter{
		Deployment:   wd.Namespace + "/" + wd.Name,
		ModuleDigest: m.ModuleDigest.String(),
		URL:          modules.URL(base, m.ModuleDigest),
		RootID:       s.PluginName,
		VMID:         wd.Namespace + "/" + wd.Name,
		FailStrategy: string(s.FailStrategy),
		Type:         string(s.Type),
		Phase:        string(s.Phase),
	}
	if f.Type == "" {
		f.Type = string(v1alpha1.PluginTypeHTTP)
	}
	if f.FailStrategy == "" {
		f.FailStrategy = string(v1alpha1.FailClose)
	}
	if s.PluginConfig != nil {
		f.Configuration = s.PluginConfig.Raw
	}
	if s.Priority != nil {
		f.Priority = *s.Priority
	}
	if s.VMConfig != nil {
		for _, e := range s.VMConfig.Env {
			if e.ValueFrom == v1alpha1.EnvHost {
				f.HostEnvKeys = append(f.HostEnvKeys, e.Name)
			} else {
				if f.Env == nil {
					f.Env = map[string]string{}
				}
				f.Env[e.Name] = e.Value
			}
		}
	}
	for _, m := range s.Match {
		tm := xdsapi.TrafficMatch{Mode: string(m.Mode)}
		for _, p := range m.Ports {
			tm.Ports = append(tm.Ports, p.Number)
		}
		f.Match = append(f.Match, tm)
	}
	for _, ro := range s.Routes {
		o := xdsapi.RouteOverride{Name: ro.Name, Host: ro.Match.Host, RouteName: ro.Match.RouteName, DubboService: ro.Match.DubboService, Disabled: ro.Disabled}
		if ro.Match.Path != nil {
			o.PathExact, o.PathPrefix = ro.Match.Path.Exact, ro.Match.Path.Prefix
		}
		if ro.PluginConfig != nil {
			o.Configuration = strings.TrimSpace(string(ro.PluginConfig.Raw))
		}
		f.Routes = append(f.Routes, o)
	}
	return f
}
