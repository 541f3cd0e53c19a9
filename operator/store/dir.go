package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/yaml"

	"github.com/wasmesh/wasmesh/internal/atomicfile"
	"github.com/wasmesh/wasmesh/operator/api/v1alpha1"
)

// StatusSuffix ends the name of the file where Dir writes an object's status: <namespace>.<name>.status.yaml
// (a namespace has no dot, so the name is unambiguous). Files with this suffix are never read as input.
const StatusSuffix = ".status.yaml"

// StatusKind is the kind written in status files.
const StatusKind = "WasmDeploymentStatus"

// maxFileEvents bounds the events kept in a status file.
const maxFileEvents = 20

// DirOptions configure a Dir store.
type DirOptions struct {
	// Dir holds the *.yaml / *.yml files. Required.
	Dir string
	// Interval between two scans of the directory; 0 means one second. Polling (a stat per file) rather than
	// inotify keeps the store right on every filesystem, including the bind mounts and network shares where
	// inotify misses changes, at a cost that is negligible for the tens of files a directory holds.
	Interval time.Duration
}

// StatusFile is the content of a <namespace>.<name>.status.yaml file.
type StatusFile struct {
	APIVersion string                        `json:"apiVersion"`
	Kind       string                        `json:"kind"`
	Metadata   StatusMeta                    `json:"metadata"`
	Status     v1alpha1.WasmDeploymentStatus `json:"status"`
	Events     []FileEvent                   `json:"events,omitempty"`
}

// StatusMeta identifies the object a status file belongs to. Generation counts the changes of its spec, as the
// API server's metadata.generation does; SpecSHA256 is the hash it was counted from.
type StatusMeta struct {
	Name       string `json:"name"`
	Namespace  string `json:"namespace"`
	Generation int64  `json:"generation"`
	SpecSHA256 string `json:"specSHA256"`
}

// FileEvent is an event kept in a status file; repeats of the last one are counted, as Kubernetes does.
type FileEvent struct {
	Time    metav1.Time `json:"time"`
	Type    string      `json:"type"`
	Reason  string      `json:"reason"`
	Message string      `json:"message"`
	Count   int32       `json:"count"`
}

// Dir is a Store over a directory of YAML files. It is safe for concurrent use.
type Dir struct {
	opts    DirOptions
	changes chan event.GenericEvent

	mu      sync.Mutex
	files   map[string]fileState // by path
	objects map[types.NamespacedName]*dirObject
	secrets map[types.NamespacedName]*corev1.Secret
}

type fileState struct {
	mod  time.Time
	size int64
	objs Objects
}

type dirObject struct {
	wd     *v1alpha1.WasmDeployment // as read from its file, with metadata.generation set
	hash   string                   // of spec, labels and annotations: what triggers a reconcile
	status StatusFile
}

var _ Store = (*Dir)(nil)

// NewDir returns a Dir store; call Start to load and watch the directory.
func NewDir(opts DirOptions) *Dir {
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	return &Dir{
		opts:    opts,
		changes: make(chan event.GenericEvent, 1024),
		files:   map[string]fileState{},
		objects: map[types.NamespacedName]*dirObject{},
		secrets: map[types.NamespacedName]*corev1.Secret{},
	}
}

// Changes delivers the key of every WasmDeployment that appeared, changed or disappeared.
func (d *Dir) Changes() <-chan event.GenericEvent { return d.changes }

