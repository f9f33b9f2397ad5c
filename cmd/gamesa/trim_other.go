//go:build !linux

package main

import "errors"

// releaseImage is Linux-only (MADV_PAGEOUT).
func releaseImage() (int, error) {
	return 0, errors.New("paging out the executable needs Linux")
}
