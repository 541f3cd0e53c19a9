package main

import "github.com/wasmesh/wasmesh/filters/internal/match"

// Config is the JSON plugin configuration of the dubbo-routing filter; README.md documents every field.
type Config struct {
	Routes []RouteConfig `json:"routes"`
	// MaxMetrics bounds the number of distinct service/method metric sets (client-chosen names must not grow the
	// proxy's stats without end); further ones are counted under "other".
	MaxMetrics int `json:"max_metrics,omitempty"`
}

// RouteConfig sends the Dubbo requests it matches to a cluster. The first matching route wins.
type RouteConfig struct {
	Name  string      `json:"name"`
	Match MatchConfig `json:"match"`
	// Exactly one of Cluster and WeightedClusters.
	Cluster          string            `json:"cluster,omitempty"`
	WeightedClusters []WeightedCluster `json:"weighted_clusters,omitempty"`
	// HashAttachment makes the weighted choice sticky: the same attachment value always picks the same cluster.
	HashAttachment string `json:"hash_attachment,omitempty"`
	// Canaries override the choice when an attachment matches, e.g. x-canary: true -> the v2 cluster.
	Canaries    []CanaryConfig   `json:"canaries,omitempty"`
	Attachments *AttachmentEdits `json:"attachments,omitempty"`
}

// MatchConfig selects Dubbo requests; every set matcher must match.
type MatchConfig struct {
	Service     *match.String     `json:"service,omitempty"`
	Method      *match.String     `json:"method,omitempty"`
	Version     *match.String     `json:"version,omitempty"`
	Group       *match.String     `json:"group,omitempty"`
	Attachments []AttachmentMatch `json:"attachments,omitempty"`
}

// AttachmentMatch matches one attachment by name with exact, prefix or regex.
type AttachmentMatch struct {
	Name string `json:"name"`
	match.String
}

// WeightedCluster is one share of a split.
type WeightedCluster struct {
	Cluster string `json:"cluster"`
	Weight  uint32 `json:"weight"`
}

// CanaryConfig routes to Cluster when Attachment matches.
type CanaryConfig struct {
	Attachment string `json:"attachment"`
	match.String
	Cluster string `json:"cluster"`
}

// AttachmentEdits change attachments on the way: renames first, then removals, then sets.
type AttachmentEdits struct {
	Set    map[string]string `json:"set,omitempty"`
	Rename map[string]string `json:"rename,omitempty"`
	Remove []string          `json:"remove,omitempty"`
}
