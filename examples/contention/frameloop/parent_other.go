//go:build !linux

package main

// endWithParent does nothing where the kernel cannot signal a parent's
// death; -duration still bounds the run.
func endWithParent() error { return nil }
