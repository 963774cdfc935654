//go:build tools

// Package tools pins the Cilium packages the sandbox builds (agent, CLI, CNI plugin), so that
// `go mod tidy` keeps their dependencies in go.mod/go.sum. Test-only: the product is TypeScript.
package tools

import (
	_ "github.com/cilium/cilium/cilium-dbg"
	_ "github.com/cilium/cilium/daemon"
	_ "github.com/cilium/cilium/plugins/cilium-cni"
)