// Start scans the directory now and every Interval until ctx ends. A file that does not parse is logged and
// its previous content kept, so a half-saved edit does not withdraw a running plugin.
func (d *Dir) Start(ctx context.Context) error {
	log := logr.FromContextOrDiscard(ctx).WithName("dir-store")
	if err := os.MkdirAll(d.opts.Dir, 0o755); err != nil {
		return fmt.Errorf("directory store %s: %w", d.opts.Dir, err)
	}
	t := time.NewTicker(d.opts.Interval)
	defer t.Stop()
	for {
		for _, err := range d.Scan() {
			log.Error(err, "skipping a file of the directory until it is fixed")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Scan reads the files that changed since the last scan and announces the changed keys on Changes. It returns
// the errors of the files it could not parse.
func (d *Dir) Scan() []error {
	var errs []error
	entries, err := os.ReadDir(d.opts.Dir)
	if err != nil {
		return []error{fmt.Errorf("directory store %s: %w", d.opts.Dir, err)}
	}
	d.mu.Lock()
	seen := map[string]bool{}
	changed := false
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || strings.HasSuffix(name, StatusSuffix) ||
			!(strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) {
			continue
		}
		path := filepath.Join(d.opts.Dir, name)
		seen[path] = true
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		old, ok := d.files[path]
		if ok && old.mod.Equal(fi.ModTime()) && old.size == fi.Size() {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("reading %s: %w", path, err))
			continue
		}
		objs, err := ParseFile(path, data)
		if err != nil {
			errs = append(errs, err)
			// Remember the bad version so it is not parsed again until it changes, but keep its old objects.
			d.files[path] = fileState{mod: fi.ModTime(), size: fi.Size(), objs: old.objs}
			continue
		}
		d.files[path] = fileState{mod: fi.ModTime(), size: fi.Size(), objs: objs}
		changed = true
	}
	for path := range d.files {
		if !seen[path] {
			delete(d.files, path)
			changed = true
		}
	}
	var keys []types.NamespacedName
	if changed || len(d.objects) == 0 && len(d.files) > 0 {
		var idxErrs []error
		keys, idxErrs = d.reindexLocked()
		errs = append(errs, idxErrs...)
	}
	d.mu.Unlock()
	for _, k := range keys {
		d.changes <- event.GenericEvent{Object: &v1alpha1.WasmDeployment{ObjectMeta: metav1.ObjectMeta{Namespace: k.Namespace, Name: k.Name}}}
	}
	return errs
}

// reindexLocked rebuilds the objects from the files and returns the keys whose spec, labels or annotations
// changed, appeared or disappeared.
func (d *Dir) reindexLocked() ([]types.NamespacedName, []error) {
	var errs []error
	paths := make([]string, 0, len(d.files))
	for p := range d.files {
		paths = append(paths, p)
	}
	sort.Strings(paths) // the first file wins when two declare the same object
	wds := map[types.NamespacedName]*v1alpha1.WasmDeployment{}
	secrets := map[types.NamespacedName]*corev1.Secret{}
	for _, p := range paths {
		for _, wd := range d.files[p].objs.Deployments {
			k := types.NamespacedName{Namespace: wd.Namespace, Name: wd.Name}
			if _, dup := wds[k]; dup {
				errs = append(errs, fmt.Errorf("%s: WasmDeployment %s is declared twice; the first file (by name) wins", p, k))
				continue
			}
			wds[k] = wd
		}
		for _, s := range d.files[p].objs.Secrets {
			secrets[types.NamespacedName{Namespace: s.Namespace, Name: s.Name}] = s
		}
	}
	d.secrets = secrets
	var keys []types.NamespacedName
	for k, wd := range wds {
		h := objectHash(wd)
		o, ok := d.objects[k]
		if ok && o.hash == h {
			continue
		}
		if !ok {
			o = &dirObject{status: d.readStatus(k)}
			d.objects[k] = o
		}
		specHash := specHash(wd)
		if o.status.Metadata.SpecSHA256 != specHash {
			o.status.Metadata.Generation++
			o.status.Metadata.SpecSHA256 = specHash
		}
		wd = wd.DeepCopy()
		wd.Generation = o.status.Metadata.Generation
		o.wd, o.hash = wd, h
		keys = append(keys, k)
	}
	for k := range d.objects {
		if _, ok := wds[k]; !ok {
			delete(d.objects, k)
			// The object is gone: so is its status (a re-created object starts at generation 1 again).
			_ = os.Remove(d.statusPath(k))
			keys = append(keys, k)
		}
	}
	return keys, errs
}

func specHash(wd *v1alpha1.WasmDeployment) string {
	b, _ := json.Marshal(wd.Spec)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func objectHash(wd *v1alpha1.WasmDeployment) string {
	b, _ := json.Marshal([]any{wd.Spec, wd.Labels, wd.Annotations})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func (d *Dir) statusPath(k types.NamespacedName) string {
	return filepath.Join(d.opts.Dir, k.Namespace+"."+k.Name+StatusSuffix)
}

// readStatus loads the status file left by a previous run, so the generation and the last good digest survive
// a restart; a missing or unreadable file starts afresh.
func (d *Dir) readStatus(k types.NamespacedName) StatusFile {
	fresh := StatusFile{APIVersion: v1alpha1.GroupVersion.String(), Kind: StatusKind, Metadata: StatusMeta{Name: k.Name, Namespace: k.Namespace}}
	data, err := os.ReadFile(d.statusPath(k))
	if err != nil {
		return fresh
	}
	var sf StatusFile
	if yaml.Unmarshal(data, &sf) != nil || sf.Metadata.Name != k.Name || sf.Metadata.Namespace != k.Namespace {
		return fresh
	}
	return sf
}

// Get implements Store.
func (d *Dir) Get(_ context.Context, key types.NamespacedName) (*v1alpha1.WasmDeployment, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	o, ok := d.objects[key]
	if !ok {
		return nil, fmt.Errorf("WasmDeployment %s in %s: %w", key, d.opts.Dir, ErrNotFound)
	}
	wd := o.wd.DeepCopy()
	o.status.Status.DeepCopyInto(&wd.Status)
	return wd, nil
}

// List implements Store.
func (d *Dir) List(context.Context) ([]types.NamespacedName, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	keys := make([]types.NamespacedName, 0, len(d.objects))
	for k := range d.objects {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	return keys, nil
}

// UpdateStatus implements Store: the status file is replaced atomically (temp file, fsync, rename).
func (d *Dir) UpdateStatus(_ context.Context, wd *v1alpha1.WasmDeployment) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	k := types.NamespacedName{Namespace: wd.Namespace, Name: wd.Name}
	o, ok := d.objects[k]
	if !ok {
		return fmt.Errorf("updating the status of WasmDeployment %s: %w", k, ErrNotFound)
	}
	o.status.Status = *wd.Status.DeepCopy()
	return d.writeStatusLocked(k, o)
}

func (d *Dir) writeStatusLocked(k types.NamespacedName, o *dirObject) error {
	data, err := yaml.Marshal(o.status)
	if err != nil {
		return fmt.Errorf("encoding the status of %s: %w", k, err)
	}
	if err := atomicfile.Write(d.statusPath(k), data, 0o644); err != nil {
		return fmt.Errorf("writing the status of %s to %s: %w", k, d.statusPath(k), err)
	}
	return nil
}

// PullSecret implements Store with the Secrets declared in the directory's files.
func (d *Dir) PullSecret(_ context.Context, namespace, name string) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.secrets[types.NamespacedName{Namespace: namespace, Name: name}]
	if !ok {
		return nil, fmt.Errorf("secret %s/%s (declare it as a v1 Secret in a file of %s): %w", namespace, name, d.opts.Dir, ErrNotFound)
	}
	if s.Type != corev1.SecretTypeDockerConfigJson {
		return nil, fmt.Errorf("secret %s/%s has type %q: %w", namespace, name, s.Type, ErrWrongSecretType)
	}
	return s.Data[DockerConfigJSONKey], nil
}

// Event implements Store: events go to the status file, a repeat of the last one counted rather than added.
func (d *Dir) Event(wd *v1alpha1.WasmDeployment, eventType, reason, message string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	k := types.NamespacedName{Namespace: wd.Namespace, Name: wd.Name}
	o, ok := d.objects[k]
	if !ok {
		return
	}
	now := metav1.Now()
	ev := &o.status.Events
	if n := len(*ev); n > 0 && (*ev)[n-1].Type == eventType && (*ev)[n-1].Reason == reason && (*ev)[n-1].Message == message {
		(*ev)[n-1].Count++
		(*ev)[n-1].Time = now
	} else {
		*ev = append(*ev, FileEvent{Time: now, Type: eventType, Reason: reason, Message: message, Count: 1})
		if len(*ev) > maxFileEvents {
			*ev = (*ev)[len(*ev)-maxFileEvents:]
		}
	}
	_ = d.writeStatusLocked(k, o) // best effort, as Kubernetes events are
}

// ReadStatusFiles returns the status files of a directory, sorted by namespace and name, for `wasmesh status`.
func ReadStatusFiles(dir string) ([]StatusFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading statuses in %s: %w", dir, err)
	}
	var out []StatusFile
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), StatusSuffix) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", e.Name(), err)
		}
		var sf StatusFile
		if err := yaml.Unmarshal(data, &sf); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, e.Name()), err)
		}
		out = append(out, sf)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Metadata.Namespace+"/"+out[i].Metadata.Name < out[j].Metadata.Namespace+"/"+out[j].Metadata.Name
	})
	return out, nil
}
